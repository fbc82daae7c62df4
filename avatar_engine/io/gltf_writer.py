"""glTF 2.0 binary (.glb) writer: an `Avatar` to the layout described in `avatar_engine.io.glb_format`."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.head.occlusion import viewer_shade
from avatar_engine.io.glb_format import (
    _ARRAY_BUFFER, _BIN_CHUNK, _COMPONENT_TYPES, _ELEMENT_ARRAY_BUFFER, _FLOAT, _JSON_CHUNK, _MAGIC, FORMAT_VERSION,
    HEAD_MESH, MORPH_EPSILON, ROOT_NODE, STATIC_MESH)
from avatar_engine.paths import atomic_path
from avatar_engine.records import Avatar, Material, Part

PNG_COMPRESS_LEVEL = 3
"""zlib level of the embedded textures: a built avatar's skin and hair atlas encode in 0.18 s at 3 against 0.45 s at
PIL's default 6, for 13% more texture bytes (1.14 against 1.0 MB)."""


def write_glb(avatar: Avatar, path: str | os.PathLike[str]) -> None:
    """Write `avatar` to `path` as a .glb, atomically: the target is either the old file or the whole new one.

    Raises ValueError when the avatar's arrays are inconsistent (shapes, indices, unknown material).
    """
    document, binary = _build_document(avatar)
    _write_atomic(Path(path), _glb_chunks(document, binary))


def _build_document(avatar: Avatar) -> tuple[dict[str, Any], bytes]:
    """The glTF JSON document and its BIN chunk for `avatar`."""
    _check_avatar(avatar)
    skeleton = avatar.skeleton
    joint_count = len(skeleton.names)
    builder = _Builder()
    material_index = {key: i for i, key in enumerate(avatar.materials)}
    materials = [_material_json(key, m, builder) for key, m in avatar.materials.items()]

    morphing = [p for p in avatar.parts if _has_morphs(p)] or list(avatar.parts)
    static = [p for p in avatar.parts if not any(p is m for m in morphing)]
    meshes = [{
        "name": HEAD_MESH,
        "primitives": [_primitive_json(p, material_index[p.material], avatar.materials[p.material].kind, builder,
                                      targets=True) for p in morphing],
        "extras": {"targetNames": list(ARKIT_NAMES)},
    }]
    if static:
        meshes.append({
            "name": STATIC_MESH,
            "primitives": [_primitive_json(p, material_index[p.material], avatar.materials[p.material].kind,
                                          builder, targets=False) for p in static],
        })

    # Node 0 holds the skeleton; the mesh nodes follow, then the joints in skeleton order.
    first_joint = 1 + len(meshes)
    mesh_nodes = [{"name": mesh["name"], "mesh": i, "skin": 0} for i, mesh in enumerate(meshes)]
    offsets = skeleton.local_offsets().astype(np.float32)
    joint_nodes: list[dict[str, Any]] = [{"name": name} for name in skeleton.names]
    roots = []
    for j, parent in enumerate(np.asarray(skeleton.parents).tolist()):
        if offsets[j].any():
            joint_nodes[j]["translation"] = [float(v) for v in offsets[j]]
        if parent < 0:
            roots.append(first_joint + j)
        else:
            joint_nodes[parent].setdefault("children", []).append(first_joint + j)
    root = {"name": ROOT_NODE, "children": roots}

    # Rest orientations are identity, so each inverse bind matrix is a translation by -rest_position.
    inverse_binds = np.tile(np.eye(4, dtype=np.float32), (joint_count, 1, 1))
    inverse_binds[:, 3, :3] = -np.asarray(skeleton.rest_positions, np.float32)  # column-major: row 3 here
    skin: dict[str, Any] = {
        "name": "Skeleton",
        "joints": list(range(first_joint, first_joint + joint_count)),
        "inverseBindMatrices": builder.dense(inverse_binds.reshape(joint_count, 16), "MAT4"),
    }
    if len(roots) == 1:
        skin["skeleton"] = roots[0]

    document: dict[str, Any] = {
        "asset": {
            "version": "2.0",
            "generator": avatar.generator,
            "extras": {"avatar_engine": {
                "version": FORMAT_VERSION,
                "generator": avatar.generator,
                "identity": {str(k): float(v) for k, v in avatar.identity.items()},
                "parts": [p.name for p in avatar.parts],
            }},
        },
        "scene": 0,
        "scenes": [{"name": ROOT_NODE, "nodes": list(range(first_joint))}],
        "nodes": [root, *mesh_nodes, *joint_nodes],
        "meshes": meshes,
        "skins": [skin],
        "materials": materials,
    }
    if builder.images:
        document.update(images=builder.images, textures=builder.textures,
                        samplers=[{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 10497}])
    binary = builder.finish()
    document["accessors"] = builder.accessors
    document["bufferViews"] = builder.views
    document["buffers"] = [{"byteLength": len(binary)}]
    return document, binary


def _check_avatar(avatar: Avatar) -> None:
    """Raise ValueError for an avatar the file cannot hold faithfully or the validator would reject."""
    skeleton = avatar.skeleton
    j = len(skeleton.names)
    parents = np.asarray(skeleton.parents)
    if j == 0 or len(set(skeleton.names)) != j:
        raise ValueError("skeleton needs at least one joint and unique joint names")
    if parents.shape != (j,) or np.shape(skeleton.rest_positions) != (j, 3):
        raise ValueError(f"skeleton: parents {parents.shape} and rest_positions {np.shape(skeleton.rest_positions)} "
                         f"do not match {j} names")
    if any(not -1 <= p < i for i, p in enumerate(parents.tolist())):
        raise ValueError("skeleton: every parent must come before its child (-1 for a root)")
    if not avatar.parts or len({p.name for p in avatar.parts}) != len(avatar.parts):
        raise ValueError("avatar needs at least one part and unique part names")
    for part in avatar.parts:
        _check_part(part, avatar.materials, j)
    for key, material in avatar.materials.items():
        values = (*material.base_color, material.roughness)
        if len(material.base_color) != 4 or not all(0.0 <= float(v) <= 1.0 for v in values):
            raise ValueError(f"material {key!r}: base_color (4 values) and roughness must lie in [0, 1]")
    if not all(np.isfinite(float(v)) for v in avatar.identity.values()):
        raise ValueError("identity parameters must be finite numbers")


def _check_part(part: Part, materials: Any, joint_count: int) -> None:
    """Raise ValueError when `part`'s arrays do not fit together (what the validator would reject)."""
    n = part.vertex_count
    shapes = {
        "positions": (part.positions, (n, 3)), "normals": (part.normals, (n, 3)), "uvs": (part.uvs, (n, 2)),
        "joints": (part.joints, (n, 4)), "weights": (part.weights, (n, 4)),
        "morph_positions": (part.morph_positions, (52, n, 3)), "morph_normals": (part.morph_normals, (52, n, 3)),
    }
    if part.tangents is not None:
        shapes["tangents"] = (part.tangents, (n, 4))
    if part.occlusion is not None:
        shapes["occlusion"] = (np.asarray(part.occlusion), (n,))
    for name, (array, shape) in shapes.items():
        if np.shape(array) != shape:
            raise ValueError(f"part {part.name!r}: {name} has shape {np.shape(array)}, expected {shape}")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"part {part.name!r}: {name} contains NaN or infinity")
    if np.ndim(part.indices) != 2 or np.shape(part.indices)[1] != 3 or len(part.indices) == 0:
        raise ValueError(f"part {part.name!r}: indices has shape {np.shape(part.indices)}, expected (m, 3), m > 0")
    if part.indices.min() < 0 or part.indices.max() >= n:
        raise ValueError(f"part {part.name!r}: triangle indices outside 0..{n - 1}")
    if part.joints.min() < 0 or part.joints.max() >= joint_count:
        raise ValueError(f"part {part.name!r}: joint indices outside 0..{joint_count - 1}")
    if part.material not in materials:
        raise ValueError(f"part {part.name!r}: material {part.material!r} is not in Avatar.materials")


def _has_morphs(part: Part) -> bool:
    return bool((np.abs(part.morph_positions) > MORPH_EPSILON).any()
                or (np.abs(part.morph_normals) > MORPH_EPSILON).any())


def _material_json(key: str, material: Material, builder: _Builder) -> dict[str, Any]:
    pbr: dict[str, Any] = {
        "baseColorFactor": [float(c) for c in material.base_color],
        "metallicFactor": 0.0,
        "roughnessFactor": float(material.roughness),
    }
    if material.texture is not None:
        pbr["baseColorTexture"] = {"index": builder.texture(material.texture, key)}
    extras: dict[str, Any] = {"kind": material.kind}
    if material.name != key:
        extras["name"] = material.name
    if tuple(material.shader_scale) != (1.0, 1.0, 1.0):  # our renderer's alone: other engines show the texture
        extras["shaderScale"] = [float(c) for c in material.shader_scale]
    if material.texture_is_pattern and material.texture is not None:
        extras["textureIsPattern"] = True
    out = {"name": key, "pbrMetallicRoughness": pbr, "extras": extras}
    if material.alpha_mode != "OPAQUE":
        out["alphaMode"] = material.alpha_mode
    if material.alpha_mode == "MASK" and material.alpha_cutoff != 0.5:  # glTF's default; only MASK may carry it
        out["alphaCutoff"] = float(material.alpha_cutoff)
    if material.double_sided:
        out["doubleSided"] = True
    return out


def _primitive_json(part: Part, material: int, kind: str, builder: _Builder, targets: bool) -> dict[str, Any]:
    n = part.vertex_count
    attributes = {
        "POSITION": builder.dense(part.positions, "VEC3", _ARRAY_BUFFER, bounds=True),
        "NORMAL": builder.dense(_unit_rows(part.normals), "VEC3", _ARRAY_BUFFER),
        "TEXCOORD_0": builder.dense(part.uvs, "VEC2", _ARRAY_BUFFER),
    }
    if part.tangents is not None:
        tangents = np.array(part.tangents, np.float32)
        tangents[:, :3] = _unit_rows(tangents[:, :3])
        tangents[:, 3] = np.where(tangents[:, 3] < 0, -1.0, 1.0)  # the validator wants handedness exactly +-1
        attributes["TANGENT"] = builder.dense(tangents, "VEC4", _ARRAY_BUFFER)
    if part.occlusion is not None:
        # the baked occlusion as it is, for our renderer, in an application attribute other viewers skip; and the
        # share of the light our renderer gives each vertex as COLOR_0, which they multiply into the base colour
        occlusion = np.clip(np.asarray(part.occlusion, np.float32), 0, 1)
        attributes["_OCCLUSION"] = builder.dense(occlusion, "SCALAR", _ARRAY_BUFFER)
        shade = viewer_shade(kind, occlusion, part.normals)
        if shade is not None:
            grey = np.repeat(np.asarray(shade, np.float32)[:, None], 3, axis=1)
            attributes["COLOR_0"] = builder.dense(grey, "VEC3", _ARRAY_BUFFER)
    weights, joints = _normalized_weights(part.weights, part.joints)
    joint_type = np.uint8 if int(joints.max()) < 256 else np.uint16
    attributes["JOINTS_0"] = builder.dense(joints.astype(joint_type), "VEC4", _ARRAY_BUFFER)
    attributes["WEIGHTS_0"] = builder.dense(weights, "VEC4", _ARRAY_BUFFER)
    # 65535 is the primitive-restart value of UNSIGNED_SHORT, so it must not occur as an index.
    index_type = np.uint16 if n <= 65535 else np.uint32
    primitive: dict[str, Any] = {
        "attributes": attributes,
        "indices": builder.dense(part.indices.reshape(-1).astype(index_type), "SCALAR", _ELEMENT_ARRAY_BUFFER),
        "material": material,
        "mode": 4,
        "extras": {"name": part.name, **({"backHidden": int(part.back_hidden)} if part.back_hidden else {})},
    }
    if targets:
        primitive["targets"] = [
            builder.morph(part.morph_positions[t], part.morph_normals[t]) for t in range(len(ARKIT_NAMES))]
    return primitive


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """(n, 3) float32 copy with rows of length 1 (zero rows become +z); rows already within 1e-4 of unit length stay
    bit-exact."""
    out = np.array(vectors, np.float32)
    length = np.linalg.norm(out.astype(np.float64), axis=1)
    fix = (np.abs(length - 1.0) > 1e-4) & (length > 0)
    out[fix] = (out[fix] / length[fix, None]).astype(np.float32)
    # a vertex on zero-area triangles only has no direction, but glTF requires unit length: any shades it alike
    out[length == 0] = (0.0, 0.0, 1.0)
    return out


def _normalized_weights(weights: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skinning data the validator accepts, from (n, 4) weights and (n, 4) joints.

    Weights: negative ones dropped, a joint listed twice merged into its first slot, a vertex without weight
    bound fully to its first joint, and rows rescaled so their float32 running sum is 1 within the validator's
    2e-7 per non-zero weight. Joints: 0 in every zero-weight slot (anything else draws a warning).
    Rows that already pass are left bit-exact.
    """
    w = np.maximum(np.array(weights, np.float32), 0.0)
    joints = np.array(joints)
    for k in range(1, 4):
        for i in range(k):
            repeat = (joints[:, k] == joints[:, i]) & (w[:, k] > 0) & (w[:, i] > 0)
            w[repeat, i] += w[repeat, k]
            w[repeat, k] = 0.0
    w[~(w > 0).any(1), 0] = 1.0
    joints = np.where(w > 0, joints, 0)
    for _ in range(4):
        bad = _weight_sum_error(w) > 2e-7 * np.maximum((w > 0).sum(1), 1)
        if not bad.any():
            break
        rows = w[bad].astype(np.float64)
        total = rows.sum(1, keepdims=True)
        rows = (rows / total).astype(np.float32)
        # Put the float32 rounding residue on the largest weight, where it matters least.
        largest = rows.argmax(1)
        residue = (1.0 - _float32_running_sum(rows)).astype(np.float32)
        rows[np.arange(len(rows)), largest] += residue
        w[bad] = rows
    return w, joints


def _float32_running_sum(w: np.ndarray) -> np.ndarray:
    """(n,) float32 sum of (n, 4) weights added left to right in float32, as the validator adds them."""
    total = np.zeros(len(w), np.float32)
    for k in range(w.shape[1]):
        total = (total + w[:, k]).astype(np.float32)
    return total


def _weight_sum_error(w: np.ndarray) -> np.ndarray:
    return np.abs(_float32_running_sum(w).astype(np.float64) - 1.0)


class _Builder:
    """Collects the BIN chunk, bufferViews, accessors and images while the JSON is built."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []
        self.textures: list[dict[str, Any]] = []
        # Sparse indices and values of all morph targets share two bufferViews, made in `finish`.
        self._sparse_indices = bytearray()
        self._sparse_values = bytearray()
        self._sparse_accessors: list[dict[str, Any]] = []
        # Zero targets and the sparse targets' starting values share one bufferView of zeros, made in `finish`.
        self._zero_based: list[dict[str, Any]] = []

    def view(self, data: bytes, target: int | None = None) -> int:
        self._pad()
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self.size, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.chunks.append(data)
        self.size += len(data)
        self.views.append(view)
        return len(self.views) - 1

    def dense(self, array: np.ndarray, kind: str, target: int | None = None, bounds: bool = False) -> int:
        """Accessor over its own bufferView; `array` is (count, width) or (count,) of u1, u2, u4 or floats."""
        array = np.ascontiguousarray(array, np.float32 if array.dtype.kind == "f" else array.dtype)
        accessor: dict[str, Any] = {
            "bufferView": self.view(array.astype(array.dtype.newbyteorder("<")).tobytes(), target),
            "componentType": _COMPONENT_TYPES[array.dtype],
            "count": len(array),
            "type": kind,
        }
        if bounds:
            accessor["min"], accessor["max"] = _bounds(array)
        return self._add(accessor)

    def morph(self, positions: np.ndarray, normals: np.ndarray) -> dict[str, int]:
        """POSITION and NORMAL accessors of one target; positions, normals : (n, 3) float32 offsets."""
        n = len(positions)
        moved = np.flatnonzero((np.abs(positions) > MORPH_EPSILON).any(1) | (np.abs(normals) > MORPH_EPSILON).any(1))
        kept_positions = _kept(positions, moved)
        if len(moved) == 0:
            zero = {"componentType": _FLOAT, "count": n, "type": "VEC3"}
            accessors = ({**zero, "min": [0.0] * 3, "max": [0.0] * 3}, dict(zero))
            self._zero_based.extend(accessors)
            return {"POSITION": self._add(accessors[0]), "NORMAL": self._add(accessors[1])}
        index_type = np.uint16 if n <= 65536 else np.uint32
        if len(moved) * (np.dtype(index_type).itemsize + 12) >= n * 12:
            return {"POSITION": self.dense(kept_positions, "VEC3", _ARRAY_BUFFER, bounds=True),
                    "NORMAL": self.dense(_kept(normals, moved), "VEC3", _ARRAY_BUFFER)}
        index_offset = self._append(self._sparse_indices, moved.astype(index_type))
        out = {}
        for name, values in (("POSITION", positions), ("NORMAL", normals)):
            accessor: dict[str, Any] = {
                "componentType": _FLOAT, "count": n, "type": "VEC3",
                "sparse": {
                    "count": len(moved),
                    "indices": {"byteOffset": index_offset, "componentType": _COMPONENT_TYPES[np.dtype(index_type)]},
                    "values": {"byteOffset": self._append(self._sparse_values, values[moved].astype(np.float32))},
                },
            }
            if name == "POSITION":
                accessor["min"], accessor["max"] = _bounds(kept_positions)
            self._sparse_accessors.append(accessor)
            self._zero_based.append(accessor)
            out[name] = self._add(accessor)
        return out

    def texture(self, rgba: np.ndarray, name: str) -> int:
        """Embed (h, w, 4) uint8 `rgba` as PNG; returns the texture index."""
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
            raise ValueError(f"material {name!r}: texture must be (h, w, 4) uint8, got {rgba.shape} {rgba.dtype}")
        png = io.BytesIO()
        pixels = np.ascontiguousarray(rgba)
        # opaque throughout (skin, eyes, teeth): stored as RGB. An alpha channel, even all 255, leads engines such as
        # Unity to a compressed format with alpha (BC3), twice the memory of one without (BC1)
        image = Image.fromarray(np.ascontiguousarray(pixels[..., :3]), "RGB") if (pixels[..., 3] == 255).all() \
            else Image.fromarray(pixels, "RGBA")
        image.save(png, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        self.images.append({"name": name, "bufferView": self.view(png.getvalue()), "mimeType": "image/png"})
        self.textures.append({"source": len(self.images) - 1, "sampler": 0})
        return len(self.textures) - 1

    def finish(self) -> bytes:
        """The BIN chunk, 4-byte padded; adds the shared sparse and zero bufferViews first."""
        if self._sparse_accessors:
            indices_view = self.view(bytes(self._sparse_indices))
            values_view = self.view(bytes(self._sparse_values))
            for accessor in self._sparse_accessors:
                accessor["sparse"]["indices"]["bufferView"] = indices_view
                accessor["sparse"]["values"]["bufferView"] = values_view
        if self._zero_based:
            # glTF lets a zero accessor, or a sparse one's starting values, go without a bufferView (3.6.2.3), but
            # Unity's importers fail on that (glTFast: assertion errors; UnityGLTF: a null reference): they all read
            # one block of zeros instead, as long as the longest, strided because many accessors share it
            zeros = self.view(bytes(12 * max(a["count"] for a in self._zero_based)), _ARRAY_BUFFER)
            self.views[zeros]["byteStride"] = 12
            for accessor in self._zero_based:
                accessor["bufferView"] = zeros
        self._pad()
        return b"".join(self.chunks)

    def _add(self, accessor: dict[str, Any]) -> int:
        self.accessors.append(accessor)
        return len(self.accessors) - 1

    def _pad(self) -> None:
        if self.size % 4:
            self.chunks.append(b"\0" * (4 - self.size % 4))
            self.size += 4 - self.size % 4

    @staticmethod
    def _append(pool: bytearray, array: np.ndarray) -> int:
        pool.extend(b"\0" * (-len(pool) % 4))
        offset = len(pool)
        pool.extend(array.astype(array.dtype.newbyteorder("<")).tobytes())
        return offset


def _kept(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(n, 3) float32 copy of `values` with every row not in `rows` zeroed."""
    out = np.zeros(values.shape, np.float32)
    out[rows] = values[rows]
    return out


def _bounds(array: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-component min and max, exactly as stored (the validator compares them bit for bit)."""
    array = array.reshape(len(array), -1)
    return [float(v) for v in array.min(0)], [float(v) for v in array.max(0)]


def _glb_chunks(document: dict[str, Any], binary: bytes) -> Iterator[bytes]:
    """The .glb file in pieces: header, JSON chunk, BIN chunk."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 4)  # the JSON chunk is padded with spaces, BIN with zeros
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    yield struct.pack("<4sII", _MAGIC, 2, total)
    yield struct.pack("<II", len(text), _JSON_CHUNK) + text
    yield struct.pack("<II", len(binary), _BIN_CHUNK)
    yield binary


def _write_atomic(path: Path, chunks: Iterator[bytes]) -> None:
    """Write the chunks beside `path` and rename the file over it once it is on disk (`paths.atomic_path`)."""
    with atomic_path(path) as temp, open(temp, "xb") as file:
        for chunk in chunks:
            file.write(chunk)
        file.flush()
        os.fsync(file.fileno())
