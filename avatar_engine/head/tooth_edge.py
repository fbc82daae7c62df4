"""Where a row of teeth bites: its edge's height along the dental arch, for the teeth shader's incisal edge.

The head's teeth are one band per row whose biting edge rises from the incisors toward the molars (the smile
line). `shaders/avatar.glsl` (`tooth_shade`) draws each tooth's translucent tip and the notches between tips from
a point's distance to that edge: `EDGE_SAMPLES` heights at even steps of the arch angle the shader uses (0 at the
front, up to the part's widest angle at the back), linearly interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGE_SAMPLES = 12
"""Heights along the arch; the shader's `u_tooth_edge` array has as many."""


@dataclass(frozen=True)
class BitingEdge:
    """A row's biting edge at rest."""

    heights: np.ndarray
    """heights : (EDGE_SAMPLES,) float32 the edge's height (model y, metres) at even steps of the arch angle."""
    max_angle: float
    """The arch angle of the last sample, radians."""
    side: float
    """1 for an upper row (the edge at the bottom), -1 for a lower row; 0: no edge (the shader draws none)."""

    @staticmethod
    def none() -> "BitingEdge":
        return BitingEdge(np.zeros(EDGE_SAMPLES, np.float32), 1.0, 0.0)


def arch_angle(positions: np.ndarray) -> np.ndarray:
    """(n,) radians along the arch of (n, 3) rest positions: 0 at the front, pi/2 at the back of the part (the same
    as the shader's `atan(abs(p.x), p.z - back)`)."""
    p = np.asarray(positions, np.float64)
    return np.arctan2(np.abs(p[:, 0]), p[:, 2] - p[:, 2].min())


def biting_edge(positions: np.ndarray, upper: bool) -> BitingEdge:
    """The biting edge of a row of teeth at rest, positions (n, 3): per arch-angle step, its lowest vertex (upper
    row) or highest (lower row). Steps with few vertices can miss the edge row and read the gum's side instead, so
    the edge is made to rise steadily toward the back, as the smile line does: an upper row's height is the least
    of it and every step behind, a lower row's the greatest of it and every step in front. Steps no vertex falls in
    take their neighbours' heights. `BitingEdge.none()` for fewer than three vertices."""
    p = np.asarray(positions, np.float64)
    if len(p) < 3:
        return BitingEdge.none()
    angle = arch_angle(p)
    top = max(float(angle.max()), 1e-6)
    step = np.minimum((angle / top * (EDGE_SAMPLES - 1) + 0.5).astype(int), EDGE_SAMPLES - 1)
    heights = np.full(EDGE_SAMPLES, np.nan)
    for k in np.unique(step):
        heights[k] = p[step == k, 1].min() if upper else p[step == k, 1].max()
    known = np.flatnonzero(~np.isnan(heights))
    heights = np.interp(np.arange(EDGE_SAMPLES), known, heights[known])
    heights = np.minimum.accumulate(heights[::-1])[::-1] if upper else np.maximum.accumulate(heights)
    return BitingEdge(heights.astype(np.float32), top, 1.0 if upper else -1.0)


def tip_distance(positions: np.ndarray, edge: BitingEdge) -> np.ndarray:
    """(n,) metres from the biting edge into the tooth (negative past the edge) of (n, 3) rest positions, as the
    shader reads it."""
    p = np.asarray(positions, np.float64)
    step = arch_angle(p) / edge.max_angle * (EDGE_SAMPLES - 1)
    return edge.side * (p[:, 1] - np.interp(step, np.arange(EDGE_SAMPLES), edge.heights))
