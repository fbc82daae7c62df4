"""One Euro filter: smooths a still signal, follows fast moves, pure (state in, state out)."""

import numpy as np

from avatar_engine.solve.filters import one_euro

RATE_HZ = 30.0
STILL_NOISE_REDUCTION = 3.0
"""On a still signal with white noise, the filtered standard deviation is at least this many times smaller."""
RAMP_LAG_MAX = 0.08
"""Following a ramp of 2 units/s with beta=20, the output trails by at most this (units)."""


def run(values, min_cutoff, beta):
    state, out = None, []
    for i, v in enumerate(values):
        y, state = one_euro(state, np.atleast_1d(v), i / RATE_HZ, min_cutoff, beta)
        out.append(y[0])
    return np.array(out)


def test_still_signal_is_smoothed():
    rng = np.random.default_rng(0)
    noisy = 0.3 + rng.normal(0, 0.02, 300)
    out = run(noisy, 1.0, 0.0)
    assert noisy[50:].std() / out[50:].std() >= STILL_NOISE_REDUCTION
    assert abs(out[50:].mean() - 0.3) < 0.01


def test_fast_moves_pass_with_little_lag():
    ramp = np.clip(np.arange(60) / RATE_HZ * 2.0, 0, 1)  # 0 -> 1 in 0.5 s
    slow = run(ramp, 1.0, 0.0)
    fast = run(ramp, 1.0, 20.0)
    assert np.abs(fast[:15] - ramp[:15]).max() <= RAMP_LAG_MAX
    assert np.abs(slow[:15] - ramp[:15]).max() > RAMP_LAG_MAX  # beta is what makes the difference


def test_first_sample_and_repeated_time_pass_through_without_mutation():
    x = np.array([0.5, 0.25])
    y, state = one_euro(None, x, 0.0, 1.0, 0.0)
    assert np.array_equal(y, x)
    y2, state2 = one_euro(state, np.array([1.0, 1.0]), 0.0, 1.0, 0.0)
    assert np.array_equal(y2, x) and state2 is state
    y3, state3 = one_euro(state, np.array([1.0, 1.0]), 1 / RATE_HZ, 1.0, 0.0)
    assert np.array_equal(state.value, x), "the old state must not change"
    assert (y3 > x).all() and (y3 < 1.0).all()


def test_per_channel_cutoffs():
    step = np.ones((10, 2))
    step[0] = 0.0
    state = None
    for i, v in enumerate(step):
        y, state = one_euro(state, v, i / RATE_HZ, np.array([0.5, 8.0]), 0.0)
    assert y[1] > y[0] + 0.2, "the channel with the higher cutoff follows faster"
