"""Stage 5, rig: the head model's 52 targets and skeleton carried over to the fitted person.

The targets are offsets, added to the person's rest mesh. The mouth's and cheeks' are scaled to the person's face
round each vertex (`scaled_expressions`): a smile moves the template's mouth corners so many millimetres, and on a
smaller mouth the same millimetres made a grimace. The bones are placed on the person's own
geometry: each eye bone at the centre of the sphere that best fits that eyeball. The jaw bone stays at the head
model's temporomandibular joint for the identity (anny's anatomical pivot). The instantaneous centre of the jawOpen
target's motion of the lower teeth lies 2-3 cm lower and further forward, because that target also slides the
jaw forward, so it would be a poor bone pivot.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import numpy as np

import avatar_engine
from avatar_engine.build.teeth import seat_teeth
from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES
from avatar_engine.head.geometry import triangle_areas
from avatar_engine.head.hair import HairStyle
from avatar_engine.head.lip_seal import sealed_targets
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import template_avatar
from avatar_engine.records import BUILT_SUFFIX, Avatar, Material, Skeleton


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




SCALED_SHAPES = tuple(n for n in ARKIT_NAMES if (n.startswith("mouth") and n != "mouthClose") or n.startswith("cheek"))
"""The targets scaled to the person's face: the mouth's and the cheeks'. Not the jaw's (the lower teeth ride them
unscaled), not mouthClose (it closes the lips over jawOpen's opening), not the eyes' (a blink must meet the other
lid whatever the eye's size)."""
SCALE_RANGE = (0.6, 1.4)
"""Bounds of the local scale (the square root of the skin's area ratio, person over template)."""
SCALE_SMOOTHING = 4
"""Rounds of averaging each vertex's scale with its triangles' (the area ratio is noisy triangle to triangle)."""


def scaled_expressions(model: HeadModel, positions: np.ndarray) -> np.ndarray:
    """(52, n, 3) float32 the model's targets with `SCALED_SHAPES` scaled, on the skin, by how large the person's
    rest mesh `positions` (n, 3) is round each vertex against the model's default head (area, square-rooted).
    Grace Hopper's mouth and cheeks have 0.5-0.85 of the template's area: her smile reached for her nose."""
    offsets = sealed_targets(model.expression_offsets, sign=1.0)  # scaled as the tables have them, sealed again below
    vs, ts = model.part_slices("skin")
    triangles = model.triangles[ts] - vs.start
    template = triangle_areas(model.positions[vs].astype(np.float64), triangles)
    ratio = triangle_areas(np.asarray(positions, np.float64)[vs], triangles) / np.maximum(template, 1e-12)
    corners = triangles.ravel()
    count = np.maximum(np.bincount(corners, minlength=vs.stop - vs.start), 1)
    weight = np.bincount(corners, np.repeat(template, 3), minlength=vs.stop - vs.start)
    scale = np.bincount(corners, np.repeat(np.sqrt(ratio) * template, 3), minlength=vs.stop - vs.start) / np.maximum(
        weight, 1e-12)
    for _ in range(SCALE_SMOOTHING):
        scale = np.bincount(corners, np.repeat(scale[triangles].mean(1), 3), minlength=len(scale)) / count
    scale = np.clip(scale, *SCALE_RANGE)
    for name in SCALED_SHAPES:
        offsets[ARKIT_INDEX[name], vs] *= scale[:, None].astype(np.float32)
    return sealed_targets(offsets)  # the seal rides on mouthClose, unscaled: each opener takes back all its share


class FittedHeadModel:
    """The head model answering with one person's rest mesh and skeleton, so that `template_avatar` (parts,
    eyelashes, hair, baked occlusion: everything the template gets) builds the fitted person unchanged.
    Every other attribute is the wrapped model's."""

    def __init__(self, model: HeadModel, positions: np.ndarray, skeleton: Skeleton, scale_targets: bool = True) -> None:
        self._model = model
        self._positions = np.asarray(positions, np.float32)
        self._skeleton = skeleton
        if scale_targets:  # else the model's own, as its tables have them
            self.expression_offsets = scaled_expressions(model, self._positions)

    def neutral_positions(self, identity: Mapping[str, float] | None = None) -> np.ndarray:
        return self._positions.copy()

    def skeleton(self, identity: Mapping[str, float] | None = None) -> Skeleton:
        return self._skeleton

    def joint_positions(self, identity: Mapping[str, float] | None = None) -> np.ndarray:
        return self._skeleton.rest_positions.copy()

    def __getattr__(self, name: str):
        return getattr(self._model, name)


def rigged_avatar(model: HeadModel, identity: Mapping[str, float], positions: np.ndarray,
                  materials: Mapping[str, Material] | None = None, hair: HairStyle | None = HairStyle()) -> Avatar:
    """The avatar of a fitted person: rest-pose vertices (identity + residual, neck joint at the origin), the
    model's 52 targets, the fitted skeleton, and the template's materials (None; `{}`: only the lashes' and
    hair's, for a caller that adds its own), lashes and hair.

    positions : (n, 3) float32 all head-model vertices, neutral expression; the teeth are seated in its mouth
    (`teeth.seat_teeth`)
    """
    positions = seat_teeth(model, positions)
    fitted = FittedHeadModel(model, positions, fitted_skeleton(model, identity, np.asarray(positions, np.float64)))
    avatar = template_avatar(dict(identity), materials, fitted, hair=hair)  # type: ignore[arg-type]
    return replace(avatar, generator=f"avatar-engine {avatar_engine.__version__}{BUILT_SUFFIX}")


def identity_avatar(identity: Mapping[str, float], hair: HairStyle | None = HairStyle(),
                    model: HeadModel | None = None) -> Avatar:
    """The avatar of a head-model identity (phenotypes and shape changes, e.g. {"age": 0.7}) rigged as the builder
    rigs a person: neck joint at the origin (where `Camera` frames a head), teeth seated in its mouth, mouth and
    cheek targets scaled to its face, eye bones at its eyeballs' centres, and the skin's scalp painted under its own
    hairline. `template_avatar(identity)` is the model as its tables have it (the synthetic people): its neck sits
    where the identity puts it (+0.19 m at age 0.7, -0.85 at age 0) and its targets are the average head's."""
    from avatar_engine.build.scalp import bare_head_painted
    from avatar_engine.head.template import default_materials

    model = model or HeadModel.default()
    identity = {**model.default_identity(), **identity}
    skeleton = model.skeleton(identity)
    positions = model.neutral_positions(identity) - skeleton.rest_positions[skeleton.index("neck")]
    materials = default_materials(bare_scalp=True) if hair is None else bare_head_painted(
        model, positions, fitted_skeleton(model, identity, positions.astype(np.float64)), hair)
    return rigged_avatar(model, identity, positions, materials, hair)
