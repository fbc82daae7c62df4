"""Scores + head pose -> avatar weights, head angles and gaze; filtering; the renderer's Expression.

    solved = solve_frame(frame, calibration)                 # pure; no smoothing
    smooth, state = filter_frame(state, solved)              # One Euro per channel
    expression = to_expression(smooth)                       # bones for head, neck, eyes, jaw

Score -> weight, per shape: shift so the calibrated resting face reads like the reference head at rest,
subtract how much the reference head's resting score moves at this head pose, then invert the measured
response curve of MediaPipe on the reference head (`measured.RESPONSE_SCORES`): that corrects the right eye
reading smaller, cheekPuff and noseSneer barely moving, and MediaPipe's resting biases (browInnerUp ~0.8).
A few shapes (`measured_faces`: jawOpen) invert instead through the median curve over many faces, since the
reference head reads them unlike most faces do; so does the head pose each shape tips (`_pose_drift`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES
from avatar_engine.head.geometry import smoothstep
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.solve import measured, measured_faces, measured_yaw
from avatar_engine.solve.blink_range import BLINK_INDEX, widened
from avatar_engine.solve.calibration import Calibration
from avatar_engine.solve.filters import OneEuroState, one_euro
from avatar_engine.solve.frames import LandmarkFrame, SolvedFrame
from avatar_engine.solve.mouth_corners import (corner_motion, per_shape, rounding_from_width, smiles_from_corners,
                                               smiles_within_corners, stretches_within_width, widening_of)
from avatar_engine.solve.pose import (depth_yaw, eye_bones, fit_rotation, head_angles, head_bones, kabsch_yaw,
                                      relative_rotation, rigid_points)
from avatar_engine.solve.tuning import DEFAULT_TUNING, LANDMARKS, MORPH_GAZE_DEG, SolverTuning

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
def _curves(max_gain: float, response: str = "mediapipe") -> tuple[np.ndarray, np.ndarray]:
    """Every shape's inverse response curve: (52, k) increasing score knots and (52, k) their weights.

    A response that stops rising (MediaPipe saturates: a blink reads the same at 0.75 and 1) maps its plateau
    to the highest weight that reaches it. A response that never moves (cheekPuff, noseSneer on the reference
    head) gets the steepest allowed slope, 1 / max_gain. Rows are padded with their last knot so that one
    vectorised lookup serves all shapes.

    The shapes in `measured_faces` take the median curve over many faces. Their scores still reach this inversion
    as the reference head would read them facing the camera (`facing_scores` maps a turned head's through the
    reference head's curves): that treats a face as the reference head with its weights warped, the same warp at
    every pose. Inverted through the reference head's curve, the astronaut and Grace Hopper built from their photos
    and synthetic people 7000-7003 opened their jaws 18-28% short in the round trip (jawOpen 0.8 showed 0.57-0.65);
    through the median, 0.69-0.86, while the reference head itself, which reads the jaw higher than almost any face,
    now shows 1.0."""
    weights = np.array(measured.RESPONSE_WEIGHTS, np.float64)
    table = {**measured.RESPONSE_SCORES, **measured_faces.RESPONSE_SCORES_ACROSS_FACES} \
        if response == "mediapipe" else {}
    knots = np.empty((52, len(weights)))
    values = np.empty((52, len(weights)))
    for i, name in enumerate(ARKIT_NAMES):
        s = np.maximum.accumulate(np.array(table.get(name, weights), np.float64))
        if s[-1] - s[0] <= 1e-6:
            s = s[0] + weights / max_gain
        keep = np.append(np.diff(s) > 1e-6, True)  # of equal scores keep the last (highest weight) ...
        keep[s - s[0] <= 1e-6] = False
        keep[0] = True  # ... except at rest: what reads like the resting face is the resting face
        k, w = s[keep], weights[keep]
        pad = len(weights) - len(k)
        knots[i] = np.concatenate([k, k[-1] + 1e-9 * np.arange(1, pad + 1)])
        values[i] = np.concatenate([w, np.full(pad, w[-1])])
    return knots, values


def _lookup(x: np.ndarray, knots: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation, held at the ends. x : (n,); knots, values : (n, k) -> (n,). Written with
    plain ufuncs: it runs a dozen times a frame on 52 rows, where np.clip's overhead was most of its cost."""
    rows = np.arange(len(x))
    i = np.minimum(np.maximum((x[:, None] >= knots).sum(axis=1) - 1, 0), knots.shape[1] - 2)
    k0, k1 = knots[rows, i], knots[rows, i + 1]
    t = np.minimum(np.maximum((x - k0) / np.maximum(k1 - k0, 1e-12), 0.0), 1.0)
    v0 = values[rows, i]
    return v0 + t * (values[rows, i + 1] - v0)


CROSSTALK_MIN_SPAN = 0.15
"""Only shapes whose own score rises at least this much from rest to full are used to undo cross-talk."""


@lru_cache(maxsize=1)
def _crosstalk() -> np.ndarray:
    """(52, 52) how much shape j at full weight moves shape k's score: [k, j]."""
    c = np.zeros((52, 52))
    for source, moved in getattr(measured, "CROSSTALK", {}).items():
        response = measured.RESPONSE_SCORES.get(source, (0.0, 1.0))
        if max(response) - response[0] < CROSSTALK_MIN_SPAN:
            continue  # a shape MediaPipe barely sees cannot be estimated well enough to correct others with
        for name, drift in moved.items():
            c[ARKIT_INDEX[name], ARKIT_INDEX[source]] = drift
    return c


@lru_cache(maxsize=1)
def _pose_drift() -> np.ndarray:
    """(52, 3) yaw, pitch, roll MediaPipe's pose reads for each shape at full weight with the head still: the median
    over many faces (`measured_faces.POSE_DRIFT_ACROSS_FACES`). The reference head's own (`measured.POSE_DRIFT`) tips
    less than most faces' on a smile or a funnel, and the round trip's pitch erred by up to 3.7 degrees (p95) on
    faces other than it: synthetic people 7001 and 7002 went 3.67 / 3.10 -> 2.66 / 2.36 with the median."""
    return per_shape(measured_faces.POSE_DRIFT_ACROSS_FACES, 3)


BLINK_CROSSTALK_PASSES = 2
"""Passes that refine the blinks' estimates, one eye after the other. A blink's response flattens near full (the
left eye reads 0.687 at weight 0.75 and 0.695 at 1), so a small error in the cross-talk taken out of it is a large
error in weight: a left wink read 0.71, its right eye 0.14 (the wink's own cross-talk, 0.076, lifted over rest),
and the right eye's first estimate, 0.3, took 0.04 out of the left: the wink showed 0.73 (the right wink 1.0).
Refined, the right eye's estimate falls to 0 and the wink closes. The eye that reads lower goes first (it is the
one the other's cross-talk lifted): updated together, the pair swung between (1, 0) and (0.75, 0.08) from pass to
pass. The other shapes keep the first estimate: refined too, browInnerUp at 0.9 read 0.79 against 1.0 (its
cross-talk runs both ways: browInnerUp lifts browOuterUp, which lowers browInnerUp), the round trip's browInnerUp
correlation fell from 0.87 to 0.85, and pairs with negative cross-talk (eyeLookIn and eyeLookOut) fed each other
past `max_gain`."""


def _without_crosstalk(s: np.ndarray, curves: tuple[np.ndarray, np.ndarray], max_gain: float) -> np.ndarray:
    """Scores (52,) with the cross-talk of the other shapes taken out (a smile lifts MediaPipe's browInnerUp,
    say), estimated from their weights: a first estimate from the scores as read, the blinks' then refined."""
    crosstalk = _crosstalk()
    weights = _invert(s, curves, max_gain)
    knots, values = curves
    for _ in range(BLINK_CROSSTALK_PASSES):
        for k in BLINK_INDEX[np.argsort(weights[BLINK_INDEX], kind="stable")]:
            row = slice(k, k + 1)
            weights[k] = _invert(s[row] - crosstalk[row] @ weights, (knots[row], values[row]), max_gain)[0]
    return s - crosstalk @ weights


def _invert(s: np.ndarray, curves: tuple[np.ndarray, np.ndarray], max_gain: float) -> np.ndarray:
    """Scores (52,) -> weights through the inverse curves, never steeper than max_gain above rest."""
    knots, values = curves
    return np.minimum(_lookup(s, knots, values), np.maximum(0.0, (s - knots[:, 0]) * max_gain))


@lru_cache(maxsize=1)
def _shift_tables() -> tuple[np.ndarray, np.ndarray]:
    """(52, len(POSE_YAWS)) and (52, len(POSE_PITCHES)) resting-score drifts, zero rows for unlisted shapes."""
    return (per_shape(measured.YAW_SHIFT, len(measured.POSE_YAWS)),
            per_shape(measured.PITCH_SHIFT, len(measured.POSE_PITCHES)))


def _pose_shift(yaw: float, pitch: float) -> np.ndarray:
    """(52,) drift of the resting scores at this head pose: the measured yaw and pitch drifts added
    (linear between the measured poses, held beyond them)."""
    shift = np.zeros(52)
    for table, grid, angle in zip(_shift_tables(), (measured.POSE_YAWS, measured.POSE_PITCHES), (yaw, pitch)):
        g = np.asarray(grid, np.float64)
        if len(g) < 2:
            continue
        shift += _lookup(np.full(52, angle), np.broadcast_to(g, table.shape), table)
    return shift


OBSERVABLE_SPAN = (0.05, 0.15)
"""A shape whose score rises less than the first value from rest to full weight at a head pose cannot be read there
(a smile's far mouth corner turned 30 degrees away reads 0 at any weight): its score is not inverted through that
curve; from the first to the second it is, more and more (a hard threshold made a weight jump 0.08 as the span
crossed it)."""


MIDLINE = np.array([not n.endswith(("Left", "Right")) for n in ARKIT_NAMES])
"""Shapes on the face's midline (jawOpen, pucker, funnel, browInnerUp...): their curves by pose are measured as
people make them. A sided shape's was measured alone, and a turn hides one side: MediaPipe read mouthSmileLeft alone
at 0.16 turned 15 degrees but both corners' smile (0.8) at 0.66 turned 20, and the remapped smile overshot to 1."""


@lru_cache(maxsize=1)
def _pose_curves() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """((yaws, (n, 52, k) score curves), (pitches, (m, 52, k))), each grid with the facing curve at 0 added; None
    when the table has no curves by pose."""
    if not hasattr(measured, "RESPONSE_SCORES_YAW"):
        return None
    weights = np.asarray(measured.RESPONSE_WEIGHTS, np.float64)
    facing = np.array([measured.RESPONSE_SCORES.get(n, weights) for n in ARKIT_NAMES], np.float64)
    out = []
    for grid, table in ((measured.CURVE_YAWS, measured.RESPONSE_SCORES_YAW),
                        (measured.CURVE_PITCHES, measured.RESPONSE_SCORES_PITCH)):
        angles = np.array(list(grid) + [0.0])
        curves = np.stack([np.array([table[n][i] if n in table else facing[j] for j, n in enumerate(ARKIT_NAMES)])
                           for i in range(len(grid))] + [facing])
        order = np.argsort(angles)
        out.append((angles[order], curves[order]))
    return out[0], out[1]


def _curve_at(angle: float, angles: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """(52, k) the score curves at `angle`, linear between the measured angles and held beyond them."""
    i = min(max(int(np.searchsorted(angles, angle)) - 1, 0), len(angles) - 2)
    t = min(max((angle - float(angles[i])) / float(angles[i + 1] - angles[i]), 0.0), 1.0)
    return np.maximum.accumulate(curves[i] + t * (curves[i + 1] - curves[i]), axis=1)


AXIS_BLEND = 0.1
"""`facing_scores` crossfades its turn-shaped and nod-shaped reads over this much difference in reach (angle over
the measured range): switching at the tie made a weight jump by up to 0.36 for a twentieth of a degree."""


def _axis_drift(axis: int, angle: float) -> np.ndarray:
    """(52,) the resting scores' drift the slow sweeps measured at `angle` on `axis` (0 yaw, 1 pitch)."""
    grid = np.asarray((measured.POSE_YAWS, measured.POSE_PITCHES)[axis], np.float64)
    return _curve_at(angle, grid, _shift_tables()[axis].T[:, :, None])[:, 0]


def _reshaped(s: np.ndarray, axis: int, angle: float, drift: np.ndarray, facing: np.ndarray,
              rows: np.ndarray) -> np.ndarray:
    """One axis of `facing_scores`: each midline score readable there through its curve at that angle and then the
    facing curve, the others less the resting drift (`drift`, `_axis_drift`) alone."""
    angles, curves = _pose_curves()[axis]
    # the curve's rise as measured at this pose, from the rest the slow sweeps measured there: a curve's own
    # first score carries what the shape swept before it left in MediaPipe's video mode (browDown before
    # browInnerUp read its rest 0.05 low turned 15 degrees, and every turn then raised the brows)
    curve = _curve_at(angle, angles, curves)
    curve = curve - curve[:, :1] + (facing[:, 0] + drift)[:, None]
    lo, hi = OBSERVABLE_SPAN
    x = np.clip((curve[:, -1] - curve[:, 0] - lo) / (hi - lo), 0.0, 1.0)
    seen = np.where(MIDLINE, x * x * (3.0 - 2.0 * x), 0.0)
    knots = curve + 1e-9 * np.arange(curve.shape[1])  # a plateau maps to its first weight
    mapped = _lookup(_lookup(s, knots, rows), rows, facing)
    # beyond the curve's ends the score keeps its distance from them: a score under the rest stays under it
    mapped += np.minimum(s - curve[:, 0], 0.0) + np.maximum(s - curve[:, -1], 0.0)
    return seen * mapped + (1.0 - seen) * (s - drift)


def facing_scores(scores: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """(52,) scores read on a head turned by yaw and nodded by pitch -> the scores the same expression reads facing
    the camera: each score through the inverse of its response curve at that turn or nod, then the facing curve.
    MediaPipe reads a turned head's expressions weaker or stronger (jawOpen at full weight: 0.92 facing, 0.67 turned
    30 degrees), and its resting scores drift. A sided shape (`MIDLINE`), or one it cannot read at that pose
    (`OBSERVABLE_SPAN`), has only the resting drift taken out, as the slow sweeps measured it."""
    table = _pose_curves()
    s = np.asarray(scores, np.float64)
    if table is None:
        return s
    weights = np.asarray(measured.RESPONSE_WEIGHTS, np.float64)
    facing = table[0][1][int(np.argmin(np.abs(table[0][0])))]
    rows = np.broadcast_to(weights, facing.shape)
    yaw_drift, pitch_drift = _axis_drift(0, yaw), _axis_drift(1, pitch)
    # the curves were measured turning or nodding, not both: on a head turned and nodded at once the axis nearer
    # its measured limit reshapes the response (both, one after the other, compounded: a pucker misread turned 35
    # and nodded 15 degrees became a funnel of 0.58) and the other takes out its drift; near a tie, a crossfade
    reach = [abs(a) / max(abs(t[0][0]), abs(t[0][-1])) for t, a in zip(table, (yaw, pitch))]
    turned = _reshaped(s, 0, yaw, yaw_drift, facing, rows) - pitch_drift
    nodded = _reshaped(s - yaw_drift, 1, pitch, pitch_drift, facing, rows)
    x = min(max((reach[0] - reach[1]) / AXIS_BLEND + 0.5, 0.0), 1.0)
    share = x * x * (3.0 - 2.0 * x)
    return share * turned + (1.0 - share) * nodded


def _true_angle(seen: float, seen_grid: tuple[float, ...], grid: tuple[float, ...]) -> float:
    """Invert a measured angle map (piecewise linear, extended past its ends by the end slopes)."""
    s, g = np.asarray(seen_grid, np.float64), np.asarray(grid, np.float64)
    if len(g) < 2:
        return seen
    if seen < s[0]:
        return float(g[0] + (seen - s[0]) * (g[1] - g[0]) / max(s[1] - s[0], 1e-6))
    if seen > s[-1]:
        return float(g[-1] + (seen - s[-1]) * (g[-1] - g[-2]) / max(s[-1] - s[-2], 1e-6))
    return float(np.interp(seen, s, g))


def correct_angles(seen: np.ndarray, tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """(3,) yaw, pitch, roll as the tracker reads them (relative to neutral) -> (3,) float32 true angles.

    "mediapipe": through the measured maps (MediaPipe under-reads turns, and looking down differently from
    looking up); `tuning.pose_gain` replaces them by plain gains; "arkit" needs neither."""
    if tuning.pose_gain is not None:
        return (np.asarray(seen, np.float32) * np.array(tuning.pose_gain, np.float32)).astype(np.float32)
    if tuning.response != "mediapipe":
        return np.asarray(seen, np.float32)
    if tuning.pitch_at_yaw is not None:
        yaws, pitches = (np.asarray(v, np.float64) for v in tuning.pitch_at_yaw)
        seen = np.array([seen[0], seen[1] - np.interp(float(seen[0]), yaws, pitches), seen[2]], np.float64)
    return np.array([_true_angle(float(seen[0]), measured.YAW_SEEN, measured.POSE_YAWS),
                     _true_angle(float(seen[1]), measured.PITCH_SEEN, measured.POSE_PITCHES),
                     float(seen[2]) * measured.ROLL_GAIN], np.float32)


def scores_to_weights(scores: np.ndarray, calibration: Calibration, angles: np.ndarray,
                      tuning: SolverTuning = DEFAULT_TUNING, pose_curves: bool = True) -> np.ndarray:
    """(52,) scores -> (52,) float32 weights in [0, 1] for a head at `angles` (yaw, pitch, roll degrees);
    `pose_curves` False takes out the resting drift alone (`facing_scores` is the costliest step)."""
    curves = _curves(tuning.max_gain, tuning.response)
    rest = curves[0][:, 0]
    s = np.asarray(scores, np.float64) - calibration.scores + rest
    if tuning.response == "mediapipe":
        if pose_curves and _pose_curves() is not None:
            s = facing_scores(s, float(angles[0]), float(angles[1]))
        else:
            s = s - _pose_shift(float(angles[0]), float(angles[1]))
        s = _without_crosstalk(s, curves, tuning.max_gain)
    out = _invert(s, curves, tuning.max_gain)
    # a soft dead zone: residual bias at rest reads 0 without a step that noise could toggle
    dz = tuning.dead_zone
    return np.clip((out - dz) / (1.0 - dz), 0.0, 1.0).astype(np.float32)


def lip_gap(points: np.ndarray) -> float:
    """How far the lips part: mean inner-lip distance over the eye-corner distance. points : (478, 3)."""
    p = np.asarray(points, np.float64)[:, :2]
    a, b = LANDMARKS["eye_outer"]
    scale = max(float(np.linalg.norm(p[a] - p[b])), 1e-6)
    return float(np.mean([np.linalg.norm(p[u] - p[v]) for u, v in LANDMARKS["inner_lips"]]) / scale)


def split_rounding(weights: np.ndarray, gap: float, tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """Rounded lips shared out by whether the lips part: MediaPipe scores a funnel as a pucker, so the pucker
    reading is the rounding; parted lips make it a funnel. gap : `lip_gap` beyond the resting face's."""
    w = np.asarray(weights, np.float32).copy()
    kp, kf = ARKIT_INDEX["mouthPucker"], ARKIT_INDEX["mouthFunnel"]
    rounding = w[kp]
    x = np.clip((gap - tuning.lip_gap_closed) / max(tuning.lip_gap_open - tuning.lip_gap_closed, 1e-6), 0.0, 1.0)
    open_ = x * x * (3.0 - 2.0 * x)
    w[kf] = max(w[kf], rounding * open_)
    w[kp] = w[kp] * (1.0 - open_)
    return w


def conjugate_gaze(weights: np.ndarray, tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """Both eyes look up or down together (vertical gaze is conjugate: only sideways do they part, converging on
    something near), and not through closed lids. MediaPipe barely scores the right eye looking down and takes part
    of a blink for the left looking down: one eye dropped alone, and with its lid following looked like a droop.
    Up and down are each set to the two eyes' mean, faded out as the mean blink passes `tuning.blink_hides_gaze`."""
    w = np.asarray(weights, np.float32).copy()
    blink = 0.5 * (w[ARKIT_INDEX["eyeBlinkLeft"]] + w[ARKIT_INDEX["eyeBlinkRight"]])
    lo, hi = tuning.blink_hides_gaze
    x = float(np.clip((blink - lo) / max(hi - lo, 1e-6), 0.0, 1.0))
    seen = 1.0 - x * x * (3.0 - 2.0 * x)
    for direction in ("Up", "Down"):
        k = [EYE_LOOK["Left"][direction], EYE_LOOK["Right"][direction]]
        w[k] = w[k].mean() * seen
    return w


def squint_under_blink(weights: np.ndarray, tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """Each eye's squint faded out under its blink (`SolverTuning.blink_hides_squint`)."""
    w = np.asarray(weights, np.float32).copy()
    lo, hi = tuning.blink_hides_squint
    for side in ("Left", "Right"):
        x = float(np.clip((w[ARKIT_INDEX[f"eyeBlink{side}"]] - lo) / max(hi - lo, 1e-6), 0.0, 1.0))
        w[ARKIT_INDEX[f"eyeSquint{side}"]] *= 1.0 - x * x * (3.0 - 2.0 * x)
    return w


def lips_within_jaw(weights: np.ndarray) -> np.ndarray:
    """mouthClose no higher than jawOpen. ARKit's mouthClose closes the lips over an open jaw, and its shape is
    made to be added to jawOpen's: alone it lifts the lower lip into the upper and shows the lower teeth through
    the chin. MediaPipe scores it above jawOpen on closed, pressed lips; phone apps send it so on some frames."""
    w = np.asarray(weights, np.float32).copy()
    kc, kj = ARKIT_INDEX["mouthClose"], ARKIT_INDEX["jawOpen"]
    w[kc] = min(w[kc], w[kj])
    return w


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


def morph_gaze(weights: np.ndarray) -> np.ndarray:
    """(2, 2) yaw, pitch degrees (left eye, right eye) the eyeLook* shapes at `weights` (52,) turn the eyeballs."""
    w = np.asarray(weights, np.float64)
    gaze = np.zeros((2, 2))
    for row, side in enumerate(("Left", "Right")):
        for direction, k in EYE_LOOK[side].items():
            gaze[row] += w[k] * np.asarray(MORPH_GAZE_DEG[side][direction])
    return gaze.astype(np.float32)


def mirror_frame(solved: SolvedFrame) -> SolvedFrame:
    """The avatar as a mirror image of the person: left and right swapped, yaw and roll negated."""
    angles = solved.angles * np.array([-1.0, 1.0, -1.0], np.float32)
    gaze = solved.gaze[::-1] * np.array([-1.0, 1.0], np.float32)
    return SolvedFrame(solved.weights[MIRROR], angles, gaze.astype(np.float32), solved.t_ns, solved.blinks_read)


def rest_fit(frame: LandmarkFrame, calibration: Calibration) -> tuple[np.ndarray, np.ndarray] | None:
    """(this frame's rigid points (k, 3), the rotation (3, 3) that best carries the rest's onto them), or None
    without landmarks on either side. Made once a frame: the head's angles and the mouth's corners both use it."""
    if frame.points is None or calibration.points is None:
        return None
    current = rigid_points(frame.points, LANDMARKS["rigid"], frame.aspect)
    return current, fit_rotation(calibration.points, current)


def seen_angles(frame: LandmarkFrame, calibration: Calibration,
                fit: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(3,) yaw, pitch, roll degrees of the head away from the calibrated rest, as the tracker sees them.

    With landmarks (MediaPipe), the rotation that best carries the resting face's rigid points onto this
    frame's (`rest_fit`, or `fit` made already): expressions barely move them, unlike MediaPipe's own pose, which
    smiles tip by degrees. Without (phone apps), the tracker's rotation relative to the resting one."""
    fit = fit or rest_fit(frame, calibration)
    if fit is not None:
        return head_angles(fit[1])
    return head_angles(relative_rotation(frame.rotation, calibration.rotation))


@lru_cache(maxsize=1)
def _combined_yaw_drift() -> np.ndarray:
    """(52,) degrees of `combined_yaw` each shape adds at full weight (`measured_yaw.COMBINED_YAW_DRIFT`)."""
    return per_shape(measured_yaw.COMBINED_YAW_DRIFT, 1)[:, 0]


def combined_yaw(frame: LandmarkFrame, calibration: Calibration,
                 fit: tuple[np.ndarray, np.ndarray] | None) -> float | None:
    """The head's yaw as MediaPipe's landmarks read it, before `measured_yaw.COMBINED_YAW_SEEN`'s map: a blend of
    the wide points' Kabsch yaw (`LANDMARKS["wide"]` against the rest's) and the yaw the rigid points' depths alone
    say (`pose.depth_yaw`), which over-reads a turn the more on the very faces whose landmarks over-read it, so it
    enters with a negative weight (`measured_yaw.COMBINED_YAW_WEIGHTS`). The rigid points' yaw alone erred by up
    to 4.7 degrees (p95) in the round trip and on 3 of 9 synthetic people outside the fit; see
    benchmarks/live_yaw_faces.py. None without the rest's wide points (a phone app's scores; the reference head's
    default rest has none, while the first calibration's anchor has) or with this frame's landmarks missing or not
    finite. fit : `rest_fit`'s (rigid points, rotation)."""
    if fit is None or calibration.wide_points is None or frame.points is None or calibration.points is None:
        return None
    wide = rigid_points(frame.points, LANDMARKS["wide"], frame.aspect)
    if not (np.isfinite(wide).all() and np.isfinite(fit[0]).all()):
        return None
    a, b = measured_yaw.COMBINED_YAW_WEIGHTS
    return a * kabsch_yaw(calibration.wide_points, wide) + b * depth_yaw(calibration.points, fit[0], fit[1])


def solve_frame(frame: LandmarkFrame, calibration: Calibration, tuning: SolverTuning = DEFAULT_TUNING,
                mirror: bool = False, blink_top: np.ndarray | None = None) -> SolvedFrame:
    """One tracked frame -> the avatar's unfiltered weights, head angles and gaze. blink_top : (2,) the weight
    each eye's full closure reads for this person (`blink_range`), as read (before mirroring); None: 1."""
    fit = rest_fit(frame, calibration)
    seen = seen_angles(frame, calibration, fit)
    angles = correct_angles(seen, tuning)
    drift = _pose_drift()
    if tuning.response == "mediapipe" and drift.any():
        # expressions move MediaPipe's rigid fit (a smile tips the pitch): subtract, then solve again; the first
        # estimate takes out the resting drift alone, close enough for the few degrees it corrects
        first = scores_to_weights(frame.scores, calibration, angles, tuning, pose_curves=False)
        angles = correct_angles(seen - drift.T @ first, tuning)
        yaw = combined_yaw(frame, calibration, fit) if tuning.pose_gain is None else None
        if yaw is not None:
            angles[0] = _true_angle(yaw - float(_combined_yaw_drift() @ first), measured_yaw.COMBINED_YAW_SEEN,
                                    measured.POSE_YAWS)
    weights = scores_to_weights(frame.scores, calibration, angles, tuning)
    blinks_read = weights[BLINK_INDEX].copy()
    if blink_top is not None:
        weights = widened(weights, blink_top)
    weights = lips_within_jaw(weights)  # before the corners: an over-read mouthClose narrows and lowers them
    if frame.points is not None and tuning.response == "mediapipe":
        motion = None if tuning.corner_lift_floor is None else corner_motion(frame.points, calibration,
                                                                              frame.aspect, fit)
        widening = None if motion is None else widening_of(motion)
        if motion is not None:
            weights = rounding_from_width(weights, widening, angles, calibration, tuning)
        weights = split_rounding(weights, lip_gap(frame.points) - calibration.lip_gap, tuning)
        if motion is not None:
            weights = smiles_from_corners(weights, motion[:, 1], widening, angles, tuning)
            weights = smiles_within_corners(weights, motion[:, 1], angles, tuning)
            weights = stretches_within_width(weights, widening, angles, tuning)
    weights = conjugate_gaze(weights, tuning)
    if tuning.response == "mediapipe":  # MediaPipe's blink-as-squint read; a phone's squint is its own
        weights = squint_under_blink(weights, tuning)
    solved = SolvedFrame(weights, angles.astype(np.float32), gaze_from_weights(weights, tuning), frame.t_ns,
                         blinks_read)
    return mirror_frame(solved) if mirror else solved


TURN_JUMP_DEG = 15.0
"""A change of head angle larger than this from one frame to the next is not a turn (no head turns 450 degrees a
second) but a jump of the reference: calibration ending, mirroring switched, a looped file starting over."""


def turn_speed(state: OneEuroState | None, solved: SolvedFrame) -> float:
    """Degrees per second the head turned since the last frame, from unfiltered angle to unfiltered angle (the
    filtered ones lag a turn: against them a 40 degrees/s turn read 56-106); 0 for the first frame, a repeated
    time or a jump (`TURN_JUMP_DEG`)."""
    if state is None or state.raw is None or solved.t_ns * 1e-9 <= state.t_s:
        return 0.0
    step = float(np.linalg.norm(np.asarray(solved.angles, np.float64) - state.raw[52:55]))
    return 0.0 if step > TURN_JUMP_DEG else step / (solved.t_ns * 1e-9 - state.t_s)


def filter_frame(state: OneEuroState | None, solved: SolvedFrame,
                 tuning: SolverTuning = DEFAULT_TUNING) -> tuple[SolvedFrame, OneEuroState]:
    """One Euro filtering of every channel (eyes faster than the rest; with MediaPipe's scores, a weight's rise held
    back while the head turns fast, `SolverTuning.turn_gate_deg_s`, and the brows' while both eyes blink). Returns the
    filtered frame and state; the state holds one channel more than `SolvedFrame.as_vector()`, the funnel's share of
    the lips' rounding (`SHARE_CHANNEL`)."""
    min_cutoff, beta = tuning.filter_params()
    if state is not None and len(state.value) == SHARE_CHANNEL:  # a state of the 59 channels alone (a caller's)
        state = _with_share_channel(state)
    if tuning.response == "mediapipe" and state is not None:
        # only rises: a misread that got through still fades at once, and a real expression's release is not slowed
        rising = np.concatenate([solved.weights > state.value[:52], np.zeros(len(min_cutoff) - 52, bool)])
        gate = np.where(rising, tuning.turn_gate(turn_speed(state, solved)), 1.0)
        min_cutoff, beta = min_cutoff * gate, beta * gate
    x = solved.as_vector()
    if tuning.response == "mediapipe" and state is not None:
        x = brows_held_in_blinks(x, state, solved.t_ns * 1e-9, tuning)
    # one more channel: the funnel's share of the lips' rounding, smoothed the more the more rounding there is to
    # hand over. Lips that were not rounded take a new rounding's share as read: smoothed from nothing, it left a
    # pucker where the lips parted before they rounded, and turned a funnel read alone into a pucker.
    share = funnel_share(solved.weights, None if state is None else float(state.value[SHARE_CHANNEL]))
    if state is not None and rounding_of(state.value) < ROUNDING_MIN:
        state = replace(state, value=np.concatenate([state.value[:SHARE_CHANNEL], [share]]))
    share_cutoff = tuning.rounding_share_cutoff / max(rounding_of(solved.weights), SHARE_ROUNDING_FLOOR)
    value, state = one_euro(state, np.append(x, share), solved.t_ns * 1e-9,
                            np.append(min_cutoff, share_cutoff), np.append(beta, 0.0), tuning.d_cutoff)
    filtered = SolvedFrame.from_vector(value[:SHARE_CHANNEL], solved.t_ns)
    weights = filtered.weights
    if tuning.response == "mediapipe":
        weights = shared_rounding(weights, float(value[SHARE_CHANNEL]))
    # the two channels lag apart as the jaw closes: the filtered pair keeps the order the solve gave it
    return replace(filtered, weights=lips_within_jaw(weights)), state


BROW_RAISES = np.array([ARKIT_INDEX[n] for n in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")])


def brows_held_in_blinks(x: np.ndarray, state: OneEuroState, t_s: float,
                         tuning: SolverTuning = DEFAULT_TUNING) -> np.ndarray:
    """(59+,) filter input at time t_s with the brows' raises held at their last filtered value (`state`) while both
    eyes blink (`SolverTuning.blink_holds_brows`). MediaPipe lifts the outer brows when both eyes shut, much more than
    the two winks' cross-talk adds up to (the reference head: the right one 0.17 against 0.02 and 0.00), so every
    blink flashed one brow up (0.28 facing the camera, 0.84 in a turn; held, 0.01 and 0.14). Held only while the
    lids move or have just moved (`BLINK_MOVING`): eyes kept shut let the brows rise again after about 0.4 s. Falls
    pass: a raise that was there still ends."""
    lo, hi = tuning.blink_holds_brows
    blinks = np.asarray(x, np.float64)[BLINK_INDEX]
    shut = (blinks.min() - lo) / max(hi - lo, 1e-6)  # both eyes: winks are the table's
    dt = t_s - state.t_s
    now = np.abs(blinks - state.raw[BLINK_INDEX]) / dt if state.raw is not None and dt > 0 else np.zeros(2)
    moving = float(np.min(np.maximum(now, np.abs(state.speed[BLINK_INDEX]))))  # the lids' speed, per second
    hold = float(smoothstep(0.0, 1.0, shut) * smoothstep(*BLINK_MOVING, moving))
    out = np.array(x, np.float64)
    last = state.value
    out[BROW_RAISES] -= hold * np.maximum(out[BROW_RAISES] - last[BROW_RAISES], 0.0)
    return out


BLINK_MOVING = (0.5, 1.5)
"""The lids' speed (blink weight per second, the larger of this frame's and the filter's smoothed one) from which
the brows' hold begins and at which it is whole. A blink closes at about 10 per second; shut and still, the smoothed
speed falls under 1.5 about 0.2 s later and under 0.5 about 0.4 s later."""


def _with_share_channel(state: OneEuroState) -> OneEuroState:
    """A filter state of `SolvedFrame.as_vector()`'s 59 channels with the funnel's share appended, as read."""
    share = funnel_share(state.value, None)
    raw = None if state.raw is None else np.append(state.raw, share)
    return replace(state, value=np.append(state.value, share), speed=np.append(state.speed, 0.0), raw=raw)


SHARE_CHANNEL = 59
"""Index of the funnel's share of the rounding in the filter's vector, after `SolvedFrame.as_vector()`'s 59."""
SHARE_ROUNDING_FLOOR = 0.1
"""The share's cutoff is `SolverTuning.rounding_share_cutoff` over the rounding, at most over this."""
ROUNDING_MIN = 0.05
"""Below this much rounding (pucker + funnel) the share is not read again: it keeps its last value."""


def rounding_of(weights: np.ndarray) -> float:
    """Pucker + funnel of (52+,) weights: how rounded the lips are, whichever way it is shared out."""
    return float(weights[ARKIT_INDEX["mouthPucker"]] + weights[ARKIT_INDEX["mouthFunnel"]])


def funnel_share(weights: np.ndarray, last: float | None) -> float:
    """The funnel's share of pucker + funnel (0 to 1); `last` (0 before any) where the lips are barely rounded."""
    total = rounding_of(weights)
    if total < ROUNDING_MIN:
        return 0.0 if last is None else last
    return float(weights[ARKIT_INDEX["mouthFunnel"]]) / total


def shared_rounding(weights: np.ndarray, share: float) -> np.ndarray:
    """Pucker + funnel given out again by the filtered `share`: `split_rounding` hands the rounding from pucker to
    funnel as the lips part, and they part within a frame or two, so unfiltered the lips snapped from a pucker to a
    funnel (and back as they closed) while the filtered sum rose smoothly."""
    w = np.asarray(weights, np.float32).copy()
    kp, kf = ARKIT_INDEX["mouthPucker"], ARKIT_INDEX["mouthFunnel"]
    total = float(w[kp] + w[kf])
    w[kf], w[kp] = min(total * share, 1.0), min(total * (1.0 - share), 1.0)
    return w


def to_expression(solved: SolvedFrame, tuning: SolverTuning = DEFAULT_TUNING) -> Expression:
    """The renderer's Expression: weights plus neck, head, eye and jaw bone rotations."""
    weights = solved.weights.astype(np.float32).copy()
    rotations = head_bones(solved.angles, tuning.neck_share)
    if tuning.gaze_to_bones:
        # the eyeLook* shapes turn the eyeballs part of the way and move the lids with them; the bones turn the rest
        rotations.update(eye_bones(solved.gaze - morph_gaze(weights)))
    if tuning.jaw_open_deg:
        rotations["jaw"] = euler_rotation(0.0, tuning.jaw_open_deg * float(weights[ARKIT_INDEX["jawOpen"]]))
    return Expression(weights, rotations)
