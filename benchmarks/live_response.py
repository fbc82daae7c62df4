"""Measure MediaPipe's response on the reference head: the solver's response curves, pose maps and shifts.

    PYTHONPATH=. python benchmarks/live_response.py [--write] [--size 384] [--samples 4]

The landmarker runs in video mode, as in the live loop, on renders held for a few frames each: every ARKit
shape at weights 0, 0.25 .. 1; then slow sweeps of head yaw (+-30 degrees) and pitch (+-20) with the resting
face. From those it measures each shape's response curve, how MediaPipe's angles relate to the true ones
(per axis, piecewise linear) and how the resting scores drift with yaw and with pitch (smoothed). Prints a
summary as JSON; --write regenerates avatar_engine/solve/measured.py, the table the solver inverts.
"""

from __future__ import annotations

import argparse
import pprint
import sys
import time
from pathlib import Path

import numpy as np

from live_common import REFERENCE_CAMERA, expression, save

from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.head.template import template_avatar
from avatar_engine.live.tracker import Tracker
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer
from avatar_engine.solve.calibration import calibrate
from avatar_engine.solve.pose import rigid_points
from avatar_engine.solve.solver import seen_angles
from avatar_engine.solve.tuning import LANDMARKS

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
HOLD = 3
"""Frames each render is fed to the video-mode tracker; the last one is read."""
SETTLE = 10
"""...and the resting face held before each pose's sweeps."""
CURVE_YAWS = (-30.0, -15.0, 15.0, 30.0)
CURVE_PITCHES = (-20.0, -10.0, 10.0, 20.0)
"""Head turns and nods at which every shape's response curve is measured again: MediaPipe scores an expression
differently on a turned head (jawOpen at full weight reads 0.92 facing the camera, 0.67 turned 30 degrees; the
mouthSmileLeft 0.77 facing, 0.16 at yaw +15)."""
SWEEP_STEP = 2.5
YAW_LIMIT, PITCH_LIMIT = 30.0, 20.0
GRID_STEP = 7.5
"""Spacing of the stored pose tables (degrees); sweep samples are averaged into these bins."""
CROSSTALK_KEEP = 0.05
"""Cross-talk (one shape moving another's score) smaller than this is left out of the table."""
POSE_DRIFT_KEEP = 0.5
"""Head-angle drift (degrees) a shape at full weight causes in MediaPipe's pose; smaller is left out."""
SHIFT_KEEP = 0.03
"""Shapes whose resting score drifts less than this over the sweeps are left out of the tables."""
MEASURED = Path(__file__).resolve().parent.parent / "avatar_engine" / "solve" / "measured.py"


class Probe:
    def __init__(self, size: int, samples: int) -> None:
        self.renderer = Renderer(headless_context(), RenderOptions(size=(size, size), samples=samples,
                                                                   background=STUDIO_BACKDROP))
        self.renderer.load(template_avatar())
        self.tracker = Tracker()
        self.t_ns = 0

    def look(self, expr, hold: int = HOLD):
        self.renderer.render(expr, REFERENCE_CAMERA)
        rgb = np.ascontiguousarray(self.renderer.read()[..., :3])
        for _ in range(hold):
            self.t_ns += int(1e9 / 30)
            frame = self.tracker.track(rgb, self.t_ns)
        if frame is None:
            raise SystemExit("MediaPipe lost the face in a reference render")
        return frame

    def close(self) -> None:
        self.tracker.close()
        self.renderer.release()


def binned(true: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Average of values (n, ...) over samples within half a grid step of each grid point."""
    return np.stack([values[np.abs(true - g) <= GRID_STEP / 2 + 1e-6].mean(axis=0) for g in grid])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--write", action="store_true", help="regenerate avatar_engine/solve/measured.py")
    ap.add_argument("--out")
    args = ap.parse_args()
    t0 = time.perf_counter()
    probe = Probe(args.size, args.samples)
    rest = probe.look(expression({}), hold=10)
    still = calibrate(rest.scores[None], rest.rotation[None],
                      rigid_points(rest.points, LANDMARKS["rigid"], rest.aspect)[None])
    curves, crosstalk, pose_drift = {}, {}, {}
    for k, name in enumerate(ARKIT_NAMES):
        # the curve: one sweep from wherever the shape before left MediaPipe's video mode, as live motion does
        # (read from a settled rest instead, the round trip lost 0.01-0.02 of r on pucker, funnel and brows)
        frames = [probe.look(expression({name: w})) for w in WEIGHTS]
        curves[name] = [float(f.scores[k]) for f in frames]
        # what the shape at full weight does to the others' scores and to the head pose, read as its sweep reads
        # it (a few frames after each change, as a blink or a smile is seen live) and against its own weight-0
        # frame, not the first rest frame: the same resting face reads differently over the run (browInnerUp by
        # 0.02 on average, up to 0.04), and against it every shape seemed to lower browInnerUp; the solver, adding
        # that back, raised the brows whenever any shape moved. Read from a settled rest and a settled full
        # weight instead, a blink's lift of eyeSquintLeft (0.17 three frames in) settled away, went uncorrected,
        # and every live blink squinted the left eye to 1
        drift = frames[-1].scores - frames[0].scores
        drift[k] = 0.0
        crosstalk[name] = {ARKIT_NAMES[j]: round(float(drift[j]), 3) for j in np.flatnonzero(np.abs(drift) > CROSSTALK_KEEP)}
        angles = seen_angles(frames[-1], still) - seen_angles(frames[0], still)  # the landmarks move too
        if np.abs(angles).max() > POSE_DRIFT_KEEP:
            pose_drift[name] = tuple(round(float(a), 2) for a in angles)
    pose_curves = {}
    for axis, grid in (("yaw", CURVE_YAWS), ("pitch", CURVE_PITCHES)):
        for angle in grid:  # read as the curves facing the camera are, one sweep after another
            probe.look(expression({}, **{axis: angle}), hold=SETTLE)
            for k, name in enumerate(ARKIT_NAMES):
                pose_curves.setdefault((axis, angle), {})[name] = [
                    float(probe.look(expression({name: w}, **{axis: angle})).scores[k]) for w in WEIGHTS]
    probe.look(expression({}), hold=10)
    neutral = rest.rotation
    sweeps = {}
    for axis, limit in (("yaw", YAW_LIMIT), ("pitch", PITCH_LIMIT)):
        true = np.concatenate([np.arange(0, limit + 1e-6, SWEEP_STEP), np.arange(limit, -limit - 1e-6, -SWEEP_STEP),
                               np.arange(-limit, 1e-6, SWEEP_STEP)])
        frames = [probe.look(expression({}, **{axis: float(a)}), hold=2) for a in true]
        seen = np.array([seen_angles(f, still) for f in frames])
        sweeps[axis] = (true, seen, np.array([f.scores for f in frames]) - rest.scores)
    rolls = np.array([-15.0, 15.0])
    roll_seen = np.array([seen_angles(probe.look(expression({}, roll=float(r))), still)[2] for r in rolls])
    probe.close()

    tables = {}
    for k, axis in enumerate(("yaw", "pitch")):
        true, seen, shift = sweeps[axis]
        limit = YAW_LIMIT if axis == "yaw" else PITCH_LIMIT
        grid = np.arange(-limit, limit + 1e-6, GRID_STEP if limit % GRID_STEP == 0 else limit / 2)
        seen_grid = np.maximum.accumulate(binned(true, seen[:, k], grid))
        shift_grid = binned(true, shift, grid)
        shift_grid -= shift_grid[np.argmin(np.abs(grid))]  # no shift facing the camera, by definition
        residual = true - np.interp(seen[:, k], seen_grid, grid)
        tables[axis] = (grid, seen_grid, shift_grid, residual)
    roll_gain = float(rolls @ rolls / max(rolls @ roll_seen, 1e-9))
    keep = [k for k, n in enumerate(ARKIT_NAMES)
            if max(np.abs(tables["yaw"][2][:, k]).max(), np.abs(tables["pitch"][2][:, k]).max()) > SHIFT_KEEP]
    result = {
        "size": args.size, "samples": args.samples, "seconds": round(time.perf_counter() - t0, 1),
        "rest_scores": {n: round(float(s), 3) for n, s in zip(ARKIT_NAMES, rest.scores) if s > 0.1},
        "span_at_weight_1": {n: round(c[-1] - c[0], 3) for n, c in curves.items()},
        "yaw_map_seen_at_grid": {f"{g:g}": round(float(s), 2) for g, s in zip(tables["yaw"][0], tables["yaw"][1])},
        "pitch_map_seen_at_grid": {f"{g:g}": round(float(s), 2) for g, s in zip(tables["pitch"][0], tables["pitch"][1])},
        "map_residual_deg_max": {a: round(float(np.abs(tables[a][3]).max()), 2) for a in tables},
        "roll_gain": round(roll_gain, 4),
        "pose_shifted_shapes": [ARKIT_NAMES[k] for k in keep],
        "crosstalk": {n: c for n, c in crosstalk.items() if c},
        "pose_drift_deg": pose_drift,
    }
    save("live_response", result, args.out)
    if args.write:
        fmt = lambda x: pprint.pformat(x, width=116, sort_dicts=False)  # noqa: E731
        r = lambda v: tuple(round(float(x), 4) for x in v)  # noqa: E731
        MEASURED.write_text(
            f'"""MediaPipe\'s measured response on the reference head, video mode. GENERATED by\n'
            f'benchmarks/live_response.py --write (size {args.size}, samples {args.samples}); re-run it, do not edit."""\n\n'
            f"RESPONSE_WEIGHTS = {WEIGHTS!r}\n"
            f'"""Weights the reference head was rendered with for each shape."""\n'
            f"RESPONSE_SCORES: dict[str, tuple[float, ...]] = {fmt({n: r(c) for n, c in curves.items()})}\n"
            f'"""ARKit name -> MediaPipe\'s score at each of RESPONSE_WEIGHTS; shapes missing here read score = weight."""\n'
            f"CURVE_YAWS = {CURVE_YAWS!r}\n"
            f"RESPONSE_SCORES_YAW: dict[str, tuple[tuple[float, ...], ...]] = "
            f"{fmt({n: tuple(r(pose_curves[('yaw', a)][n]) for a in CURVE_YAWS) for n in ARKIT_NAMES})}\n"
            f'"""ARKit name -> its RESPONSE_SCORES with the head turned to each of CURVE_YAWS (the solver takes the\n'
            f'rise of each curve from here and its rest from YAW_SHIFT: the first frame of a curve carries the shape before)"""\n'
            f"CURVE_PITCHES = {CURVE_PITCHES!r}\n"
            f"RESPONSE_SCORES_PITCH: dict[str, tuple[tuple[float, ...], ...]] = "
            f"{fmt({n: tuple(r(pose_curves[('pitch', a)][n]) for a in CURVE_PITCHES) for n in ARKIT_NAMES})}\n"
            f'"""...and nodded to each of CURVE_PITCHES."""\n'
            f"CROSSTALK: dict[str, dict[str, float]] = {fmt({n: c for n, c in crosstalk.items() if c})}\n"
            f'"""Shape at full weight -> {{other shape: how much its score moves}} (MediaPipe reads a smile partly as raised\n'
            f'brows, say); the solver subtracts it using a first estimate of the weights."""\n'
            f"POSE_DRIFT: dict[str, tuple[float, float, float]] = {fmt(pose_drift)}\n"
            f'"""Shape at full weight -> the yaw, pitch, roll (degrees) MediaPipe\'s head pose reads with the head still\n'
            f'(a smile tips its pitch by about 4 degrees); the solver subtracts it."""\n'
            f"POSE_YAWS = {r(tables['yaw'][0])!r}\n"
            f"YAW_SEEN = {r(tables['yaw'][1])!r}\n"
            f'"""MediaPipe\'s yaw (relative to the calibrated neutral) when the head turns to each of POSE_YAWS."""\n'
            f"POSE_PITCHES = {r(tables['pitch'][0])!r}\n"
            f"PITCH_SEEN = {r(tables['pitch'][1])!r}\n"
            f"ROLL_GAIN = {round(roll_gain, 4)!r}\n"
            f'"""True roll / MediaPipe\'s roll."""\n'
            f"YAW_SHIFT: dict[str, tuple[float, ...]] = {fmt({ARKIT_NAMES[k]: r(tables['yaw'][2][:, k]) for k in keep})}\n"
            f'"""ARKit name -> change of the resting face\'s score at each of POSE_YAWS (vs facing the camera)."""\n'
            f"PITCH_SHIFT: dict[str, tuple[float, ...]] = {fmt({ARKIT_NAMES[k]: r(tables['pitch'][2][:, k]) for k in keep})}\n"
            f"NEUTRAL_ROTATION = {tuple(r(row) for row in neutral)!r}\n"
            f'"""MediaPipe\'s head rotation for the reference head facing the reference camera (uncalibrated default)."""\n'
            f"NEUTRAL_POINTS = {tuple(r(row) for row in still.points)!r}\n"
            f'"""The reference head\'s rigid landmarks at rest (`pose.rigid_points`, uncalibrated default)."""\n')
        print(f"wrote {MEASURED}", file=sys.stderr)


if __name__ == "__main__":
    main()
