"""Smiles the scores missed, found in how far the mouth corners rose (`mouth_corners.smiles_from_corners`), smiles
they read on a corner that did not rise (`mouth_corners.smiles_within_corners`), and stretches the mouth's width does
not bear out (`mouth_corners.stretches_within_width`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.solve import measured
from avatar_engine.solve.calibration import calibrate
from avatar_engine.solve.pose import rigid_points
from avatar_engine.solve.mouth_corners import (ONE_SIDED_MARGIN, STRETCH_WIDTH_MARGIN, corner_lift, corner_offsets,
                                               smiles_from_corners, smiles_within_corners, stretches_within_width)
from avatar_engine.solve.tuning import DEFAULT_TUNING, LANDMARKS

RIGHT, LEFT = ARKIT_INDEX["mouthSmileRight"], ARKIT_INDEX["mouthSmileLeft"]
FLOOR = DEFAULT_TUNING.corner_lift_floor
SMILE_TOLERANCE = 0.02
"""Weights recovered from an exact lift agree to this."""


def weights(**named: float) -> np.ndarray:
    w = np.zeros(52, np.float32)
    for name, value in named.items():
        w[ARKIT_INDEX[name]] = value
    return w


def widened(name: str, weight: float) -> float:
    """How much `name` at `weight` widens the mouth (what a real smile does beside lifting its corner)."""
    return weight * measured.MOUTH_WIDENING[name]


def own_lift(name: str) -> float:
    side = 0 if name.endswith("Right") else 1
    return measured.CORNER_LIFT[name][side]


def test_a_smile_the_scores_missed_is_found_in_its_corner_and_only_there():
    lift = 0.8 * np.array(measured.CORNER_LIFT["mouthSmileRight"])
    w = smiles_from_corners(weights(), lift, widened("mouthSmileRight", 0.8), np.zeros(3))
    expected = (0.8 * own_lift("mouthSmileRight") - FLOOR) / own_lift("mouthSmileRight")
    assert w[RIGHT] == pytest.approx(expected, abs=SMILE_TOLERANCE)
    assert w[LEFT] == 0.0, "the other corner dropped: no smile there"


def test_a_smile_the_scores_read_is_not_added_twice():
    lift = 0.8 * np.array(measured.CORNER_LIFT["mouthSmileRight"])
    w = smiles_from_corners(weights(mouthSmileRight=0.8), lift, widened("mouthSmileRight", 0.8), np.zeros(3))
    assert w[RIGHT] == pytest.approx(0.8, abs=1e-6)


def test_what_other_read_shapes_lift_is_no_smile():
    """mouthLeft lifts the left corner as far as a 0.47 smile would; read as mouthLeft, it is not a smile, even with
    the mouth widened as that smile would widen it. Nor is a
    resting face's wavering (under the floor), nor a lowered corner."""
    lift = 0.8 * np.array(measured.CORNER_LIFT["mouthLeft"])
    wide = widened("mouthSmileLeft", 0.6)
    assert smiles_from_corners(weights(), lift, wide, np.zeros(3))[LEFT] > 0.2, "unread, the same lift is a smile"
    assert smiles_from_corners(weights(mouthLeft=0.8), lift, wide, np.zeros(3))[LEFT] == 0.0
    assert smiles_from_corners(weights(), np.array([0.7, 0.7]) * FLOOR, 0.1, np.zeros(3))[[RIGHT, LEFT]].max() == 0.0
    assert smiles_from_corners(weights(), np.array([-0.2, -0.2]), 0.1, np.zeros(3))[[RIGHT, LEFT]].max() == 0.0


def test_a_corner_raised_without_the_mouth_widening_is_no_smile():
    """The mouth moved sideways (mouthLeft the scores missed) lifts a corner as a smile does, but does not widen
    it; a shape read stronger than it was (a stretch scored as a frown) adds nothing beyond the corner's rise."""
    lift = 0.6 * np.array(measured.CORNER_LIFT["mouthSmileLeft"])
    assert smiles_from_corners(weights(), lift, 0.0, np.zeros(3))[LEFT] == 0.0
    half = smiles_from_corners(weights(), lift, 0.5 * widened("mouthSmileLeft", 0.6), np.zeros(3))[LEFT]
    full = smiles_from_corners(weights(), lift, widened("mouthSmileLeft", 0.6), np.zeros(3))[LEFT]
    assert 0.0 < half < full, "as far as the widening bears it out"
    assert smiles_from_corners(weights(mouthFrownLeft=1.0), np.zeros(2), 0.2, np.zeros(3))[LEFT] == 0.0


def test_turned_nodded_or_rounded_it_stays_out():
    lift, wide = 0.8 * np.array(measured.CORNER_LIFT["mouthSmileLeft"]), widened("mouthSmileLeft", 0.8)
    facing = smiles_from_corners(weights(), lift, wide, np.zeros(3))[LEFT]
    assert facing > 0.5
    assert smiles_from_corners(weights(), lift, wide, np.array([30.0, 0.0, 0.0]))[LEFT] == 0.0
    assert smiles_from_corners(weights(), lift, wide, np.array([0.0, -20.0, 0.0]))[LEFT] == 0.0
    assert smiles_from_corners(weights(mouthPucker=0.95), lift, wide, np.zeros(3))[LEFT] == 0.0
    assert 0.0 < smiles_from_corners(weights(), lift, wide, np.array([22.0, 0.0, 0.0]))[LEFT] < facing, \
        "faded, not cut"


def test_the_lift_is_read_in_the_faces_own_frame_against_its_calibrated_rest():
    """Landmarks of a face at rest, then the same face turned 10 degrees with its left corner raised: the lift is
    the corner's rise alone, in inner-eye distances."""
    rng = np.random.default_rng(1)
    rest = rng.normal(0, 0.05, (478, 3)) + [0.5, 0.5, 0.0]
    rest[13] = [0.5, 0.6, -0.02]
    rest[61], rest[291] = [0.44, 0.61, 0.0], [0.56, 0.61, 0.0]
    rest[133], rest[362] = [0.47, 0.45, 0.0], [0.53, 0.45, 0.0]
    eye = 0.06
    raised = rest.copy()
    raised[291, 1] -= 0.5 * eye  # image y grows downward: up by half the inner eye distance
    c = 0.5 + np.zeros(3)
    t = np.radians(10.0)
    r = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    turned = (raised - c) @ r.T + c
    frames = np.stack([rest] * 3)
    cal = calibrate(np.zeros((3, 52)), np.stack([np.eye(3)] * 3),
                    np.stack([rigid_points(p, LANDMARKS["rigid"]) for p in frames]),
                    corners=np.stack([corner_offsets(p) for p in frames]))
    assert corner_lift(rest, cal) == pytest.approx([0.0, 0.0], abs=1e-9)
    assert corner_lift(turned, cal) == pytest.approx([0.0, 0.5], abs=0.01)
    assert corner_lift(turned, replace(cal, corners=None)) is None
    parted = calibrate(np.zeros((3, 52)), np.stack([np.eye(3)] * 3),
                       np.stack([rigid_points(p, LANDMARKS["rigid"]) for p in frames]),
                       corners=np.stack([corner_offsets(p) for p in frames]), lip_gaps=np.full(3, 0.08))
    assert parted.corners is None, "corners taken with the lips apart would make every closed mouth a smile"


def test_off_is_off_and_a_calibration_is_refused_corners_without_their_frames_points():
    lift = 0.8 * np.array(measured.CORNER_LIFT["mouthSmileRight"])
    off = replace(DEFAULT_TUNING, corner_lift_floor=None)
    assert smiles_from_corners(weights(), lift, 0.2, np.zeros(3), off)[RIGHT] == 0.0
    points = np.zeros((2, len(LANDMARKS["rigid"]), 3))
    with pytest.raises(ValueError, match="rigid points of the frames"):
        calibrate(np.zeros((2, 52)), np.stack([np.eye(3)] * 2), points[:1], corners=np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="no points"):
        calibrate(np.zeros((2, 52)), np.stack([np.eye(3)] * 2), None, corners=np.zeros((2, 2, 3)))


def test_a_saturated_rest_turned_away_shows_no_pucker_its_scores_invent():
    """On a face whose rest MediaPipe reads as a pucker, the rounding comes from the mouth's width
    (`mouth_corners.rounding_from_width`). Turned past where the width can be read, it faded back to the scores,
    which read such a face's lips as a pucker whatever they do: 7003 showed up to 0.34 turned with its mouth at rest,
    and a built avatar it drove pursed its lips at every turn (review)."""
    from avatar_engine.solve.calibration import Calibration
    from avatar_engine.solve.mouth_corners import rounding_from_width

    pucker = ARKIT_INDEX["mouthPucker"]
    rest = np.zeros(52, np.float32)
    rest[pucker] = 0.8  # the calibrated rest reads a pucker
    saturated = Calibration(rest, np.eye(3), 0)
    read = weights(mouthPucker=0.9)  # what the saturated scores make of a turned head at rest
    for yaw in (40.0, -40.0):
        assert rounding_from_width(read, 0.0, np.array([yaw, 0.0, 0.0]), saturated)[pucker] == 0.0
    narrowed = 0.9 * measured.MOUTH_WIDENING["mouthPucker"]  # a pucker at 0.9 narrows the mouth (negative widening)
    facing = rounding_from_width(weights(), narrowed, np.zeros(3), saturated)[pucker]
    assert facing > 0.7, "facing the camera, a narrowed mouth still reads as the pucker it is"


LEAK_TOLERANCE = 0.05
"""A smile read on a corner that did not rise is cut to the margin plus this (the scale read off the other corner
takes in that smile's own over-read)."""


def test_a_one_sided_smile_read_on_both_sides_is_held_to_the_corner_that_did_not_rise():
    """Grace Hopper's build: a left smile at 0.8 read as 0.84 left and 0.43 right, her landmarks showing the right
    corner dipping as a left smile alone pulls it. On a face whose corners rise 70% as far as the reference head's,
    the same holds."""
    for scale in (1.0, 0.7):
        lift = scale * 0.8 * np.array(measured.CORNER_LIFT["mouthSmileLeft"])
        w = smiles_within_corners(weights(mouthSmileLeft=0.84, mouthSmileRight=0.43), lift, np.zeros(3))
        assert w[RIGHT] <= ONE_SIDED_MARGIN + LEAK_TOLERANCE, scale
        assert w[LEFT] == pytest.approx(0.84), "the smile its corner bears out stays"


def test_a_smile_on_both_sides_or_one_too_weak_to_judge_by_is_left_alone():
    both = 0.7 * (np.array(measured.CORNER_LIFT["mouthSmileLeft"]) + np.array(measured.CORNER_LIFT["mouthSmileRight"]))
    for scale in (1.0, 0.6):
        w = weights(mouthSmileLeft=0.8, mouthSmileRight=0.6)
        assert np.array_equal(smiles_within_corners(w, scale * both, np.zeros(3)), w), scale
    faint = weights(mouthSmileLeft=0.25, mouthSmileRight=0.2)  # under ONE_SIDED_MIN: a resting face's corners
    assert np.array_equal(smiles_within_corners(faint, np.zeros(2), np.zeros(3)), faint)
    unread = weights(mouthSmileLeft=0.8, mouthSmileRight=0.4)  # neither corner rose: the corners say nothing
    assert np.array_equal(smiles_within_corners(unread, np.zeros(2), np.zeros(3)), unread)


def test_one_sided_turned_or_nodded_it_stays_out():
    lift = 0.8 * np.array(measured.CORNER_LIFT["mouthSmileLeft"])
    w = weights(mouthSmileLeft=0.84, mouthSmileRight=0.43)
    for angles in ([35.0, 0.0, 0.0], [0.0, 25.0, 0.0]):
        assert smiles_within_corners(w, lift, np.array(angles))[RIGHT] == pytest.approx(0.43), angles
    assert np.array_equal(smiles_within_corners(w, lift, np.zeros(3), replace(DEFAULT_TUNING, corner_lift_floor=None)), w)


STRETCH_L, STRETCH_R = ARKIT_INDEX["mouthStretchLeft"], ARKIT_INDEX["mouthStretchRight"]


def stretch_widening(w: np.ndarray) -> float:
    return widened("mouthStretchLeft", float(w[STRETCH_L])) + widened("mouthStretchRight", float(w[STRETCH_R]))


def test_a_stretch_read_beside_a_smile_is_held_to_the_width_the_smile_leaves():
    """Synthetic 7001's one-sided smile: the scores gave mouthStretch 1.0 on both sides, while the mouth widened no
    further than the smile alone widens it."""
    w = weights(mouthSmileRight=0.8, mouthStretchLeft=1.0, mouthStretchRight=1.0)
    held = stretches_within_width(w, widened("mouthSmileRight", 0.8), np.zeros(3))
    assert stretch_widening(held) == pytest.approx(STRETCH_WIDTH_MARGIN, abs=1e-6)
    assert held[STRETCH_L] == pytest.approx(held[STRETCH_R]), "both stretches scaled alike"
    assert held[RIGHT] == pytest.approx(0.8), "the smile the width bears out stays"


def test_a_stretch_the_mouth_widens_for_stays():
    for smile in (0.0, 0.6):
        w = weights(mouthSmileLeft=smile, mouthStretchLeft=0.9, mouthStretchRight=0.7)
        widening = widened("mouthSmileLeft", smile) + stretch_widening(w) - 0.02  # a little short: within the margin
        assert np.array_equal(stretches_within_width(w, widening, np.zeros(3)), w), smile


def test_stretches_turned_nodded_rounded_or_off_are_left_alone():
    w = weights(mouthStretchLeft=1.0, mouthStretchRight=1.0)
    for angles in ([35.0, 0.0, 0.0], [0.0, 25.0, 0.0]):
        assert stretches_within_width(w, 0.0, np.array(angles))[STRETCH_L] == pytest.approx(1.0), angles
    rounded = weights(mouthStretchLeft=1.0, mouthStretchRight=1.0, mouthPucker=0.95)
    assert stretches_within_width(rounded, widened("mouthPucker", 0.95), np.zeros(3))[STRETCH_L] == pytest.approx(1.0)
    assert np.array_equal(stretches_within_width(w, 0.0, np.zeros(3), replace(DEFAULT_TUNING, corner_lift_floor=None)),
                          w)
