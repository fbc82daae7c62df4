"""Displacement fields over MediaPipe's 468 face-mesh points, for the fit's expression tests (confound, lock)."""

from __future__ import annotations

import numpy as np

POINTS = 468
MOUTH, BROWS = slice(0, 40), slice(200, 240)
"""Two disjoint groups of points standing in for a mouth and a brow region."""


def field(moved: slice, direction=(0.0, 1.0, 0.0), size_m: float = 0.01) -> np.ndarray:
    """(468 * 3,) a displacement of the points in `moved` by size_m along direction."""
    out = np.zeros((POINTS, 3))
    out[moved] = np.asarray(direction) * size_m
    return out.ravel()
