"""The default avatar: the head model's parts with materials, normals and targets, ready to render or export."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Mapping

import numpy as np
from PIL import Image

import avatar_engine
from avatar_engine.data_files import asset_path
from avatar_engine.head.eyes import iris_texture
from avatar_engine.head.geometry import crease_groups
from avatar_engine.head.hair import HairStyle, hair_for_skin
from avatar_engine.head.lashes import lash_material, lash_part
from avatar_engine.head.model import HeadModel
from avatar_engine.head.neck_cap import neck_cap
from avatar_engine.head.occlusion import with_occlusion
from avatar_engine.head.teeth_texture import with_baked_teeth
from avatar_engine.records import Avatar, Material, Part

SKIN_TEXTURE_PATH = asset_path("head", "skin_albedo.png")
BARE_SKIN_TEXTURE_PATH = SKIN_TEXTURE_PATH.with_name("skin_fill_base.png")
"""The same skin without the hair colour painted on the scalp under the default style (scripts/make_texture_maps.py)."""

PART_MATERIALS = {"skin": "skin", "tongue": "tongue", "eye_L": "eye", "eye_R": "eye",
                  "teeth_upper": "teeth", "teeth_lower": "teeth"}
CREASED_PARTS = {"teeth_upper": 60.0, "teeth_lower": 60.0}
"""Parts whose normals break at edges sharper than this many degrees. The teeth helpers are bands folded over at the
biting edge: smooth normals averaged the front with the fold and shaded a dark wedge on the front teeth."""


def creased(part: Part, max_angle_deg: float, reference: np.ndarray | None = None) -> Part:
    """`part` with its vertices split at creases sharper than `max_angle_deg` (head.geometry.crease_groups), each
    copy carrying its vertex's attributes and targets and the normal of its side of the crease; where it splits
    judged on `reference` positions (default: its own)."""
    source, normals, triangles = crease_groups(part.positions, part.indices, max_angle_deg, reference)
    pick = lambda a: None if a is None else a[source]  # noqa: E731
    return replace(part, positions=part.positions[source], normals=normals, uvs=part.uvs[source],
                   indices=triangles.astype(np.uint32), joints=part.joints[source], weights=part.weights[source],
                   morph_positions=part.morph_positions[:, source], morph_normals=part.morph_normals[:, source],
                   tangents=pick(part.tangents), occlusion=pick(part.occlusion))


GUM_TUCK = (0.55, 0.6, 0.005)
"""(height, depth, metres): the upper teeth band's gum above this fraction of its height and in front of this
fraction of its depth is moved back, up to this far at its front. The band is rigid on the head, and its top front
corners (beside the canines, under the nostrils) stand within a few millimetres of the skin: mouthFunnel with
jawOpen (an "oh") pulls that skin back past them, and they showed through it as two dark red triangles beside the
nose. Seen only inside the skin otherwise; an open mouth shows the gum below them."""


def tucked_gum(part: Part) -> Part:
    """The upper teeth band with its gum's top front edge moved back (`GUM_TUCK`)."""
    return replace(part, positions=tucked_gum_positions(part.positions))


def tucked_gum_positions(positions: np.ndarray) -> np.ndarray:
    """(n, 3) float32 the upper teeth band's rest positions with its gum's top front edge moved back."""
    height, depth, metres = GUM_TUCK
    positions = np.array(positions, np.float32)
    low, high = positions.min(axis=0), positions.max(axis=0)
    rel = (positions - low) / np.maximum(high - low, 1e-9)
    top_front = (rel[:, 1] > height) & (rel[:, 2] > depth)
    positions[top_front, 2] -= metres * (rel[top_front, 2] - depth) / (1.0 - depth)
    return positions


def default_materials(skin_texture: np.ndarray | None = None, iris_rgb: tuple[int, int, int] = (84, 110, 140),
                      bare_scalp: bool = False) -> dict[str, Material]:
    """The default head's materials; `bare_scalp`: a skin with no hair colour on the scalp, for a bald head."""
    path = BARE_SKIN_TEXTURE_PATH if bare_scalp else SKIN_TEXTURE_PATH
    if skin_texture is None and path.exists():
        skin_texture = np.asarray(Image.open(path).convert("RGBA"))
    return {
        "skin": Material("skin", "skin", texture=skin_texture, roughness=0.48,
                         base_color=(1.0, 1.0, 1.0, 1.0) if skin_texture is not None else (0.75, 0.52, 0.42, 1.0)),
        "eye": Material("eye", "eye", texture=iris_texture(iris_rgb), roughness=0.07),
        "teeth": Material("teeth", "teeth", base_color=(0.86, 0.82, 0.74, 1.0), roughness=0.3),
        "tongue": Material("tongue", "tongue", base_color=(0.62, 0.28, 0.29, 1.0), roughness=0.38),
    }


def morph_normal_offsets(model: HeadModel, positions: np.ndarray) -> np.ndarray:
    """(52, n, 3) change of the smooth normals under each expression target at full weight."""
    return model.normal_offsets(positions, model.expression_offsets)


def with_area(triangles: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(m', 3) uint32 the triangles that have an area at rest: the head asset's eyeballs carry 64 each at their
    poles that have none (the sphere's first and last rings meet in a point), which draw nothing here and which
    other engines' importers and checks count as faults (VR-developer review)."""
    t = np.asarray(triangles, np.int64)
    p = np.asarray(positions, np.float64)
    area = np.linalg.norm(np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]]), axis=1)
    return t[area > 0].astype(np.uint32)


@lru_cache(maxsize=None)
def crease_reference(name: str) -> np.ndarray | None:
    """(n, 3) the average head's rest positions of part `name` as `template_avatar` has them before creasing: where
    every head's creases are judged, so that all heads split alike. Judged on each head's own shape, the teeth of
    different heads came out with 85, 88 or 89 vertices and different triangles (game-team review: one index
    buffer could not serve them all). None for a part the head model lacks."""
    model = HeadModel.default()
    if name not in model.part_names:
        return None
    vs, _ = model.part_slices(name)
    positions = model.neutral_positions(model.default_identity())[vs]
    positions = tucked_gum_positions(positions) if name == "teeth_upper" else np.array(positions, np.float32)
    positions.setflags(write=False)
    return positions


def template_avatar(identity: Mapping[str, float] | None = None, materials: Mapping[str, Material] | None = None,
                    model: HeadModel | None = None, hair: HairStyle | None = HairStyle()) -> Avatar:
    """The head model's avatar for `identity` (default: the average head); `hair=None` (or a bald style) for no hair.
    For another identity this is the model as its tables have it (the synthetic people are rendered so): the neck
    joint where the identity puts it and the average head's targets and teeth. `build.rig.identity_avatar` rigs an
    identity as the builder rigs a person (neck at the origin, teeth seated, targets scaled to the face)."""
    model = model or HeadModel.default()
    identity = {**model.default_identity(), **(identity or {})}
    positions = model.neutral_positions(identity)
    normals = model.normals(positions)
    morph_normals = morph_normal_offsets(model, positions)
    parts = []
    for name in model.part_names:
        vs, ts = model.part_slices(name)
        parts.append(Part(
            name=name, material=PART_MATERIALS[name], positions=positions[vs], normals=normals[vs],
            uvs=model.uvs[vs], indices=with_area(model.triangles[ts] - vs.start, model.positions[vs]),
            joints=model.joints[vs], weights=model.weights[vs],
            morph_positions=model.expression_offsets[:, vs], morph_normals=morph_normals[:, vs]))
        if name == "teeth_upper":
            parts[-1] = tucked_gum(parts[-1])
        if name in CREASED_PARTS:
            reference = crease_reference(name)
            same = reference is not None and len(reference) == len(parts[-1].positions)
            parts[-1] = creased(parts[-1], CREASED_PARTS[name], reference if same else None)
    materials = dict(default_materials() if materials is None else materials)
    skeleton = model.skeleton(identity)
    skin = parts[model.part_names.index("skin")]
    parts.append(lash_part(skin, (skeleton.rest_positions[skeleton.index("eye_L")],
                                  skeleton.rest_positions[skeleton.index("eye_R")])))
    materials.setdefault("lashes", lash_material())
    cap = neck_cap(skin)
    if cap is not None:
        parts.append(cap)
    grown = None if hair is None else hair_for_skin(
        skin.positions, skin.indices, skin.joints, skin.weights,
        dict(zip(skeleton.names, skeleton.rest_positions)), skin.morph_positions, hair)
    if grown is not None:
        parts.append(grown[0])
        materials.setdefault("hair", grown[1])
    return with_occlusion(with_baked_teeth(Avatar(parts=tuple(parts), materials=materials, skeleton=skeleton,
                                                  identity=identity,
                                                  generator=f"avatar-engine {avatar_engine.__version__}")))
