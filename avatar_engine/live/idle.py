"""Idle life for when tracking is lost: blinks, breathing and a slow head sway, as pure functions of time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.solve.frames import SolvedFrame


@dataclass(frozen=True)
class IdleOptions:
    """When tracking is lost: hold the last pose, then ease to a living neutral face."""

    hold_s: float = 0.5
    """Keep the last tracked frame this long (a missed detection or a hand passing is usually brief)."""
    ease_s: float = 1.0
    """Then blend to idle over this long (smoothstep)."""
    resume_s: float = 0.25
    """When the face comes back, glide from what is shown to the tracked face over at least this long..."""
    resume_deg_s: float = 60.0
    """...and over as long as the head takes to turn the way at this speed (degrees a second, a calm turn)..."""
    resume_max_s: float = 1.0
    """...but no longer than this."""
    blink_period_s: float = 4.0
    """Average time between idle blinks."""
    blink_s: float = 0.16
    """Length of one blink."""
    breath_period_s: float = 4.5
    sway_deg: tuple[float, float, float] = (2.5, 1.2, 0.8)
    """Amplitude of the idle head sway: yaw, pitch, roll degrees."""


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def idle_frame(t_s: float, options: IdleOptions = IdleOptions()) -> SolvedFrame:
    """The idle face at time t_s: deterministic (blink times are jittered by a hash of the blink number)."""
    weights = np.zeros(52, np.float32)
    n = np.floor(t_s / options.blink_period_s)
    start = (n + 0.2 + 0.6 * ((np.sin(n * 12.9898) * 43758.5453) % 1.0)) * options.blink_period_s
    phase = (t_s - start) / options.blink_s
    blink = float(np.sin(np.pi * phase)) if 0.0 <= phase <= 1.0 else 0.0
    weights[ARKIT_INDEX["eyeBlinkLeft"]] = weights[ARKIT_INDEX["eyeBlinkRight"]] = blink
    breath = 0.5 - 0.5 * np.cos(2 * np.pi * t_s / options.breath_period_s)
    weights[ARKIT_INDEX["jawOpen"]] = 0.03 * breath
    weights[ARKIT_INDEX["mouthClose"]] = 0.0
    sway = np.array(options.sway_deg) * np.array([np.sin(2 * np.pi * t_s / 9.1), np.sin(2 * np.pi * t_s / 6.7 + 1.0),
                                                  np.sin(2 * np.pi * t_s / 11.3 + 2.0)])
    sway[1] += 0.8 * breath  # a breath lifts the chin a little
    return SolvedFrame(weights, sway.astype(np.float32), np.zeros((2, 2), np.float32), int(t_s * 1e9))


def blend(a: SolvedFrame, b: SolvedFrame, s: float) -> SolvedFrame:
    """(1 - s) * a + s * b over every channel, stamped with b's time."""
    v = (1.0 - s) * a.as_vector() + s * b.as_vector()
    return SolvedFrame.from_vector(v, b.t_ns)
