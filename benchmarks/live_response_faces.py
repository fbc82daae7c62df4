"""MediaPipe's response curves and head-pose tips across many faces, where the reference head misleads.

    PYTHONPATH=. python benchmarks/live_response_faces.py [--write] [--faces 25] [--seed 6000] [--size 384]
                                                           [--samples 4] [--out result.json]

`live_response.py` measures every shape's response curve on the reference head alone (`combine` says why the
median over faces was not kept for all of them). For `ACROSS_FACES` that choice misleads: MediaPipe reads the
reference head's open jaw higher than almost any other face does. At jawOpen 0.75 it scores 0.865, above the
upper quartile of 24 synthetic people (0.80; median 0.71), and the astronaut and Grace Hopper built from their
photos and synthetic people 7000-7003 (none of them measured here) read 0.64-0.76. Inverted through the reference
head's curve, every one of those six opened its mouth 18-28% short in the round trip (jawOpen 0.8 showed 0.57-0.65).

The faces: the reference head and --faces - 1 synthetic people (`live_response.faces_to_measure`). On each, the
tracker runs in video mode on renders of the resting face (held `SETTLE` frames), then of each shape at
`live_response.WEIGHTS`, `live_response.HOLD` frames each, as live_response reads its curves. The table is each
weight's median score over the faces. Prints every face's curves as JSON; --write regenerates
avatar_engine/solve/measured_faces.py, which the solver inverts these shapes' scores through.

Each face is also read through every shape's sweep as live_response reads the reference head's, for the head pose
a shape tips with the head still (`POSE_DRIFT_ACROSS_FACES`, which the solver takes out of the pose). The reference
head is atypical there too: its smiles tip the pitch 1.6 / 2.1 degrees where the median face's tip 2.4 / 2.1, its
funnel 0.8 against 1.6, its jaw -0.7 against -0.5, and rolled upper lips 2.5 against 3.0.
"""

from __future__ import annotations

import argparse
import pprint
import sys
import time
from pathlib import Path

import numpy as np

from live_common import expression, save
from live_response import (HOLD, POSE_DRIFT_KEEP, SETTLE, WEIGHTS, LostFace, Probe, face_arguments, faces_to_measure,
                           pose_drift_of, shape_sweeps, still_rest)

from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES

ACROSS_FACES = ("jawOpen",)
"""Shapes whose facing curve is the median over faces. Not the blinks (`blink_range` learns each eye's closure
from the person), the smiles (the mouth corners' motion reads them), pucker, funnel or browInnerUp: on the faces
measured here their spread is as wide as their median's distance from the reference head, or wider."""
MEASURED_FACES = Path(__file__).resolve().parent.parent / "avatar_engine" / "solve" / "measured_faces.py"


def face_curves(avatar, size: int, samples: int) -> dict[str, list[float]]:
    """{shape: its score at each of WEIGHTS} for `ACROSS_FACES` on one face. Raises LostFace."""
    probe = Probe(avatar, size, samples)
    try:
        probe.look(expression({}), hold=SETTLE)
        return {name: [float(probe.look(expression({name: w}), hold=HOLD).scores[ARKIT_INDEX[name]])
                       for w in WEIGHTS] for name in ACROSS_FACES}
    finally:
        probe.close()


def face_pose_drift(avatar, size: int, samples: int) -> np.ndarray:
    """(52, 3) the yaw, pitch and roll MediaPipe's head pose reads for each shape at full weight on one face, with
    the head still: every shape swept in turn and read as live_response reads the reference head's (`POSE_DRIFT`).
    Raises LostFace."""
    probe = Probe(avatar, size, samples)  # its own tracker: the jaw's curves stay read from a fresh one, as before
    try:
        _, still = still_rest(probe)
        return np.array([pose_drift_of(frames, still) for _, _, frames in shape_sweeps(probe)])
    finally:
        probe.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    face_arguments(ap)
    ap.set_defaults(faces=25)
    ap.add_argument("--write", action="store_true", help="regenerate avatar_engine/solve/measured_faces.py")
    ap.add_argument("--out")
    args = ap.parse_args()
    t0 = time.perf_counter()
    curves, drifts, labels = [], [], []
    for label, avatar in faces_to_measure(args.faces, args.seed):
        try:
            face = face_curves(avatar, args.size, args.samples)
            drifts.append(face_pose_drift(avatar, args.size, args.samples))
            curves.append(face)
            labels.append(label)
        except LostFace as exc:
            print(f"{label}: {exc}; left out", file=sys.stderr)
        print(f"{label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if len(curves) < 3:
        raise SystemExit(f"MediaPipe found only {len(curves)} of the faces: too few for a median")
    median = {n: tuple(round(float(v), 4) for v in np.median([c[n] for c in curves], axis=0)) for n in ACROSS_FACES}
    spread = {n: {"q25": [round(float(v), 4) for v in np.percentile([c[n] for c in curves], 25, axis=0)],
                  "q75": [round(float(v), 4) for v in np.percentile([c[n] for c in curves], 75, axis=0)]}
              for n in ACROSS_FACES}
    drifts = np.asarray(drifts)
    drift = np.median(drifts, axis=0)
    kept = [k for k in range(len(ARKIT_NAMES)) if np.abs(drift[k]).max() > POSE_DRIFT_KEEP]
    pose_drift = {ARKIT_NAMES[k]: tuple(round(float(a), 2) for a in drift[k]) for k in kept}
    result = {"faces": labels, "size": args.size, "samples": args.samples, "weights": list(WEIGHTS),
              "seconds": round(time.perf_counter() - t0, 1), "median": median, "spread": spread,
              "by_face": {label: {n: [round(v, 4) for v in c[n]] for n in ACROSS_FACES}
                          for label, c in zip(labels, curves)},
              "pose_drift_median": pose_drift,
              "pose_drift_pitch_quartiles": {ARKIT_NAMES[k]: [round(float(v), 2) for v in
                                                              np.percentile(drifts[:, k, 1], (25, 75))]
                                             for k in kept},
              "pose_drift_pitch_by_face": {label: {ARKIT_NAMES[k]: round(float(d[k, 1]), 2) for k in kept}
                                           for label, d in zip(labels, drifts)}}
    save("live_response_faces", result, args.out)
    if args.write:
        MEASURED_FACES.write_text(
            f'"""MediaPipe\'s facing response curves, for the shapes whose reference-head curve misleads on other\n'
            f'faces, and the head pose each shape tips, as the median over {len(labels)} faces: the reference head '
            f'and\n{len(labels) - 1} synthetic people (seeds {args.seed} on). GENERATED by '
            f'benchmarks/live_response_faces.py\n--write (faces {args.faces}, seed {args.seed}, size {args.size}, '
            f'samples {args.samples}); re-run it, do not edit."""\n\n'
            f"RESPONSE_SCORES_ACROSS_FACES: dict[str, tuple[float, ...]] = "
            f"{pprint.pformat(median, width=116, sort_dicts=False)}\n"
            f'"""ARKit name -> the median score at each of measured.RESPONSE_WEIGHTS."""\n'
            f"POSE_DRIFT_ACROSS_FACES: dict[str, tuple[float, float, float]] = "
            f"{pprint.pformat(pose_drift, width=116, sort_dicts=False)}\n"
            f'"""Shape at full weight -> the median yaw, pitch, roll (degrees) MediaPipe\'s head pose reads with the '
            f'head\nstill (a smile on both sides tips its pitch by about 4.4 degrees); the solver subtracts it. Used '
            f'instead of\nmeasured.POSE_DRIFT, the reference head\'s."""\n')
        print(f"wrote {MEASURED_FACES}", file=sys.stderr)


if __name__ == "__main__":
    main()
