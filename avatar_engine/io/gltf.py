"""glTF 2.0 binary (.glb) export and import of an `Avatar`.

Layout of the files `write_glb` makes (and `read_glb` reads back exactly):

- scene "Avatar" with root nodes: "Avatar" (identity transform, parent of the skeleton's root joint), mesh
  node "Head" and mesh node "Static" (only when some parts have no morph data). The skinned mesh nodes are
  scene roots, not children of "Avatar": parent transforms do not affect a skinned mesh, and the validator
  warns (NODE_SKINNED_MESH_NON_ROOT) when one has a parent.
- mesh "Head": one primitive per part with morph data, each with 52 targets (POSITION and NORMAL offsets)
  in ARKit order, named in `mesh.extras.targetNames`. A target's offsets are stored as a sparse accessor
  (only the vertices it moves), as an accessor without bufferView when it is all zero for that primitive,
  and densely in the rare case where that is smaller.
- mesh "Static": parts whose morph data are all zero, without targets. Both meshes use the one skin.
  (When no part has morph data, all parts go in "Head", so the file still carries the 52 named targets.)
- joints: nodes named as `Skeleton.names`, nested per `Skeleton.parents`, translated by
  `Skeleton.local_offsets()`; inverse bind matrices undo the rest positions.
- materials: PBR metallic-roughness, base colour texture embedded as PNG; `Material.kind` in `extras.kind`.
- `asset.extras.avatar_engine`: format version, identity, generator and the order of the parts.

Everything is little-endian, every bufferView starts on a 4-byte boundary.
"""

from __future__ import annotations

import io
import json
import os
import struct
import uuid
from pathlib import Path
from typing import Any, Iterator, get_args

import numpy as np
from PIL import Image

from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.records import Avatar, Material, MaterialKind, Part, Skeleton

FORMAT_VERSION = 1
"""Version of the `asset.extras.avatar_engine` block; bump when its meaning changes."""
MORPH_EPSILON = 1e-7
"""Morph offsets with every component at or below this magnitude are not stored (read back as zero)."""
HEAD_MESH, STATIC_MESH, ROOT_NODE = "Head", "Static", "Avatar"

_MAGIC, _JSON_CHUNK, _BIN_CHUNK = b"glTF", 0x4E4F534A, 0x004E4942
_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DTYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_COMPONENT_TYPES = {np.dtype("u1"): _UBYTE, np.dtype("u2"): _USHORT, np.dtype("u4"): _UINT, np.dtype("f4"): _FLOAT}
_KINDS: tuple[str, ...] = get_args(MaterialKind)


class AvatarFileError(ValueError):
    """A file that cannot be read as an avatar; the message names the file and the problem in one line."""


# ----------------------------------------------------------------------------------------------- writing


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
        "primitives": [_primitive_json(p, material_index[p.material], builder, targets=True) for p in morphing],
        "extras": {"targetNames": list(ARKIT_NAMES)},
    }]
    if static:
        meshes.append({
            "name": STATIC_MESH,
            "primitives": [_primitive_json(p, material_index[p.material], builder, targets=False) for p in static],
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
    out = {"name": key, "pbrMetallicRoughness": pbr, "extras": extras}
    if material.alpha_mode != "OPAQUE":
        out["alphaMode"] = material.alpha_mode
    if material.double_sided:
        out["doubleSided"] = True
    return out


def _primitive_json(part: Part, material: int, builder: _Builder, targets: bool) -> dict[str, Any]:
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
    if part.occlusion is not None:  # baked ambient occlusion as a vertex colour: viewers multiply it in
        grey = np.repeat(np.clip(np.asarray(part.occlusion, np.float32), 0, 1)[:, None], 3, axis=1)
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
        "extras": {"name": part.name},
    }
    if targets:
        primitive["targets"] = [
            builder.morph(part.morph_positions[t], part.morph_normals[t]) for t in range(len(ARKIT_NAMES))]
    return primitive


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """(n, 3) float32 copy with rows of length 1; rows already within 1e-4 of unit length stay bit-exact."""
    out = np.array(vectors, np.float32)
    length = np.linalg.norm(out.astype(np.float64), axis=1)
    fix = (np.abs(length - 1.0) > 1e-4) & (length > 0)
    out[fix] = (out[fix] / length[fix, None]).astype(np.float32)
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
            # Without a bufferView an accessor is all zeros (glTF 2.0, 3.6.2.3).
            zero = {"componentType": _FLOAT, "count": n, "type": "VEC3"}
            return {"POSITION": self._add({**zero, "min": [0.0] * 3, "max": [0.0] * 3}), "NORMAL": self._add(zero)}
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
            out[name] = self._add(accessor)
        return out

    def texture(self, rgba: np.ndarray, name: str) -> int:
        """Embed (h, w, 4) uint8 `rgba` as PNG; returns the texture index."""
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
            raise ValueError(f"material {name!r}: texture must be (h, w, 4) uint8, got {rgba.shape} {rgba.dtype}")
        png = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(png, format="PNG")
        self.images.append({"name": name, "bufferView": self.view(png.getvalue()), "mimeType": "image/png"})
        self.textures.append({"source": len(self.images) - 1, "sampler": 0})
        return len(self.textures) - 1

    def finish(self) -> bytes:
        """The BIN chunk, 4-byte padded; adds the shared sparse bufferViews first."""
        if self._sparse_accessors:
            indices_view = self.view(bytes(self._sparse_indices))
            values_view = self.view(bytes(self._sparse_values))
            for accessor in self._sparse_accessors:
                accessor["sparse"]["indices"]["bufferView"] = indices_view
                accessor["sparse"]["values"]["bufferView"] = values_view
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
    """Write to a fresh file beside `path`, then rename it over `path`; on any failure remove the temp file."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with 0o666 lets the umask decide the final mode, like a plain open() would.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------- reading


def read_glb(path: str | os.PathLike[str]) -> Avatar:
    """Read an avatar from a .glb made by `write_glb`, or a similar skinned glTF with the 52 ARKit targets.

    Parts come from every skinned mesh (all must share one skin); meshes without targets get zero morphs.
    Raises AvatarFileError, naming the file and the problem, for anything that is not such a file.
    """
    path = Path(path)
    try:
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


def _split_glb(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """The JSON document and the BIN chunk of a .glb, after checking the container."""
    if data[:4] != _MAGIC:
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
        document = json.loads(bytes(chunks[0][1]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AvatarFileError(f"the JSON chunk is not valid JSON ({error})") from None
    asset = document.get("asset") if isinstance(document, dict) else None
    version_text = asset.get("version") if isinstance(asset, dict) else None
    if not isinstance(version_text, str) or version_text.split(".")[0] != "2":
        raise AvatarFileError(f"the JSON is not a glTF 2.0 document (asset.version is {version_text!r})")
    required = document.get("extensionsRequired") or []
    if required:
        raise AvatarFileError(f"requires glTF extensions this reader lacks: {', '.join(map(str, required))}")
    binary = next((chunk for kind, chunk in chunks[1:] if kind == _BIN_CHUNK), memoryview(b""))
    return document, binary


class _Reader:
    """Turns one parsed glTF document and its BIN chunk into an `Avatar`."""

    def __init__(self, document: dict[str, Any], binary: memoryview) -> None:
        self.doc = document
        self.binary = binary
        self.nodes: list[dict[str, Any]] = document.get("nodes", [])

    def avatar(self) -> Avatar:
        skinned = [node for node in self.nodes if "mesh" in node and "skin" in node]
        if not skinned:
            raise AvatarFileError("no skin: no mesh node is skinned, so the file has no skeleton for the avatar")
        skin = skinned[0]["skin"]
        if any(node["skin"] != skin for node in skinned):
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
                name = (primitive.get("extras") or {}).get("name")
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

        block = (self.doc["asset"].get("extras") or {}).get("avatar_engine") or {}
        order_names = block.get("parts")
        if isinstance(order_names, list) and sorted(map(str, order_names)) == sorted(p.name for p in parts):
            by_name = {p.name: p for p in parts}
            parts = [by_name[str(name)] for name in order_names]
        generator = block.get("generator", self.doc["asset"].get("generator", "unknown"))
        identity = {str(k): float(v) for k, v in (block.get("identity") or {}).items()}
        return Avatar(tuple(parts), materials, skeleton, identity, str(generator))

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
        names = (mesh.get("extras") or {}).get("targetNames") or (primitives[0].get("extras") or {}).get("targetNames")
        if not isinstance(names, list):
            raise AvatarFileError(f"mesh {name!r} has {count} morph targets but no extras.targetNames naming them")
        if len(names) != count:
            raise AvatarFileError(f"mesh {name!r}: extras.targetNames has {len(names)} names for {count} targets")
        position: dict[str, int] = {}
        for i, target_name in enumerate(names):
            position.setdefault(str(target_name), i)
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
        for required in ("POSITION", "NORMAL", "JOINTS_0", "WEIGHTS_0"):
            if required not in attributes:
                raise AvatarFileError(f"part {name!r} has no {required} attribute")
        positions = self.floats(attributes["POSITION"], 3)
        n = len(positions)
        joints = self.accessor(attributes["JOINTS_0"], 4, n)
        if joints.dtype.kind not in "iu" or (n and (joints.min() < 0 or joints.max() >= len(joint_slot))):
            raise AvatarFileError(f"part {name!r}: JOINTS_0 are not joint indices of the skin")
        if "indices" in primitive:
            indices = self.accessor(primitive["indices"], 1).reshape(-1)
        else:
            indices = np.arange(n)
        if indices.dtype.kind not in "iu" or len(indices) % 3 or (len(indices) and indices.max() >= n):
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
        if "COLOR_0" in attributes:
            width = 4 if self.item("accessors", attributes["COLOR_0"]).get("type") == "VEC4" else 3
            occlusion = self.floats(attributes["COLOR_0"], width, n)[:, :3].mean(axis=1).astype(np.float32)
        return Part(
            name=name, material=material, positions=positions, normals=self.floats(attributes["NORMAL"], 3, n),
            uvs=uvs, indices=indices.astype(np.uint32).reshape(-1, 3),
            joints=joint_slot[joints].astype(np.uint16), weights=self.floats(attributes["WEIGHTS_0"], 4, n),
            morph_positions=morph_positions, morph_normals=morph_normals, tangents=tangents, occlusion=occlusion,
        )

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
            extras = material.get("extras") or {}
            pbr = material.get("pbrMetallicRoughness") or {}
            texture = self.texture(pbr["baseColorTexture"]["index"], key) if "baseColorTexture" in pbr else None
            base_color = tuple(float(c) for c in pbr.get("baseColorFactor", (1.0, 1.0, 1.0, 1.0)))
            alpha_mode = material.get("alphaMode", "OPAQUE")
            if len(base_color) != 4 or alpha_mode not in ("OPAQUE", "BLEND", "MASK"):
                raise AvatarFileError(f"material {key!r}: invalid baseColorFactor or alphaMode")
            out[key] = Material(
                name=str(extras.get("name", key)),
                kind=extras["kind"] if extras.get("kind") in _KINDS else "skin",
                base_color=base_color,  # type: ignore[arg-type]
                texture=texture,
                roughness=float(pbr.get("roughnessFactor", 1.0)),
                alpha_mode=alpha_mode,
                double_sided=bool(material.get("doubleSided", False)),
            )
            keys.append(key)
        return out, keys

    def texture(self, index: int, material: str) -> np.ndarray:
        """(h, w, 4) uint8 RGBA pixels of texture `index`."""
        source = self.item("textures", index).get("source")
        if source is None:
            raise AvatarFileError(f"material {material!r}: texture {index} has no PNG or JPEG source")
        image = self.item("images", source)
        if "bufferView" not in image:
            raise AvatarFileError(f"material {material!r}: image {source} is not embedded (external files unsupported)")
        png = self.view_bytes(image["bufferView"])
        try:
            with Image.open(io.BytesIO(png)) as decoded:
                return np.asarray(decoded.convert("RGBA"), np.uint8).copy()
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
        return values.astype(np.float32)

    def accessor(self, index: int, width: int, count: int | None = None) -> np.ndarray:
        """(count, width) values of accessor `index` in its own dtype, sparse substitution applied."""
        accessor = self.item("accessors", index)
        dtype = np.dtype(_DTYPES[accessor["componentType"]])
        if _WIDTHS.get(accessor["type"]) != width:
            raise AvatarFileError(f"accessor {index} is {accessor['type']}, expected {width} components")
        n = int(accessor["count"])
        if (count is not None and n != count) or not 0 <= n < 1 << 28:
            expected = "an implausible number" if count is None else f"expected {count}"
            raise AvatarFileError(f"accessor {index} has {n} elements, {expected}")
        if "bufferView" in accessor:
            values = self.elements(accessor["bufferView"], accessor.get("byteOffset", 0), dtype, width, n, strided=True)
        else:
            values = np.zeros((n, width), dtype)  # glTF: an accessor without bufferView is zeros
        sparse = accessor.get("sparse")
        if sparse:
            k = int(sparse["count"])
            spec = sparse["indices"]
            rows = self.elements(spec["bufferView"], spec.get("byteOffset", 0),
                                 np.dtype(_DTYPES[spec["componentType"]]), 1, k)[:, 0]
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


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name.2`, `name.3`, ... whichever is not in `taken`; adds the result to `taken`."""
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}.{k}"
    taken.add(candidate)
    return candidate
