"""glTF 2.0 binary (.glb) export and import of an `Avatar`.

Layout of the files `write_glb` makes (and `read_glb` reads back exactly):

- scene "Avatar" with root nodes: "Avatar" (identity transform, parent of the skeleton's root joint), mesh
  node "Head" and mesh node "Static" (only when some parts have no morph data). The skinned mesh nodes are
  scene roots, not children of "Avatar": parent transforms do not affect a skinned mesh, and the validator
  warns (NODE_SKINNED_MESH_NON_ROOT) when one has a parent.
- mesh "Head": one primitive per part with morph data, each with 52 targets (POSITION and NORMAL offsets)
  in ARKit order, named in `mesh.extras.targetNames`. A target's offsets are stored as a sparse accessor
  (only the vertices it moves) over zeros, as zeros alone when it is all zero for that primitive, and densely
  in the rare case where that is smaller. The zeros are one shared bufferView (byteStride 12): glTF allows
  accessors without a bufferView, but Unity's importers (glTFast, UnityGLTF) fail on them.
- mesh "Static": parts whose morph data are all zero, without targets. Both meshes use the one skin.
  (When no part has morph data, all parts go in "Head", so the file still carries the 52 named targets.)
- joints: nodes named as `Skeleton.names`, nested per `Skeleton.parents`, translated by
  `Skeleton.local_offsets()`; inverse bind matrices undo the rest positions.
- materials: PBR metallic-roughness, base colour texture embedded as PNG; `Material.kind` in `extras.kind`.
- `asset.extras.avatar_engine`: format version, identity, generator and the order of the parts.

Everything is little-endian, every bufferView starts on a 4-byte boundary.
"""

from __future__ import annotations

from typing import get_args

import numpy as np

from avatar_engine.errors import InputError
from avatar_engine.records import MaterialKind

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


class AvatarFileError(InputError, ValueError):
    """A file that cannot be read as an avatar; the message names the file and the problem in one line. An
    `InputError` (what the CLI and API callers catch), and still a ValueError as it always was."""
