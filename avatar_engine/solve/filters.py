"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012), vectorised over channels, as a pure function.

Each channel's cutoff rises with its speed: still values are smoothed hard (no jitter), fast moves pass with
little lag. `min_cutoff` (Hz) sets the smoothing at rest, `beta` how quickly the cutoff opens with speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroState:
    """The filter's memory; None before the first sample."""

    value: np.ndarray
    """value : (n,) float64 last filtered value."""
    speed: np.ndarray
    """speed : (n,) float64 last filtered derivative (units per second)."""
    t_s: float
    """Time of the last sample in seconds."""
    raw: np.ndarray | None = None
    """raw : (n,) float64 the last sample as it came in, unfiltered."""


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


def one_euro(state: OneEuroState | None, x: np.ndarray, t_s: float, min_cutoff: np.ndarray | float,
             beta: np.ndarray | float, d_cutoff: float = 1.0) -> tuple[np.ndarray, OneEuroState]:
    """Filter one sample. x : (n,) values at time t_s (seconds); min_cutoff, beta : scalars or (n,).

    returns : filtered (n,) float64 and the new state. A sample at or before the last time passes through
    the previous output unchanged (a repeated timestamp carries no new information).
    """
    x = np.asarray(x, np.float64)
    if state is None:
        return x.copy(), OneEuroState(x.copy(), np.zeros_like(x), float(t_s), x.copy())
    dt = float(t_s) - state.t_s
    if dt <= 0.0:
        return state.value.copy(), state
    speed = (x - state.value) / dt
    a_d = _alpha(d_cutoff, dt)
    speed = state.speed + a_d * (speed - state.speed)
    cutoff = np.asarray(min_cutoff, np.float64) + np.asarray(beta, np.float64) * np.abs(speed)
    value = state.value + _alpha(cutoff, dt) * (x - state.value)
    return value, OneEuroState(value, speed, float(t_s), x.copy())
