"""Per-user neutral calibration: the scores and head rotation of this person's resting face."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.solve import measured
from avatar_engine.solve.pose import fit_rotation, inner_eye_distance, orthonormal


@dataclass(frozen=True)
class Calibration:
    """A resting face. Scores are shifted so this face maps onto the reference head's neutral reading."""

    scores: np.ndarray
    """scores : (52,) float32 the tracker's scores for the resting face."""
    rotation: np.ndarray
    """rotation : (3, 3) float64 head rotation of the resting face (camera placement and tracker bias)."""
    frames: int
    """How many frames it was made from; 0 for the reference (uncalibrated) default."""
    points: np.ndarray | None = None
    """points : (k, 3) float64 the resting face's rigid landmarks (`pose.rigid_points`), None without landmarks."""
    corners: np.ndarray | None = None
    """corners : (2, 3) float64 the resting mouth corners (the subject's right, left) from the upper lip's middle, in
    the rest's rigid frame, in units of the inner eye corners' distance (`mouth_corners.corner_motion`); None
    without landmarks, or when the lips were apart while it was taken (`corners_at_rest`): the corners are then
    not read."""
    lip_gap: float = 0.0
    """How far the resting lips part (`solver.lip_gap`): rounded lips count as a funnel by how much further they
    part. 0 until a face with landmarks is calibrated (the gap is then taken as read)."""
    wide_points: np.ndarray | None = None
    """wide_points : (m, 3) float64 the resting face's `tuning.LANDMARKS["wide"]` (`pose.rigid_points`), None
    without landmarks (phone apps, the reference head's default): the head's yaw then comes from the rigid points
    alone (`solver.combined_yaw`)."""


def reference_calibration(response: str = "mediapipe") -> Calibration:
    """The reference head's neutral reading: what is used until a person has been calibrated.
    For "arkit" scores (phone apps) the resting face reads all zeros, facing the phone."""
    if response == "arkit":
        return Calibration(np.zeros(52, np.float32), np.eye(3), 0)
    scores = np.array([measured.RESPONSE_SCORES.get(n, (0.0,))[0] for n in ARKIT_NAMES], np.float32)
    points = getattr(measured, "NEUTRAL_POINTS", None)
    return Calibration(scores, np.array(measured.NEUTRAL_ROTATION, np.float64), 0,
                       None if points is None else np.array(points, np.float64))


REST_LIP_GAP_MAX = 0.02
"""The most of the lip gap a calibration takes as the resting face's. Lips at rest part up to about 0.07 (a jaw half
open reads 0.19-0.30), and some faces round them to a smaller opening than that for a funnel (0.03 against 0.044 at
rest): taken whole, such a rest made every funnel a pucker. Chosen with `SolverTuning.lip_gap_closed` (see there)."""


def calibrate(scores: np.ndarray, rotations: np.ndarray, points: np.ndarray | None = None,
              near: Calibration | None = None, max_shift: float = 1.0,
              lip_gaps: np.ndarray | None = None, corners: np.ndarray | None = None,
              wide_points: np.ndarray | None = None) -> Calibration:
    """A calibration from frames of a resting face. scores : (n, 52); rotations : (n, 3, 3); n >= 1;
    points : (n, k, 3) rigid landmarks (`pose.rigid_points`) or None; lip_gaps : (m,) `solver.lip_gap` of the frames
    that have landmarks, or None (the resting gap is then 0: rounded lips are judged by the gap as read); corners :
    (n, 2, 3) each frame's mouth corners from its upper lip's middle (`mouth_corners.corner_offsets`), or None;
    with corners, points are needed for the same frames (ValueError otherwise); wide_points : (n, m, 3) the frames'
    `LANDMARKS["wide"]`, or None.

    The median ignores the odd blink or twitch inside the window; rotations are averaged then projected
    back onto a rotation. With `near` (the reference), no score's rest rises more than `max_shift` above its rest
    there: a face that was not at rest (a held smile) cannot become the rest entirely. A rest below the reference's
    is taken as it is: an expression held lowers few scores, and faces differ most that way. MediaPipe reads the
    reference head's resting brows as browInnerUp 0.59, and other faces far lower (0.02 on the built astronaut,
    0.17 on Grace Hopper): bounded to 0.3 below, a brow raise to 0.29 still read as rest, and the astronaut's brows
    never moved (round-trip correlation -0.02)."""
    scores = np.asarray(scores, np.float32)
    rotations = np.asarray(rotations, np.float64)
    if scores.ndim != 2 or scores.shape[1] != 52 or len(scores) == 0 or rotations.shape != (len(scores), 3, 3):
        raise ValueError(f"calibrate needs (n, 52) scores and (n, 3, 3) rotations with n >= 1, "
                         f"got {scores.shape} and {rotations.shape}")
    if corners is not None and (points is None or len(corners) != len(points)):
        raise ValueError(f"calibrate needs the rigid points of the frames whose corners it is given, got "
                         f"{'no points' if points is None else len(points)} for {len(corners)} frames' corners")
    rest_points = None if points is None else np.median(np.asarray(points, np.float64), axis=0)
    rest = np.median(scores, axis=0)
    if near is not None:
        rest = np.minimum(rest, near.scores + max_shift)
    gap = 0.0 if lip_gaps is None or len(lip_gaps) == 0 else min(float(np.median(lip_gaps)), REST_LIP_GAP_MAX)
    rest_corners = None if rest_points is None else corners_at_rest(corners, points, rest_points, lip_gaps)
    wide = None if wide_points is None else np.median(np.asarray(wide_points, np.float64), axis=0)
    return Calibration(rest.astype(np.float32), orthonormal(rotations.mean(axis=0)), len(scores), rest_points,
                       corners=rest_corners, lip_gap=gap, wide_points=wide)


def corners_at_rest(corners: np.ndarray | None, points: np.ndarray | None, frame: np.ndarray,
                    lip_gaps: np.ndarray | None = None) -> np.ndarray | None:
    """(2, 3) the resting mouth corners (`Calibration.corners`) of frames' corners (n, 2, 3) and rigid points
    (n, k, 3), each turned into the rigid `frame` (k, 3) and scaled by its own inner eye distance; None without
    them, or when the lips were apart (`lip_gaps` over REST_LIP_GAP_MAX: corners taken while talking through the
    first second sit low, and every closed mouth after read as a smile, 0.38 ten seconds on)."""
    if corners is None or points is None or len(corners) != len(points) or len(corners) == 0:
        return None
    if lips_apart(lip_gaps):
        return None
    return np.median([corners_in_frame(c, p, frame) for c, p in zip(corners, np.asarray(points, np.float64))],
                     axis=0)


def lips_apart(lip_gaps: np.ndarray | None) -> bool:
    """The frames' lips were apart (median `solver.lip_gap` over REST_LIP_GAP_MAX): no corners are taken from them."""
    return lip_gaps is not None and len(lip_gaps) > 0 and float(np.median(lip_gaps)) > REST_LIP_GAP_MAX


def corners_in_frame(corners: np.ndarray, points: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """(2, 3) one frame's mouth corners (2, 3) turned from its rigid points (k, 3) into the rigid `frame` (k, 3) and
    scaled by its own inner eye distance."""
    p = np.asarray(points, np.float64)
    return np.asarray(corners, np.float64) @ fit_rotation(frame, p) / inner_eye_distance(p)
