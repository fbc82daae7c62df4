"""Each eye's blink widened to this person's full closure: their recent blinks' peaks read as 1.

MediaPipe's blink response was measured on the reference head (`measured.RESPONSE_SCORES`), and faces differ. On
the astronaut built by `avatar build` and driven with known blinks, eyes fully shut solved to 0.63 in the left eye
and 0.98 in the right (the reference head's cross-talk, the right eye lifting the left's score by 0.13, is taken out
of a face that has less), so every blink left one eye half open. The live loop therefore keeps each eye's recent
blink peaks (`observe`, a pure update) and stretches that eye's blink above START so that the highest of them
(`BlinkRange.top`) reads 1: after two blinks the left eye shuts. A person whose blinks already read 1 is left as
they are; squints and half blinks peak too low to count (`PEAK_MIN`) and are not stretched. Peaks are kept per eye
as read, before any mirroring, and only once the person is calibrated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX

BLINK_INDEX = np.array([ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]])
START, END = 0.3, 0.15
"""A blink starts when the eye's solved weight rises to START and ends when it falls below END; its peak is the
highest weight between."""
PEAK_MIN = 0.45
"""Blinks peaking lower are squints, half blinks or a smile's narrowing: not a full closure, not counted (the
built astronaut's left eye peaked 0.63 shut, a squint 0.2-0.35)."""
RECENT = 8
"""Peaks kept per eye, newest last (about half a minute of blinking)."""
MIN_BLINKS = 2
"""An eye is widened once this many of its blinks were seen: one misread is not a person's range."""
FLOOR = 0.5
"""The least full closure an eye may be given (above START: the stretch stays finite)."""


@dataclass(frozen=True)
class BlinkRange:
    """Per eye (left, right, as read): recent blink peaks and the blink in progress."""

    peaks: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    """Each eye's recent blink peaks (at least PEAK_MIN), newest last, at most RECENT."""
    running: tuple[float, float] = (0.0, 0.0)
    """Each eye's highest weight so far in the blink in progress; 0 when none is."""

    def top(self) -> np.ndarray:
        """(2,) float32 the weight each eye's full closure reads: the highest recent peak within [FLOOR, 1], or
        1 until MIN_BLINKS were seen."""
        return np.array([np.clip(max(p), FLOOR, 1.0) if len(p) >= MIN_BLINKS else 1.0 for p in self.peaks],
                        np.float32)


def observe(state: BlinkRange, blinks: np.ndarray) -> BlinkRange:
    """The range after one frame's solved blinks, blinks : (2,) (left, right) before widening."""
    peaks, running = list(state.peaks), list(state.running)
    for eye, weight in enumerate(np.asarray(blinks, np.float64)):
        weight = float(weight)
        if running[eye] > 0.0:
            running[eye] = max(running[eye], weight)
            if weight < END:
                if running[eye] >= PEAK_MIN:
                    peaks[eye] = (*peaks[eye], running[eye])[-RECENT:]
                running[eye] = 0.0
        elif weight >= START:
            running[eye] = weight
    return BlinkRange((peaks[0], peaks[1]), (running[0], running[1]))


def widened(weights: np.ndarray, top: np.ndarray) -> np.ndarray:
    """(52,) float32 weights with each eye's blink stretched so that its full closure `top` (2,) reads 1: above
    START only, so a squint or a smile's narrowing (0.2-0.35) is not made a half-shut eye; at most 1."""
    out = np.asarray(weights, np.float32).copy()
    w, top = out[BLINK_INDEX], np.asarray(top, np.float32)
    stretched = START + (w - START) * (1.0 - START) / np.maximum(top - START, 1e-6)
    out[BLINK_INDEX] = np.minimum(np.where(w > START, stretched, w), 1.0)
    return out
