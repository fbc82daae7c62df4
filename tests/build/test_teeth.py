"""The teeth seated in the fitted mouth: a narrow mouth's corners stand behind the teeth as the template's do."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.build.landmark_model import Correspondence
from avatar_engine.build.teeth import MOUTH_CORNERS, seat_teeth
from avatar_engine.head.model import HeadModel

CLEARANCE_TOLERANCE_MM = 0.5
"""A seated narrow mouth's corners stand this close (mm) to the template's depth in front of the teeth."""
NARROW = {"mouth-scale-horiz-incr": -1.0}
"""The head model's narrowest mouth: 0.78 of the template's width."""


@pytest.fixture(scope="module")
def model():
    return HeadModel.default()


@pytest.fixture(scope="module")
def correspondence():
    return Correspondence.default()


def corner_clearance_mm(model, correspondence, positions) -> np.ndarray:
    """(2,) how far (mm) each mouth corner lies in front of the upper teeth's front at the corner's x."""
    corners = correspondence.points(np.asarray(positions, np.float64))[list(MOUTH_CORNERS)]
    vs, _ = model.part_slices("teeth_upper")
    teeth = positions[vs]
    out = []
    for corner in corners:
        near = teeth[np.abs(teeth[:, 0] - corner[0]) < 0.003]
        out.append((corner[2] - near[:, 2].max()) * 1000)
    return np.array(out)


def test_a_narrow_mouth_gets_the_templates_clearance(model, correspondence):
    template = corner_clearance_mm(model, correspondence, model.neutral_positions())
    narrow = model.neutral_positions(NARROW)
    before = corner_clearance_mm(model, correspondence, narrow)
    seated = seat_teeth(model, narrow, correspondence)
    after = corner_clearance_mm(model, correspondence, seated)
    assert np.all(before < 1.0), "the unseated arch should reach the corners (what this guards against)"
    assert np.all(np.abs(after - template) <= CLEARANCE_TOLERANCE_MM)
    vs, _ = model.part_slices("skin")
    assert np.array_equal(seated[vs], narrow[vs])  # only the mouth's insides move


@pytest.mark.parametrize("identity", [{}, {"mouth-scale-horiz-incr": 1.0}])
def test_the_template_and_wider_mouths_keep_their_teeth(model, correspondence, identity):
    positions = model.neutral_positions(identity)
    assert np.array_equal(seat_teeth(model, positions, correspondence), positions)
