"""Round-trip accuracy: known ARKit curves -> our renderer -> mp4 -> the live loop -> recovered curves.

    PYTHONPATH=. python benchmarks/live_roundtrip.py [--size 384] [--samples 4] [--keep clip.mp4]
    PYTHONPATH=. python benchmarks/live_roundtrip.py --synthetic 7002 --out RESULTS/live_roundtrip_synthetic_7002.json

The performance: 1.5 s at rest (automatic calibration), blinks (both, left, right), jawOpen, smiles (both,
left, right), pucker, funnel, browInnerUp, head turns to +-30 degrees yaw and +-15 pitch, and a blink and a
jawOpen during a turn. The loop runs lossless (every frame) on the video; per channel it reports mean
absolute error and Pearson r of the filtered output against the truth, and head yaw/pitch error in degrees.
Targets (issue 4): MAE <= 0.12, r >= 0.85 for the judged channels; yaw and pitch within 3 degrees.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from live_common import FPS, performance, render_clip, save

from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES as ARKIT_NAMES_
from avatar_engine.io import read_glb
from avatar_engine.live import LiveAvatar, LiveOptions, LivePipeline, PipelineOptions, open_source

JUDGED = ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthSmileRight", "browInnerUp",
          "mouthPucker", "mouthFunnel")
MAE_MAX, R_MIN, ANGLE_MAX_DEG = 0.12, 0.85, 3.0


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=384, help="square render and video size")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--keep", help="keep the rendered clip here")
    ap.add_argument("--clip", help="reuse a clip rendered before with --keep (same size)")
    ap.add_argument("--avatar", help="drive this avatar (.glb, e.g. one `avatar build` made) instead of the default "
                    "head: the tracker then reads another face than the one its response was measured on")
    ap.add_argument("--name", help="what the results call the --avatar (default: its path)")
    ap.add_argument("--turn-profile", choices=("auto", "on", "off"), default="auto",
                    help="as `avatar live --turn-profile`: auto takes the --avatar's when `avatar build` made it")
    ap.add_argument("--profile-avatar", help="measure the turn profile on this avatar instead of the --avatar (one "
                    "rebuilt from a photo of the synthetic person the --avatar is: what a user's own build gives)")
    ap.add_argument("--synthetic", type=int, metavar="SEED",
                    help="drive the synthetic person of this seed (avatar_engine.synth.scene) with the turn profile of "
                    "its rebuild from a 512x512 render, as a user drives their own build (the stored 7000-7003); "
                    "instead of --avatar and --profile-avatar")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.synthetic is not None and (args.avatar or args.profile_avatar):
        ap.error("--synthetic makes its own avatar and profile avatar: give neither --avatar nor --profile-avatar")
    weights, angles = performance()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(args.clip or args.keep or Path(tmp) / "roundtrip.mp4")
        if args.synthetic is not None:
            args.avatar, args.profile_avatar = synthetic_avatars(args.synthetic, Path(tmp))
            args.name = args.name or (f"synthetic person seed {args.synthetic} (avatar_engine.synth.scene, not among "
                                      "live_response's faces), driven with the turn profile of its rebuild from a "
                                      "512x512 render (avatar build)")
        avatar = read_glb(args.avatar) if args.avatar else None
        render_s = 0.0 if args.clip else render_clip(clip, weights, angles, (args.size, args.size), args.samples,
                                                     avatar=avatar)
        got: dict[int, object] = {}
        profiled = read_glb(args.profile_avatar) if args.profile_avatar else avatar
        live = LiveAvatar(profiled, LiveOptions(size=(64, 64), samples=0, render=False,
                                                turn_profile=args.turn_profile))
        with open_source(str(clip)) as source:
            pipeline = LivePipeline(source, live, [], PipelineOptions(lossless=True,
                                    on_frame=lambda f: got.__setitem__(f.index, f)))
            summary = pipeline.run()
        live.close()
    idx = np.array(sorted(got))
    est_w = np.stack([got[i].solved.weights for i in idx])
    est_a = np.stack([got[i].solved.angles[:2] for i in idx])
    true_w, true_a = weights[idx], angles[idx]
    channels = {}
    for name in JUDGED:
        k = ARKIT_INDEX[name]
        mae = float(np.abs(est_w[:, k] - true_w[:, k]).mean())
        r = pearson(est_w[:, k], true_w[:, k])
        channels[name] = {"mae": round(mae, 4), "r": round(r, 4), "pass": mae <= MAE_MAX and r >= R_MIN}
    others = [k for k in range(52) if ARKIT_NAMES_[k] not in JUDGED and not ARKIT_NAMES_[k].startswith("eyeLook")]
    angle_err = np.abs(est_a - true_a)
    result = {
        "avatar": args.name or args.avatar or "the default head", "size": args.size, "samples": args.samples,
        "turn_profile": {"measured_on": "its rebuild from a 512x512 render" if args.synthetic is not None else
                         args.profile_avatar or args.name or args.avatar or "the default head",
                         **live.turn_profile.as_dict()} if live.turn_profile is not None else None,
        "frames": int(len(weights)), "processed": int(len(idx)),
        "render_clip_s": round(render_s, 1),
        "channels": channels,
        "all_judged_pass": all(c["pass"] for c in channels.values()),
        "unexcited_channels_mean_weight": round(float(est_w[:, others].mean()), 4),
        "yaw_error_deg": {"mean": round(float(angle_err[:, 0].mean()), 2),
                          "p95": round(float(np.percentile(angle_err[:, 0], 95)), 2),
                          "max": round(float(angle_err[:, 0].max()), 2)},
        "pitch_error_deg": {"mean": round(float(angle_err[:, 1].mean()), 2),
                            "p95": round(float(np.percentile(angle_err[:, 1], 95)), 2),
                            "max": round(float(angle_err[:, 1].max()), 2)},
        "angles_pass_p95": bool(np.percentile(angle_err, 95, axis=0).max() <= ANGLE_MAX_DEG),
        "loop": {k: summary[k] for k in ("fps", "stage_ms", "counts")},
    }
    result["blinks"] = blink_peaks(true_w, est_w, idx)
    save("live_roundtrip", result, args.out)


def synthetic_avatars(seed: int, folder: Path) -> tuple[str, str]:
    """(the synthetic person's own avatar, the one `avatar build` makes from a 512x512 render of them), written as
    .glb files into `folder`. The rebuild is made as live_rebuild_reads.py makes its rebuilds."""
    from live_rebuild_reads import PHOTO_SIZE

    from avatar_engine.build.pipeline import Builder
    from avatar_engine.io import write_glb
    from avatar_engine.render.context import headless_context
    from avatar_engine.synth.scene import random_scene, render_scene, scene_avatar

    scene = random_scene(np.random.default_rng(seed))
    own, rebuilt = folder / f"synthetic_{seed}.glb", folder / f"synthetic_{seed}_rebuilt.glb"
    write_glb(scene_avatar(scene), own)
    with Builder() as builder:
        write_glb(builder.build(render_scene(headless_context(), scene, PHOTO_SIZE).image).avatar, rebuilt)
    return str(own), str(rebuilt)


def blink_peaks(true_w: np.ndarray, est_w: np.ndarray, idx: np.ndarray) -> list[dict]:
    """Each blink or wink of the performance (a run of frames where either eye's true weight is above 0): when it
    starts (seconds) and each eye's peak, true and recovered. A wink must close its own eye, not both."""
    eyes = [ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]]
    active = true_w[:, eyes].max(axis=1) > 0.0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(int), [0]])))
    events = []
    for start, end in zip(edges[::2], edges[1::2]):
        window = slice(start, min(end + int(0.3 * FPS), len(idx)))  # the filtered eye may peak a little later
        events.append({"t_s": round(float(idx[start] / FPS), 2),
                       **{f"{side}_true": round(float(true_w[window, k].max()), 2) for side, k in zip("LR", eyes)},
                       **{f"{side}_recovered": round(float(est_w[window, k].max()), 2) for side, k in zip("LR", eyes)}})
    return events


if __name__ == "__main__":
    main()
