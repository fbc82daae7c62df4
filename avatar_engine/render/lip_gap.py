"""How far the lips part in front of the teeth, per frame, from the expression: the light let into the mouth.

The teeth and the tongue take their light through the lips' opening. Their occlusion is baked once, with the jaw a
little open (`head.occlusion.BAKE_EXPRESSION`), so it cannot tell a resting mouth, whose lips leave a slit of a
millimetre or two in front of the teeth, from an open one: lit as if open, the teeth drew a white line between the
lips of every resting face. The vertical gap between the lips' front edges is linear in the weights (blend shapes
add), so it is measured once at load, on the mouth's midline, at rest and per shape, and each frame costs a dot
product; a jaw bone turned open (`SolverTuning.jaw_open_deg`) carries the lower lip's edge down with it. The
midline only: a mouth stretched wide (mouthStretch near 1) opens at its sides first, and its side teeth stay dim
until the middle parts too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.records import Avatar
from avatar_engine.render.morphs import drawn_weights

SHUT_GAP_M = 0.002
"""Lips whose front edges are at most this far apart (metres) let almost no light in (the template rests at 1.7 mm,
built faces at 0.9-1.2; pressed or smiling, the gap closes)."""
OPEN_GAP_M = 0.005
"""From this gap on the mouth is open and its inside takes its baked light in full (jawOpen 0.1 on the template; a
toothy smile, mouthUpperUp 0.6, mouthLowerDown 0.5 and mouthSmile 0.7, parts them 4.4 mm: 0.9 of it)."""
SHUT_LIGHT = 0.12
"""The share of that light the teeth and the tongue keep behind shut lips."""
MIDLINE_M = 0.002
"""Vertices this close to the mouth's middle plane (x) are the midline's."""
LIP_DEPTH_M = 0.006
"""The upper lip's front edge lies within this depth (z) of the lower's (the nape's midline is well behind)."""
FRONT_FACING = 0.3
"""A lip's front edge faces forward at least this much (normal's z); the lips' inner faces, which meet behind it,
face up or down."""


def _smoothstep(e0: float, e1: float, x: float) -> float:
    t = min(max((x - e0) / (e1 - e0), 0.0), 1.0)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class LipGap:
    """The vertical gap between the lips' front edges on the midline as a function of the ARKit weights and the
    jaw bone."""

    rest: float
    """Gap at rest, metres."""
    per_weight: np.ndarray
    """per_weight : (52,) float64 change of the gap per unit of each weight."""
    lower: np.ndarray
    """lower : (3,) rest position of the lower lip's edge (a jaw bone's turn moves it)."""

    def gap(self, weights: np.ndarray, jaw: np.ndarray | None = None) -> float:
        """The gap (metres) at `weights` (52,), taken as the renderer draws them; `jaw`: (4, 4) the jaw's skinning
        transform relative to the head's, when the jaw bone is turned."""
        gap = self.rest + float(self.per_weight @ drawn_weights(weights).astype(np.float64))
        if jaw is not None:
            jaw = np.asarray(jaw, np.float64)
            gap += float(self.lower[1] - (jaw[:3, :3] @ self.lower + jaw[:3, 3])[1])
        return gap

    def light(self, weights: np.ndarray, jaw: np.ndarray | None = None) -> float:
        """The share (`SHUT_LIGHT` to 1) of their baked light the teeth and the tongue get."""
        return SHUT_LIGHT + (1.0 - SHUT_LIGHT) * _smoothstep(SHUT_GAP_M, OPEN_GAP_M, self.gap(weights, jaw))


def lip_gap(avatar: Avatar) -> LipGap | None:
    """The avatar's `LipGap`, read off its skin: the lower lip's front edge is the highest forward-facing midline
    vertex that jawOpen carries down, the upper lip's the lowest one above it, as far forward, that jawOpen leaves
    in place. The midline is the middle of what jawOpen carries down (the lower lip and the chin), not of the
    skin's extent, which uneven ears would shift. None when there is no such pair (a mesh that is not a head with
    our jaw target): its mouth is always lit."""
    skins = [p for p in avatar.parts if avatar.materials.get(p.material) is not None
             and avatar.materials[p.material].kind == "skin" and p.morph_positions.shape[0] == len(ARKIT_INDEX)]
    if not skins:
        return None
    skin = max(skins, key=lambda p: p.vertex_count)
    positions, targets = skin.positions.astype(np.float64), skin.morph_positions.astype(np.float64)
    drop = targets[ARKIT_INDEX["jawOpen"], :, 1]
    reach = -float(drop.min())
    if reach <= 0.0:
        return None
    lowered = drop < -0.5 * reach
    middle = 0.5 * (positions[lowered, 0].min() + positions[lowered, 0].max())
    front = (np.abs(positions[:, 0] - middle) < MIDLINE_M) & (skin.normals[:, 2] > FRONT_FACING)
    lower = np.flatnonzero(front & lowered)
    if not len(lower):
        return None
    edge = lower[np.argmax(positions[lower, 1])]
    upper = np.flatnonzero(front & (np.abs(drop) < 0.1 * reach) & (positions[:, 1] > positions[edge, 1])
                           & (np.abs(positions[:, 2] - positions[edge, 2]) < LIP_DEPTH_M))
    if not len(upper):
        return None
    top = upper[np.argmin(positions[upper, 1])]
    return LipGap(rest=float(positions[top, 1] - positions[edge, 1]),
                  per_weight=targets[:, top, 1] - targets[:, edge, 1], lower=positions[edge])
