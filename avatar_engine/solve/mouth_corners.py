"""The mouth's corners read from MediaPipe's landmarks, for what its scores miss on some faces: a one-sided smile
(`smiles_from_corners`), a one-sided smile read on both sides (`smiles_within_corners`), a stretch the mouth's
width does not bear out (`stretches_within_width`) and lips that already read as a pucker at rest
(`rounding_from_width`).

Each corner is read against the inner upper lip's middle, in the face's rigid frame, in units of the frame's own
inner eye distance, relative to a rest the calibration keeps (`Calibration.corners`). The tables of what each shape
does to the corners are measured on the reference head (`measured.CORNER_LIFT`, `measured.MOUTH_WIDENING`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.geometry import smoothstep
from avatar_engine.solve import measured
from avatar_engine.solve.calibration import Calibration
from avatar_engine.solve.pose import fit_rotation, inner_eye_distance, rigid_points
from avatar_engine.solve.tuning import DEFAULT_TUNING, LANDMARKS, SolverTuning


def corner_offsets(points: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """(2, 3) float64 the mouth corners (the subject's right, left) from the inner upper lip's middle, in
    `rigid_points`' axes and units. From the lip, not the head: a nod moved the corners against the rigid points
    by 0.15-0.26 of the inner eye corners' distance for 15 degrees (MediaPipe's depths are not the face's), against
    the lip by 0.01-0.04."""
    p = np.asarray(points, np.float64)[list(LANDMARKS["mouth_corners"])]
    q = np.stack([p[:, 0] * aspect, -p[:, 1], -p[:, 2] * aspect], axis=1)
    return q[:2] - q[2]


def corner_motion(points: np.ndarray, calibration: Calibration, aspect: float = 1.0,
                  fit: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """(2, 3) how far each mouth corner (the subject's right, left) has moved from its rest against the upper lip's
    middle, in the face's own frame (the rigid fit's rotation undone: x right, y up), in units of the inner eye
    corners' distance (the frame's own: a face nearer the camera lifts no further); None without a calibrated
    rest. points : (478, 3) MediaPipe landmarks; fit : (rigid points, rotation from the rest) made already for
    these points (`solver.rest_fit`), or None to make it here."""
    if calibration.corners is None or calibration.points is None:
        return None
    if fit is None:
        rigid = rigid_points(points, LANDMARKS["rigid"], aspect)
        fit = rigid, fit_rotation(calibration.points, rigid)
    rigid, r = fit
    return corner_offsets(points, aspect) @ r / inner_eye_distance(rigid) - calibration.corners


def corner_lift(points: np.ndarray, calibration: Calibration, aspect: float = 1.0) -> np.ndarray | None:
    """(2,) how far each mouth corner (the subject's right, left) has risen (`corner_motion`)."""
    motion = corner_motion(points, calibration, aspect)
    return None if motion is None else motion[:, 1]


def widening_of(motion: np.ndarray) -> float:
    """How much wider the mouth is, corner to corner, for a `corner_motion`."""
    return float(motion[1, 0] - motion[0, 0])


CORNER_UNTRUSTED = frozenset({"mouthDimpleLeft", "mouthDimpleRight"})
"""Shapes whose weight is not taken to explain a corner's lift: MediaPipe barely scores a dimple (0.004 at full on
the reference head, so its weight is boosted to the most `max_gain` allows), and on faces that miss a one-sided
smile it reads one instead (synthetic person 7003: dimple 0.34 for a smile at 0.8), which then explained the smile's
lift away."""


def per_shape(table: dict, width: int, leave_out: frozenset[str] = frozenset()) -> np.ndarray:
    """(52, width) rows of a measured {ARKit name: values} table, zero for shapes it does not list."""
    t = np.zeros((52, width))
    for name, values in table.items():
        if name not in leave_out:
            t[ARKIT_INDEX[name]] = values
    return t


@lru_cache(maxsize=1)
def _corner_lift_table() -> np.ndarray:
    """(52, 2) how far each shape at full weight lifts the mouth corners (right, left; `measured.CORNER_LIFT`)."""
    return per_shape(getattr(measured, "CORNER_LIFT", {}), 2, CORNER_UNTRUSTED)


CORNER_ROUNDED = (0.5, 0.9)
"""`smiles_from_corners` fades out as the lips round (the larger of pucker and funnel) between these: smiles and
rounded lips do not go together, and some faces' puckers lift a corner (7003's left by 0.05)."""
CORNER_SMILES = (ARKIT_INDEX["mouthSmileRight"], ARKIT_INDEX["mouthSmileLeft"])
"""The smile lifting each corner of `corner_lift` (the subject's right, left)."""
CORNER_FACING_DEG = ((15.0, 30.0), (10.0, 20.0))
"""`smiles_from_corners` and `rounding_from_width` fade out as the head turns (first pair, degrees of yaw) or nods
(second) between these: a turn of 30 degrees lifted a corner by 0.05-0.07 against the lip, a nod of 15 by up to
0.04."""


def smiles_from_corners(weights: np.ndarray, lift: np.ndarray, widening: float, angles: np.ndarray,
                        tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """The part of a smile MediaPipe's scores missed, from how far the mouth corners rose (`corner_lift`) and the
    mouth widened (`widening_of`). On some faces it scores a one-sided smile barely or not at all (synthetic
    person 7003: a right smile at 0.8 read 0.00, a left 0.07, while its landmarks lifted the corner two thirds as
    far as the reference head's), or as stretching. What the solved weights already lift (`measured.CORNER_LIFT`:
    the smiles themselves, mouthLeft/Right, presses, the jaw lowering both; not dimples, `CORNER_UNTRUSTED`) is
    taken out, never adding more than the corner rose; what is left beyond `tuning.corner_lift_floor` is a smile,
    as far as the mouth's widening bears it out (`measured.MOUTH_WIDENING`: a smile widens it, a
    mouth moved sideways lifts a corner without: mouthLeft at 0.6 showed a left smile of 0.2-0.3). Faded out on a
    head turned or nodded (`CORNER_FACING_DEG`) and on rounded lips (`CORNER_ROUNDED`)."""
    table = _corner_lift_table()
    w = np.asarray(weights, np.float32).copy()
    if tuning.corner_lift_floor is None:
        return w
    facing = _corners_readable(w, angles)
    if facing <= 0.0 or not table.any():
        return w
    lift = np.asarray(lift, np.float64)
    read = w.astype(np.float64)
    # never more than the corner's own rise: a shape read stronger than it is (a stretch scored as a frown 1.0)
    # lowers a corner in the table that never dropped, and the difference read as a smile (review: 0.37)
    unexplained = np.minimum(lift, lift - read @ table)
    extra = np.zeros(2)
    for side, k in enumerate(CORNER_SMILES):
        own = table[k, side]
        if own > 0.0:
            extra[side] = np.clip((unexplained[side] - tuning.corner_lift_floor) / own, 0.0, 1.0 - w[k])
    widens = _widening_table()[list(CORNER_SMILES)]
    if extra.any() and (widens > 0.0).all():
        # the widening the smiles as read leave (not all that was read: on faces that read a smile as a stretch or
        # a press, those explained its widening away)
        room = max(float(widening - read[list(CORNER_SMILES)] @ widens), 0.0)
        needed = float(extra @ widens)
        if needed > room:
            extra *= room / needed
    for side, k in enumerate(CORNER_SMILES):
        w[k] += facing * float(extra[side])
    return w


ONE_SIDED_MIN = 0.3
"""`smiles_within_corners` holds the weaker smile to its corner only while the stronger one is at least this."""
ONE_SIDED_MARGIN = 0.1
"""...and lets it be this much more than its corner bears out: a resting corner wavers by under 0.015 of the inner
eye distance, about 0.06 of a smile."""
READABLE_RISE = 0.1
"""The stronger smile's corner must rise at least as far as this much smile lifts it on the reference head for
either corner to be judged by it."""


def smiles_within_corners(weights: np.ndarray, lift: np.ndarray, angles: np.ndarray,
                          tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """The weaker smile held to what its own mouth corner bears out, scaled by how far the stronger smile's corner
    rose for its weight on this face. On some faces MediaPipe scores a one-sided smile on both sides: Grace Hopper
    built from her photo read a left smile at 0.8 as 0.69 left and 0.23 right, which its response curve made a
    right smile of 0.43 (a right one showed a left of 0.49), while the landmarks showed the right corner not rising
    at all (it dipped, as a left smile alone pulls it). A smile on both sides lifts both corners and is left alone.
    Faded out where `smiles_from_corners` is (a turned or nodded head, rounded lips)."""
    table = _corner_lift_table()
    w = np.asarray(weights, np.float32).copy()
    if tuning.corner_lift_floor is None or not table.any():
        return w
    facing = _corners_readable(w, angles)
    read = w.astype(np.float64)
    strong = int(np.argmax(read[list(CORNER_SMILES)]))
    weak = 1 - strong
    ks, kw = CORNER_SMILES[strong], CORNER_SMILES[weak]
    if facing <= 0.0 or read[ks] < ONE_SIDED_MIN or float(lift[strong]) < READABLE_RISE * table[ks, strong]:
        return w
    # this face's corners rise `scale` times as far as the reference head's for the same weights, read off the
    # stronger smile's corner against all the weights read (the weaker smile's dip there included)
    scale = min(float(lift[strong]) / max(float(read @ table[:, strong]), 1e-6), 1.0)
    others = read.copy()
    others[kw] = 0.0
    # the smile the weaker corner's rise bears out, on the reference head's scale, once the other shapes' share
    # (the stronger smile's pull on it) is taken out
    borne = (float(lift[weak]) / scale - others @ table[:, weak]) / max(float(table[kw, weak]), 1e-6)
    allowed = max(borne, 0.0) + ONE_SIDED_MARGIN
    w[kw] -= facing * max(float(w[kw]) - allowed, 0.0)
    return w


STRETCHES = (ARKIT_INDEX["mouthStretchRight"], ARKIT_INDEX["mouthStretchLeft"])
STRETCH_WIDTH_MARGIN = 0.03
"""`stretches_within_width` lets the stretches widen the mouth this much more than it widened (inner eye distances;
a resting mouth's width wavers by up to 0.02)."""


def stretches_within_width(weights: np.ndarray, widening: float, angles: np.ndarray,
                           tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """The stretches scaled down, both alike, to the widening the mouth shows beyond what the other solved weights
    widen it (`measured.MOUTH_WIDENING`, plus `STRETCH_WIDTH_MARGIN`). MediaPipe barely scores a stretch (0.11 at
    full on the reference head), so the response curves boost it to the steepest slope `max_gain` allows, and on
    some faces a smile's own stretch score then read as a full stretch: synthetic person 7001 showed mouthStretch
    1.0 on both sides through each one-sided smile, and 7002 too, where a stretch of 1.0 on both sides widens the
    mouth by 0.19 of the inner eye distance and the mouth widened 0.01-0.08 past what the smiles did. Faded out
    where the corners cannot be read (`_corners_readable`)."""
    w = np.asarray(weights, np.float32).copy()
    table = _widening_table()
    own = float(w[list(STRETCHES)].astype(np.float64) @ table[list(STRETCHES)])
    if tuning.corner_lift_floor is None or own <= 0.0:
        return w
    others = w.astype(np.float64)
    others[list(STRETCHES)] = 0.0
    room = max(float(widening) - float(others @ table) + STRETCH_WIDTH_MARGIN, 0.0)
    if room >= own:
        return w
    keep = 1.0 - _corners_readable(w, angles) * (1.0 - room / own)
    w[list(STRETCHES)] *= keep
    return w


@lru_cache(maxsize=1)
def _widening_table() -> np.ndarray:
    """(52,) how much each shape at full weight widens the mouth (`measured.MOUTH_WIDENING`)."""
    return per_shape(getattr(measured, "MOUTH_WIDENING", {}), 1)[:, 0]


def _corners_readable(weights: np.ndarray, angles: np.ndarray) -> float:
    """1 where the corners say what the smiles do, fading to 0 as the lips round (`CORNER_ROUNDED`) and as the head
    turns or nods (`_facing`)."""
    rounded = max(float(weights[ARKIT_INDEX["mouthPucker"]]), float(weights[ARKIT_INDEX["mouthFunnel"]]))
    return (1.0 - float(smoothstep(*CORNER_ROUNDED, rounded))) * _facing(angles)


def _facing(angles: np.ndarray) -> float:
    """1 facing the camera, fading to 0 as the head turns or nods past `CORNER_FACING_DEG`."""
    facing = 1.0
    for angle, (lo, hi) in zip(angles[:2], CORNER_FACING_DEG):
        facing *= 1.0 - float(smoothstep(lo, hi, abs(float(angle))))
    return facing


def rounding_from_width(weights: np.ndarray, widening: float, angles: np.ndarray, calibration: Calibration,
                        tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """On a face whose resting lips MediaPipe already reads as a pucker (`tuning.pucker_saturated` or more at the
    calibrated rest), the rounding (pucker, before `split_rounding`) and the funnel read from how much narrower the
    mouth is than at rest instead. Such a face has no pucker score left to read: synthetic person 7003 rests at
    0.8 and reads 0.9-1.0 for a pucker, an open jaw, a lip roll, a shrug or a nod alike, and showed a pucker of
    0.35 at rest (round-trip r 0.16), while its mouth narrows by 0.43 of the inner eye distance for a pucker at 0.9
    and by 0.03 or less for the others. What the other solved weights narrow (`measured.MOUTH_WIDENING`: the jaw,
    smiles and presses widening) is taken out first; faded out on a turned or nodded head, where the width cannot be
    read. Not back to the scores, saturated on such a face: turned 30 degrees with its mouth at rest, 7003 showed a
    pucker of up to 0.34 (the round trip's pucker r 0.89 -> 0.94 without), and a built avatar it drove pursed its
    lips whenever the head turned (review)."""
    w = np.asarray(weights, np.float32).copy()
    kp, kf = ARKIT_INDEX["mouthPucker"], ARKIT_INDEX["mouthFunnel"]
    table = _widening_table()
    own = -table[kp]
    if tuning.corner_lift_floor is None or calibration.scores[kp] < tuning.pucker_saturated or own <= 0.0:
        return w
    facing = _facing(angles)
    others = w.astype(np.float64).copy()
    others[[kp, kf]] = 0.0
    narrowing = -(widening - others @ table)
    rounding = float(np.clip((narrowing - tuning.corner_lift_floor) / own, 0.0, 1.0))
    w[kp] = facing * rounding
    w[kf] = (1.0 - facing) * w[kf]  # the funnel score is as blind: split_rounding makes it from the rounding
    return w
