"""Stage 5, rig: the head model's 52 targets and skeleton carried over to the fitted person.

The targets are offsets, so they apply to any identity unchanged. The bones are placed on the person's own
geometry: each eye bone at the centre of the sphere that best fits that eyeball. The jaw bone stays at the head
model's temporomandibular joint for the identity (anny's anatomical pivot). The instantaneous centre of the jawOpen
target's motion of the lower teeth lies 2-3 cm lower and further forward, because that target also slides the
jaw forward, so it would be a poor bone pivot.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

import avatar_engine
from avatar_engine.head.hair import HairStyle, hair_for_skin
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import PART_MATERIALS, default_materials, morph_normal_offsets
from avatar_engine.records import Avatar, Material, Part, Skeleton


def sphere_centre(points: np.ndarray) -> np.ndarray:
    """(n, 3) points -> (3,) centre of the least-squares sphere through them (algebraic fit)."""
    p = np.asarray(points, np.float64)
    a = np.hstack([2 * p, np.ones((len(p), 1))])
    solution, *_ = np.linalg.lstsq(a, (p ** 2).sum(1), rcond=None)
    return solution[:3]


def fitted_skeleton(model: HeadModel, identity: Mapping[str, float], positions: np.ndarray) -> Skeleton:
    """The model's skeleton for `identity` with its neck joint at the origin, and the eye bones moved onto
    `positions` (n, 3), the rest mesh (also neck at the origin)."""
    skeleton = model.skeleton(identity)
    joints = skeleton.rest_positions.astype(np.float64).copy()
    joints -= joints[skeleton.index("neck")]  # the fit puts the neck joint at the origin (see fit.py)
    for name in ("eye_L", "eye_R"):
        vs, _ = model.part_slices(name)
        joints[skeleton.index(name)] = sphere_centre(positions[vs])
    return Skeleton(skeleton.names, skeleton.parents.copy(), joints.astype(np.float32))




def rigged_avatar(model: HeadModel, identity: Mapping[str, float], positions: np.ndarray,
                  materials: Mapping[str, Material] | None = None, hair: HairStyle | None = HairStyle()) -> Avatar:
    """An avatar from rest-pose vertices (identity + residual), the model's targets, a fitted skeleton and hair.

    positions : (n, 3) float32 all head-model vertices, neutral expression
    """
    positions = np.asarray(positions, np.float32)
    normals = model.normals(positions)
    morph_normals = morph_normal_offsets(model, positions, normals)
    parts = []
    for name in model.part_names:
        vs, ts = model.part_slices(name)
        parts.append(Part(
            name=name, material=PART_MATERIALS[name], positions=positions[vs], normals=normals[vs],
            uvs=model.uvs[vs], indices=(model.triangles[ts] - vs.start).astype(np.uint32),
            joints=model.joints[vs], weights=model.weights[vs],
            morph_positions=model.expression_offsets[:, vs], morph_normals=morph_normals[:, vs]))
    materials = dict(materials or default_materials())
    skeleton = fitted_skeleton(model, identity, positions)
    skin = parts[model.part_names.index("skin")]
    grown = None if hair is None else hair_for_skin(
        skin.positions, skin.indices, skin.joints, skin.weights,
        dict(zip(skeleton.names, skeleton.rest_positions)), skin.morph_positions, hair)
    if grown is not None:
        parts.append(grown[0])
        materials["hair"] = grown[1]
    return Avatar(parts=tuple(parts), materials=materials, skeleton=skeleton, identity=dict(identity),
                  generator=f"avatar-engine {avatar_engine.__version__}")
