"""How far the lips part in front of the teeth, per frame, from the expression: the light let into the mouth.

The teeth and the tongue take their light through the lips' opening. Their occlusion is baked once, with the jaw a
little open (`head.occlusion.BAKE_EXPRESSION`), so it cannot tell lips that barely part, a millimetre or two in
front of the teeth, from an open mouth: lit as if open, the teeth drew a white line between them (on every resting
face, before the neutral lips were sealed: `head.lip_seal`). The opening is read on the mouth's midline, between
the pairs of upper- and lower-lip vertices that face each other across it (the front edges, and the inner faces
behind them). Each pair's vertical gap is linear in the weights (blend shapes add), so it is measured once at load,
at rest and per shape; each frame takes the narrowest, a small matrix product. A jaw bone turned open
(`SolverTuning.jaw_open_deg`) carries the lower lip down with it. The midline only: a mouth stretched wide
(mouthStretch near 1) opens at its sides first, and its side teeth stay dim until the middle parts too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.geometry import smoothstep
from avatar_engine.head.lip_seal import seal_shift, sealed_targets
from avatar_engine.records import Avatar
from avatar_engine.render.morphs import drawn_weights

SHUT_GAP_M = 0.0018
"""Lips at most this far apart (metres) where they are nearest let almost no light in (at rest they meet, overlapping
2.6-3.4 mm on the midline of random identities; jawOpen 0.1 parts them 0.7-1.5 mm, the sealed lips' last hold;
pressed or smiling, the gap closes)."""
OPEN_GAP_M = 0.003
"""From this gap on the mouth is open and its inside takes its baked light in full (jawOpen 0.15 parts random
identities' lips 2.7-3.6 mm, 0.2 4.5-5.6; a toothy smile, mouthUpperUp 0.6, mouthLowerDown 0.5 and mouthSmile 0.7,
is lit 0.96-1)."""
SHUT_LIGHT = 0.12
"""The share of that light the teeth and the tongue keep behind shut lips."""
MIDLINE_M = 0.002
"""Vertices this close to the lower lip's middle (x) are the midline's..."""
SIDEWAYS = 0.05
"""...which is found where the lip's normal leans sideways less than this (x): a face's middle plane, wherever an
uneven fit puts it (the middle of what jawOpen moves lay 2-3 mm off it on 2 of 60 random identities)..."""
OFF_MIDDLE_M = 0.005
"""...within this of the middle of what jawOpen moves (x, metres)."""
FRONT_FACING = 0.3
"""The lower lip's front edge faces forward at least this much (normal's z)."""
PAIR_DEPTH_M = 0.0025
"""An upper-lip and a lower-lip vertex this close in depth (z) face each other across the opening."""
LIP_BEHIND_M = 0.004
"""Vertices more than this behind the lower lip's front edge are inside the mouth, not the lips'."""
REST_GAP_MAX_M = 0.008
"""Pairs further apart than this at rest do not face each other across the lips."""


@dataclass(frozen=True)
class LipGap:
    """The opening between the lips on the midline as a function of the ARKit weights and the jaw bone: the
    narrowest vertical gap over the pairs of upper- and lower-lip vertices that face each other across it."""

    rest: np.ndarray
    """rest : (k,) each pair's gap at rest, metres."""
    per_weight: np.ndarray
    """per_weight : (k, 52) change of each pair's gap per unit of each weight."""
    lower: np.ndarray
    """lower : (k, 3) rest position of each pair's lower-lip vertex (a jaw bone's turn moves it)."""

    def gap(self, weights: np.ndarray, jaw: np.ndarray | None = None) -> float:
        """The opening (metres) at `weights` (52,), taken as the renderer draws them; `jaw`: (4, 4) the jaw's
        skinning transform relative to the head's, when the jaw bone is turned."""
        gaps = self.rest + self.per_weight @ drawn_weights(weights).astype(np.float64)
        if jaw is not None:
            jaw = np.asarray(jaw, np.float64)
            gaps = gaps + (self.lower[:, 1] - (self.lower @ jaw[:3, :3].T + jaw[:3, 3])[:, 1])
        return float(gaps.min())

    def light(self, weights: np.ndarray, jaw: np.ndarray | None = None) -> float:
        """The share (`SHUT_LIGHT` to 1) of their baked light the teeth and the tongue get."""
        return SHUT_LIGHT + (1.0 - SHUT_LIGHT) * float(smoothstep(SHUT_GAP_M, OPEN_GAP_M, self.gap(weights, jaw)))


def lip_gap(avatar: Avatar) -> LipGap | None:
    """The avatar's `LipGap`, read off its skin. The lower lip's front edge on the face's middle is the highest
    forward-facing vertex that jawOpen carries down whose normal leans to neither side, near the middle of what
    jawOpen carries down; the lips are the vertices within `MIDLINE_M` of it across and no more than `LIP_BEHIND_M`
    behind it. An upper-lip vertex (jawOpen leaves it in place) and a lower-lip one (it carries it down) face each
    other when they lie within `PAIR_DEPTH_M` in depth, the upper above. None when there is no such pair (a mesh
    that is not a head with our jaw target; 1 of 60 random identities): its mouth is always lit. The lips are read
    unsealed (`head.lip_seal`); the gaps are measured on the avatar as it is: a sealed rest's are negative."""
    skins = [p for p in avatar.parts if avatar.materials.get(p.material) is not None
             and avatar.materials[p.material].kind == "skin" and p.morph_positions.shape[0] == len(ARKIT_INDEX)]
    if not skins:
        return None
    skin = max(skins, key=lambda p: p.vertex_count)
    positions, targets = skin.positions.astype(np.float64), skin.morph_positions.astype(np.float64)
    # the lips are found and paired as they were before the neutral pose sealed them (`head.lip_seal`): sealed, they
    # overlap at rest, and jawOpen, taking the seal back, also moves the upper lip
    layout = positions - seal_shift(targets)
    drop = sealed_targets(targets, sign=1.0)[ARKIT_INDEX["jawOpen"], :, 1].astype(np.float64)
    reach = -float(drop.min())
    if reach <= 0.0:
        return None
    lowered = drop < -0.5 * reach
    # the lower lip's front edge on its middle: the highest forward-facing vertex jawOpen carries down near the
    # middle of what it carries whose normal leans to neither side (the lip's top is nearly level across, so the
    # highest of all lies anywhere on it, and that middle is off the face's on an uneven one)
    middle = 0.5 * (layout[lowered, 0].min() + layout[lowered, 0].max())
    front = np.flatnonzero(lowered & (skin.normals[:, 2] > FRONT_FACING) & (np.abs(skin.normals[:, 0]) < SIDEWAYS)
                           & (np.abs(layout[:, 0] - middle) < OFF_MIDDLE_M))
    if not len(front):
        return None
    edge = front[np.argmax(layout[front, 1])]
    lips = (np.abs(layout[:, 0] - layout[edge, 0]) < MIDLINE_M) & (layout[:, 2] > layout[edge, 2] - LIP_BEHIND_M)
    lower = np.flatnonzero(lips & lowered)
    upper = np.flatnonzero(lips & (np.abs(drop) < 0.1 * reach))
    rise = layout[upper, 1][None, :] - layout[lower, 1][:, None]
    facing = (np.abs(layout[upper, 2][None, :] - layout[lower, 2][:, None]) < PAIR_DEPTH_M) \
        & (rise > 0) & (rise < REST_GAP_MAX_M)
    low, up = np.nonzero(facing)
    if not len(low):
        return None
    low, up = lower[low], upper[up]
    return LipGap(rest=positions[up, 1] - positions[low, 1], per_weight=(targets[:, up, 1] - targets[:, low, 1]).T,
                  lower=positions[low])
