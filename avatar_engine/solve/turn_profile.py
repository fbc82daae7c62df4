"""The nod the tracker reads on one face that only turns: a fit to its readings, and the solver's table of it.

MediaPipe's landmarks on a turned face tip up or down by an amount that depends on the face's shape. Turned 30
degrees, the astronaut built from its photo read 4-6 degrees of nod either way, Grace Hopper's 5-6, the default head
2 one way and under 1 the other. No pose fit from those landmarks takes it out without knowing the face: one on
their x and y alone, or against a template refined over a whole clip, still read 3.2 degrees. The median over many
faces is near zero, so a face of its own is needed (`live.turn_profile` measures one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TABLE_STEPS = 35
"""Points of `TurnProfile.table` across the measured turn: about 2 degrees apart, where a straight line between
them strays from the bow by 0.01 degrees."""
MIN_REACH_DEG = 10.0
"""A profile whose readings reached less far than this each way says nothing about turns: `fit_turn_profile`
refuses it."""


@dataclass(frozen=True)
class TurnProfile:
    """pitch ≈ pitch_per_yaw * yaw + pitch_per_yaw_sq * yaw², both as the tracker reads them (degrees, relative to
    the calibrated rest), within +-reach_deg; held beyond."""

    pitch_per_yaw: float
    pitch_per_yaw_sq: float
    reach_deg: float

    def pitch_at(self, yaw: float) -> float:
        y = float(np.clip(yaw, -self.reach_deg, self.reach_deg))
        return self.pitch_per_yaw * y + self.pitch_per_yaw_sq * y * y

    def table(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(yaws, pitches) for `SolverTuning.pitch_at_yaw`."""
        yaws = np.linspace(-self.reach_deg, self.reach_deg, TABLE_STEPS)
        return tuple(float(y) for y in yaws), tuple(self.pitch_at(float(y)) for y in yaws)

    def as_dict(self) -> dict[str, float]:
        return {"pitch_per_yaw": self.pitch_per_yaw, "pitch_per_yaw_sq": self.pitch_per_yaw_sq,
                "reach_deg": self.reach_deg}

    @staticmethod
    def from_dict(d: dict) -> "TurnProfile":
        """Raises ValueError when an entry is missing or not a finite number."""
        try:
            values = [float(d[k]) for k in ("pitch_per_yaw", "pitch_per_yaw_sq", "reach_deg")]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a turn profile: {exc}") from None
        if not np.all(np.isfinite(values)) or values[2] < MIN_REACH_DEG:
            raise ValueError(f"not a turn profile: {d}")
        return TurnProfile(*values)


def fit_turn_profile(seen: np.ndarray) -> TurnProfile:
    """seen : (n, 2+) yaw, pitch as the tracker read them on a face turned (not nodded) both ways from rest ->
    the least-squares fit through zero. A line and a bow: the nod is mostly the same sign both ways (a bow), with
    a tilt between the sides. Raises ValueError when the readings did not reach MIN_REACH_DEG both ways."""
    s = np.asarray(seen, np.float64)
    yaw, pitch = s[:, 0], s[:, 1]
    if yaw.size == 0 or yaw.max() < MIN_REACH_DEG or yaw.min() > -MIN_REACH_DEG:
        raise ValueError(f"the readings turned {yaw.min(initial=0):.0f} to {yaw.max(initial=0):.0f} degrees; a turn "
                         f"profile needs at least {MIN_REACH_DEG:.0f} each way")
    a, b = np.linalg.lstsq(np.stack([yaw, yaw * yaw], axis=1), pitch, rcond=None)[0]
    return TurnProfile(float(a), float(b), float(min(yaw.max(), -yaw.min())))
