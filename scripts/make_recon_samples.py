"""Render and perceive known-truth subjects for the reconstruction network (`avatar train recon --data`).

    python scripts/make_recon_samples.py -o data/recon --first-seed 21000 --count 1000 [--shard 100] [--size 512]
                                         [--jobs N]

Each subject is `avatar_engine.build.synthetic.random_subject(default_rng(seed))` rendered at `--size` pixels and
run through the builder's own perception (mirror-averaged MediaPipe), exactly as `build_accuracy` sees its
subjects. One file per shard of `--shard` consecutive seeds, `recon_<first seed>.npz`, written to a temporary name
then renamed; shards already present are skipped, so an interrupted run resumes. Per sample (first axis):
what the builder sees (`points_px` (478, 2), `depth` (478,), `scores` (52,), `mp_pose` (4, 4), `yaw_deg`,
`face_count`, `size` (2,)) and the truth (`identity` (145,) in the head model's order, `expression` (52,),
`pose_deg` yaw/pitch/roll, `view` (4, 4), `focal_px`, `truth_px` (468, 2) the correspondence points of the true
posed mesh projected by the true camera). `refused` lists the seeds the perception refused.
Seeds must stay disjoint from the benchmarks' (1000-1019, 1100-1139; tests < 100) and from the landmark
correction's training seeds (its SETS: 20000-20999 and 24000-28999).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def collect(seeds: range, size: int, landmarker, ctx, model, corr) -> dict[str, np.ndarray]:
    from avatar_engine.build.perception import PerceptionOptions, perceive
    from avatar_engine.build.synthetic import random_subject, subject_photo, subject_view, true_posed
    from avatar_engine.errors import InputError

    rows: dict[str, list] = {}
    refused = []
    for seed in seeds:
        subject = random_subject(np.random.default_rng(seed), model)
        view = subject_view(subject, (size, size), model=model)
        try:
            # the photo-and-mirror reading, as the builder gives the network (`Builder`: augment only without it)
            seen = perceive(subject_photo(ctx, subject, view, model), landmarker, PerceptionOptions(augment=False))
        except InputError:
            refused.append(seed)
            continue
        sample = {
            "seed": seed, "points_px": seen.points_px, "depth": seen.depth, "scores": seen.scores,
            "mp_pose": seen.pose, "yaw_deg": seen.yaw_deg, "face_count": seen.face_count,
            "size": np.array(seen.size), "identity": [subject.identity[n] for n in model.identity_names],
            "expression": subject.expression.weights,
            "pose_deg": [subject.yaw_deg, subject.pitch_deg, subject.roll_deg], "view": view.view,
            "focal_px": view.focal_px,
            "truth_px": view.project(corr.points(true_posed(subject, model).astype(np.float64))),
        }
        for k, v in sample.items():
            rows.setdefault(k, []).append(v)
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["refused"] = np.array(refused, np.int64)
    return out


def write_shard(first: int, end: int, shard: int, out: Path, size: int, landmarker, ctx, model, corr) -> str:
    """Collect `shard` seeds from `first` (to `end` at most) into `recon_<first>.npz`; returns a line for the log."""
    from avatar_engine.paths import atomic_path

    path = out / f"recon_{first}.npz"
    start = time.time()
    seeds = range(first, min(first + shard, end))
    arrays = collect(seeds, size, landmarker, ctx, model, corr)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return f"{path}: {len(arrays['seed'])} samples, {len(arrays['refused'])} refused, {time.time() - start:.0f} s"


WORKER: dict = {}
"""A worker process's renderer, landmarker, models and task (`open_worker`)."""


def open_worker(out: Path, size: int, end: int, shard: int) -> None:
    """A worker process's renderer, landmarker and models (`--jobs`)."""
    from avatar_engine.build.landmark_model import Correspondence
    from avatar_engine.build.perception import MAX_FACES
    from avatar_engine.head.model import HeadModel
    from avatar_engine.native_log import native_stderr_silenced
    from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
    from avatar_engine.render.context import headless_context
    from avatar_engine.workers import close_at_exit

    with native_stderr_silenced():
        landmarker = FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES))
    close_at_exit(landmarker.close)
    WORKER.update(out=out, size=size, end=end, shard=shard, landmarker=landmarker, ctx=headless_context(),
                  model=HeadModel.default(), corr=Correspondence.default())


def worker_shard(first: int) -> str:
    w = WORKER
    return write_shard(first, w["end"], w["shard"], w["out"], w["size"], w["landmarker"], w["ctx"], w["model"],
                       w["corr"])


def main() -> None:
    from avatar_engine.build.landmark_model import Correspondence
    from avatar_engine.build.perception import MAX_FACES
    from avatar_engine.head.model import HeadModel
    from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
    from avatar_engine.render.context import headless_context
    from avatar_engine.workers import map_in_workers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", required=True)
    parser.add_argument("--first-seed", type=int, default=21000)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--shard", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--jobs", type=int, default=1, help="shards made in this many worker processes (the same "
                        "samples: each subject is drawn from its seed alone)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    end = args.first_seed + args.count
    pending = [first for first in range(args.first_seed, end, args.shard)
               if not (out / f"recon_{first}.npz").exists()]
    if args.jobs > 1 and len(pending) > 1:
        for line in map_in_workers(worker_shard, pending, args.jobs, open_worker, (out, args.size, end, args.shard)):
            print(line, flush=True)
        return
    model, corr, ctx = HeadModel.default(), Correspondence.default(), headless_context()
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES)) as landmarker:
        for first in pending:
            print(write_shard(first, end, args.shard, out, args.size, landmarker, ctx, model, corr), flush=True)


if __name__ == "__main__":
    main()
