"""How far the lips part in front of the teeth, per frame, from the expression's weights: the light let into the mouth.

The teeth and the tongue take their light through the lips' opening. Their occlusion is baked once, with the jaw a
little open (`head.occlusion.BAKE_EXPRESSION`), so it cannot tell a resting mouth, whose lips leave a slit of a
millimetre or two in front of the incisors' edges, from an open one: lit as if open, the teeth drew a white line
between the lips of every resting face. The gap between the lips' front edges on the face's midline is linear in
the weights (blend shapes add), so it is measured once at load, at rest and per shape, and each frame costs one
dot product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.records import Avatar

SHUT_GAP_M = 0.002
"""Lips whose front edges are at most this far apart (metres) let almost no light in (the template rests at 1.7 mm,
built faces at 0.9-1.2; pressed or smiling, the gap closes)."""
OPEN_GAP_M = 0.005
"""From this gap on the mouth is open and its inside takes its baked light in full (jawOpen 0.1 on the template; a
toothy smile, mouthUpperUp 0.6, mouthLowerDown 0.5 and mouthSmile 0.7, parts them 4.4 mm: 0.9 of it)."""
SHUT_LIGHT = 0.12
"""The share of that light the teeth and the tongue keep behind shut lips."""
MIDLINE_M = 0.002
"""Vertices this close to the face's middle plane (x) are the midline's."""
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
    """The vertical gap between the lips' front edges on the midline as a function of the ARKit weights."""

    rest: float
    """Gap at rest, metres."""
    per_weight: np.ndarray
    """per_weight : (52,) float64 change of the gap per unit of each weight."""

    def gap(self, weights: np.ndarray) -> float:
        return self.rest + float(self.per_weight @ np.nan_to_num(np.asarray(weights, np.float64)))

    def light(self, weights: np.ndarray) -> float:
        """The share (`SHUT_LIGHT` to 1) of their baked light the teeth and the tongue get at `weights` (52,)."""
        return SHUT_LIGHT + (1.0 - SHUT_LIGHT) * _smoothstep(SHUT_GAP_M, OPEN_GAP_M, self.gap(weights))


def lip_gap(avatar: Avatar) -> LipGap | None:
    """The avatar's `LipGap`, read off its skin: the lower lip's front edge is the highest forward-facing midline
    vertex that jawOpen carries down, the upper lip's the lowest one above it, as far forward, that jawOpen leaves in place. None
    when the skin has no such pair (a mesh that is not a head with our jaw target): its mouth is always lit."""
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
    middle = 0.5 * (positions[:, 0].min() + positions[:, 0].max())
    front = (np.abs(positions[:, 0] - middle) < MIDLINE_M) & (skin.normals[:, 2] > FRONT_FACING)
    lower = np.flatnonzero(front & (drop < -0.5 * reach))
    if not len(lower):
        return None
    lower_edge = lower[np.argmax(positions[lower, 1])]
    upper = np.flatnonzero(front & (np.abs(drop) < 0.1 * reach) & (positions[:, 1] > positions[lower_edge, 1])
                           & (np.abs(positions[:, 2] - positions[lower_edge, 2]) < LIP_DEPTH_M))
    if not len(upper):
        return None
    upper_edge = upper[np.argmin(positions[upper, 1])]
    return LipGap(rest=float(positions[upper_edge, 1] - positions[lower_edge, 1]),
                  per_weight=targets[:, upper_edge, 1] - targets[:, lower_edge, 1])
