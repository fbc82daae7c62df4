"""The turn profile's fit and the solver taking its nod out of turned heads' pitch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avatar_engine.solve.solver import correct_angles
from avatar_engine.solve.tuning import DEFAULT_TUNING
from avatar_engine.solve.turn_profile import MIN_REACH_DEG, TurnProfile, fit_turn_profile

NOD_TOLERANCE_DEG = 0.05
"""Fits of exact readings and table lookups agree to this (degrees)."""
NOISY_FIT_DEG = 0.5
"""A fit of readings with 0.3 degrees of noise on each gives the nod within this at +-15 and +-30 degrees."""
FAULT_DEG = 3.0
"""The 4.5-degree nod the profile is for reads at least this far off without it."""


def readings(a: float, b: float, noise: float = 0.0) -> np.ndarray:
    yaw = np.array([0.0, 14.0, 31.0, 15.5, 0.2, -16.0, -33.0, -15.0, 0.0])
    rng = np.random.default_rng(3)
    return np.stack([yaw, a * yaw + b * yaw * yaw + rng.normal(0, noise, yaw.shape), np.zeros_like(yaw)], axis=1)


def test_the_fit_recovers_a_line_and_a_bow_and_how_far_the_turns_reached():
    p = fit_turn_profile(readings(0.01, -0.005))
    assert p.pitch_per_yaw == pytest.approx(0.01, abs=1e-6)
    assert p.pitch_per_yaw_sq == pytest.approx(-0.005, abs=1e-7)
    assert p.reach_deg == pytest.approx(31.0)  # the nearer of the two sides: beyond it the fit is held
    assert p.pitch_at(31.0) == pytest.approx(0.31 - 0.005 * 31 ** 2, abs=NOD_TOLERANCE_DEG)
    assert p.pitch_at(60.0) == pytest.approx(p.pitch_at(31.0)), "held beyond what was measured, not extrapolated"


def test_noisy_readings_still_give_the_nod_within_half_a_degree():
    """Readings with 0.3 degrees of noise on each."""
    p = fit_turn_profile(readings(-0.02, -0.006, noise=0.3))
    for yaw in (-30.0, -15.0, 15.0, 30.0):
        assert p.pitch_at(yaw) == pytest.approx(-0.02 * yaw - 0.006 * yaw * yaw, abs=NOISY_FIT_DEG)


def test_a_profile_that_did_not_turn_both_ways_is_refused():
    one_sided = readings(0.0, -0.005)
    one_sided = one_sided[one_sided[:, 0] >= 0]
    with pytest.raises(ValueError, match=f"at least {MIN_REACH_DEG:.0f} each way"):
        fit_turn_profile(one_sided)
    with pytest.raises(ValueError):
        fit_turn_profile(np.zeros((0, 3)))


def test_a_kept_profile_reads_back_and_a_damaged_one_is_refused():
    p = fit_turn_profile(readings(0.01, -0.004))
    assert TurnProfile.from_dict(p.as_dict()) == p
    for bad in ({}, {"pitch_per_yaw": "x", "pitch_per_yaw_sq": 0, "reach_deg": 30},
                {"pitch_per_yaw": float("nan"), "pitch_per_yaw_sq": 0, "reach_deg": 30},
                {"pitch_per_yaw": 0, "pitch_per_yaw_sq": 0, "reach_deg": 2}, None):
        with pytest.raises(ValueError):
            TurnProfile.from_dict(bad)


def test_the_solver_takes_the_faces_nod_out_of_a_turned_heads_pitch():
    """A face that reads 4.5 degrees of nod turned 30 degrees either way (the built astronaut's size) reads level
    with its profile, and a real nod on top of the turn is kept."""
    profile = TurnProfile(0.0, -0.005, 34.0)
    tuning = replace(DEFAULT_TUNING, pitch_at_yaw=profile.table())
    for yaw in (-30.0, 30.0):
        seen_nod = profile.pitch_at(yaw)
        without = correct_angles(np.array([yaw, seen_nod, 0.0]), DEFAULT_TUNING)
        with_ = correct_angles(np.array([yaw, seen_nod, 0.0]), tuning)
        assert abs(without[1]) > FAULT_DEG, "the fault: the turned head reads nodded"
        level = correct_angles(np.array([0.0, 0.0, 0.0]), DEFAULT_TUNING)[1]
        assert with_[1] == pytest.approx(level, abs=NOD_TOLERANCE_DEG)
        nodded = correct_angles(np.array([yaw, seen_nod + 10.0, 0.0]), tuning)
        assert nodded[1] == pytest.approx(correct_angles(np.array([0.0, 10.0, 0.0]), DEFAULT_TUNING)[1],
                                          abs=NOD_TOLERANCE_DEG)
        assert with_[0] == pytest.approx(without[0]), "the yaw is untouched"
