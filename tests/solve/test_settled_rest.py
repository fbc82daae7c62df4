"""The automatic calibration's bounded rest settles to the person's own once their frames show it was their rest."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.solve.settled_rest import RATE, SAMPLE_S, WINDOW_S, SettledRest, observe

STRETCH = ARKIT_INDEX["mouthStretchLeft"]
SMILE = ARKIT_INDEX["mouthSmileLeft"]
BOUNDED, SEEN = 0.3, 0.67
"""A face resting at mouthStretchLeft 0.67 that the calibration bounded to 0.3 (synthetic person 6004)."""
TOL = 1e-5


def start() -> SettledRest:
    bounded = np.full(52, 0.05, np.float32)
    seen = bounded.copy()
    bounded[STRETCH], seen[STRETCH] = BOUNDED, SEEN
    return SettledRest.start(bounded, seen)


def run(state: SettledRest, reading, t0: float, seconds: float, fps: float = 30.0) -> tuple[SettledRest, float]:
    """Feed `reading(t)` -> (52,) scores at fps for `seconds` from t0."""
    t = t0
    for i in range(int(round(seconds * fps))):
        t = t0 + i / fps
        state = observe(state, reading(t), t)
    return state, t


def resting(t: float) -> np.ndarray:
    s = np.full(52, 0.05, np.float32)
    s[STRETCH] = SEEN
    return s


def test_a_rest_held_for_the_window_settles_to_what_calibration_read_and_no_higher():
    state, t = run(start(), resting, 0.0, WINDOW_S - 1.0)
    assert state.rest[STRETCH] == pytest.approx(BOUNDED, abs=TOL), "nothing is judged before the window is full"
    state, t = run(state, resting, t + 1 / 30, 2.0)
    assert BOUNDED < state.rest[STRETCH] < BOUNDED + 3.0 * RATE, "it fades at RATE a second, not at once"
    state, t = run(state, lambda t: resting(t) + np.float32(0.2), t + 1 / 30, 15.0)
    assert state.rest[STRETCH] == pytest.approx(SEEN, abs=TOL), "up to what the calibration window read, no higher"
    others = np.delete(np.arange(52), STRETCH)
    assert np.allclose(state.rest[others], 0.05, atol=TOL), "shapes the calibration took as read do not move"


def test_an_expression_let_go_often_enough_is_not_taken_for_the_rest():
    """A stretch held through the calibration but let go of for more than half the time: the bounded rest stays
    (the expression still shows while it is held)."""
    let_go = 0.6  # of each 5 seconds, let go for this share

    def held_mostly(t: float) -> np.ndarray:
        s = resting(t)
        if (t % 5.0) < 5.0 * let_go:
            s[STRETCH] = 0.05
        return s

    state, _ = run(start(), held_mostly, 0.0, 2 * WINDOW_S)
    assert state.rest[STRETCH] == pytest.approx(BOUNDED, abs=TOL)


def test_the_rest_comes_back_down_when_the_readings_fall_but_not_below_the_bounded_one():
    state, t = run(start(), resting, 0.0, WINDOW_S + 10.0)
    assert state.rest[STRETCH] > BOUNDED + 0.2
    state, t = run(state, lambda t: np.full(52, 0.0, np.float32), t + 1 / 30, WINDOW_S + 10.0)
    assert state.rest[STRETCH] == pytest.approx(BOUNDED, abs=TOL)
    assert np.all(state.rest >= state.bounded - TOL)


def test_sampling_is_bounded_and_a_restarted_clock_starts_the_window_again():
    state, t = run(start(), resting, 0.0, 3 * WINDOW_S)
    assert len(state.samples) == round(WINDOW_S / SAMPLE_S)
    late = observe(state, resting(t - 0.01), t - 0.01)
    assert len(late.samples) == len(state.samples), "a frame a little late is not sampled; the window stays"
    restarted = observe(state, resting(0.0), 0.0)
    assert len(restarted.samples) == 1 and restarted.rest[STRETCH] == pytest.approx(state.rest[STRETCH])
    state, _ = run(restarted, resting, 1 / 30, 5.0)
    assert len(state.samples) > 1, "sampling goes on on the new clock"


def test_the_window_is_seconds_not_samples():
    """Rest, a long gap (head turned away, face lost), rest again: the samples before the gap have left the window,
    so nothing is judged until WINDOW_S seconds of the new ones are in."""
    half = WINDOW_S / 2 + 1.0
    state, t = run(start(), resting, 0.0, half)
    state, t = run(state, resting, t + 600.0, half)
    assert state.rest[STRETCH] == pytest.approx(BOUNDED, abs=TOL)
    state, t = run(state, resting, t + 1 / 30, WINDOW_S / 2 + 2.0)
    assert state.rest[STRETCH] > BOUNDED


def test_the_rest_moves_at_rate_whatever_the_frame_rate():
    for fps in (3.0, 30.0, 60.0):
        state, t = run(start(), resting, 0.0, WINDOW_S + 0.5, fps)
        before, t_before = state.rest[STRETCH], t
        state, t = run(state, resting, t + 1 / fps, 4.0, fps)
        moved = (state.rest[STRETCH] - before) / (t - t_before)
        assert moved == pytest.approx(RATE, rel=0.1), fps


def test_a_calibration_with_nothing_bounded_never_changes():
    bounded = np.full(52, 0.1, np.float32)
    state = SettledRest.start(bounded, bounded - 0.05)  # read lower than bounded: a rest below is taken as is
    assert not state.open
    state, _ = run(state, lambda t: np.full(52, 0.9, np.float32), 0.0, WINDOW_S + 5.0)
    assert np.array_equal(state.rest, bounded) and len(state.samples) == 0
