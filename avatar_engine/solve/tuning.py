"""Every hand-set tuning constant of the solver in one table; measured curves live in `measured.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from avatar_engine.head.arkit import ARKIT_NAMES

LANDMARKS = {
    "eye_outer": (33, 263),  # outer eye corners (the subject's right, left): the face's scale
    "inner_lips": ((82, 87), (13, 14), (312, 317)),  # upper/lower inner-lip pairs across the mouth's middle
    # points expressions barely move (inner eye corners, nose bridge, forehead): the head's rigid pose
    "rigid": (133, 362, 6, 168, 197, 195, 5, 4, 10, 151, 9, 8),
    "mouth_corners": (61, 291, 13),  # the subject's right and left, and the inner upper lip's middle they rise from
    # the rigid points and more of the upper face (outer eye corners, nose tip, forehead, cheekbones): the head's
    # yaw (`solver.combined_yaw`)
    "wide": (133, 362, 33, 263, 6, 168, 197, 195, 5, 4, 1, 10, 151, 9, 8, 109, 338, 67, 297, 116, 345, 123, 352),
}
"""MediaPipe face-mesh indices the solver reads (of the 478 points)."""

EYE_CHANNELS: frozenset[str] = frozenset(n for n in ARKIT_NAMES if n.startswith("eye"))
_EYES = np.array([n in EYE_CHANNELS for n in ARKIT_NAMES])
_EYES.setflags(write=False)
"""Blinks, squints, wides and looks: filtered faster than the rest (a blink lasts about 150 ms)."""


@dataclass(frozen=True)
class SolverTuning:
    """How scores become weights and how hard each channel is smoothed. Presets are instances of this."""

    response: Literal["mediapipe", "arkit"] = "mediapipe"
    """Whose scores come in: "mediapipe" inverts MediaPipe's measured response curves and pose shifts
    (`measured.py`); "arkit" (iPhone apps) takes scores as weights, ARKit's own tracking needs no correction."""
    neck_share: float = 0.4
    """Share of the head's turn given to the neck bone; the head bone takes the rest (people turn both)."""
    pose_gain: tuple[float, float, float] | None = None
    """Plain multipliers on the tracked (yaw, pitch, roll) away from neutral; None takes the measured maps."""
    corner_lift_floor: float | None = 0.03
    """Mouth-corner lift, or mouth narrowing, (inner eye distances) the solved weights leave unexplained before it
    counts: as a smile the scores missed (`mouth_corners.smiles_from_corners`), as rounded lips on a face whose rest
    reads as a pucker (`mouth_corners.rounding_from_width`). A resting face's corners waver by under 0.015. None:
    the mouth's corners are not read at all."""
    pucker_saturated: float = 0.4
    """A calibrated rest reading mouthPucker at least this (the reference head rests at 0.16, most faces under 0.25;
    a rest bounded by `calibration_max_shift` at 0.46) has the rounding read from the mouth's width
    (`mouth_corners.rounding_from_width`)."""
    pitch_at_yaw: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    """(yaws, pitches): the pitch MediaPipe reads on this face when it only turns, at each yaw it reads there
    (degrees, relative to the calibrated rest); taken out of the pitch before the measured maps. None: none."""
    gaze_yaw_deg: float = 30.0
    """Eye yaw at eyeLookOut/In = 1 (ARKit's eyes reach about 30 degrees sideways)."""
    gaze_pitch_deg: float = 25.0
    """Eye pitch at eyeLookUp/Down = 1."""
    blink_hides_gaze: tuple[float, float] = (0.5, 0.9)
    """Vertical gaze fades out as the two eyes' mean blink goes from the first value to the second: closing lids
    hide where the eyes look, and MediaPipe reads part of a blink as looking down."""
    blink_hides_squint: tuple[float, float] = (0.4, 0.8)
    """Each eye's squint fades out as its blink goes from the first value to the second: a closed lid hides the
    lower lid's lift, and MediaPipe reads a blink partly as a squint (live, every blink squinted the left eye to
    0.77-1 while the right stayed calm: closed eyes looked lopsided)."""
    gaze_to_bones: bool = True
    """Turn the eye bones for the part of the gaze the eyeLook* shapes leave (`MORPH_GAZE_DEG`): the shapes also
    bring the lids along, which bones alone left still (looking down showed the white above the iris)."""
    jaw_open_deg: float = 0.0
    """Jaw bone pitch at jawOpen = 1; 0 for avatars whose jawOpen morph already opens the jaw (the template)."""
    max_gain: float = 4.0
    """Steepest a weight may rise with its score above rest: shapes MediaPipe barely sees are boosted at most
    this much, since their noise is boosted with them."""
    lip_gap_closed: float = 0.012
    lip_gap_open: float = 0.025
    """Rounded lips count as a pucker while the inner-lip gap (over the eye-corner distance) is less than
    lip_gap_closed beyond the resting face's (`Calibration.lip_gap`), as a funnel once it is lip_gap_open beyond
    (MediaPipe scores our funnel as a pucker; its landmarks still see the lips part). Measured on the round trip of
    12 faces (the default head, two built from photos, nine synthetic people): a pucker parts the lips up to 0.013
    beyond their rest, a funnel 0.010 to 0.12, and lips rest 0.0015 to 0.067 apart. The gap as read, with the
    reference head's thresholds (0.005, 0.012), made a pucker on lips resting 0.009 apart a funnel (correlation
    with the truth 0.09) and every rounding on lips resting 0.044 apart a funnel. Over the 12 faces the pucker's and
    funnel's correlations average 0.81 (0.77-0.81 with the eight other pairs of thresholds and rest caps tried); on
    the five faces the stored round trips drive, both stay at or over 0.87 (at tighter thresholds the pucker on lips
    resting 0.009 apart fell to 0.36-0.76)."""
    blink_holds_brows: tuple[float, float] = (0.1, 0.35)
    """The brows' raises are held where they were as the closer-open eye's blink goes from the first value to the
    second, while the lids move (`solver.brows_held_in_blinks`)."""
    rounding_share_cutoff: float = 2.0
    """Cutoff (Hz) of the filter on the funnel's share of the lips' rounding at a rounding of 1 (`filter_frame`): it
    is divided by the rounding (at most by `solver.SHARE_ROUNDING_FLOOR`, 20 Hz), beta 0; `solver.shared_rounding`
    shares the rounding out by it."""
    dead_zone: float = 0.04
    """Weights below this after the curve read 0, the rest rescaled to keep 1 at 1 (kills residual bias at rest
    without a step)."""
    face_min_cutoff: float = 1.2
    """One Euro min cutoff (Hz) for mouth, brows, cheeks, nose, jaw: smooth at rest."""
    face_beta: float = 6.0
    """One Euro speed coefficient (per weight unit per second) for the face channels."""
    eye_min_cutoff: float = 2.0
    """One Euro min cutoff (Hz) for the eye channels: blinks must get through."""
    eye_beta: float = 10.0
    pose_min_cutoff: float = 0.8
    """One Euro min cutoff (Hz) for head angles and gaze (degrees)."""
    pose_beta: float = 0.2
    """Speed coefficient for angles, per degree per second (a 50 deg/s turn opens the cutoff by 10 Hz)."""
    d_cutoff: float = 1.0
    """One Euro derivative cutoff (Hz)."""
    turn_gate_deg_s: tuple[float, float] = (50.0, 120.0)
    """Head turn speeds (degrees per second, `solver.turn_speed`) over which a weight's rise is held back: its
    filter's cutoff closes to `turn_gate_keep` (MediaPipe's scores only). MediaPipe misreads a face turning fast (a
    one-frame pucker of 0.87, shown as a funnel, as a 230 degrees/s turn swung back), and the filter, opened by that
    very jump, let it through; at 95 degrees/s a mouthStretch of 0.86. A conversational turn (40 degrees/s) is
    not held back, the round trip's fastest (56) by a tenth at most."""
    turn_gate_keep: tuple[float, float] = (0.05, 0.15)
    """(face, eye channels) share of the cutoff (min cutoff and speed term) kept at full turn speed, in (0, 1]. The
    eyes keep more: a blink often comes with a turn of the head."""
    calibration_s: float = 1.0
    """Automatic neutral calibration collects this many seconds of frames when tracking starts, of a head held
    still (`calibration_still_deg`)."""
    calibration_still_deg: float = 5.0
    """Automatic calibration starts its window again when the head turns further than this from the window's first
    frame: a person turning or nodding is not at rest (calibrated mid-turn, the avatar kept a 15-degree turn)."""
    calibration_max_shift: float = 0.3
    """Automatic calibration raises no score's rest more than this above the reference head's: a person smiling
    through the first second kept no smile for the session (lower rests are taken as they are, `calibrate`;
    recalibrating on demand has no bound)."""

    def __post_init__(self) -> None:
        if self.response not in ("mediapipe", "arkit"):
            raise ValueError(f"response must be 'mediapipe' or 'arkit', got {self.response!r}")
        if not 0.0 <= self.neck_share <= 1.0:
            raise ValueError(f"neck_share must be in [0, 1], got {self.neck_share}")
        if self.max_gain < 1.0:
            raise ValueError(f"max_gain must be >= 1, got {self.max_gain}")
        if not 0.0 <= self.turn_gate_deg_s[0] < self.turn_gate_deg_s[1]:
            raise ValueError(f"turn_gate_deg_s must rise from 0 or more, got {self.turn_gate_deg_s}")
        if not all(0.0 < k <= 1.0 for k in self.turn_gate_keep):
            raise ValueError(f"turn_gate_keep must lie in (0, 1], got {self.turn_gate_keep}")

    def turn_gate(self, turn_deg_s: float) -> np.ndarray:
        """(59,) factor on each channel's cutoff for a head turning at `turn_deg_s`: 1 below `turn_gate_deg_s`,
        down to `turn_gate_keep` for the weights above it; the angles and gaze are never held back."""
        lo, hi = self.turn_gate_deg_s
        gated = float(np.clip((turn_deg_s - lo) / (hi - lo), 0.0, 1.0))
        keep = np.where(_EYES, self.turn_gate_keep[1], self.turn_gate_keep[0])
        return np.concatenate([1.0 - gated * (1.0 - keep), np.ones(7)])

    def filter_params(self) -> tuple[np.ndarray, np.ndarray]:
        """(59,) min cutoffs and (59,) betas for `SolvedFrame.as_vector()` channels."""
        min_cutoff = np.where(_EYES, self.eye_min_cutoff, self.face_min_cutoff)
        beta = np.where(_EYES, self.eye_beta, self.face_beta)
        return (np.concatenate([min_cutoff, np.full(7, self.pose_min_cutoff)]),
                np.concatenate([beta, np.full(7, self.pose_beta)]))


DEFAULT_TUNING = SolverTuning()
ARKIT_TUNING = SolverTuning(response="arkit", pose_gain=(1.0, 1.0, 1.0))
"""For ARKit phone apps (iFacialMocap): their scores are already weights."""


MORPH_GAZE_DEG = {
    "Left": {"Up": (0.0, -9.26), "Down": (0.0, 10.54), "In": (-14.21, 0.0), "Out": (13.67, 0.0)},
    "Right": {"Up": (0.0, -9.22), "Down": (0.0, 10.62), "In": (14.12, 0.0), "Out": (-13.64, 0.0)},
}
"""(yaw, pitch) degrees the head model's eyeLook* shapes turn each eyeball at weight 1 (yaw toward the avatar's left,
pitch down): measured from assets/head/head_model.npz, the same for every built avatar (tests/solve check them)."""
