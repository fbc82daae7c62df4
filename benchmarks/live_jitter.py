"""Jitter on a still face: per-frame standard deviation of every weight and head angle, filtered and not.

    PYTHONPATH=. python benchmarks/live_jitter.py [--size 640x480] [--seconds 8] [--noise 2.0]

Renders the resting head, still, with Gaussian sensor noise (--noise, 0-255 levels, like a webcam's) to
video, runs the loop on every frame and measures, after the calibration second and the glide to its rest, the
standard deviation of each of the 52 weights and of yaw/pitch/roll, with the default One Euro filtering and with it
turned off.
Target (issue 4): every weight <= 0.01 after filtering.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from live_common import FPS, REFERENCE_CAMERA, render_clip, save

from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.live import AnimatorOptions, LiveAvatar, LiveOptions, LivePipeline, PipelineOptions, open_source
from avatar_engine.render.camera import Camera
from avatar_engine.solve.tuning import DEFAULT_TUNING

TARGET = 0.01
UNFILTERED = dataclasses.replace(DEFAULT_TUNING, face_min_cutoff=1e6, eye_min_cutoff=1e6, pose_min_cutoff=1e6)
"""Cutoffs so high the One Euro filter passes everything through."""


def measure(clip: Path, tuning) -> tuple[np.ndarray, np.ndarray]:
    frames = []
    live = LiveAvatar(options=LiveOptions(render=False, animator=AnimatorOptions(tuning=tuning)))
    with open_source(str(clip)) as source:
        LivePipeline(source, live, [], PipelineOptions(lossless=True, on_frame=frames.append)).run()
    live.close()
    # from the end of the calibration and of the glide to its new rest (AnimatorOptions.recentre_s): that glide is
    # one deliberate move of up to a few hundredths, not jitter
    start = next((i for i, f in enumerate(frames) if f.state == "tracking"), len(frames))
    start += int(np.ceil(live.animator.options.recentre_s * FPS))
    settled = [f for f in frames[start:] if f.state == "tracking"]
    return np.array([f.solved.weights for f in settled]), np.array([f.solved.angles for f in settled])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--noise", type=float, default=2.0, help="sensor noise, standard deviation in 0-255 levels")
    ap.add_argument("--out")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    n = int(args.seconds * FPS)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "still.mp4"
        camera = Camera(distance=0.75, target=REFERENCE_CAMERA.target)
        render_clip(clip, np.zeros((n, 52), np.float32), np.zeros((n, 2), np.float32), size, 4, camera, args.noise)
        results = {}
        for name, tuning in (("filtered", DEFAULT_TUNING), ("unfiltered", UNFILTERED)):
            w, a = measure(clip, tuning)
            std = w.std(axis=0)
            worst = np.argsort(std)[::-1][:5]
            results[name] = {"frames": int(len(w)), "weight_std_max": round(float(std.max()), 5),
                             "weight_std_mean": round(float(std.mean()), 5),
                             "worst": {ARKIT_NAMES[k]: round(float(std[k]), 5) for k in worst},
                             "angle_std_deg": np.round(a.std(axis=0), 4).tolist(),
                             "weight_mean_max": round(float(w.mean(axis=0).max()), 4)}
    results["pass"] = results["filtered"]["weight_std_max"] <= TARGET
    save("live_jitter", {"size": list(size), "noise": args.noise, "target_std": TARGET, **results}, args.out)


if __name__ == "__main__":
    main()
