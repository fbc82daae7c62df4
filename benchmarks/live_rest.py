"""A resting face rests: the expression each face shows on its avatar while the person rests, with and without the
settled rest (`avatar_engine.solve.settled_rest`).

    PYTHONPATH=. python benchmarks/live_rest.py [--faces 8] [--seed 6000] [--size 384] [--out result.json]

The faces are live_response.py's: the reference head and synthetic people from --seed on. Each performs a
minute-long rest (`performance`): blinks every few seconds, a slight sway, and expressions now and then (smiles, a
jaw opening, a brow raise, before the rest has settled and after). The clip is tracked once; two animators solve
it, one with the settled rest and one with the automatic calibration's bounded rest alone. Per face and per
animator:
- `rest_false_weight`: over the resting frames from REST_JUDGED_FROM seconds on (no expression or blink within
  BLINK_GUARD_S), the largest mean weight of any shape but the gaze (the eyes turn with the sway) and the blinks;
  the shape is named. Target: at most REST_WEIGHT_MAX.
- `expression_peaks`: each expression's true peak and the peak shown, so that settling is seen not to eat them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from live_common import FPS, bump, render_clip, save
from live_response import face_arguments, faces_to_measure

from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES
from avatar_engine.live import LiveAvatar, LiveOptions, open_source
from avatar_engine.live.animator import Animator, AnimatorOptions

DURATION_S = 60.0
REST_JUDGED_FROM = 40.0
"""Seconds: the settled rest has had its window (`settled_rest.WINDOW_S`) and time to move."""
BLINK_GUARD_S = 0.5
REST_WEIGHT_MAX = 0.1
EXPRESSIONS = (("mouthSmileLeft", 10.0, 0.8), ("mouthSmileRight", 10.0, 0.8), ("jawOpen", 16.0, 0.6),
               ("browInnerUp", 24.0, 0.8), ("mouthSmileLeft", 46.0, 0.8), ("mouthSmileRight", 46.0, 0.8),
               ("jawOpen", 50.0, 0.6), ("browInnerUp", 54.0, 0.8))
"""(shape, start second, peak): each rises over 0.5 s, holds 1 s and falls over 0.5 s."""


def performance() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 52) weights, (n, 2) yaw and pitch degrees, and (n,) whether the frame is judged as rest."""
    t = np.arange(int(DURATION_S * FPS)) / FPS
    w = np.zeros((len(t), 52), np.float32)
    busy = np.zeros(len(t), bool)
    for start in np.arange(3.0, DURATION_S, 3.7):
        for eye in ("eyeBlinkLeft", "eyeBlinkRight"):
            w[:, ARKIT_INDEX[eye]] += bump(t, start, 0.08, 0.06, 0.12, 1.0)
        busy |= np.abs(t - start - 0.13) < BLINK_GUARD_S
    for name, start, peak in EXPRESSIONS:
        w[:, ARKIT_INDEX[name]] += bump(t, start, 0.5, 1.0, 0.5, peak)
        busy |= (t > start - BLINK_GUARD_S) & (t < start + 2.0 + BLINK_GUARD_S)
    yaw = 4.0 * np.sin(2 * np.pi * t / 9.0)
    pitch = 2.0 * np.sin(2 * np.pi * t / 13.0)
    judged = (t >= REST_JUDGED_FROM) & ~busy
    return np.clip(w, 0, 1), np.stack([yaw, pitch], 1).astype(np.float32), judged


def tracked_frames(clip: Path) -> list[tuple[float, object]]:
    """(media seconds, LandmarkFrame or None) of every frame of the clip."""
    live = LiveAvatar(options=LiveOptions(size=(64, 64), samples=0, render=False))
    out = []
    with open_source(str(clip)) as source:
        while (frame := source.read()) is not None:
            out.append((frame.t_media_ns * 1e-9, live.track(frame.rgb, frame.t_media_ns)))
    live.close()
    return out


def solve(frames, settle: bool) -> np.ndarray:
    animator = Animator(AnimatorOptions(settle_rest=settle))
    return np.stack([animator.update(f, t).weights for t, f in frames])


def judge(shown: np.ndarray, weights: np.ndarray, judged: np.ndarray) -> dict:
    others = [k for k, n in enumerate(ARKIT_NAMES) if not n.startswith(("eyeLook", "eyeBlink"))]
    means = shown[judged][:, others].mean(axis=0)
    worst = int(np.argmax(means))
    peaks = []
    for name, start, peak in EXPRESSIONS:
        span = slice(int(start * FPS), int((start + 2.0) * FPS))
        peaks.append({"shape": name, "start_s": start, "true": peak,
                      "shown": round(float(shown[span, ARKIT_INDEX[name]].max()), 3)})
    return {"rest_false_weight": round(float(means[worst]), 3), "shape": ARKIT_NAMES[others[worst]],
            "rest_pass": bool(means[worst] <= REST_WEIGHT_MAX), "expression_peaks": peaks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    face_arguments(ap)
    ap.add_argument("--out")
    args = ap.parse_args()
    weights, angles, judged = performance()
    faces = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, avatar in faces_to_measure(args.faces, args.seed):
            clip = Path(tmp) / "rest.mp4"
            render_clip(clip, weights, angles, (args.size, args.size), args.samples, avatar=avatar)
            frames = tracked_frames(clip)
            face = {"face": label, "settled": judge(solve(frames, True), weights, judged),
                    "bounded": judge(solve(frames, False), weights, judged)}
            print(label, face["settled"]["rest_false_weight"], face["settled"]["shape"], "| bounded:",
                  face["bounded"]["rest_false_weight"], face["bounded"]["shape"], flush=True)
            faces.append(face)
    save("live_rest", {
        "size": args.size, "samples": args.samples, "duration_s": DURATION_S, "judged_from_s": REST_JUDGED_FROM,
        "rest_weight_max": REST_WEIGHT_MAX,
        "rest_pass": {mode: f"{sum(f[mode]['rest_pass'] for f in faces)} of {len(faces)}"
                      for mode in ("settled", "bounded")},
        "faces": faces}, args.out)


if __name__ == "__main__":
    main()
