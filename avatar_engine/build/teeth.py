"""The teeth and tongue seated in the fitted person's mouth.

The head model's teeth follow the identity's shape changes as one rigid body (scripts/make_head_asset.py), so a mouth
narrower than the template's keeps the template's dental arch: its corners then lie on a part of the arch that
curves further forward, level with the teeth or in front of them, and a smile, which pulls the corners back, opens
them onto the canines (grace_hopper.jpg: corners 1-2 mm ahead of the teeth at rest against the template's 7.7 mm
behind; 207 tooth pixels in a 0.7 smile against 0). Narrowing the arch with the mouth puts the corners back where
they stand on the template. A wider mouth shows no more teeth: the arch is left as it is.
"""

from __future__ import annotations

import numpy as np

from avatar_engine.build.landmark_model import Correspondence
from avatar_engine.head.model import HeadModel

MOUTH_CORNERS = (61, 291)
"""MediaPipe face-mesh points at the mouth's corners (subject's right, left)."""
MOUTH_PARTS = ("teeth_upper", "teeth_lower", "tongue")
NARROWEST = 0.7
"""The arch is never narrowed below this fraction of the template's width."""


def mouth_width(positions: np.ndarray, correspondence: Correspondence) -> float:
    """Distance (metres) between the mouth's corners on a head-model rest mesh (n, 3)."""
    corners = correspondence.points(np.asarray(positions, np.float64))[list(MOUTH_CORNERS)]
    return float(np.linalg.norm(corners[1] - corners[0]))


def seat_teeth(model: HeadModel, positions: np.ndarray, correspondence: Correspondence | None = None) -> np.ndarray:
    """`positions` (n, 3), a rest mesh of all head-model vertices with the neck joint's plane x = 0 as the face's
    midline, with the teeth and tongue narrowed about that midline by the mouth's width over the template's (never
    below `NARROWEST`, never widened). A copy; the skin is untouched."""
    correspondence = correspondence or Correspondence.default()
    ratio = mouth_width(positions, correspondence) / mouth_width(model.neutral_positions(), correspondence)
    out = np.array(positions, copy=True)
    if ratio >= 1.0:
        return out
    ratio = max(ratio, NARROWEST)
    for name in MOUTH_PARTS:
        vs, _ = model.part_slices(name)
        out[vs, 0] *= ratio
    return out
