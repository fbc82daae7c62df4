"""The hair-style network against the builder's hand-made hair fit, on held-out synthetic people.

    python benchmarks/hair_net.py --data DIR [--model assets/models/hair_style.onnx] [--out result.json]

DIR is a set made by `avatar synth` with images (different seed from the training sets). For every sample
MediaPipe found a face in, both methods get the same input and their styles are drawn through the TRUE head and
camera (`HairSilhouette`), so only the style estimate differs; the score is the silhouette IoU against the
render's true hair mask at the fit's working size. Two inputs:

- `true_mask`: the render's own hair mask (the style estimate alone);
- `photo_mask`: the builder's hair region found in the photo by the person segmenter and `hair_region` (what the
  builder really has).

`oracle` is the true style's own silhouette IoU (the ceiling: the silhouette is one solid sheet, the render's hair
is clumps). Also reported: time per photo of each method and the error of each style parameter.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from result_file import emit

from avatar_engine.build.hair_fit import FIT_SIZE, HairSilhouette, fit_hair, iou
from avatar_engine.build.hair_region import FACE_OVAL, HairRegion, hair_region, polygon_mask
from avatar_engine.build.records import PhotoView
from avatar_engine.head.hair import HairStyle
from avatar_engine.head.model import HeadModel
from avatar_engine.nets.hair_net import MODEL_PATH, HairStyleNet
from avatar_engine.synth.dataset import load_with_images

PARAMETERS = ("length", "volume", "fringe", "parting")


def true_style(row: np.ndarray) -> HairStyle | None:
    if row[0] < 0.5:
        return None
    return HairStyle(length=float(row[1]), volume=float(row[2]), fringe=float(row[3]), parting=float(row[4]),
                     baldness=float(row[5]), layers=int(row[6]))


def summary(values: list[float]) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": round(float(v.mean()), 4), "median": round(float(np.median(v)), 4),
            "p10": round(float(np.percentile(v, 10)), 4)} if len(v) else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default=str(MODEL_PATH))
    parser.add_argument("--limit", type=int, default=0, help="first N samples only (0: all)")
    parser.add_argument("--out")
    args = parser.parse_args()
    load_average = os.getloadavg()[0]
    folder = Path(args.data)
    data, manifest = load_with_images(folder)
    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    names = manifest["identity_names"]
    net = HairStyleNet.open(Path(args.model))
    from avatar_engine.perception.segmenter import PersonSegmenter

    segmenter = PersonSegmenter()
    size = manifest["size"]
    scores = {key: {m: [] for m in ("oracle", "network", "fit", "network_then_fit")}
              for key in ("true_mask", "photo_mask")}
    seconds = {"network": [], "fit": [], "network_then_fit": [], "photo_region": []}
    evaluations = {"fit": [], "network_then_fit": []}
    errors = {m: {p: [] for p in PARAMETERS} for m in ("network", "fit")}
    presence = {"network": 0, "fit": 0}
    count = 0
    samples = np.flatnonzero(data["detected"])
    for i in samples[:args.limit or None]:
        identity = dict(zip(names, data["identity"][i].tolist()))
        positions = model.neutral_positions(identity)
        joints = dict(zip(model.joint_names, model.joint_positions(identity)))
        view = PhotoView((size, size), data["view"][i].astype(np.float64), float(data["focal_px"][i]))
        sil = HairSilhouette.from_skin(positions[vs], model.triangles[ts] - vs.start, joints, view, FIT_SIZE)
        target = sil.resize(data["hair_mask"][i])
        truth = true_style(data["hair"][i])
        points = data["landmarks"][i]
        px = points[:, :2] * size
        face = polygon_mask((size, size), px[list(FACE_OVAL)])
        rgb = np.asarray(Image.open(folder / "images" / f"{i:06d}.png").convert("RGB"))
        t = time.perf_counter()
        photo_region = hair_region(rgb, segmenter.segment(rgb), px)
        seconds["photo_region"].append(time.perf_counter() - t)
        for key, mask, region in (("true_mask", data["hair_mask"][i], None), ("photo_mask", None, photo_region)):
            if region is None:
                color = tuple(int(c) for c in data["hair_color"][i])
                region = HairRegion(mask=mask, color=color, face=face)
            oracle = iou(sil.mask(truth), target) if truth is not None else float(not target.any())
            t = time.perf_counter()
            net_style = net.predict(region.mask, points, (size, size), region.color)
            net_s = time.perf_counter() - t
            t = time.perf_counter()
            fit = fit_hair(region, sil)
            fit_s = time.perf_counter() - t
            t = time.perf_counter()
            refined = fit_hair(region, sil, start=net_style)
            refined_s = time.perf_counter() - t + net_s
            scores[key]["oracle"].append(oracle)
            scores[key]["network"].append(iou(sil.mask(net_style), target))
            scores[key]["fit"].append(iou(sil.mask(fit.style), target))
            scores[key]["network_then_fit"].append(iou(sil.mask(refined.style), target))
            if key == "true_mask":
                seconds["network"].append(net_s)
                seconds["fit"].append(fit_s)
                seconds["network_then_fit"].append(refined_s)
                evaluations["fit"].append(fit.evaluations)
                evaluations["network_then_fit"].append(refined.evaluations)
                for method, style in (("network", net_style), ("fit", fit.style)):
                    presence[method] += int((not style.bald) == (truth is not None))
                    if truth is not None and not style.bald:
                        for p in PARAMETERS:
                            errors[method][p].append(abs(getattr(style, p) - getattr(truth, p)))
        count += 1
    segmenter.close()
    net.close()
    result = {
        "benchmark": "hair_net", "data": str(folder), "seed": manifest["seed"], "samples": count,
        "load_average": round(load_average, 2), "model": args.model, "model_card": net.card,
        "iou": {key: {m: summary(v) for m, v in by.items()} for key, by in scores.items()},
        "network_wins_true_mask": int(sum(n > f + 1e-9 for n, f in zip(scores["true_mask"]["network"],
                                                                         scores["true_mask"]["fit"]))),
        "seconds_per_photo": {m: summary(v) for m, v in seconds.items()},
        "silhouettes_drawn": {m: summary(v) for m, v in evaluations.items()},
        "hair_present_correct": presence,
        "parameter_mae": {m: {p: summary(v).get("mean") for p, v in by.items()} for m, by in errors.items()},
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
