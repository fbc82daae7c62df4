"""The reconstruction network against the builder's hand-made fit, on known truth and on the shippable photos.

    PYTHONPATH=. python benchmarks/recon_net.py [--model assets/models/recon.onnx] [--cache data/recon_bench]
                                                [--photos/--no-photos] [--out benchmarks/results/recon_net.json]

Known truth: the subjects of build_accuracy (seeds 1000-1019) and the validation seeds 1100-1139, rendered at
512x512 and perceived (mirror-averaged MediaPipe) by `scripts/make_recon_samples.py`'s code; the perceptions are
kept in --cache and reused (they are a function of the seed). Per subject and method:
- face error: the rebuilt rest face against the true neutral face over the face region after a similarity
  alignment, median over vertices, mm (build_accuracy's measure);
- reprojection: the posed landmark points through the fitted camera against MediaPipe's raw points, mean over the
  468 points, fraction of the inter-ocular distance (the fit's own figure);
- expression MAE over the 52 weights, head rotation error (degrees, the angle between the true and the fitted
  rotation), and the seconds the method took (the network's inference included).
Methods: `fit` (the builder today: landmark correction's ridge prior, then the fit), `fit_tight_prior` (the same
with that prior's standard deviations times 0.25, as the network's prior is narrowed), `ridge_alone` (that ridge
prior's identity, no fit), `net_alone` (the network's identity, expression and pose, no fit), `net_replace`
(FitOptions(recon="replace"): the network's shape, camera fitted), `net_prior` (FitOptions(recon="prior"): the
network starts the fit and is its identity prior).
Photos (astronaut, grace_hopper): each built whole per fit method, reprojection and the render check (MediaPipe on
a render of the avatar in the photo's pose, against the photo's landmarks).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ helpers (result_file)
from result_file import emit  # noqa: E402

from avatar_engine.build.fit import FitOptions, fit_landmarks, recon_network  # noqa: E402
from avatar_engine.build.landmark_model import LandmarkCorrection  # noqa: E402
from avatar_engine.build.perception import Perception  # noqa: E402
from avatar_engine.build.synthetic import face_region  # noqa: E402
from avatar_engine.head.geometry import similarity_fit  # noqa: E402
from avatar_engine.head.model import HeadModel  # noqa: E402
from avatar_engine.nets.recon_net import MODEL_PATH  # noqa: E402
from avatar_engine.paths import atomic_path  # noqa: E402
from avatar_engine.records import euler_rotation  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = {"build_accuracy": (1000, 20), "validation": (1100, 40)}
FIT_MODES = {"fit": {}, "fit_tight_prior": {"identity_prior_scale": 0.25}, "net_replace": {"recon": "replace"},
             "net_prior": {"recon": "prior"}}
"""FitOptions of each fitting method. fit_tight_prior: the builder's fit with its ridge prior narrowed by the factor
the network's prior uses (recon_prior_scale), so that the network's gain is not just a tighter prior."""
METHODS = ("fit", "fit_tight_prior", "ridge_alone", "net_alone", "net_replace", "net_prior")


def aligned_error_mm(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    s, r, t = similarity_fit(estimate.astype(np.float64), truth.astype(np.float64))
    return np.linalg.norm(s * estimate @ r.T + t - truth, axis=1) * 1000


def rotation_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    c = (np.trace(a[:3, :3] @ b[:3, :3].T) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def perceptions(cache: Path, first: int, count: int) -> dict[str, np.ndarray]:
    """The set's samples (as make_recon_samples writes them), made once and kept in `cache`."""
    path = cache / f"recon_{first}.npz"
    if not path.exists():
        from avatar_engine.build.landmark_model import Correspondence
        from avatar_engine.build.perception import MAX_FACES
        from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
        from avatar_engine.render.context import headless_context

        sys.path.insert(0, str(ROOT / "scripts"))
        from make_recon_samples import collect

        cache.mkdir(parents=True, exist_ok=True)
        with FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES)) as landmarker:
            arrays = collect(range(first, first + count), 512, landmarker, headless_context(), HeadModel.default(),
                             Correspondence.default())
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **arrays)
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def as_perception(d: dict[str, np.ndarray], i: int) -> Perception:
    return Perception(points_px=d["points_px"][i], depth=d["depth"][i], scores=d["scores"][i], pose=d["mp_pose"][i],
                      yaw_deg=float(d["yaw_deg"][i]), size=(int(d["size"][i][0]), int(d["size"][i][1])),
                      face_count=int(d["face_count"][i]))


def stats(values) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    return {"median": round(float(np.median(v)), 4), "mean": round(float(v.mean()), 4),
            "p90": round(float(np.percentile(v, 90)), 4), "max": round(float(v.max()), 4)}


def known_truth(d: dict[str, np.ndarray], model: HeadModel, model_path: str) -> list[dict]:
    face = face_region(model)
    names = model.identity_names
    correction = LandmarkCorrection.default()
    net = recon_network(model_path)
    rows = []
    for i, seed in enumerate(d["seed"]):
        seen = as_perception(d, i)
        truth_id = dict(zip(names, d["identity"][i].astype(float)))
        truth = model.neutral_positions(truth_id)[face]
        true_rot = d["view"][i][:3, :3]
        true_expr = d["expression"][i]
        row = {"seed": int(seed), "yaw_deg": round(float(d["pose_deg"][i][0]), 1)}
        for method, mode in FIT_MODES.items():
            t = time.perf_counter()
            fit = fit_landmarks(seen, model, FitOptions(**mode, recon_model=model_path))
            seconds = time.perf_counter() - t
            row[method] = {
                "face_error_mm": round(float(np.median(aligned_error_mm(fit.neutral_positions[face], truth))), 4),
                "reprojection_iod": round(fit.reprojection_error, 5),
                "expression_mae": round(float(np.abs(fit.photo_expression.weights - true_expr).mean()), 5),
                "rotation_error_deg": round(rotation_error_deg(fit.view.view, true_rot), 3),
                "seconds": round(seconds, 4)}
        t = time.perf_counter()
        prior, _ = correction.identity_prior(seen.points_px, names, seen.depth)
        seconds = time.perf_counter() - t
        ridge_id = {n: float(np.clip(v, 0, 1) if n in model.phenotype_names else np.clip(v, -1, 1))
                    for n, v in zip(names, prior)}
        row["ridge_alone"] = {"face_error_mm": round(float(np.median(aligned_error_mm(
            model.neutral_positions(ridge_id)[face], truth))), 4), "seconds": round(seconds, 4)}
        t = time.perf_counter()
        pred = net.predict(seen.points_px, seen.depth)
        seconds = time.perf_counter() - t
        net_id = dict(zip(names, pred.identity))
        row["net_alone"] = {
            "face_error_mm": round(float(np.median(aligned_error_mm(model.neutral_positions(net_id)[face], truth))), 4),
            "expression_mae": round(float(np.abs(pred.expression - true_expr).mean()), 5),
            "rotation_error_deg": round(rotation_error_deg(euler_rotation(*pred.pose_deg), true_rot), 3),
            "seconds": round(seconds, 4)}
        rows.append(row)
        print(seed, {m: row[m]["face_error_mm"] for m in METHODS}, flush=True)
    return rows


def summarise(rows: list[dict]) -> dict:
    out = {}
    for method in METHODS:
        keys = rows[0][method].keys()
        out[method] = {k: stats([r[method][k] for r in rows]) for k in keys}
        if "reprojection_iod" in keys:
            out[method]["reprojection_within_3pct"] = f"{sum(r[method]['reprojection_iod'] <= 0.03 for r in rows)}" \
                                                      f"/{len(rows)}"
    wins = sum(r["net_prior"]["face_error_mm"] < r["fit"]["face_error_mm"] for r in rows)
    out["net_prior_better_than_fit"] = f"{wins}/{len(rows)}"
    return out


def photos(model: HeadModel, model_path: str) -> dict:
    import matplotlib.cbook

    from avatar_engine.build.image import load_photo
    from avatar_engine.build.pipeline import Builder, BuildOptions

    images = {"astronaut": load_photo(ROOT / "assets" / "photos" / "astronaut.png"),
              "grace_hopper": load_photo(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}
    out = {}
    for method, mode in FIT_MODES.items():
        options = BuildOptions(fit=FitOptions(**mode, recon_model=model_path))
        with Builder(options, model=model) as builder:
            for name, rgb in images.items():
                result = builder.build(rgb)
                check = builder.check_render(result)
                out.setdefault(name, {})[method] = {
                    "reprojection_mean": result.report.fit["reprojection_error"],
                    "reprojection_max": result.report.fit["reprojection_error_max"],
                    "render_check": check.as_report() if check is not None else None,
                    "fit_s": round(result.report.stages_s["fit"], 3)}
                print(name, method, out[name][method], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(MODEL_PATH))
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "recon_bench")
    parser.add_argument("--no-photos", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "recon_net.json")
    args = parser.parse_args()
    model = HeadModel.default()
    recon_network(args.model)  # opened before the clocks start
    result = {"benchmark": "recon_net", "model": os.path.relpath(args.model, ROOT), "sets": {},
              "units": {"face_error_mm": "mm, median over face vertices after similarity alignment",
                        "reprojection_iod": "fraction of the inter-ocular distance, mean over 468 points",
                        "rotation_error_deg": "degrees", "seconds": "wall seconds per photo"}}
    for name, (first, count) in SETS.items():
        rows = known_truth(perceptions(args.cache, first, count), model, args.model)
        result["sets"][name] = {"seeds": [first, first + count - 1], "subjects": len(rows),
                                "summary": summarise(rows), "subjects_detail": rows}
    if not args.no_photos:
        result["photos"] = photos(model, args.model)
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                         "load_average": [round(v, 2) for v in os.getloadavg()],
                         "note": "2 CPU cores shared with other sessions: timings are noisy"}
    emit(result, args.out)


if __name__ == "__main__":
    main()
