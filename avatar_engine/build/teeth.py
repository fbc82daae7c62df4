"""The teeth and tongue seated in the fitted person's mouth.

The head model's teeth follow the identity's shape changes as one rigid body (scripts/make_head_asset.py), so a
mouth that moves or narrows does not take its teeth along. A mouth narrower than the template's keeps the
template's dental arch: its corners then lie on a part of the arch that curves further forward, and a smile, which
pulls the corners back, opens them onto the canines (grace_hopper.jpg: her left corner 2.2 mm in front of the arch
at rest against the template's 9.9 mm; 207 tooth pixels in a 0.7 smile against 0). A mouth set back or to one
side (the model's `mouth-trans-forward`, `mouth-trans-out`), or a child's (`age` 0), puts the incisors through the
upper lip (1.8 and 2.6 mm) or a corner on the canine.

So the arch is narrowed with the mouth (never widened: a wider mouth shows no more teeth) and set back until the
lips stand at least as far in front of the teeth as the template's do, at the midline above and below and at both
corners. It stays on the face's midline: a mouth that sits to one side, or a smile the rest face keeps a trace of,
is no reason to move the teeth sideways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.build.landmark_model import Correspondence
from avatar_engine.head.model import HeadModel

MOUTH_CORNERS = (61, 291)
"""MediaPipe face-mesh points at the mouth's corners (subject's right, left)."""
LIP_MIDDLES = (13, 14)
"""MediaPipe face-mesh points on the upper and lower lip's inner edge at the midline."""
MOUTH_PARTS = ("teeth_upper", "teeth_lower", "tongue")
NARROWEST = 0.7
"""The arch is never narrowed below this fraction of the template's width."""
STILL_M = 1e-4
"""Set-backs smaller than this (metres) are not made: the template keeps its teeth exactly."""


@dataclass(frozen=True)
class Mouth:
    """Where the lips stand against the teeth on one rest mesh (metres)."""

    corners: np.ndarray
    """(2, 3) the mouth's corners."""
    clearance: np.ndarray
    """(4,) how far the lips stand in front of the teeth (z): upper lip over the upper incisors, lower lip over the
    lower ones, then each corner over the upper arch at its x."""

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.corners[1] - self.corners[0]))


def _front(vertices: np.ndarray, edges: np.ndarray, x: float) -> float:
    """The foremost z where the surface of (k, 3) vertices, through its (e, 2) edges, crosses the plane at lateral
    position x (the helpers' meshes are coarse: a vertex need not lie near x); the nearest vertex's z if none does."""
    a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
    crosses = (a[:, 0] - x) * (b[:, 0] - x) <= 0
    if not crosses.any():
        return float(vertices[np.argmin(np.abs(vertices[:, 0] - x)), 2])
    a, b = a[crosses], b[crosses]
    dx = b[:, 0] - a[:, 0]
    t = np.divide(x - a[:, 0], dx, out=np.zeros_like(dx), where=np.abs(dx) > 1e-12)  # an edge in the plane: its a
    return float((a[:, 2] + t * (b[:, 2] - a[:, 2])).max())


def _edges(model: HeadModel, name: str) -> tuple[slice, np.ndarray]:
    """The part's vertex slice and its triangles' edges (e, 2), indexed within the part."""
    vs, ts = model.part_slices(name)
    tri = np.asarray(model.triangles[ts], np.int64) - vs.start
    return vs, np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])


def mouth(model: HeadModel, positions: np.ndarray, correspondence: Correspondence) -> Mouth:
    """The `Mouth` of a rest mesh of all head-model vertices (n, 3)."""
    positions = np.asarray(positions, np.float64)
    points = correspondence.points(positions)
    (uv, ue), (lv, le) = (_edges(model, name) for name in ("teeth_upper", "teeth_lower"))
    upper, lower = positions[uv], positions[lv]
    corners = points[list(MOUTH_CORNERS)]
    clearance = [points[LIP_MIDDLES[0], 2] - _front(upper, ue, 0.0), points[LIP_MIDDLES[1], 2] - _front(lower, le, 0.0)]
    clearance += [c[2] - _front(upper, ue, c[0]) for c in corners]
    return Mouth(corners, np.array(clearance))


def seat_teeth(model: HeadModel, positions: np.ndarray, correspondence: Correspondence | None = None) -> np.ndarray:
    """`positions` (n, 3), a rest mesh of all head-model vertices, with the teeth and tongue narrowed to the mouth
    (never below `NARROWEST` of the template's width, never widened) and set back as far as the lips need to clear
    them as the template's do. A copy; the skin is untouched."""
    correspondence = correspondence or Correspondence.default()
    template = mouth(model, model.neutral_positions(), correspondence)
    out = np.array(positions, copy=True)
    here = mouth(model, out, correspondence)
    ratio = float(np.clip(here.width / template.width, NARROWEST, 1.0))
    parts = [model.part_slices(name)[0] for name in MOUTH_PARTS]
    if ratio < 1.0:  # about the face's midline (x = 0), where the head model's teeth are centred
        for vs in parts:
            out[vs, 0] *= ratio
    back = float(np.max(template.clearance - mouth(model, out, correspondence).clearance))
    if back > STILL_M:
        for vs in parts:
            out[vs, 2] -= back
    return out
