"""The automatic calibration's refused rest, taken once the person's own frames show it was their rest.

The automatic calibration cannot tell a held expression from a resting face, so it raises no shape's rest more
than `SolverTuning.calibration_max_shift` above the reference head's (`calibration.calibrate`). Faces differ more
than that: of seven synthetic people MediaPipe reads one resting at mouthStretch 0.67 / 0.64 and one at
mouthFrown 0.58 / 0.51 with mouthPucker 0.76 (the reference head: under 0.02, and 0.16). Bounded, each showed that
expression on their avatar for as long as they rested, until they recalibrated.

What tells a rest from an expression is time. The loop samples the person's scores while they face about as they
did at calibration (`observe`, a pure update) and keeps those of the last WINDOW_S seconds. A shape whose median
over the window lies above the bounded rest was held more than half of that time: the rest follows it, at most up
to what the calibration window itself read (`seen`), at RATE a second, so the expression fades rather than pops.
When the shape's readings fall again the rest comes back down, never below the bounded one. A shape the calibration
took as it read (most shapes, most people) has nothing to settle. An expression held through the calibration and
then for more than half of WINDOW_S seconds fades too: the price of not asking the person to press a key.

The median, not a low percentile: a face's resting readings wander (synthetic person 6004's mouthStretchRight
0.52-0.81 over a minute's rest with a slight sway) and other expressions pull them down (its jaw opening read 0.10):
their tenth percentile settled the rest only to 0.34-0.57, and the stretch still showed at 0.68 on average
(`benchmarks/live_rest.py`; the median: 0.15, the bounded rest: 1.0)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_S = 20.0
"""Seconds of the person's frames the rest is judged from: samples older than this are dropped."""
SAMPLE_S = 0.25
"""A frame is sampled at most this often, on a grid of this step."""
FILLED = 0.5
"""The window is judged once its samples span WINDOW_S and number at least this share of WINDOW_S / SAMPLE_S (the
head turned away or the face lost leave gaps)."""
PERCENTILE = 50.0
"""A shape's rest is judged from this percentile of its readings over the window (the median)."""
RATE = 0.05
"""Most change of a shape's rest a second (a 0.37 offset goes in about 7 seconds)."""
CLOCK_RESTART_S = 0.5
"""A frame this much older than the last sample means the caller's clock started again: the window starts again.
A frame less late is only not sampled."""


@dataclass(frozen=True)
class SettledRest:
    """After an automatic calibration: the rest it took, the rest its window read, and the readings since."""

    bounded: np.ndarray
    """(52,) float32 the rest the calibration took (each shape at most `calibration_max_shift` above the
    reference's)."""
    seen: np.ndarray
    """(52,) float32 the rest its window read (the median, unbounded): as high as a rest may settle."""
    rest: np.ndarray
    """(52,) float32 the rest in use now, between the two."""
    samples: np.ndarray
    """(k, 52) float32 the readings sampled over the last WINDOW_S seconds, oldest first."""
    times: np.ndarray
    """(k,) float64 when each was sampled (media seconds)."""
    due_s: float = -np.inf
    """When the next sample is due: samples are taken on a SAMPLE_S grid."""

    @staticmethod
    def start(bounded: np.ndarray, seen: np.ndarray) -> "SettledRest":
        bounded = np.asarray(bounded, np.float32)
        seen = np.maximum(np.asarray(seen, np.float32), bounded)
        return SettledRest(bounded, seen, bounded.copy(), np.zeros((0, 52), np.float32), np.zeros(0))

    @property
    def open(self) -> bool:
        """Whether any shape's rest was bounded below what the window read (else nothing can settle)."""
        return bool((self.seen > self.bounded).any())


def observe(state: SettledRest, scores: np.ndarray, now_s: float) -> SettledRest:
    """The rest after a frame's readings scores : (52,) at now_s (media seconds, a frame facing about as the
    calibration did). Samples at most every SAMPLE_S; judges once the window is filled (`FILLED`)."""
    if not state.open:
        return state
    if len(state.times) and now_s < state.times[-1] - CLOCK_RESTART_S:  # the caller's clock started again
        state = SettledRest(state.bounded, state.seen, state.rest, state.samples[:0], state.times[:0])
    elif now_s < state.due_s:
        return state
    kept = state.times > now_s - WINDOW_S
    samples = np.concatenate([state.samples[kept], np.asarray(scores, np.float32)[None]])
    times = np.append(state.times[kept], now_s)
    rest = state.rest
    if times[-1] - times[0] >= WINDOW_S - 2.0 * SAMPLE_S and len(times) >= FILLED * WINDOW_S / SAMPLE_S:
        target = np.clip(np.percentile(samples, PERCENTILE, axis=0), state.bounded, state.seen)
        step = RATE * min(now_s - state.times[-1], 1.0)  # the time since the last sample: RATE a second
        rest = (rest + np.clip(target - rest, -step, step)).astype(np.float32)
    # on the SAMPLE_S grid while frames come often enough: at 30 fps, a step from each frame's own time sampled
    # every 0.267 s
    due_s = state.due_s + SAMPLE_S if now_s < state.due_s + SAMPLE_S else now_s + SAMPLE_S
    return SettledRest(state.bounded, state.seen, rest, samples, times, due_s)
