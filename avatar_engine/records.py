"""Typed records passed between stages: the avatar and one frame of its animation.

Coordinates everywhere are glTF's: metres, +Y up, the face looks toward +Z, +X is the avatar's own left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES

MaterialKind = Literal["skin", "eye", "teeth", "tongue", "hair", "lash"]
JOINT_NAMES: tuple[str, ...] = ("neck", "head", "jaw", "eye_L", "eye_R")


@dataclass(frozen=True)
class Material:
    """How one part of the avatar looks; maps onto a glTF PBR metallic-roughness material."""

    name: str
    kind: MaterialKind
    """Which shader model the renderer uses for it."""
    base_color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    """Linear RGBA factor multiplied with the texture."""
    texture: np.ndarray | None = None
    """texture : (h, w, 4) uint8 sRGB base colour (alpha used by hair and lashes), or None."""
    roughness: float = 0.5
    alpha_mode: Literal["OPAQUE", "BLEND", "MASK"] = "OPAQUE"
    alpha_cutoff: float = 0.5
    """With alpha_mode MASK: a texel shows where its alpha (times the base colour's) reaches this (glTF's
    alphaCutoff, 0.5 by default)."""
    double_sided: bool = False
    shader_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Linear RGB factor this project's renderer applies on top of `base_color`, which other engines never see.
    The hair shader lights strands more brightly than a plain PBR surface (light wraps round and through them, and
    their highlight): the texture holds the albedo a PBR engine needs to show the hair as the photo does, this
    brings it down to what our shader needs (`build.scalp`). Kept in the glTF file's material extras."""
    texture_is_pattern: bool = False
    """The texture is a pattern this project's shader draws itself, baked for other engines (the teeth's gaps and
    gum, `head.teeth_texture`): our renderer leaves it out rather than draw the pattern twice; a texture of
    another tool's is drawn. Kept in the glTF file's material extras."""


@dataclass(frozen=True)
class Part:
    """One primitive: vertices already split at UV seams, one material, skinned and morphable."""

    name: str
    material: str
    """Key into `Avatar.materials`."""
    positions: np.ndarray
    """positions : (n, 3) float32 rest (bind) pose, neutral expression."""
    normals: np.ndarray
    """normals : (n, 3) float32 unit normals of the rest pose."""
    uvs: np.ndarray
    """uvs : (n, 2) float32 texture coordinates, glTF convention (v down from the image top)."""
    indices: np.ndarray
    """indices : (m, 3) uint32 triangles, counter-clockwise seen from outside."""
    joints: np.ndarray
    """joints : (n, 4) uint16 indices into `Skeleton.names`."""
    weights: np.ndarray
    """weights : (n, 4) float32 skinning weights, rows sum to 1."""
    morph_positions: np.ndarray
    """morph_positions : (52, n, 3) float32 position offsets per ARKit shape, ARKit order."""
    morph_normals: np.ndarray
    """morph_normals : (52, n, 3) float32 normal offsets per ARKit shape."""
    tangents: np.ndarray | None = None
    """tangents : (n, 4) float32 glTF tangents (xyz, handedness); hair uses them as strand direction."""
    occlusion: np.ndarray | None = None
    """occlusion : (n,) float32 ambient visibility in [0, 1] (1 = open sky), baked per avatar; glTF `_OCCLUSION`
    (COLOR_0 carries the shade other viewers should apply: `head.occlusion.viewer_shade`)."""
    back_hidden: int = 0
    """The first `back_hidden` triangles are never seen from behind (hair lying on the scalp: its back faces the
    skull), so a renderer may cull their back faces although the material is double-sided."""

    @property
    def vertex_count(self) -> int:
        return int(self.positions.shape[0])


@dataclass(frozen=True)
class Skeleton:
    """Joints in parent-before-child order; rest orientations are identity (pure translations)."""

    names: tuple[str, ...]
    parents: np.ndarray
    """parents : (j,) int32 parent index, -1 for the root."""
    rest_positions: np.ndarray
    """rest_positions : (j, 3) float32 joint origins in model space at bind pose."""

    def index(self, name: str) -> int:
        return self.names.index(name)

    def local_offsets(self) -> np.ndarray:
        """(j, 3) float32 translation of each joint relative to its parent (model space for the root)."""
        offsets = self.rest_positions.copy()
        for j, p in enumerate(self.parents):
            if p >= 0:
                offsets[j] = self.rest_positions[j] - self.rest_positions[p]
        return offsets


BUILT_SUFFIX = " build"
"""`Avatar.generator` ends so for a person's head the builder rigged (`Avatar.built`)."""


@dataclass(frozen=True)
class Avatar:
    """A complete, rigged head: what the builder makes, the renderer draws and the glTF file holds."""

    parts: tuple[Part, ...]
    materials: Mapping[str, Material]
    skeleton: Skeleton
    identity: Mapping[str, float] = field(default_factory=dict)
    """The head model's identity parameters this avatar was made from (phenotypes and shape changes)."""
    generator: str = "avatar-engine"
    """Project name and version that made it; `BUILT_SUFFIX` at the end for a person's head rigged by the builder."""

    @property
    def built(self) -> bool:
        """Rigged by the builder for a person: from a photo (`avatar build`), or from an identity
        (`build.rig.identity_avatar`); False for the default head and other tools' files."""
        return self.generator.startswith("avatar-engine") and self.generator.endswith(BUILT_SUFFIX)

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    @property
    def triangle_count(self) -> int:
        return int(sum(p.indices.shape[0] for p in self.parts))


@dataclass(frozen=True)
class Expression:
    """One frame of animation: ARKit weights and joint rotations.

    weights : (52,) float32 in [0, 1], ARKit order.
    rotations : joint name -> (3, 3) float rotation relative to the rest pose, in the parent's frame.
    """

    weights: np.ndarray = field(default_factory=lambda: np.zeros(52, np.float32))
    rotations: Mapping[str, np.ndarray] = field(default_factory=dict)

    @staticmethod
    def from_names(weights: Mapping[str, float] | None = None, **rotations: np.ndarray) -> "Expression":
        """Build from `{'jawOpen': 1.0}`; raises KeyError for names that are not ARKit's, ValueError for a weight
        that is not a number in [0, 1] (a NaN weight blanked every vertex the morphs move)."""
        vector = np.zeros(52, np.float32)
        for name, value in (weights or {}).items():
            if name not in ARKIT_INDEX:
                raise KeyError(f"unknown expression name {name!r}; expected one of the 52 ARKit names")
            if isinstance(value, (str, bytes)) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"expression weight {name}={value!r} is not a number in [0, 1]")
            vector[ARKIT_INDEX[name]] = value
        return Expression(vector, dict(rotations))

    def named(self) -> dict[str, float]:
        return {n: float(w) for n, w in zip(ARKIT_NAMES, self.weights) if w != 0.0}


def euler_rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """(3, 3) rotation: yaw about +Y (positive turns the face toward the avatar's left, +X),
    pitch about +X (positive looks down), roll about +Z; applied roll, then pitch, then yaw."""
    y, p, r = np.radians([yaw_deg, pitch_deg, roll_deg])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (ry @ rx @ rz).astype(np.float32)
