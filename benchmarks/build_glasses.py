"""Glasses in the photo: are they found, and does the skin texture come out as it would without them?

    PYTHONPATH=. python benchmarks/build_glasses.py [--subjects 16] [--seed 8000] [--size 512] [--save DIR]
                                                    [--out result.json]

Photos: known-truth subjects (random identities, `build.synthetic`, seeds from --seed) and the astronaut
(assets/photos/astronaut.png), each as it is and with a random pair of glasses painted on (`synth.glasses`: thin
metal, plastic and translucent frames, tinted lenses, a reflection streak; style drawn from seed + 1). Each photo is
perceived and fitted as the builder does, and its skin texture made with the glasses handling off and on "auto".

Reported:
- detection over --detect-subjects people (bare, and with their painted glasses), plastic and metal frames apart;
- per textured photo, detection: the bridge reading (`build.glasses.bridge_strength`) and whether glasses were found, on the photos
  without glasses (false alarms) and with (hits);
- the texture around the eyes: the texels the plain photo shows (seen > 0.5) that glasses may cover (the region
  `--glasses on` leaves out on the plain photo), mean and 95th-percentile CIE76 Delta E of the glasses photo's
  texture against the plain photo's, handling off vs auto: how much of the frames, tint and glare reached the skin;
- the same texels' lines and outlines (`line_error`: the lightness less its local mean, against the plain photo's):
  what the eye picks out as a rim's ghost, where a broad tone difference counts for little;
- for the known-truth subjects, each texture's Delta E to the true albedo over those texels (the photo without
  glasses, handled off and on; with them, handled off, auto and on): the completion's clean skin against the glasses-stained photo's
  (the headline: `delta_e_to_truth_p95_median`, over everyone and over the people whose glasses were found);
- what leaving the region out costs a face without glasses: the plain photo's texture with `glasses="on"` against
  its own default build over the same texels (the price of a false alarm).
--save writes the painted photos and the eye region of each texture as PNG.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image
from result_file import emit

from avatar_engine.build import delight
from avatar_engine.build.fit import fit_landmarks
from avatar_engine.build.glasses import FOUND, bridge_strength, detect_glasses
from avatar_engine.build.image import load_photo
from avatar_engine.build.perception import MAX_FACES, perceive
from avatar_engine.build.synthetic import random_subject, subject_avatar, subject_photo, subject_view
from avatar_engine.build.texture import TextureOptions, texture_from_fit
from avatar_engine.build.texture_project import box_blur
from avatar_engine.head.model import HeadModel
from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
from avatar_engine.render.context import headless_context
from avatar_engine.synth.glasses import GlassesStyle, paint_glasses

ROOT = Path(__file__).resolve().parents[1]
SEEN = 0.5
METAL_RIM = 0.015
"""`GlassesStyle.random` draws metal rims thinner than this (face units), plastic ones thicker."""
DETAIL_RADIUS = 6
"""Texels (at 1024) of the local mean `detail` subtracts: a rim is 2-10 texels wide in the layout."""


def texture(photo: np.ndarray, landmarker, model: HeadModel, glasses: str):
    seen = perceive(photo, landmarker)
    fit = fit_landmarks(seen, model)
    return texture_from_fit(photo, fit, model=model, options=TextureOptions(glasses=glasses)), seen


def lab(result) -> np.ndarray:
    return delight.linear_to_lab(delight.texture_to_albedo(result.texture))


def delta_e(a, b, region: np.ndarray) -> dict:
    d = np.linalg.norm(lab(a)[region] - lab(b)[region], axis=1)
    return {"mean": round(float(d.mean()), 2), "p95": round(float(np.percentile(d, 95)), 2)}


def detail(result) -> np.ndarray:
    """The texture's lightness less its local mean (`DETAIL_RADIUS`): lines and outlines, not tone."""
    lightness = lab(result)[..., 0]
    return lightness - box_blur(lightness, DETAIL_RADIUS)


def line_error(a, b, region: np.ndarray) -> float:
    """Mean absolute difference of the two textures' `detail` over the region (CIELAB L* units): rims, the
    lenses' outlines and glare show here; a tone that is a little off does not."""
    return round(float(np.abs(detail(a) - detail(b))[region].mean()), 3)


def eye_crop(result, region: np.ndarray) -> Image.Image:
    rows, cols = np.nonzero(region)
    box = (int(cols.min()) - 8, int(rows.min()) - 8, int(cols.max()) + 8, int(rows.max()) + 8)
    return Image.fromarray(result.texture[..., :3]).crop(box)


def case(name: str, photo: np.ndarray, style: GlassesStyle, landmarker, model: HeadModel, save: Path | None,
         truth: np.ndarray | None = None) -> dict:
    plain, seen_plain = texture(photo, landmarker, model, "off")
    covered, _ = texture(photo, landmarker, model, "on")
    region = (plain.seen > SEEN) & (covered.seen < 0.05)
    painted_photo = paint_glasses(photo, seen_plain.points_px, style)
    off, seen_painted = texture(painted_photo, landmarker, model, "off")
    auto, _ = texture(painted_photo, landmarker, model, "auto")
    forced, _ = texture(painted_photo, landmarker, model, "on")
    row = {"photo": name, "region_texels": int(region.sum()),
           "style": {"rim": round(style.rim, 3), "colour": list(style.colour), "opacity": round(style.opacity, 2),
                     "tint": round(style.tint, 2), "glare": round(style.glare, 2)},
           "bridge_plain": round(bridge_strength(photo, seen_plain.points_px), 3),
           "bridge_glasses": round(bridge_strength(painted_photo, seen_painted.points_px), 3),
           "found_plain": detect_glasses(photo, seen_plain.points_px).found,
           "found_glasses": bool(auto.glasses is not None and auto.glasses.found),
           "delta_e_glasses_off": delta_e(off, plain, region), "delta_e_glasses_auto": delta_e(auto, plain, region),
           "delta_e_left_out_plain": delta_e(covered, plain, region),
           "line_error_glasses_off": line_error(off, plain, region),
           "line_error_glasses_auto": line_error(auto, plain, region),
           "line_error_left_out_plain": line_error(covered, plain, region)}
    if truth is not None:
        true = SimpleNamespace(texture=truth)
        row["delta_e_to_truth"] = {"plain": delta_e(plain, true, region), "glasses_off": delta_e(off, true, region),
                                   "glasses_auto": delta_e(auto, true, region),
                                   "glasses_on": delta_e(forced, true, region),
                                   "plain_glasses_on": delta_e(covered, true, region)}
    if save is not None:
        Image.fromarray(painted_photo).save(save / f"{name}_glasses.png")
        crops = [eye_crop(r, region) for r in (plain, off, auto)]
        sheet = Image.new("RGB", (sum(c.width for c in crops), crops[0].height))
        x = 0
        for c in crops:
            sheet.paste(c, (x, 0))
            x += c.width
        sheet.save(save / f"{name}_eyes_plain_off_auto.png")
    return row


def summary(rows: list[dict]) -> dict:
    """Eye-region Delta E to the truth (known-truth people): the photo without glasses, and with glasses handled
    off / auto / on, median of each person's mean and 95th percentile; over every person and over those whose
    glasses were found."""
    truth = [r for r in rows if "delta_e_to_truth" in r]
    found = [r for r in truth if r["found_glasses"]]

    def medians(subset: list[dict], part: str) -> dict:
        return {k: round(float(np.median([r["delta_e_to_truth"][k][part] for r in subset])), 2) if subset else None
                for k in ("plain", "plain_glasses_on", "glasses_off", "glasses_auto", "glasses_on")}

    return {"found": f"{sum(r['found_glasses'] for r in rows)} of {len(rows)}",
            "false_alarms": f"{sum(r['found_plain'] for r in rows)} of {len(rows)}",
            "delta_e_to_truth_p95_median": {"all": medians(truth, "p95"), "found": medians(found, "p95")},
            "delta_e_to_truth_mean_median": {"all": medians(truth, "mean"), "found": medians(found, "mean")},
            "auto_nearer_truth_where_found": f"{sum(r['delta_e_to_truth']['glasses_auto']['p95'] < r['delta_e_to_truth']['glasses_off']['p95'] for r in found)} of {len(found)} (p95)",
            "on_nearer_truth": f"{sum(r['delta_e_to_truth']['glasses_on']['p95'] < r['delta_e_to_truth']['glasses_off']['p95'] for r in truth)} of {len(truth)} (p95)",
            "delta_e_to_photo_without_glasses_p95_median": {
                k: round(float(np.median([r[f"delta_e_glasses_{k}"]["p95"] for r in rows])), 2) for k in ("off", "auto")},
            "line_error_median": {k: round(float(np.median([r[f"line_error_{k}"] for r in rows])), 3)
                                  for k in ("glasses_off", "glasses_auto", "left_out_plain")}}


def detection_summary(reads: list[dict]) -> dict:
    plastic = [r for r in reads if not r["metal"]]
    metal = [r for r in reads if r["metal"]]
    return {"false_alarms": f"{sum(r['bare'] >= FOUND for r in reads)} of {len(reads)}",
            "found_plastic": f"{sum(r['glasses'] >= FOUND for r in plastic)} of {len(plastic)}",
            "found_metal": f"{sum(r['glasses'] >= FOUND for r in metal)} of {len(metal)}",
            "bare_max": max(r["bare"] for r in reads)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=16, help="people whose textures are made and compared")
    parser.add_argument("--detect-subjects", type=int, default=40,
                        help="people (the same seeds, and more) on whom only the glasses test is run")
    parser.add_argument("--seed", type=int, default=8000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--save", type=Path, default=None)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "build_glasses.json"))
    args = parser.parse_args()
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = HeadModel.default()
    ctx = headless_context()
    landmarker = FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES))
    rows = []
    for k in range(args.subjects):
        seed = args.seed + k
        subject = random_subject(np.random.default_rng(seed), model)
        view = subject_view(subject, (args.size, args.size), model=model)
        photo = subject_photo(ctx, subject, view, model)
        truth = subject_avatar(subject, model).materials["skin"].texture
        rows.append(case(f"subject_{seed}", photo, GlassesStyle.random(np.random.default_rng(seed + 1)), landmarker,
                         model, args.save, truth))
    detection = []
    for k in range(args.detect_subjects):
        seed = args.seed + k
        subject = random_subject(np.random.default_rng(seed), model)
        photo = subject_photo(ctx, subject, subject_view(subject, (args.size, args.size), model=model), model)
        seen = perceive(photo, landmarker)
        style = GlassesStyle.random(np.random.default_rng(seed + 1))
        painted = paint_glasses(photo, seen.points_px, style)
        detection.append({"seed": seed, "yaw_deg": round(subject.yaw_deg, 1), "metal": style.rim < METAL_RIM,
                          "bare": round(bridge_strength(photo, seen.points_px), 3),
                          "glasses": round(bridge_strength(painted, perceive(painted, landmarker).points_px), 3)})
    astronaut = load_photo(ROOT / "assets" / "photos" / "astronaut.png")
    rows.append(case("astronaut", astronaut, GlassesStyle.random(np.random.default_rng(args.seed - 1)), landmarker,
                     model, args.save))
    landmarker.close()
    emit({"benchmark": "build_glasses", "subjects": args.subjects, "seed": args.seed, "size": args.size,
          "found_at": FOUND, "detection": detection_summary(detection), "summary": summary(rows), "photos": rows,
          "detection_reads": detection,
          "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                      "seconds": round(time.perf_counter() - t0, 1)}}, args.out)


if __name__ == "__main__":
    main()
