"""Why a hard side light moves the rebuilt face: what MediaPipe reads differently, and what each read does to the fit.

    python benchmarks/build_light_reads.py [--subjects 4] [--seed 3000] [--out result.json]

The subjects and lights are `build_light.py`'s: known-truth subjects (`avatar_engine.build.synthetic`, 512x512)
rendered in the studio and under a hard key from each side (`hard_side_lighting`). Each render is read as the
builder reads a photo (`perceive`: mirrored and augmented copies averaged) and fitted with the builder's fit options.

Per side-lit render, against the studio render's reads (face frame: a 2-D similarity of the studio read's points
onto the landmark correction's mean face, inter-ocular distance 1):
- `points_shift`: the 468 points' mean distance, and the nose tip's (point 4) horizontal shift, toward the light
  positive;
- `depth_shift`: the mean absolute change of MediaPipe's relative depth, centred;
- `score_shift`: the mean and largest absolute change of the 52 scores.
Then the rest face fitted to the side-lit reads, and to the side-lit reads with some swapped for the studio render's
(`SWAPS`), each compared with the rest face fitted to the studio reads (median over the face
region after a similarity alignment, mm, as `build_light.py` compares rebuilds): which read moves the face.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from build_light import SIDE_KEY, aligned_error_mm, hard_side_lighting, render
from result_file import emit, machine_record

from avatar_engine.build.fit import FitOptions, fit_landmarks
from avatar_engine.build.landmark_model import LandmarkCorrection, similarity_2d
from avatar_engine.build.perception import MAX_FACES, perceive
from avatar_engine.build.synthetic import face_region, random_subject, subject_avatar, subject_view
from avatar_engine.head.model import HeadModel
from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import Lighting

ROOT = Path(__file__).resolve().parents[1]
NOSE_TIP = 4
SWAPS = (("points_px",), ("depth",), ("scores",), ("points_px", "depth"))
"""The reads swapped for the studio render's: one at a time, and the points with their depths."""


def read_shifts(side, studio, toward_light: float) -> dict:
    """How the side-lit render's reads differ from the studio render's, in the studio read's face frame (see the
    module doc)."""
    s, r, t = similarity_2d(studio.points_px[:468], LandmarkCorrection.default().reference)
    p0, p1 = (s * reads.points_px[:468] @ r.T + t for reads in (studio, side))
    z0, z1 = studio.depth[:468] * s, side.depth[:468] * s
    dz = (z1 - z1.mean()) - (z0 - z0.mean())
    ds = np.abs(np.asarray(side.scores, np.float64) - np.asarray(studio.scores, np.float64))
    return {"points_shift": {"mean": round(float(np.linalg.norm(p1 - p0, axis=1).mean()), 5),
                             "nose_tip_toward_light": round(float((p1 - p0)[NOSE_TIP, 0] * toward_light), 5)},
            "depth_shift": round(float(np.abs(dz).mean()), 5),
            "score_shift": {"mean": round(float(ds.mean()), 4), "max": round(float(ds.max()), 3)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--max-yaw", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "build_light_reads.json")
    args = parser.parse_args()
    t_start, load_before = time.perf_counter(), os.getloadavg()
    model = HeadModel.default()
    face = face_region(model)
    options = FitOptions()
    ctx = headless_context()
    rows = []
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES)) as landmarker:
        for k in range(args.subjects):
            seed = args.seed + k
            subject = random_subject(np.random.default_rng(seed), model, max_yaw=args.max_yaw)
            view = subject_view(subject, (512, 512), model=model)
            avatar = subject_avatar(subject, model)
            studio = perceive(render(ctx, avatar, subject, view, Lighting()), landmarker)
            rest = fit_landmarks(studio, model, options).neutral_positions[face]
            for variant, key in SIDE_KEY.items():
                seen = perceive(render(ctx, avatar, subject, view, hard_side_lighting(key)), landmarker)
                # the key's side in the image: +X (the avatar's left) is the image's right, seen from the front
                row = {"subject": seed, "variant": variant, **read_shifts(seen, studio, float(np.sign(key[0])))}
                moved = {}
                for label, reads in (("own", seen), *(("studio_" + "_and_".join(names),
                                                       replace(seen, **{n: getattr(studio, n) for n in names}))
                                                      for names in SWAPS)):
                    fitted = fit_landmarks(reads, model, options).neutral_positions[face]
                    moved[label] = round(float(np.median(aligned_error_mm(fitted, rest))), 3)
                row["face_mm_from_studio_fit"] = moved
                print(json.dumps(row), flush=True)
                rows.append(row)

    def median(get) -> float:
        return round(float(np.median([get(r) for r in rows])), 4)

    result = {
        "benchmark": "build_light_reads",
        "subjects": args.subjects, "seed": args.seed, "renders": len(rows),
        "units": "face frame (inter-ocular distance 1) for the reads, mm for the faces",
        "summary": {
            "points_shift_mean": median(lambda r: r["points_shift"]["mean"]),
            "nose_tip_toward_light": median(lambda r: r["points_shift"]["nose_tip_toward_light"]),
            "depth_shift": median(lambda r: r["depth_shift"]),
            "score_shift_max": median(lambda r: r["score_shift"]["max"]),
            "face_mm_from_studio_fit": {label: median(lambda r, label=label: r["face_mm_from_studio_fit"][label])
                                        for label in rows[0]["face_mm_from_studio_fit"]} if rows else {},
        },
        "machine": machine_record(load_before, t_start),
        "cases": rows,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
