"""Scores + head pose -> avatar weights, head angles and gaze; filtering; the renderer's Expression.

    solved = solve_frame(frame, calibration)                 # pure; no smoothing
    smooth, state = filter_frame(state, solved)              # One Euro per channel
    expression = to_expression(smooth)                       # bones for head, neck, eyes, jaw

Score -> weight, per shape: shift so the calibrated resting face reads like the reference head at rest,
subtract how much the reference head's resting score moves at this head pose, then invert the measured
response curve of MediaPipe on the reference head (`measured.RESPONSE_SCORES`): that corrects the right eye
reading smaller, cheekPuff and noseSneer barely moving, and MediaPipe's resting biases (browInnerUp ~0.8).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.solve import measured
from avatar_engine.solve.calibration import Calibration
from avatar_engine.solve.filters import OneEuroState, one_euro
from avatar_engine.solve.frames import LandmarkFrame, SolvedFrame
from avatar_engine.solve.pose import eye_bones, head_angles, head_bones, relative_rotation
from avatar_engine.solve.tuning import DEFAULT_TUNING, SolverTuning

EYE_LOOK = {side: {d: ARKIT_INDEX[f"eyeLook{d}{side}"] for d in ("Up", "Down", "In", "Out")}
            for side in ("Left", "Right")}


def _mirror_name(name: str) -> str:
    for a, b in (("Left", "Right"), ("Right", "Left")):
        if name.endswith(a):
            return name[: -len(a)] + b
    return name


MIRROR = np.array([ARKIT_INDEX[_mirror_name(n)] for n in ARKIT_NAMES], np.intp)
"""Index permutation swapping every Left shape with its Right twin."""


@lru_cache(maxsize=8)
def _curves(max_gain: float, response: str = "mediapipe") -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per shape, the inverse response curve: (k,) increasing score knots and (k,) their weights.

    A response that stops rising (MediaPipe saturates: a blink reads the same at 0.75 and 1) maps its plateau
    to the highest weight that reaches it. A response flatter than 1 / max_gain is stretched to that slope:
    inverting it exactly would amplify tracker noise without bound."""
    weights = np.array(measured.RESPONSE_WEIGHTS, np.float64)
    curves = []
    for name in ARKIT_NAMES:
        table = measured.RESPONSE_SCORES if response == "mediapipe" else {}
        s = np.maximum.accumulate(np.array(table.get(name, weights), np.float64))
        span = s[-1] - s[0]
        if span < 1.0 / max_gain:
            s = s[0] + (weights if span <= 1e-6 else (s - s[0]) / span) / max_gain
        keep = np.append(np.diff(s) > 1e-6, True)  # of equal scores keep the last (highest weight) ...
        keep[s - s[0] <= 1e-6] = False
        keep[0] = True  # ... except at rest: what reads like the resting face is the resting face
        knots, w = s[keep], weights[keep]
        curves.append((knots, w))
    return tuple(curves)


def _pose_shift(yaw: float, pitch: float) -> np.ndarray:
    """(52,) change in the resting scores at this head pose, bilinear in the measured grid (held at its edges)."""
    if not measured.NEUTRAL_SHIFT:
        return np.zeros(52, np.float32)
    yaws, pitches = np.array(measured.POSE_YAWS), np.array(measured.POSE_PITCHES)
    shift = np.zeros(52, np.float32)
    for name, table in measured.NEUTRAL_SHIFT.items():
        t = np.asarray(table, np.float64)  # (len(yaws), len(pitches))
        by_yaw = np.array([np.interp(pitch, pitches, row) for row in t])
        shift[ARKIT_INDEX[name]] = np.interp(yaw, yaws, by_yaw)
    return shift


def scores_to_weights(scores: np.ndarray, calibration: Calibration, angles: np.ndarray,
                      tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """(52,) scores -> (52,) float32 weights in [0, 1] for a head at `angles` (yaw, pitch, roll degrees)."""
    curves = _curves(tuning.max_gain, tuning.response)
    rest = np.array([c[0][0] for c in curves])
    s = np.asarray(scores, np.float64) - calibration.scores + rest
    if tuning.response == "mediapipe":
        s = s - _pose_shift(float(angles[0]), float(angles[1]))
    out = np.array([np.interp(s[i], *curves[i]) for i in range(52)], np.float32)
    out[out < tuning.dead_zone] = 0.0
    return out


def gaze_from_weights(weights: np.ndarray, tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """(2, 2) eye yaw/pitch degrees (left eye, right eye) from the eyeLook* weights.

    Yaw is positive toward the avatar's left (+X): the left eye looking out and the right eye looking in."""
    w = np.asarray(weights, np.float64)
    gaze = np.zeros((2, 2), np.float32)
    for row, side, outward in ((0, "Left", 1.0), (1, "Right", -1.0)):
        k = EYE_LOOK[side]
        gaze[row, 0] = outward * (w[k["Out"]] - w[k["In"]]) * tuning.gaze_yaw_deg
        gaze[row, 1] = (w[k["Down"]] - w[k["Up"]]) * tuning.gaze_pitch_deg
    return gaze


def mirror_frame(solved: SolvedFrame) -> SolvedFrame:
    """The avatar as a mirror image of the person: left and right swapped, yaw and roll negated."""
    angles = solved.angles * np.array([-1.0, 1.0, -1.0], np.float32)
    gaze = solved.gaze[::-1] * np.array([-1.0, 1.0], np.float32)
    return SolvedFrame(solved.weights[MIRROR], angles, gaze.astype(np.float32), solved.t_ns)


def solve_frame(frame: LandmarkFrame, calibration: Calibration, tuning: SolverTuning = DEFAULT_TUNING,
                mirror: bool = False) -> SolvedFrame:
    """One tracked frame -> the avatar's unfiltered weights, head angles and gaze."""
    gain = np.array(tuning.pose_gain or measured.POSE_GAIN, np.float32)
    angles = head_angles(relative_rotation(frame.rotation, calibration.rotation)) * gain
    weights = scores_to_weights(frame.scores, calibration, angles, tuning)
    solved = SolvedFrame(weights, angles.astype(np.float32), gaze_from_weights(weights, tuning), frame.t_ns)
    return mirror_frame(solved) if mirror else solved


def filter_frame(state: OneEuroState | None, solved: SolvedFrame,
                 tuning: SolverTuning = DEFAULT_TUNING) -> tuple[SolvedFrame, OneEuroState]:
    """One Euro filtering of every channel (eyes faster than the rest). Returns the filtered frame and state."""
    min_cutoff, beta = tuning.filter_params()
    value, state = one_euro(state, solved.as_vector(), solved.t_ns * 1e-9, min_cutoff, beta, tuning.d_cutoff)
    return SolvedFrame.from_vector(value, solved.t_ns), state


def to_expression(solved: SolvedFrame, tuning: SolverTuning = DEFAULT_TUNING) -> Expression:
    """The renderer's Expression: weights plus neck, head, eye and jaw bone rotations."""
    weights = solved.weights.astype(np.float32).copy()
    rotations = head_bones(solved.angles, tuning.neck_share)
    if tuning.gaze_to_bones:
        rotations.update(eye_bones(solved.gaze))
        for side in EYE_LOOK.values():
            weights[list(side.values())] = 0.0
    if tuning.jaw_open_deg:
        rotations["jaw"] = euler_rotation(0.0, tuning.jaw_open_deg * float(weights[ARKIT_INDEX["jawOpen"]]))
    return Expression(weights, rotations)
