"""A person's blink range: their recent full blinks read as 1, squints left alone."""

import dataclasses

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.live.animator import Animator, AnimatorOptions
from avatar_engine.solve.blink_range import FLOOR, MIN_BLINKS, PEAK_MIN, START, BlinkRange, observe, widened
from avatar_engine.solve.calibration import reference_calibration
from avatar_engine.solve.frames import LandmarkFrame
from avatar_engine.solve.measured import RESPONSE_SCORES, RESPONSE_WEIGHTS
from avatar_engine.solve.tuning import DEFAULT_TUNING

LEFT, RIGHT = ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]
CLOSED = 0.95
"""A widened full blink reads at least this."""


def blink(state: BlinkRange, peak_left: float, peak_right: float) -> BlinkRange:
    for level in (0.0, 0.5, 1.0, 0.5, 0.0):
        state = observe(state, np.array([peak_left * level, peak_right * level]))
    return state


def test_an_eye_is_widened_to_its_own_blinks_after_enough_of_them():
    state = BlinkRange()
    for k in range(MIN_BLINKS):
        assert np.all(state.top() == 1.0), "no range before MIN_BLINKS blinks"
        state = blink(state, 0.6, 1.0)
    assert state.top() == pytest.approx([0.6, 1.0])
    weights = np.zeros(52, np.float32)
    weights[[LEFT, RIGHT]] = 0.6, 0.3
    out = widened(weights, state.top())
    assert out[LEFT] == pytest.approx(1.0) and out[RIGHT] == pytest.approx(0.3)


def test_a_squint_is_not_stretched_into_a_half_shut_eye():
    """Only the blink above START is stretched: a squint's or a smile's 0.25 stays 0.25 on an eye whose full closure
    reads 0.6 (divided, it became 0.42), and the stretch is continuous there."""
    weights = np.zeros(52, np.float32)
    for w in (0.1, 0.25, START):
        weights[LEFT] = w
        assert widened(weights, np.array([0.6, 1.0]))[LEFT] == pytest.approx(w)
    weights[LEFT] = START + 1e-4
    assert widened(weights, np.array([0.6, 1.0]))[LEFT] == pytest.approx(START, abs=1e-3)


def test_squints_and_half_blinks_do_not_count():
    state = BlinkRange()
    for _ in range(5):
        state = blink(state, PEAK_MIN - 0.05, PEAK_MIN - 0.05)
    assert np.all(state.top() == 1.0)


def test_the_range_is_floored_and_follows_a_stronger_blink():
    state = BlinkRange()
    for _ in range(3):
        state = blink(state, PEAK_MIN, 0.7)
    assert state.top()[0] == pytest.approx(max(PEAK_MIN, FLOOR))
    state = blink(state, 0.9, 0.7)
    assert state.top()[0] == pytest.approx(0.9)


def scores_with_blinks(level: float) -> np.ndarray:
    """Reference scores with both eyes at a score this far up their measured response (level 1: the score a full
    blink of the reference head reads)."""
    scores = reference_calibration().scores.copy()
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        curve = RESPONSE_SCORES[name]
        scores[ARKIT_INDEX[name]] = curve[0] + level * (curve[-1] - curve[0])
    return scores


def test_a_face_whose_blinks_read_low_shuts_its_eyes_after_two_blinks():
    """Through the animator: a face whose full blink lacks the lift each closing eye gives the other's score on
    the reference head (0.13 and 0.08), so the solve, taking that cross-talk out, shows 0.63 and 0.72. Its first
    blinks show half-shut eyes; after MIN_BLINKS the same blink shuts them, and recalibrating forgets it."""
    tuning = dataclasses.replace(DEFAULT_TUNING, calibration_s=0.2)
    a = Animator(AnimatorOptions(tuning=tuning, auto_calibrate=False))
    rotation = reference_calibration().rotation
    t = 0

    def show(level: float, frames: int) -> np.ndarray:
        nonlocal t
        out = None
        for _ in range(frames):
            out = a.update(LandmarkFrame(scores_with_blinks(level), rotation, int(t / 30 * 1e9)), t / 30)
            t += 1
        return out.weights[[LEFT, RIGHT]]

    show(0.0, 10)
    first = show(1.0, 10)  # held shut long enough for the filter to settle
    assert first.max() < CLOSED, "not widened before the person's range is known"
    for _ in range(MIN_BLINKS - 1):
        show(0.0, 10)
        show(1.0, 10)
    show(0.0, 10)
    assert show(1.0, 10).min() >= CLOSED
    a.recalibrate()
    assert np.all(a.blinks.top() == 1.0)


def test_weights_of_one_are_left_alone():
    assert np.all(widened(np.ones(52, np.float32), np.array([0.6, 0.6])) == 1.0)
    assert RESPONSE_WEIGHTS[-1] == 1.0
