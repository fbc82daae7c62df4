"""glTF 2.0 binary (.glb) reader: files `write_glb` makes, or similar skinned glTF with the 52 ARKit targets."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import struct
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from avatar_engine.build.image import eight_bit
from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.head.geometry import vertex_normals
from avatar_engine.io.glb_format import (_BIN_CHUNK, _DTYPES, _JSON_CHUNK, _KINDS, _MAGIC, _WIDTHS, FORMAT_VERSION,
                                         AvatarFileError)
from avatar_engine.records import Avatar, Material, Part, Skeleton

WEIGHT_SUM_TOLERANCE = 2e-3
"""A vertex's skin weights summing further from 1 than this are scaled to 1. The glTF validator allows about 2e-7 per
weight; files in the wild are looser (8-bit weights), and rewriting only those leaves well-formed files as read."""
MAX_GLB_BYTES = 1 << 30
"""Largest file read as an avatar: 1 GiB, a hundred times a built avatar with 4K textures."""
ZERO_FILL_MAX = 1 << 22
"""Most elements an accessor without a bufferView (all zeros, perhaps sparse) may declare: 4 million, far over any
avatar's vertices or joints."""


def read_glb(path: str | os.PathLike[str]) -> Avatar:
    """Read an avatar from a .glb made by `write_glb`, or a similar skinned glTF with the 52 ARKit targets.

    Parts come from every skinned mesh (all must share one skin); meshes without targets get zero morphs.
    Raises AvatarFileError, naming the file and the problem, for anything that is not such a file.
    """
    path = Path(path)
    try:
        found = path.stat()
        if not stat.S_ISREG(found.st_mode):  # a FIFO would block the read for ever, /dev/zero fill the memory
            raise AvatarFileError(f"{path}: not a regular file ({_file_kind(found.st_mode)})")
        if found.st_size > MAX_GLB_BYTES:
            raise AvatarFileError(f"{path}: {found.st_size / 2 ** 30:.1f} GiB, larger than any avatar file "
                                  f"({MAX_GLB_BYTES // 2 ** 30} GiB at most)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise AvatarFileError(f"{path}: no such file") from None
    except OSError as error:
        raise AvatarFileError(f"{path}: cannot read the file ({error.strerror or error})") from None
    try:
        document, binary = _split_glb(data)
        return _Reader(document, binary).avatar()
    except AvatarFileError as error:
        raise AvatarFileError(f"{path}: {error}") from error.__cause__
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError, MemoryError,
            RecursionError, struct.error) as error:
        # Whatever else a hand-edited or damaged document trips over; one line, never the raw exception.
        detail = f"missing property {error.args[0]!r}" if isinstance(error, KeyError) else f"{error}"
        raise AvatarFileError(f"{path}: malformed glTF ({type(error).__name__}: {detail})".replace("\n", " ")) \
            from error


def _file_kind(mode: int) -> str:
    for test, word in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a pipe"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return "not a file"


def _split_glb(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """The JSON document and the BIN chunk of a .glb, after checking the container."""
    if not data:
        raise AvatarFileError("the file is empty")
    if data[:4] != _MAGIC:
        if data.lstrip()[:1] == b"{":  # a .gltf: its JSON, with the buffers beside it
            raise AvatarFileError("a glTF JSON file (.gltf); only the binary container (.glb) is read: export a .glb, "
                                  "or convert it (e.g. gltf-pipeline -i x.gltf -o x.glb)")
        raise AvatarFileError(f"not a .glb file (starts with {data[:4]!r}, expected {_MAGIC!r})")
    if len(data) < 12:
        raise AvatarFileError(f"truncated: {len(data)} bytes, shorter than the 12-byte GLB header")
    _, version, length = struct.unpack_from("<4sII", data)
    if version != 2:
        raise AvatarFileError(f"GLB container version {version}; only version 2 (glTF 2.0) is supported")
    if length > len(data):
        raise AvatarFileError(f"truncated: the header declares {length} bytes but the file has {len(data)}")
    view = memoryview(data)[:length]
    chunks: list[tuple[int, memoryview]] = []
    offset = 12
    while offset < length:
        if offset + 8 > length:
            raise AvatarFileError(f"truncated: chunk header cut off at byte {offset}")
        size, kind = struct.unpack_from("<II", view, offset)
        if offset + 8 + size > length:
            raise AvatarFileError(f"truncated: the chunk at byte {offset} declares {size} bytes, "
                                  f"only {length - offset - 8} remain")
        chunks.append((kind, view[offset + 8:offset + 8 + size]))
        offset += 8 + size
    if not chunks or chunks[0][0] != _JSON_CHUNK:
        raise AvatarFileError("corrupt: the first GLB chunk is not the JSON chunk")
    try:
        document = json.loads(bytes(chunks[0][1]).decode("utf-8"), parse_constant=_not_json)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AvatarFileError(f"the JSON chunk is not valid JSON ({error})") from None
    asset = document.get("asset") if isinstance(document, dict) else None
    version_text = asset.get("version") if isinstance(asset, dict) else None
    if not isinstance(version_text, str) or version_text.split(".")[0] != "2":
        raise AvatarFileError(f"the JSON is not a glTF 2.0 document (asset.version is {version_text!r})")
    minimum = asset.get("minVersion")
    if minimum is not None and _version_tuple(minimum) > (2, 0):
        # glTF 2.0, asset.minVersion: a loader that does not support that version must not load the asset
        raise AvatarFileError(f"needs a glTF {minimum} reader (asset.minVersion); this one reads glTF 2.0")
    required = document.get("extensionsRequired") or []
    if required:
        raise AvatarFileError(f"requires glTF extensions this reader lacks: {', '.join(map(repr, required))}")
    binary = next((chunk for kind, chunk in chunks[1:] if kind == _BIN_CHUNK), memoryview(b""))
    return document, binary


def _version_tuple(text: Any) -> tuple[int, int]:
    """glTF's "<major>.<minor>" as numbers; anything else is a corrupt asset block."""
    parts = text.split(".") if isinstance(text, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise AvatarFileError(f"asset.minVersion is {text!r}, not a glTF version like '2.0'")
    return int(parts[0]), int(parts[1])


def _not_json(token: str):
    """Python's JSON reader takes NaN, Infinity and -Infinity, which JSON (and so glTF) does not have: a NaN
    roughness read so drew the skin black."""
    raise json.JSONDecodeError(f"{token} is not a JSON value", token, 0)


KIND_WORDS = (("lash", "lash"), ("hair", "hair"), ("brow", "hair"), ("teeth", "teeth"), ("tooth", "teeth"),
              ("tongue", "tongue"), ("eye", "eye"), ("iris", "eye"), ("cornea", "eye"))
"""Material name words -> the material kind, for files whose materials lost our extras (Blender's exporter drops
custom properties unless asked): first match wins, so "eyelash" is a lash and "eyebrow" hair."""


def _extras(item: dict[str, Any]) -> dict[str, Any]:
    """An item's `extras` when they are an object; glTF lets them be any JSON value, and other values hold nothing
    this reader looks for."""
    extras = item.get("extras")
    return extras if isinstance(extras, dict) else {}


def _loose_name(name: str) -> str:
    """A morph target's name without case, underscores or a node prefix ("blendShape1.")."""
    return name.rsplit(".", 1)[-1].replace("_", "").lower()


def kind_by_name(name: str) -> str:
    """The material kind a material's name suggests; skin when nothing does."""
    lower = name.lower()
    return next((kind for word, kind in KIND_WORDS if word in lower), "skin")


class _Reader:
    """Turns one parsed glTF document and its BIN chunk into an `Avatar`."""

    def __init__(self, document: dict[str, Any], binary: memoryview) -> None:
        self.doc = document
        self.binary = binary
        self.nodes: list[dict[str, Any]] = document.get("nodes", [])
        block = _extras(document["asset"]).get("avatar_engine")
        self.block: dict[str, Any] = block if isinstance(block, dict) else {}
        """asset.extras.avatar_engine (parts' order, generator, identity); empty in other tools' files."""
        self.ours = isinstance(block, dict)
        """Written by avatar_engine (`gltf_writer`): only then does COLOR_0 without _OCCLUSION hold occlusion."""
        version = self.block.get("version", FORMAT_VERSION)
        if self.ours and isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            # the block's meaning changed with its version: read as this one, a newer file is read wrongly
            raise AvatarFileError(f"written by a newer avatar-engine (its avatar block is format {version}; this "
                                  f"one reads format {FORMAT_VERSION}): upgrade avatar-engine to read it")

    def avatar(self) -> Avatar:
        skinned = [node for node in self.nodes if "mesh" in node and "skin" in node]
        if not skinned:
            raise AvatarFileError("no skin: no mesh node is skinned, so the file has no skeleton for the avatar")
        skin = skinned[0]["skin"]
        for other in {node["skin"] for node in skinned} - {skin}:
            # one skin per mesh (three.js and others export so) is one skeleton when the skins are the same
            if not self.same_skin(skin, other):
                raise AvatarFileError("the meshes use different skins; an avatar has one skeleton")
        skeleton, joint_slot = self.skeleton(self.item("skins", skin))
        materials, material_keys = self.materials()

        parts: list[Part] = []
        names: set[str] = set()
        morphed = False
        default = ""
        for mesh_index in dict.fromkeys(node["mesh"] for node in skinned):  # unique, in node order
            mesh = self.item("meshes", mesh_index)
            order = self.target_order(mesh)
            morphed |= order is not None
            for i, primitive in enumerate(mesh["primitives"]):
                name = _extras(primitive).get("name")
                if not isinstance(name, str):
                    name = mesh.get("name", f"mesh{mesh_index}") + (f".{i}" if len(mesh["primitives"]) > 1 else "")
                name = _unique(name, names)
                if "material" in primitive:
                    material = material_keys[self.index(primitive["material"], len(material_keys), "material")]
                else:  # glTF's default material: plain white
                    material = default or _unique("default", set(materials))
                    default = materials.setdefault(material, Material(material, "skin")).name
                parts.append(self.part(primitive, name, material, order, joint_slot))
        if not morphed:
            raise AvatarFileError("no morph targets: no skinned mesh has the 52 ARKit blend shapes")

        block = self.block
        order_names = block.get("parts")
        if isinstance(order_names, list) and sorted(map(str, order_names)) == sorted(p.name for p in parts):
            by_name = {p.name: p for p in parts}
            parts = [by_name[str(name)] for name in order_names]
        generator = block.get("generator", self.doc["asset"].get("generator", "unknown"))
        identity = block.get("identity")
        identity = {str(k): _number(v, f"asset.extras.avatar_engine.identity[{k!r}]")
                    for k, v in identity.items()} if isinstance(identity, dict) else {}
        return Avatar(tuple(parts), materials, skeleton, identity, str(generator))

    def same_skin(self, a: int, b: int) -> bool:
        """Skins `a` and `b` list the same joints with the same inverse bind matrices."""
        first, second = self.item("skins", a), self.item("skins", b)
        if first.get("joints") != second.get("joints"):
            return False
        binds = [skin.get("inverseBindMatrices") for skin in (first, second)]
        if binds[0] == binds[1]:
            return True
        if None in binds:
            return False
        return bool(np.array_equal(self.floats(binds[0], 16), self.floats(binds[1], 16)))

    def target_order(self, mesh: dict[str, Any]) -> list[int] | None:
        """For each ARKit name in order, the index of its target in `mesh`; None for a mesh without targets."""
        primitives = mesh["primitives"]
        counts = {len(p.get("targets") or []) for p in primitives}
        name = mesh.get("name", "")
        if counts == {0}:
            return None
        if len(counts) > 1:
            raise AvatarFileError(f"mesh {name!r}: its primitives have different numbers of morph targets")
        count = counts.pop()
        names = _extras(mesh).get("targetNames") or _extras(primitives[0]).get("targetNames")
        if not isinstance(names, list):
            raise AvatarFileError(f"mesh {name!r} has {count} morph targets but no extras.targetNames naming them")
        if len(names) != count:
            raise AvatarFileError(f"mesh {name!r}: extras.targetNames has {len(names)} names for {count} targets")
        position: dict[str, int] = {}
        for i, target_name in enumerate(names):
            position.setdefault(str(target_name), i)
        loose: dict[str, int] = {}
        for i, target_name in enumerate(names):
            loose.setdefault(_loose_name(str(target_name)), i)
        for arkit in ARKIT_NAMES:  # "JawOpen", Maya's "blendShape1.jawOpen", "jaw_open" name the same shape
            if arkit not in position and _loose_name(arkit) in loose:
                position[arkit] = loose[_loose_name(arkit)]
        missing = [n for n in ARKIT_NAMES if n not in position]
        if missing:
            raise AvatarFileError(
                f"mesh {name!r} lacks {len(missing)} of the 52 ARKit morph targets: {', '.join(missing)}")
        return [position[n] for n in ARKIT_NAMES]

    def part(self, primitive: dict[str, Any], name: str, material: str, order: list[int] | None,
             joint_slot: np.ndarray) -> Part:
        if primitive.get("mode", 4) != 4:
            raise AvatarFileError(f"part {name!r}: primitive mode {primitive['mode']}; only triangles (4) are read")
        attributes = primitive["attributes"]
        for required in ("POSITION", "JOINTS_0", "WEIGHTS_0"):
            if required not in attributes:
                raise AvatarFileError(f"part {name!r} has no {required} attribute")
        positions = self.floats(attributes["POSITION"], 3)
        n = len(positions)
        joints, weights = self.influences(attributes, name, n, len(joint_slot))
        if "indices" in primitive:
            indices = self.accessor(primitive["indices"], 1).reshape(-1)
        else:
            indices = np.arange(n)
        if indices.dtype.kind != "u":  # glTF: unsigned byte, short or int; a signed -1 would wrap to 2^32 - 1
            raise AvatarFileError(f"part {name!r}: its indices are {indices.dtype} numbers; glTF indices are "
                                  "unsigned (byte, short or int)")
        if len(indices) % 3 or (len(indices) and indices.max() >= n):
            raise AvatarFileError(f"part {name!r}: indices are not triangles over its {n} vertices")
        morph_positions = np.zeros((len(ARKIT_NAMES), n, 3), np.float32)
        morph_normals = np.zeros((len(ARKIT_NAMES), n, 3), np.float32)
        if order is not None:
            targets = primitive["targets"]
            for t, k in enumerate(order):
                if "POSITION" in targets[k]:
                    morph_positions[t] = self.floats(targets[k]["POSITION"], 3, n)
                if "NORMAL" in targets[k]:
                    morph_normals[t] = self.floats(targets[k]["NORMAL"], 3, n)
        uvs = self.floats(attributes["TEXCOORD_0"], 2, n) if "TEXCOORD_0" in attributes else np.zeros((n, 2), "f4")
        tangents = self.floats(attributes["TANGENT"], 4, n) if "TANGENT" in attributes else None
        occlusion = None
        if "_OCCLUSION" in attributes:  # the baked occlusion as it is (gltf_writer); COLOR_0 is the viewers' shade
            occlusion = self.floats(attributes["_OCCLUSION"], 1, n)[:, 0].astype(np.float32)
        elif "COLOR_0" in attributes and self.ours:
            # our files written before _OCCLUSION carried the occlusion itself here; another tool's COLOR_0 is its
            # own vertex colour (Blender's re-export of an avatar: black blotches over the skin read as occlusion)
            width = 4 if self.item("accessors", attributes["COLOR_0"]).get("type") == "VEC4" else 3
            occlusion = self.floats(attributes["COLOR_0"], width, n)[:, :3].mean(axis=1).astype(np.float32)
        triangles = indices.astype(np.uint32).reshape(-1, 3)
        # our own hint (see Part.back_hidden); a value that does not fit the primitive is ignored, never trusted
        back_hidden = _extras(primitive).get("backHidden", 0)
        back_hidden = back_hidden if type(back_hidden) is int and 0 <= back_hidden <= len(triangles) else 0
        # glTF makes normals optional (flat shading is then the client's choice): smooth ones serve an avatar better
        if "NORMAL" in attributes:
            normals = self.floats(attributes["NORMAL"], 3, n)
        else:
            normals = vertex_normals(positions, triangles.astype(np.int64), n).astype(np.float32)
            normals[np.linalg.norm(normals, axis=1) < 0.5] = (0.0, 0.0, 1.0)  # on no triangle: any unit vector
        return Part(
            name=name, material=material, positions=positions, normals=normals,
            uvs=uvs, indices=triangles,
            joints=joint_slot[joints].astype(np.uint16), weights=weights,
            morph_positions=morph_positions, morph_normals=morph_normals, tangents=tangents, occlusion=occlusion,
            back_hidden=back_hidden,
        )

    def influences(self, attributes: dict[str, Any], name: str, n: int, joint_count: int
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(n, 4) joint indices and weights from every JOINTS_k / WEIGHTS_k set: the four strongest influences of
        each vertex, renormalised to sum to 1 (a file with more than four per vertex was read from its first set
        alone, and its vertices sagged toward the origin by the missing share)."""
        joints, weights = [], []
        k = 0
        while f"JOINTS_{k}" in attributes and f"WEIGHTS_{k}" in attributes:
            j = self.accessor(attributes[f"JOINTS_{k}"], 4, n)
            if j.dtype.kind not in "iu" or (n and (j.min() < 0 or j.max() >= joint_count)):
                raise AvatarFileError(f"part {name!r}: JOINTS_{k} are not joint indices of the skin")
            joints.append(j.astype(np.int64))
            weights.append(self.floats(attributes[f"WEIGHTS_{k}"], 4, n))
            k += 1
        j, w = np.concatenate(joints, axis=1), np.concatenate(weights, axis=1)
        if k > 1:
            strongest = np.argsort(-w, axis=1, kind="stable")[:, :4]
            j, w = np.take_along_axis(j, strongest, 1), np.take_along_axis(w, strongest, 1)
        if (w < 0).any():
            raise AvatarFileError(f"part {name!r}: negative skin weights")
        total = w.sum(axis=1, keepdims=True)
        if (total <= 0).any():
            raise AvatarFileError(f"part {name!r}: {int((total <= 0).sum())} vertices have no skin weight (glTF: "
                                  "each vertex's weights sum to 1)")
        # glTF asks for sums of 1; where a file is off by more than float rounding the vertex would shrink toward
        # the joints' origin (weights halved: the face pulled off its eyes), so its weights are scaled to 1
        off = np.abs(total - 1.0) > WEIGHT_SUM_TOLERANCE
        return j, np.where(off, w / total, w).astype(np.float32)

    def skeleton(self, skin: dict[str, Any]) -> tuple[Skeleton, np.ndarray]:
        """The skin as a Skeleton in parent-before-child order, and (j,) the new slot of each skin joint."""
        joints = [self.index(j, len(self.nodes), "joint node") for j in skin["joints"]]
        if not joints or len(set(joints)) != len(joints):
            raise AvatarFileError("the skin has no joints, or lists a joint twice")
        parent_node: dict[int, int] = {}
        for i, node in enumerate(self.nodes):
            for child in node.get("children", []):
                parent_node[child] = i
        slot = {node: j for j, node in enumerate(joints)}
        parents = []
        for node in joints:
            # The nearest ancestor that is a joint; other nodes in between are skipped.
            ancestor = parent_node.get(node)
            for _ in range(len(self.nodes)):
                if ancestor is None or ancestor in slot:
                    break
                ancestor = parent_node.get(ancestor)
            parents.append(slot[ancestor] if ancestor in slot else -1)
        depth = [0] * len(joints)
        for j in range(len(joints)):
            p, steps = parents[j], 0
            while p >= 0:
                p, steps = parents[p], steps + 1
                if steps > len(joints):
                    raise AvatarFileError("the skin's joints form a loop")
            depth[j] = steps

        if "inverseBindMatrices" in skin:
            # Column-major in the file; transpose to row-major matrices.
            binds = self.floats(skin["inverseBindMatrices"], 16)[: len(joints)].reshape(-1, 4, 4).transpose(0, 2, 1)
            if len(binds) < len(joints):
                raise AvatarFileError(f"the skin has {len(joints)} joints but {len(binds)} inverse bind matrices")
            pure = np.all(binds[:, :3, :3] == np.eye(3, dtype=np.float32), axis=(1, 2))
            # A pure translation inverts exactly by negation; anything else goes through a float64 inverse.
            rest = np.where(pure[:, None], -binds[:, :3, 3],
                            np.linalg.inv(binds.astype(np.float64))[:, :3, 3]).astype(np.float32)
        else:
            rest = np.zeros((len(joints), 3), np.float32)  # identity inverse binds: all joints at the origin

        order = np.argsort(depth, kind="stable")  # parents before children, file order otherwise
        new_slot = np.empty(len(joints), np.int64)
        new_slot[order] = np.arange(len(joints))
        names = tuple(str(self.item("nodes", joints[j]).get("name") or f"joint{j}") for j in order)
        new_parents = np.array([new_slot[parents[j]] if parents[j] >= 0 else -1 for j in order], np.int32)
        return Skeleton(names, new_parents, rest[order]), new_slot

    def materials(self) -> tuple[dict[str, Material], list[str]]:
        """Materials by key, and the key of each glTF material index."""
        out: dict[str, Material] = {}
        keys: list[str] = []
        for i, material in enumerate(self.doc.get("materials", [])):
            key = _unique(str(material.get("name") or f"material{i}"), set(out))
            extras = _extras(material)
            pbr = material.get("pbrMetallicRoughness") or {}
            texture = self.texture(pbr["baseColorTexture"]["index"], key) if "baseColorTexture" in pbr else None
            base_color = pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0])
            roughness = pbr.get("roughnessFactor", 1.0)
            alpha_mode = material.get("alphaMode", "OPAQUE")
            cutoff = material.get("alphaCutoff", 0.5)
            if not (isinstance(base_color, list) and len(base_color) == 4 and all(map(_unit, base_color))
                    and _unit(roughness) and alpha_mode in ("OPAQUE", "BLEND", "MASK")):
                raise AvatarFileError(f"material {key!r}: baseColorFactor must be four numbers and roughnessFactor "
                                      "one in [0, 1], alphaMode OPAQUE, BLEND or MASK")
            if type(cutoff) not in (int, float) or not 0 <= cutoff < float("inf"):
                raise AvatarFileError(f"material {key!r}: alphaCutoff must be a number of at least 0, "
                                      f"got {cutoff!r}")
            scale = extras.get("shaderScale", (1.0, 1.0, 1.0))
            if not (isinstance(scale, (list, tuple)) and len(scale) == 3
                    and all(isinstance(c, (int, float)) and 0 < c <= 16 for c in scale)):
                raise AvatarFileError(f"material {key!r}: extras.shaderScale must be three factors in (0, 16]")
            out[key] = Material(
                name=str(extras.get("name", key)),
                kind=extras["kind"] if extras.get("kind") in _KINDS else kind_by_name(key),
                base_color=tuple(float(c) for c in base_color),  # type: ignore[arg-type]
                texture=texture,
                roughness=float(roughness),
                alpha_mode=alpha_mode,
                alpha_cutoff=float(cutoff) if alpha_mode == "MASK" else 0.5,  # glTF ignores it otherwise
                double_sided=bool(material.get("doubleSided", False)),
                shader_scale=tuple(float(c) for c in scale),  # type: ignore[arg-type]
                texture_is_pattern=extras.get("textureIsPattern") is True and texture is not None,
            )
            keys.append(key)
        return out, keys

    def texture(self, index: int, material: str) -> np.ndarray:
        """(h, w, 4) uint8 RGBA pixels of texture `index`."""
        source = self.item("textures", index).get("source")
        if source is None:
            raise AvatarFileError(f"material {material!r}: texture {index} has no PNG or JPEG source")
        image = self.item("images", source)
        uri = image.get("uri")
        if "bufferView" in image:
            png = self.view_bytes(image["bufferView"])
        elif isinstance(uri, str) and uri.startswith("data:") and ";base64," in uri:
            try:
                png = base64.b64decode(uri.split(";base64,", 1)[1], validate=True)
            except ValueError:
                raise AvatarFileError(f"material {material!r}: image {source}'s data URI is not base64") from None
        else:
            raise AvatarFileError(f"material {material!r}: image {source} is not embedded (external files unsupported)")
        try:
            with Image.open(io.BytesIO(png)) as decoded:
                return np.asarray(eight_bit(decoded).convert("RGBA"), np.uint8).copy()
        except UnidentifiedImageError:  # its message names an in-memory object's address: say what it means
            raise AvatarFileError(f"material {material!r}: embedded texture image {source} cannot be decoded "
                                  f"(its {len(png)} bytes are no image format PIL reads)") from None
        except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, zlib.error, ... for bad data
            raise AvatarFileError(f"material {material!r}: embedded texture image {source} cannot be decoded "
                                  f"({type(error).__name__}: {error})") from error

    def floats(self, index: int, width: int, count: int | None = None) -> np.ndarray:
        """(count, width) float32 values of accessor `index`, normalized integers mapped to [0, 1] or [-1, 1]."""
        values = self.accessor(index, width, count)
        if values.dtype.kind in "iu":
            if not self.item("accessors", index).get("normalized"):
                raise AvatarFileError(f"accessor {index} holds integers where floats are expected")
            values = np.maximum(values / np.iinfo(values.dtype).max, -1.0)
        values = values.astype(np.float32)
        if not np.isfinite(values).all():
            raise AvatarFileError(f"accessor {index} holds NaN or infinite values")
        return values

    def accessor(self, index: int, width: int, count: int | None = None) -> np.ndarray:
        """(count, width) values of accessor `index` in its own dtype, sparse substitution applied."""
        accessor = self.item("accessors", index)
        dtype = _component_dtype(accessor["componentType"], f"accessor {index}")
        if _WIDTHS.get(accessor["type"]) != width:
            raise AvatarFileError(f"accessor {index} is {accessor['type']}, expected {width} components")
        n = accessor["count"]
        if isinstance(n, bool) or not isinstance(n, int):  # 4446.5 was read as 4446
            raise AvatarFileError(f"accessor {index} has count {n!r}, not a whole number")
        if (count is not None and n != count) or not 0 <= n < 1 << 28:
            expected = "an implausible number" if count is None else f"expected {count}"
            raise AvatarFileError(f"accessor {index} has {n} elements, {expected}")
        if "bufferView" in accessor:
            values = self.elements(accessor["bufferView"], accessor.get("byteOffset", 0), dtype, width, n, strided=True)
        elif n > ZERO_FILL_MAX:  # no data to bound it: a count edited to 2^28 asked for gigabytes of zeros
            raise AvatarFileError(f"accessor {index} has {n} elements and no bufferView: more than any avatar holds")
        else:
            values = np.zeros((n, width), dtype)  # glTF: an accessor without bufferView is zeros
        sparse = accessor.get("sparse")
        if sparse:
            k = int(sparse["count"])
            spec = sparse["indices"]
            rows = self.elements(spec["bufferView"], spec.get("byteOffset", 0),
                                 _component_dtype(spec["componentType"], f"accessor {index}'s sparse indices"), 1, k)[:, 0]
            if k and (rows.min() < 0 or rows.max() >= n):
                raise AvatarFileError(f"accessor {index}: sparse indices outside its {n} elements")
            spec = sparse["values"]
            values[rows] = self.elements(spec["bufferView"], spec.get("byteOffset", 0), dtype, width, k)
        return values

    def elements(self, view: int, offset: int, dtype: np.dtype, width: int, count: int,
                 strided: bool = False) -> np.ndarray:
        """(count, width) copy of `count` elements at `offset` in bufferView `view`."""
        data = self.view_bytes(view)
        size = dtype.itemsize * width
        stride = (self.item("bufferViews", view).get("byteStride") if strided else None) or size
        end = offset + (stride * (count - 1) + size if count else 0)
        if offset < 0 or stride < size or end > len(data):
            raise AvatarFileError(f"an accessor reads past the end of bufferView {view}")
        return np.ndarray((count, width), dtype, buffer=data, offset=offset, strides=(stride, dtype.itemsize)).copy()

    def item(self, collection: str, index: Any) -> dict[str, Any]:
        """`document[collection][index]`, refusing what Python would accept but glTF does not (index -1)."""
        items = self.doc.get(collection) or []
        item = items[self.index(index, len(items), collection)]
        if not isinstance(item, dict):
            raise AvatarFileError(f"{collection}[{index}] is not a JSON object")
        return item

    @staticmethod
    def index(index: Any, count: int, what: str) -> int:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            raise AvatarFileError(f"invalid {what} index {index!r} (the file has {count})")
        return index

    def view_bytes(self, index: int) -> memoryview:
        view = self.item("bufferViews", index)
        if "uri" in self.item("buffers", view["buffer"]):
            raise AvatarFileError(f"bufferView {index} uses an external buffer; only self-contained .glb is read")
        start, length = int(view.get("byteOffset", 0)), int(view["byteLength"])
        if start < 0 or length < 0 or start + length > len(self.binary):
            raise AvatarFileError(f"truncated or corrupt: bufferView {index} reaches past the end of the BIN chunk")
        return self.binary[start:start + length]


def _component_dtype(component_type: Any, where: str) -> np.dtype:
    """The numpy dtype of a glTF componentType; AvatarFileError naming `where` for a value glTF does not have."""
    if isinstance(component_type, bool) or component_type not in _DTYPES:
        raise AvatarFileError(f"{where} has componentType {component_type!r}, not a glTF component type "
                              f"({', '.join(map(str, sorted(_DTYPES)))})")
    return np.dtype(_DTYPES[component_type])


def _number(value: Any, where: str) -> float:
    """`value` as a float; AvatarFileError naming `where` when it is no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AvatarFileError(f"{where} is {value!r}, not a number")
    return float(value)


def _unit(value: Any) -> bool:
    """A JSON number in [0, 1] (not a bool, a string or NaN)."""
    return type(value) in (int, float) and 0.0 <= value <= 1.0


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name.2`, `name.3`, ... whichever is not in `taken`; adds the result to `taken`."""
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}.{k}"
    taken.add(candidate)
    return candidate
