"""glTF (.glb) writer and reader: round trip, file layout, Khronos validator, Blender import, misuse, atomicity."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES
from avatar_engine.io import AvatarFileError, read_glb, write_glb
from avatar_engine.io.gltf_reader import kind_by_name
from avatar_engine.io import gltf_writer
from avatar_engine.records import JOINT_NAMES, Avatar, Material, Part, Skeleton

HERE = Path(__file__).resolve().parent
ROUND_TRIP_TOLERANCE = 1e-6
"""Normals, tangents and weights may be renormalised by the writer (by at most a few float32 ulps)."""
BLENDER_TIMEOUT_S = 120


# ------------------------------------------------------------------------------------------ test avatar


def _skeleton() -> Skeleton:
    rest = np.array([[0, 1.50, 0], [0, 1.60, 0], [0, 1.62, 0.03], [0.032, 1.70, 0.06], [-0.032, 1.70, 0.06]],
                    np.float32)
    return Skeleton(JOINT_NAMES, np.array([-1, 0, 1, 1, 1], np.int32), rest)


def _sphere_part(rng: np.random.Generator) -> Part:
    """UV sphere of radius 0.1 around the head joint, split at its seam; skinned to neck, head and jaw."""
    rows, cols = 8, 12
    theta = np.linspace(0, np.pi, rows + 1)[:, None]  # from the top pole down
    phi = np.linspace(0, 2 * np.pi, cols + 1)[None, :]
    normals = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta) * np.ones_like(phi),
                        np.sin(theta) * np.cos(phi)], -1).reshape(-1, 3)
    normals = (normals / np.linalg.norm(normals, axis=1, keepdims=True)).astype(np.float32)
    positions = (normals * 0.1 + [0, 1.7, 0]).astype(np.float32)
    u, v = np.meshgrid(np.linspace(0, 1, cols + 1), np.linspace(0, 1, rows + 1))
    uvs = np.stack([u, v], -1).reshape(-1, 2).astype(np.float32)
    triangles = []
    for r in range(rows):
        for c in range(cols):
            a, b = r * (cols + 1) + c, (r + 1) * (cols + 1) + c
            if r > 0:  # pole rows get one triangle per quad, so no triangle is degenerate
                triangles.append((a, b, a + 1))
            if r < rows - 1:
                triangles.append((a + 1, b, b + 1))
    n = len(positions)

    # Every vertex uses head, jaw and neck; the fourth slot is unused (zero weight).
    joints = np.tile(np.array([1, 2, 0, 0], np.uint16), (n, 1))
    weights = np.zeros((n, 4), np.float32)
    weights[:, :3] = rng.uniform(0.1, 1.0, (n, 3))
    weights /= weights.sum(1, keepdims=True)  # float32: sums are off by an ulp or so, as in real data

    morph_positions = np.zeros((52, n, 3), np.float32)
    morph_normals = np.zeros((52, n, 3), np.float32)
    lower = positions[:, 1] < 1.7
    morph_positions[ARKIT_INDEX["jawOpen"], lower] = [0, -0.02, 0.005]
    morph_normals[ARKIT_INDEX["jawOpen"], lower] = [0, -0.05, 0.01]
    left_eye = (positions[:, 0] > 0.03) & (positions[:, 1] > 1.72) & (positions[:, 2] > 0)
    morph_positions[ARKIT_INDEX["eyeBlinkLeft"], left_eye] = [0, -0.004, 0]
    morph_positions[ARKIT_INDEX["cheekPuff"]] = normals * 0.01  # moves every vertex: stored densely
    morph_positions[ARKIT_INDEX["tongueOut"], 5] = [0, 0, 0.003]  # a single vertex
    return Part("face", "skin", positions, normals, uvs, np.array(triangles, np.uint32), joints, weights,
                morph_positions, morph_normals)


def _quads_part(name: str, material: str, origin: tuple[float, float, float], quads: int, joint: int,
                tangents: bool) -> Part:
    """A strip of `quads` unit-ish quads facing +Z, rigidly bound to one joint."""
    xs = np.linspace(-0.02, 0.02, quads + 1, dtype=np.float32)
    positions = np.array([[x, y, 0] for y in (0.0, 0.01) for x in xs], np.float32) + np.float32(origin)
    n = len(positions)
    normals = np.tile(np.float32([0, 0, 1]), (n, 1))
    uvs = np.array([[i / quads, 1.0 - row] for row in (0, 1) for i in range(quads + 1)], np.float32)
    triangles = []
    for i in range(quads):
        a, b = i, i + quads + 1
        triangles += [(a, a + 1, b + 1), (a, b + 1, b)]
    joints = np.zeros((n, 4), np.uint16)
    joints[:, 0] = joint
    weights = np.zeros((n, 4), np.float32)
    weights[:, 0] = 1
    tangent = np.tile(np.float32([1, 0, 0, 1]), (n, 1)) if tangents else None
    zeros = np.zeros((52, n, 3), np.float32)
    return Part(name, material, positions, normals, uvs, np.array(triangles, np.uint32), joints, weights,
                zeros, zeros.copy(), tangent)


def make_avatar() -> Avatar:
    """Three parts (morphing face, teeth moved only by jawOpen, static hair) and three materials."""
    rng = np.random.default_rng(7)
    face = _sphere_part(rng)
    teeth = _quads_part("teeth", "teeth", (0.0, 1.64, 0.08), 2, joint=2, tangents=False)
    teeth.morph_positions[ARKIT_INDEX["jawOpen"]] = [0, -0.015, 0]
    hair = dataclasses.replace(_quads_part("hair", "hair", (0.0, 1.78, 0.05), 3, joint=1, tangents=True),
                               back_hidden=4)
    skin_texture = rng.integers(0, 256, (8, 16, 4), dtype=np.uint8)
    skin_texture[..., 3] = 255
    hair_texture = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    materials = {
        "skin": Material("skin", "skin", (0.9, 0.8, 0.7, 1.0), skin_texture, roughness=0.55),
        "teeth": Material("teeth", "teeth", (1.0, 1.0, 0.95, 1.0), roughness=0.3),
        "hair": Material("hair", "hair", (0.2, 0.1, 0.05, 1.0), hair_texture, roughness=0.8,
                         alpha_mode="BLEND", double_sided=True),
    }
    identity = {"gender": 0.25, "age": 0.5, "muscle": 0.125, "nose_width": -0.3}
    return Avatar((face, teeth, hair), materials, _skeleton(), identity, generator="avatar-engine 0.1.0 (test)")


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return make_avatar()


@pytest.fixture(scope="module")
def glb_path(avatar: Avatar, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("glb") / "avatar.glb"
    write_glb(avatar, path)
    return path


def _split(data: bytes) -> tuple[dict, bytes]:
    """JSON document and BIN chunk of a well-formed .glb (test-side parser, independent of the reader)."""
    json_length = struct.unpack_from("<I", data, 12)[0]
    document = json.loads(data[20:20 + json_length])
    bin_length = struct.unpack_from("<I", data, 20 + json_length)[0]
    return document, data[28 + json_length:28 + json_length + bin_length]


def _pack(document: dict, binary: bytes) -> bytes:
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    return (struct.pack("<4sII", b"glTF", 2, 28 + len(text) + len(binary))
            + struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(binary), 0x004E4942) + binary)


# ------------------------------------------------------------------------------------------ round trip


def test_round_trip_restores_the_avatar(avatar: Avatar, glb_path: Path) -> None:
    back = read_glb(glb_path)
    assert [p.name for p in back.parts] == [p.name for p in avatar.parts]
    for want, got in zip(avatar.parts, back.parts):
        assert got.material == want.material
        for field in ("positions", "uvs", "indices", "joints", "morph_positions", "morph_normals"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=f"{want.name}.{field}")
        for field in ("normals", "weights"):
            np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=0, atol=ROUND_TRIP_TOLERANCE,
                                       err_msg=f"{want.name}.{field}")
        assert got.positions.dtype == np.float32 and got.indices.dtype == np.uint32 and got.joints.dtype == np.uint16
        assert got.morph_positions.shape == (52, want.vertex_count, 3)
        assert got.back_hidden == want.back_hidden, f"{want.name}: triangles whose back is never seen"
        if want.tangents is None:
            assert got.tangents is None
        else:
            np.testing.assert_allclose(got.tangents, want.tangents, rtol=0, atol=ROUND_TRIP_TOLERANCE)
    assert list(back.materials) == list(avatar.materials)
    for key, want_material in avatar.materials.items():
        got_material = back.materials[key]
        assert (got_material.name, got_material.kind, got_material.alpha_mode, got_material.double_sided) == (
            want_material.name, want_material.kind, want_material.alpha_mode, want_material.double_sided)
        assert got_material.base_color == pytest.approx(want_material.base_color, abs=ROUND_TRIP_TOLERANCE)
        assert got_material.roughness == pytest.approx(want_material.roughness, abs=ROUND_TRIP_TOLERANCE)
        if want_material.texture is None:
            assert got_material.texture is None
        else:
            np.testing.assert_array_equal(got_material.texture, want_material.texture)
    assert back.skeleton.names == avatar.skeleton.names
    np.testing.assert_array_equal(back.skeleton.parents, avatar.skeleton.parents)
    np.testing.assert_array_equal(back.skeleton.rest_positions, avatar.skeleton.rest_positions)
    assert dict(back.identity) == dict(avatar.identity)
    assert back.generator == avatar.generator


def test_opaque_textures_are_stored_without_an_alpha_channel(glb_path: Path) -> None:
    """The skin's texture, alpha 255 throughout, is an RGB PNG (an alpha channel leads engines to a compressed
    format with alpha, twice the memory); the hair's, whose alpha cuts its strands out, keeps its alpha."""
    from PIL import Image

    document, binary = _split(glb_path.read_bytes())
    modes = {}
    for image in document["images"]:
        view = document["bufferViews"][image["bufferView"]]
        data = binary[view.get("byteOffset", 0):view.get("byteOffset", 0) + view["byteLength"]]
        modes[image["name"]] = Image.open(io.BytesIO(data)).mode
    assert modes == {"skin": "RGB", "hair": "RGBA"}, modes


def test_written_weights_sum_to_one_in_float32(glb_path: Path) -> None:
    # The validator adds weights left to right in float32 and allows 2e-7 per non-zero weight.
    for part in read_glb(glb_path).parts:
        total = np.zeros(part.vertex_count, np.float32)
        for k in range(4):
            total = total + part.weights[:, k]
        assert np.all(np.abs(total.astype(np.float64) - 1) <= 2e-7 * (part.weights > 0).sum(1))


def test_layout_uses_sparse_zero_and_dense_targets(glb_path: Path) -> None:
    document, binary = _split(glb_path.read_bytes())
    meshes = {mesh["name"]: mesh for mesh in document["meshes"]}
    assert set(meshes) == {"Head", "Static"}
    head, static = meshes["Head"], meshes["Static"]
    assert head["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert [p["extras"]["name"] for p in head["primitives"]] == ["face", "teeth"]
    assert [p["extras"]["name"] for p in static["primitives"]] == ["hair"]
    assert all(len(p["targets"]) == 52 for p in head["primitives"]) and "targets" not in static["primitives"][0]
    accessors = document["accessors"]

    def zeros(accessor: dict) -> bool:
        view = document["bufferViews"][accessor["bufferView"]]
        start = view["byteOffset"] + accessor.get("byteOffset", 0)
        return not any(binary[start:start + 12 * accessor["count"]])

    def kind(target: dict) -> str:
        accessor = accessors[target["POSITION"]]
        return "sparse" if "sparse" in accessor else "zero" if zeros(accessor) else "dense"

    # every accessor reads a bufferView: Unity's glTF importers fail on one without (glTFast, UnityGLTF), though
    # glTF allows it; the zero targets and the sparse targets' starting values share one view of zeros
    assert all("bufferView" in a for a in accessors)
    starts = {a["bufferView"] for a in accessors if "sparse" in a}
    assert len(starts) == 1 and all(zeros(a) for a in accessors if "sparse" in a)
    assert document["bufferViews"][starts.pop()]["byteStride"] == 12

    face, teeth = (p["targets"] for p in head["primitives"])
    assert kind(face[ARKIT_INDEX["jawOpen"]]) == "sparse" and kind(face[ARKIT_INDEX["cheekPuff"]]) == "dense"
    assert accessors[face[ARKIT_INDEX["tongueOut"]]["POSITION"]]["sparse"]["count"] == 1
    assert kind(face[ARKIT_INDEX["browDownLeft"]]) == "zero"
    assert [kind(t) for t in teeth].count("zero") == 51
    nodes = document["nodes"]
    roots = {nodes[i]["name"]: nodes[i] for i in document["scenes"][0]["nodes"]}
    assert set(roots) == {"Avatar", "Head", "Static"}  # skinned mesh nodes are scene roots, untransformed
    assert [nodes[c]["name"] for c in roots["Avatar"]["children"]] == ["neck"]
    assert all(roots[name]["skin"] == 0 and set(roots[name]) == {"name", "mesh", "skin"} for name in ("Head", "Static"))
    skin = document["skins"][0]
    assert [nodes[j]["name"] for j in skin["joints"]] == list(JOINT_NAMES)
    assert document["asset"]["extras"]["avatar_engine"]["identity"] == {
        "gender": 0.25, "age": 0.5, "muscle": 0.125, "nose_width": -0.3}


def test_reader_accepts_dense_targets_in_another_order(avatar: Avatar, glb_path: Path, tmp_path: Path) -> None:
    """A file as other tools write it: every target dense, targets in reverse order, no avatar_engine extras."""
    document, binary = _split(glb_path.read_bytes())
    back = read_glb(glb_path)
    head = next(m for m in document["meshes"] if m["name"] == "Head")
    extra = bytearray(binary)
    for primitive, part in zip(head["primitives"], (back.part("face"), back.part("teeth"))):
        targets = []
        for t in reversed(range(52)):
            entry = {}
            for attribute, morphs in (("POSITION", part.morph_positions), ("NORMAL", part.morph_normals)):
                entry[attribute] = len(document["accessors"])
                document["bufferViews"].append({"buffer": 0, "byteOffset": len(extra),
                                                "byteLength": morphs[t].nbytes})
                extra += morphs[t].tobytes()
                document["accessors"].append({"bufferView": len(document["bufferViews"]) - 1,
                                              "componentType": 5126, "count": part.vertex_count, "type": "VEC3"})
            targets.append(entry)
        primitive["targets"] = targets
    head["extras"]["targetNames"] = list(reversed(ARKIT_NAMES))
    del document["asset"]["extras"]
    document["buffers"][0]["byteLength"] = len(extra)
    path = tmp_path / "other.glb"
    path.write_bytes(_pack(document, bytes(extra)))
    other = read_glb(path)
    assert other.identity == {} and other.generator == avatar.generator
    for name in ("face", "teeth"):
        np.testing.assert_array_equal(other.part(name).morph_positions, back.part(name).morph_positions)
        np.testing.assert_array_equal(other.part(name).morph_normals, back.part(name).morph_normals)


# ------------------------------------------------------------------------------------------ Khronos validator


def test_khronos_validator_finds_no_errors(glb_path: Path, gltf_validate) -> None:
    report = gltf_validate(glb_path)
    issues = report["issues"]
    for message in issues["messages"]:
        if message["severity"] <= 1:
            print(f"validator {'error' if message['severity'] == 0 else 'warning'}: {message['code']} "
                  f"{message.get('pointer', '')} {message['message']}")
    assert issues["numErrors"] == 0, [m for m in issues["messages"] if m["severity"] == 0][:5]
    assert issues["numWarnings"] == 0, [m for m in issues["messages"] if m["severity"] == 1][:5]
    # Known, accepted infos: untextured teeth keep their UVs; hair tangents feed our strand shader, not a normal map.
    accepted = {("UNUSED_OBJECT", "/meshes/0/primitives/1/attributes/TEXCOORD_0"),
                ("UNUSED_MESH_TANGENT", "/meshes/1/primitives/0/attributes/TANGENT")}
    assert {(m["code"], m.get("pointer")) for m in issues["messages"]} <= accepted
    info = report["info"]
    assert (info["hasMorphTargets"], info["hasSkins"], info["hasTextures"]) == (True, True, True)
    assert (info["drawCallCount"], info["totalVertexCount"], info["maxInfluences"]) == (3, 131, 4)


def test_the_default_head_passes_the_validator(template, tmp_path: Path, gltf_validate) -> None:
    """The whole head, not the small test avatar: each eyeball's apex is a fan of 33 vertex copies, one of them on
    a zero-area triangle only; it was written with a zero-length normal (4 validator errors in every avatar)."""
    path = tmp_path / "head.glb"
    write_glb(template, path)
    issues = gltf_validate(path)["issues"]
    assert issues["numErrors"] == 0, [m for m in issues["messages"] if m["severity"] == 0][:5]
    assert issues["numWarnings"] == 0, [m for m in issues["messages"] if m["severity"] == 1][:5]


def test_a_normal_of_zero_length_is_written_as_a_unit_one(avatar: Avatar, tmp_path: Path) -> None:
    face = avatar.part("face")
    normals = face.normals.copy()
    normals[0] = 0.0  # a vertex of degenerate triangles only has no normal; glTF requires unit length
    path = tmp_path / "degenerate.glb"
    write_glb(Avatar((dataclasses.replace(face, normals=normals), *avatar.parts[1:]), avatar.materials,
                     avatar.skeleton), path)
    np.testing.assert_allclose(np.linalg.norm(read_glb(path).part("face").normals, axis=1), 1, atol=1e-6)


def test_messy_skinning_is_written_valid(avatar: Avatar, tmp_path: Path, gltf_validate) -> None:
    """Weights that do not sum to 1, a repeated joint, a vertex without weight, a joint with zero weight."""
    hair = avatar.part("hair")
    joints = hair.joints.copy()
    weights = hair.weights.copy()
    joints[0], weights[0] = [1, 2, 1, 0], [0.5, 0.2, 0.2, 0.0]  # joint 1 twice; sum 0.9
    joints[1], weights[1] = [3, 4, 0, 0], [0.0, 0.0, 0.0, 0.0]  # no weight at all
    joints[2], weights[2] = [1, 4, 0, 0], [1.0, 0.0, 0.0, 0.0]  # joint 4 listed with zero weight
    messy = Part(hair.name, hair.material, hair.positions, hair.normals * 1.01, hair.uvs, hair.indices, joints,
                 weights, hair.morph_positions, hair.morph_normals, hair.tangents)
    path = tmp_path / "messy.glb"
    write_glb(Avatar((avatar.part("face"), messy), avatar.materials, avatar.skeleton), path)
    back = read_glb(path).part("hair")
    np.testing.assert_allclose(back.weights[:3], [[0.7 / 0.9, 0.2 / 0.9, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], atol=1e-6)
    np.testing.assert_array_equal(back.joints[:3], [[1, 2, 0, 0], [3, 0, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_allclose(np.linalg.norm(back.normals, axis=1), 1, atol=1e-6)
    issues = gltf_validate(path)["issues"]
    assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"][:5]


# ------------------------------------------------------------------------------------------ Blender


def _blender_import(glb: Path) -> dict:
    """What Blender's own glTF importer makes of `glb`, and `export`: the path of Blender's re-export."""
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("blender is not installed")
    export = glb.with_name("blender_export.glb")
    result = subprocess.run(
        [blender, "--background", "--factory-startup", "--python", str(HERE / "blender_import.py"), "--",
         str(glb), str(export)],
        capture_output=True, text=True, timeout=BLENDER_TIMEOUT_S, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("AVATAR_IMPORT ")]
    # Blender reports Python errors in its scripts but still exits 0, so the printed line is the real check.
    assert result.returncode == 0 and lines and export.is_file(), result.stdout[-3000:] + result.stderr[-2000:]
    return {**json.loads(lines[-1].removeprefix("AVATAR_IMPORT ")), "export": export}


@pytest.fixture(scope="module")
def blender_import(glb_path: Path) -> dict:
    """The test avatar through Blender (one run for the module: startup takes seconds)."""
    return _blender_import(glb_path)


def test_blender_imports_the_whole_default_head(template, tmp_path: Path) -> None:
    path = tmp_path / "head.glb"
    write_glb(template, path)
    imported = _blender_import(path)
    (mesh,) = [m for m in imported["meshes"].values() if m["shape_keys"]]
    assert mesh["shape_keys"] == ["Basis", *ARKIT_NAMES]
    (bones,) = imported["armatures"].values()
    assert sorted(bones) == sorted(JOINT_NAMES)
    materials = {m for mesh in imported["meshes"].values() for m in mesh["materials"]}
    assert materials == set(template.materials)


def test_blender_imports_52_named_shape_keys(blender_import: dict) -> None:
    keyed = {name: mesh for name, mesh in blender_import["meshes"].items() if mesh["shape_keys"]}
    assert len(keyed) == 1, blender_import["meshes"].keys()
    (mesh,) = keyed.values()
    assert mesh["shape_keys"] == ["Basis", *ARKIT_NAMES]


def test_blender_imports_the_armature_and_skinning(blender_import: dict) -> None:
    (bones,) = blender_import["armatures"].values()
    assert sorted(bones) == sorted(JOINT_NAMES)
    (armature,) = blender_import["armatures"]
    for name, mesh in blender_import["meshes"].items():
        assert mesh["armature_modifiers"] == [armature], name
        assert set(mesh["vertex_groups"]) <= set(JOINT_NAMES)
    assert sum(len(mesh["materials"]) for mesh in blender_import["meshes"].values()) == 3


def test_reader_reads_blenders_re_export(avatar: Avatar, blender_import: dict) -> None:
    """Blender's exporter writes dense targets, rotated joints and no avatar_engine extras; the reader copes."""
    other = read_glb(blender_import["export"])
    assert other.generator.startswith("Khronos glTF Blender I/O") and other.identity == {}
    assert other.skeleton.names == avatar.skeleton.names
    np.testing.assert_array_equal(other.skeleton.parents, avatar.skeleton.parents)
    np.testing.assert_allclose(other.skeleton.rest_positions, avatar.skeleton.rest_positions, atol=1e-6)
    assert {p.material for p in other.parts} == {"skin", "teeth", "hair"}
    teeth = next(p for p in other.parts if p.material == "teeth")
    moved = np.abs(teeth.morph_positions).max(axis=(1, 2)) > 0
    assert list(np.flatnonzero(moved)) == [ARKIT_INDEX["jawOpen"]]
    np.testing.assert_allclose(teeth.morph_positions[ARKIT_INDEX["jawOpen"]], [[0, -0.015, 0]] * teeth.vertex_count,
                               atol=1e-6)
    np.testing.assert_array_equal(other.materials["skin"].texture, avatar.materials["skin"].texture)


# ------------------------------------------------------------------------------------------ misuse


def _rewrite(glb_path: Path, tmp_path: Path, edit) -> Path:
    """A copy of the test file whose JSON (and BIN chunk) `edit(document, binary)` changed in place."""
    document, binary = _split(glb_path.read_bytes())
    binary = bytearray(binary)
    edit(document, binary)
    path = tmp_path / "edited.glb"
    path.write_bytes(_pack(document, bytes(binary)))
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AvatarFileError, match="no such file"):
        read_glb(tmp_path / "absent.glb")


def test_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "zip.glb"
    path.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(AvatarFileError, match="not a .glb file"):
        read_glb(path)


def test_truncated_file(glb_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "short.glb"
    path.write_bytes(glb_path.read_bytes()[:-100])
    with pytest.raises(AvatarFileError, match="truncated"):
        read_glb(path)


def test_every_truncation_is_reported(glb_path: Path, tmp_path: Path) -> None:
    data = glb_path.read_bytes()
    path = tmp_path / "cut.glb"
    for length in sorted({0, 3, 11, 12, 19, 20, 100, len(data) // 2, len(data) - 1}):
        path.write_bytes(data[:length])
        with pytest.raises(AvatarFileError, match="truncated|not a .glb|the file is empty"):
            read_glb(path)


def test_invalid_json(glb_path: Path, tmp_path: Path) -> None:
    data = glb_path.read_bytes()
    json_length = struct.unpack_from("<I", data, 12)[0]
    broken = data[:20] + b"{" * json_length + data[20 + json_length:]
    path = tmp_path / "json.glb"
    path.write_bytes(broken)
    with pytest.raises(AvatarFileError, match="not valid JSON"):
        read_glb(path)


def test_json_that_is_not_gltf_2(glb_path: Path, tmp_path: Path) -> None:
    path = _rewrite(glb_path, tmp_path, lambda doc, _: doc["asset"].update(version="1.0"))
    with pytest.raises(AvatarFileError, match=r"not a glTF 2\.0 document \(asset.version is '1.0'\)"):
        read_glb(path)


@pytest.mark.parametrize("minimum", ["2.0", "2.1", "3.0"])
def test_asset_min_version(glb_path: Path, tmp_path: Path, minimum: str) -> None:
    """glTF 2.0: a loader must not load an asset whose minVersion it does not support; 2.0 itself loads."""
    path = _rewrite(glb_path, tmp_path, lambda doc, _: doc["asset"].update(minVersion=minimum))
    if minimum == "2.0":
        assert len(read_glb(path).parts) == len(read_glb(glb_path).parts)
    else:
        with pytest.raises(AvatarFileError, match=rf"needs a glTF {minimum} reader \(asset.minVersion\)"):
            read_glb(path)


def test_a_file_from_a_newer_avatar_engine_is_named(glb_path: Path, tmp_path: Path) -> None:
    # its avatar block's meaning changed with the version: read as this one, such a file is read wrongly
    from avatar_engine.io.glb_format import FORMAT_VERSION

    newer = _rewrite(glb_path, tmp_path,
                     lambda doc, _: doc["asset"]["extras"]["avatar_engine"].update(version=FORMAT_VERSION + 1))
    with pytest.raises(AvatarFileError, match=rf"written by a newer avatar-engine \(its avatar block is format "
                                              rf"{FORMAT_VERSION + 1}; this one reads format {FORMAT_VERSION}\)"):
        read_glb(newer)
    same = _rewrite(glb_path, tmp_path, lambda doc, _: doc["asset"]["extras"]["avatar_engine"].update(
        version=FORMAT_VERSION))
    assert len(read_glb(same).parts) == len(read_glb(glb_path).parts)


def test_asset_min_version_not_a_version(glb_path: Path, tmp_path: Path) -> None:
    path = _rewrite(glb_path, tmp_path, lambda doc, _: doc["asset"].update(minVersion=2))
    with pytest.raises(AvatarFileError, match=r"asset.minVersion is 2, not a glTF version"):
        read_glb(path)


def test_corrupt_texture(glb_path: Path, tmp_path: Path) -> None:
    def corrupt(document: dict, binary: bytearray) -> None:
        view = document["bufferViews"][document["images"][0]["bufferView"]]
        start = view["byteOffset"] + 8  # keep the PNG signature, break every chunk after it
        binary[start:view["byteOffset"] + view["byteLength"]] = b"\xab" * (view["byteLength"] - 8)

    with pytest.raises(AvatarFileError, match="material 'skin': embedded texture image 0 cannot be decoded"):
        read_glb(_rewrite(glb_path, tmp_path, corrupt))


def test_missing_morph_targets(glb_path: Path, tmp_path: Path) -> None:
    def strip(document: dict, _: bytearray) -> None:
        for mesh in document["meshes"]:
            mesh.pop("extras", None)
            for primitive in mesh["primitives"]:
                primitive.pop("targets", None)

    with pytest.raises(AvatarFileError, match="no morph targets"):
        read_glb(_rewrite(glb_path, tmp_path, strip))


def test_target_names_that_are_not_arkit(glb_path: Path, tmp_path: Path) -> None:
    def rename(document: dict, _: bytearray) -> None:
        names = document["meshes"][0]["extras"]["targetNames"]
        names[ARKIT_INDEX["jawOpen"]] = "mouth_open"
        names[ARKIT_INDEX["browDownLeft"]] = "brow_down_L"

    with pytest.raises(AvatarFileError, match="lacks 2 of the 52 ARKit morph targets: browDownLeft, jawOpen"):
        read_glb(_rewrite(glb_path, tmp_path, rename))


def test_target_names_spelt_otherwise_are_matched(avatar: Avatar, glb_path: Path, tmp_path: Path) -> None:
    # "JawOpen", Maya's "blendShape1.mouthSmileLeft", "eye_blink_left": the same shapes
    def respell(document: dict, _: bytearray) -> None:
        names = document["meshes"][0]["extras"]["targetNames"]
        names[ARKIT_INDEX["jawOpen"]] = "JawOpen"
        names[ARKIT_INDEX["mouthSmileLeft"]] = "blendShape1.mouthSmileLeft"
        names[ARKIT_INDEX["eyeBlinkLeft"]] = "eye_blink_left"

    read = read_glb(_rewrite(glb_path, tmp_path, respell))
    for name in ("jawOpen", "mouthSmileLeft", "eyeBlinkLeft"):
        k = ARKIT_INDEX[name]
        assert np.array_equal(read.parts[0].morph_positions[k], avatar.parts[0].morph_positions[k]), name


def test_missing_skin(glb_path: Path, tmp_path: Path) -> None:
    def unskin(document: dict, _: bytearray) -> None:
        for node in document["nodes"]:
            node.pop("skin", None)
        del document["skins"]

    with pytest.raises(AvatarFileError, match="no skin"):
        read_glb(_rewrite(glb_path, tmp_path, unskin))


def test_damaged_documents_raise_only_avatar_file_errors(glb_path: Path, tmp_path: Path) -> None:
    """Delete or scramble one property at a time: the reader either copes or raises AvatarFileError."""
    document, binary = _split(glb_path.read_bytes())
    rng = np.random.default_rng(3)
    paths = []

    def collect(value, trail):
        if isinstance(value, dict):
            for key, item in value.items():
                paths.append(trail + (key,))
                collect(item, trail + (key,))
        elif isinstance(value, list):
            for i, item in enumerate(value[:3]):
                collect(item, trail + (i,))

    collect(document, ())
    path = tmp_path / "damaged.glb"
    for trail in [paths[i] for i in rng.choice(len(paths), 40, replace=False)]:
        for replacement in (None, -1, "x", 10**9):
            damaged = json.loads(json.dumps(document))
            holder = damaged
            for key in trail[:-1]:
                holder = holder[key]
            if replacement is None:
                del holder[trail[-1]]
            else:
                holder[trail[-1]] = replacement
            path.write_bytes(_pack(damaged, binary))
            try:
                read_glb(path)
            except AvatarFileError as error:
                assert "\n" not in str(error)


# ------------------------------------------------------------------------------------------ writing


def test_failed_write_leaves_no_file(avatar: Avatar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_chunks(document, binary):
        yield b"glTF" + bytes(100)
        raise OSError("disk full")

    monkeypatch.setattr(gltf_writer, "_glb_chunks", failing_chunks)
    with pytest.raises(OSError, match="disk full"):
        write_glb(avatar, tmp_path / "avatar.glb")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(avatar: Avatar, glb_path: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "avatar.glb"
    shutil.copy(glb_path, target)

    def failing_chunks(document, binary):
        yield bytes(10)
        raise RuntimeError("serializer broke")

    monkeypatch.setattr(gltf_writer, "_glb_chunks", failing_chunks)
    with pytest.raises(RuntimeError):
        write_glb(avatar, target)
    assert target.read_bytes() == glb_path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["avatar.glb"]


def test_overwrite_leaves_only_the_target(avatar: Avatar, tmp_path: Path) -> None:
    target = tmp_path / "avatar.glb"
    target.write_bytes(b"old")
    write_glb(avatar, str(target))
    assert [p.name for p in tmp_path.iterdir()] == ["avatar.glb"]
    assert target.read_bytes()[:4] == b"glTF"


def test_inconsistent_avatar_is_refused_before_writing(avatar: Avatar, tmp_path: Path) -> None:
    face = avatar.part("face")
    broken = Part(face.name, "missing", face.positions, face.normals, face.uvs, face.indices, face.joints,
                  face.weights, face.morph_positions, face.morph_normals)
    with pytest.raises(ValueError, match="material 'missing' is not in Avatar.materials"):
        write_glb(Avatar((broken,), avatar.materials, avatar.skeleton), tmp_path / "x.glb")
    short = Part(face.name, face.material, face.positions, face.normals, face.uvs, face.indices, face.joints,
                 face.weights, face.morph_positions[:51], face.morph_normals)
    with pytest.raises(ValueError, match=r"morph_positions has shape \(51,"):
        write_glb(Avatar((short,), avatar.materials, avatar.skeleton), tmp_path / "x.glb")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ files from other tools


def _append(document: dict, binary: bytearray, values: np.ndarray, component: int, kind: str) -> int:
    """Add `values` to the BIN chunk as a new bufferView and accessor; returns the accessor's index."""
    data = np.ascontiguousarray(values).tobytes()
    binary.extend(b"\0" * (-len(binary) % 4))
    document["bufferViews"].append({"buffer": 0, "byteOffset": len(binary), "byteLength": len(data)})
    binary.extend(data)
    document["buffers"][0]["byteLength"] = len(binary)
    document["accessors"].append({"bufferView": len(document["bufferViews"]) - 1, "componentType": component,
                                  "count": len(values), "type": kind})
    return len(document["accessors"]) - 1


def _accessor_values(document: dict, binary: bytearray, index: int) -> np.ndarray:
    accessor = document["accessors"][index]
    view = document["bufferViews"][accessor["bufferView"]]
    dtype = {5126: np.float32, 5123: np.uint16, 5121: np.uint8}[accessor["componentType"]]
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    width = {"VEC4": 4, "VEC3": 3, "VEC2": 2, "SCALAR": 1}[accessor["type"]]
    return np.frombuffer(bytes(binary[start:start + accessor["count"] * width * np.dtype(dtype).itemsize]),
                         dtype).reshape(accessor["count"], width).copy()


def test_influences_over_two_sets_are_read_whole(avatar: Avatar, glb_path: Path, tmp_path: Path) -> None:
    # four influences split over JOINTS_0/1 and WEIGHTS_0/1, as exporters write more than four: the first set alone
    # left weights summing to well under 1, and those vertices sagged toward the origin
    def split_sets(document: dict, binary: bytearray) -> None:
        for primitive in (p for mesh in document["meshes"] for p in mesh["primitives"]):
            attributes = primitive["attributes"]
            joints = _accessor_values(document, binary, attributes["JOINTS_0"])
            weights = _accessor_values(document, binary, attributes["WEIGHTS_0"]).astype(np.float32)
            low_j, high_j = joints.copy(), np.zeros_like(joints)
            low_w, high_w = weights.copy(), np.zeros_like(weights)
            high_j[:, :2], high_w[:, :2] = joints[:, 2:], weights[:, 2:]
            low_j[:, 2:], low_w[:, 2:] = 0, 0
            component = document["accessors"][attributes["JOINTS_0"]]["componentType"]
            attributes["JOINTS_0"] = _append(document, binary, low_j, component, "VEC4")
            attributes["WEIGHTS_0"] = _append(document, binary, low_w, 5126, "VEC4")
            attributes["JOINTS_1"] = _append(document, binary, high_j, component, "VEC4")
            attributes["WEIGHTS_1"] = _append(document, binary, high_w, 5126, "VEC4")

    read = read_glb(_rewrite(glb_path, tmp_path, split_sets))
    for part, original in zip(read.parts, avatar.parts):
        assert np.allclose(part.weights.sum(axis=1), 1.0, atol=1e-5), part.name
        for v in range(0, part.vertex_count, 7):  # the same joint -> weight map per vertex
            got = {int(j): float(w) for j, w in zip(part.joints[v], part.weights[v]) if w > 0}
            want = {int(j): float(w) for j, w in zip(original.joints[v], original.weights[v]) if w > 0}
            assert got.keys() == want.keys() and all(abs(got[j] - want[j]) < 1e-4 for j in want), (part.name, v)


def test_non_finite_values_are_refused(glb_path: Path, tmp_path: Path) -> None:
    def poison(document: dict, binary: bytearray) -> None:
        accessor = document["accessors"][document["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
        view = document["bufferViews"][accessor["bufferView"]]
        start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
        binary[start:start + 4] = np.float32(np.nan).tobytes()

    with pytest.raises(AvatarFileError, match="NaN or infinite"):
        read_glb(_rewrite(glb_path, tmp_path, poison))


def test_a_file_without_normals_gets_smooth_ones(avatar: Avatar, glb_path: Path, tmp_path: Path) -> None:
    def strip(document: dict, _: bytearray) -> None:
        for primitive in (p for mesh in document["meshes"] for p in mesh["primitives"]):
            primitive["attributes"].pop("NORMAL")
            for target in primitive.get("targets", []):
                target.pop("NORMAL", None)

    read = read_glb(_rewrite(glb_path, tmp_path, strip))
    sphere, original = read.parts[0], avatar.parts[0]
    used = np.unique(sphere.indices)
    cosine = (sphere.normals[used] * original.normals[used]).sum(axis=1)
    assert np.allclose(np.linalg.norm(sphere.normals, axis=1), 1.0, atol=1e-4) and np.median(cosine) > 0.99


def test_materials_without_our_extras_take_their_kind_from_their_names(glb_path: Path, tmp_path: Path) -> None:
    def strip(document: dict, _: bytearray) -> None:  # Blender's exporter drops custom properties by default
        for material in document["materials"]:
            material.pop("extras", None)

    read = read_glb(_rewrite(glb_path, tmp_path, strip))
    assert {name: m.kind for name, m in read.materials.items()} == {
        name: kind_by_name(name) for name in read.materials}
    assert kind_by_name("Hair_Cards") == "hair" and kind_by_name("EyeLashes") == "lash"
    assert kind_by_name("eyebrows") == "hair" and kind_by_name("Eye_L") == "eye" and kind_by_name("Body") == "skin"


def test_textures_as_data_uris_and_16_bit_greys_are_read(avatar: Avatar, glb_path: Path, tmp_path: Path) -> None:
    import base64
    import io

    from PIL import Image

    original = avatar.materials["skin"].texture
    grey = np.asarray(Image.fromarray(original[..., :3]).convert("L"), np.uint16) * 257

    def recode(document: dict, binary: bytearray) -> None:
        png = io.BytesIO()
        Image.fromarray(grey).save(png, format="PNG")  # mode I;16: PIL's convert clipped it to white
        image = document["images"][0]
        image.pop("bufferView")
        image["uri"] = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()

    texture = read_glb(_rewrite(glb_path, tmp_path, recode)).materials["skin"].texture
    assert abs(float(texture[..., 0].mean()) - float(grey.mean() / 257)) < 1.0


def test_identical_skins_on_each_mesh_are_one_skeleton(avatar: Avatar, glb_path: Path, tmp_path: Path) -> None:
    def one_skin_per_mesh(document: dict, _: bytearray) -> None:
        skinned = [node for node in document["nodes"] if "skin" in node]
        for node in skinned[1:]:
            document["skins"].append(dict(document["skins"][node["skin"]]))
            node["skin"] = len(document["skins"]) - 1

    read = read_glb(_rewrite(glb_path, tmp_path, one_skin_per_mesh))
    assert read.skeleton.names == avatar.skeleton.names and len(read.parts) == len(avatar.parts)


def test_the_shader_scale_is_kept_in_the_material_extras(template, tmp_path: Path) -> None:
    """The hair's texture is the plain-surface albedo other engines render; our renderer's own factor rides in the
    material's extras, comes back on reading, and a damaged one is refused in one line."""
    path = tmp_path / "head.glb"
    write_glb(template, path)
    hair = read_glb(path).materials["hair"]
    assert hair.shader_scale == pytest.approx(template.materials["hair"].shader_scale) and hair.shader_scale[0] < 1
    assert read_glb(path).materials["skin"].shader_scale == (1.0, 1.0, 1.0)

    def damage(document: dict, _: bytearray) -> None:
        for material in document["materials"]:
            if material["name"] == "hair":
                material["extras"]["shaderScale"] = ["1", 1, 1]

    with pytest.raises(AvatarFileError, match="shaderScale"):
        read_glb(_rewrite(path, tmp_path, damage))


def test_nan_and_infinity_tokens_are_not_json(glb_path: Path, tmp_path: Path) -> None:
    # Python's json writes and reads them; JSON and glTF have no such values (a NaN roughness drew the skin black)
    def poison(document: dict, _: bytearray) -> None:
        document["materials"][0].setdefault("pbrMetallicRoughness", {})["roughnessFactor"] = float("nan")

    with pytest.raises(AvatarFileError, match="not valid JSON"):
        read_glb(_rewrite(glb_path, tmp_path, poison))


@pytest.mark.parametrize("factors", [{"baseColorFactor": [2.0, 2.0, 2.0, 2.0]}, {"roughnessFactor": 5},
                                     {"roughnessFactor": "0.5"}, {"baseColorFactor": [1, 1, True, 1]}])
def test_material_factors_outside_the_spec_are_refused(glb_path: Path, tmp_path: Path, factors: dict) -> None:
    def edit(document: dict, _: bytearray) -> None:
        document["materials"][0].setdefault("pbrMetallicRoughness", {}).update(factors)

    with pytest.raises(AvatarFileError, match="roughnessFactor one in"):
        read_glb(_rewrite(glb_path, tmp_path, edit))


def _scale_weights(document: dict, binary: bytearray, factor: float, rows: slice = slice(None)) -> None:
    """WEIGHTS_0 of the first primitive times `factor` (its rows `rows`), written back in place."""
    attributes = document["meshes"][0]["primitives"][0]["attributes"]
    weights = _accessor_values(document, binary, attributes["WEIGHTS_0"]).astype(np.float32)
    weights[rows] *= factor
    accessor = document["accessors"][attributes["WEIGHTS_0"]]
    start = document["bufferViews"][accessor["bufferView"]].get("byteOffset", 0) + accessor.get("byteOffset", 0)
    binary[start:start + weights.nbytes] = weights.tobytes()


def test_one_weight_set_off_its_sum_is_scaled_to_one(avatar: Avatar, glb_path: Path, tmp_path: Path) -> None:
    # halved weights (the validator's ACCESSOR_WEIGHTS_NON_NORMALIZED) pulled the face halfway to the joints' origin
    read = read_glb(_rewrite(glb_path, tmp_path, lambda d, b: _scale_weights(d, b, 0.5)))
    part, original = read.parts[0], avatar.parts[0]
    assert np.allclose(part.weights.sum(axis=1), 1.0, atol=1e-6)
    assert np.allclose(part.weights, original.weights, atol=1e-6)
    untouched = read_glb(glb_path).parts[0].weights  # well-formed weights are read as written
    assert np.array_equal(untouched, original.weights)


def test_vertices_without_weight_are_refused(glb_path: Path, tmp_path: Path) -> None:
    with pytest.raises(AvatarFileError, match="2 vertices have no skin weight"):
        read_glb(_rewrite(glb_path, tmp_path, lambda d, b: _scale_weights(d, b, 0.0, slice(3, 5))))


def test_a_huge_accessor_without_data_is_refused_before_allocating(glb_path: Path, tmp_path: Path) -> None:
    # count edited to 2^28 - 1 on a POSITION accessor without bufferView: the reader zero-filled 4 GB first
    def inflate(document: dict, _: bytearray) -> None:
        accessor = document["accessors"][document["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
        accessor.pop("bufferView")
        accessor["count"] = (1 << 28) - 1

    with pytest.raises(AvatarFileError, match="no bufferView: more than any avatar holds"):
        read_glb(_rewrite(glb_path, tmp_path, inflate))


def _colour_not_occlusion(document: dict, binary: bytearray) -> None:
    """Every primitive's _OCCLUSION dropped and a COLOR_0 of 0.2 grey given, as another tool's file has."""
    for primitive in (p for mesh in document["meshes"] for p in mesh["primitives"]):
        attributes = primitive["attributes"]
        attributes.pop("_OCCLUSION", None)
        n = document["accessors"][attributes["POSITION"]]["count"]
        attributes["COLOR_0"] = _append(document, binary, np.full((n, 3), 0.2, np.float32), 5126, "VEC3")


def test_another_tools_vertex_colours_are_not_read_as_occlusion(glb_path: Path, tmp_path: Path) -> None:
    # Blender's re-export of a built avatar: its COLOR_0 read as occlusion drew black blotches over the skin
    def foreign(document: dict, binary: bytearray) -> None:
        _colour_not_occlusion(document, binary)
        document["asset"].pop("extras")

    assert all(p.occlusion is None for p in read_glb(_rewrite(glb_path, tmp_path, foreign)).parts)
    ours = read_glb(_rewrite(glb_path, tmp_path, _colour_not_occlusion))  # our files from before _OCCLUSION
    assert all(np.allclose(p.occlusion, 0.2) for p in ours.parts)


# ------------------------------------------------------------------------------------------ session 35 review


def test_signed_indices_are_refused_not_wrapped(glb_path: Path, tmp_path: Path) -> None:
    # glTF indices are unsigned; a signed -1 became index 4294967295 and the render died with a traceback
    def signed(document: dict, binary: bytearray) -> None:
        primitive = document["meshes"][0]["primitives"][0]
        primitive["indices"] = _append(document, binary, np.array([[0], [1], [-1], [0], [1], [2]], np.int8), 5120,
                                       "SCALAR")

    with pytest.raises(AvatarFileError, match="unsigned"):
        read_glb(_rewrite(glb_path, tmp_path, signed))


def test_extras_that_are_not_objects_are_ignored(avatar: Avatar, glb_path: Path, tmp_path: Path) -> None:
    # glTF lets extras be any JSON value: such a file is valid (the validator: info NON_OBJECT_EXTRAS only)
    def stringly(document: dict, _: bytearray) -> None:
        document["asset"]["extras"] = "made by hand"
        for material in document["materials"]:
            material["extras"] = 3
        for mesh in document["meshes"]:
            for primitive in mesh["primitives"]:
                primitive["extras"] = ["note"]

    read = read_glb(_rewrite(glb_path, tmp_path, stringly))
    assert len(read.parts) == len(avatar.parts)
    assert {m.kind for m in read.materials.values()} == {"skin", "teeth", "hair"}  # kinds from the names


def test_a_pipe_or_a_folder_is_not_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.glb"
    os.mkfifo(fifo)  # reading it blocked for ever
    with pytest.raises(AvatarFileError, match=r"not a regular file \(a pipe\)"):
        read_glb(fifo)
    with pytest.raises(AvatarFileError, match=r"not a regular file \(a folder\)"):
        read_glb(tmp_path)


def test_alpha_cutoff_is_written_and_read(avatar: Avatar, tmp_path: Path) -> None:
    hair = dataclasses.replace(avatar.materials["hair"], alpha_mode="MASK", alpha_cutoff=0.8)
    masked = dataclasses.replace(avatar, materials={**avatar.materials, "hair": hair})
    path = tmp_path / "cutoff.glb"
    write_glb(masked, path)
    document, _ = _split(path.read_bytes())
    assert [m.get("alphaCutoff") for m in document["materials"] if m["name"] == "hair"] == [0.8]
    assert read_glb(path).materials["hair"].alpha_cutoff == pytest.approx(0.8)
    write_glb(dataclasses.replace(masked, materials={**avatar.materials, "hair": dataclasses.replace(
        hair, alpha_cutoff=0.5)}), path)  # glTF's default is left out
    assert all("alphaCutoff" not in m for m in _split(path.read_bytes())[0]["materials"])


@pytest.mark.parametrize("cutoff", [-0.1, "0.5", None])
def test_a_bad_alpha_cutoff_is_refused(glb_path: Path, tmp_path: Path, cutoff) -> None:
    def edit(document: dict, _: bytearray) -> None:
        document["materials"][0].update(alphaMode="MASK", alphaCutoff=cutoff)

    with pytest.raises(AvatarFileError, match="alphaCutoff"):
        read_glb(_rewrite(glb_path, tmp_path, edit))


def test_a_texture_in_no_image_format_says_so_without_an_objects_address(glb_path: Path, tmp_path: Path) -> None:
    """PIL's own message named an in-memory object ('cannot identify image file <_io.BytesIO object at 0x7fb3...>')."""
    def noise(document: dict, binary: bytearray) -> None:
        view = document["bufferViews"][document["images"][0]["bufferView"]]
        binary[view["byteOffset"]:view["byteOffset"] + view["byteLength"]] = b"\xab" * view["byteLength"]

    with pytest.raises(AvatarFileError, match=r"texture image 0 cannot be decoded \(its \d+ bytes are no image format") \
            as error:
        read_glb(_rewrite(glb_path, tmp_path, noise))
    assert "0x" not in str(error.value) and "BytesIO" not in str(error.value)


@pytest.mark.parametrize("edit, message", [
    (lambda doc: doc["accessors"][7].update(componentType=9999),
     r"accessor 7 has componentType 9999, not a glTF component type \(5120"),
    (lambda doc: doc["accessors"][0].update(count=doc["accessors"][0]["count"] + 0.5),
     r"accessor 0 has count \d+\.5, not a whole number"),
    (lambda doc: doc["asset"]["extras"]["avatar_engine"].setdefault("identity", {}).update(gender="abc"),
     r"asset\.extras\.avatar_engine\.identity\['gender'\] is 'abc', not a number"),
])
def test_a_bad_value_names_its_field(glb_path: Path, tmp_path: Path, edit, message) -> None:
    """The sweep's hand edits read 'malformed glTF (KeyError: missing property 9999)' or '(ValueError: could not
    convert string to float: 'abc')', not where; and a count of 4446.5 was taken as 4446."""
    with pytest.raises(AvatarFileError, match=message):
        read_glb(_rewrite(glb_path, tmp_path, lambda document, _: edit(document)))
