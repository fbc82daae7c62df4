"""Hair stage figures: style recovery on renders of known HairStyles, and the fit on the shipped photos.

    python benchmarks/build_hair.py [--out benchmarks/results/build_hair.json] [--images DIR]

Synthetic truth: each preset is rendered through a known camera (yaw 0 and 25 degrees); its true hair mask is the
same render with the hair drawn pure green. The "bald" subject wears the skin without its painted scalp (a shaved
head); "bald_painted_scalp" is the template's own skin, whose scalp is painted dark like stubble, reported apart.
Two fits per render:
  - "from_truth": fit_hair on the true mask (the fit alone);
  - "pipeline": MediaPipe landmarks + person mask on the plain render -> hair_region -> fit_hair (the whole stage);
each reports the IoU of the fitted style's rendered hair (the GL renderer, alpha-cut, green) with the true mask,
and the recovered parameters. Photos (astronaut, grace_hopper.jpg): the builder's own fit (camera, identity) and
the hair stage as the builder runs it (the wave read from the texture included); the IoU of the fitted silhouette
with the photo's hair region where no headwear hides the head, the headwear found, and the builder's hair stage time (segmenter included).
--images saves overlays (photo dimmed: region red, fitted silhouette green, both yellow, headwear blue) to look at.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_engine.build.hair_curl import hair_wave
from avatar_engine.build.hair_fit import HairRegion, fit_hair, hair_region, head_silhouette, iou
from avatar_engine.build.pipeline import BuildOptions, Builder
from avatar_engine.build.records import PhotoView
from avatar_engine.build.texture_fill import FILL_BASE_PATH
from avatar_engine.head.hair import HAIR_PRESETS, HairStyle
from avatar_engine.head.template import default_materials, template_avatar
from avatar_engine.paths import write_text_atomic
from avatar_engine.perception.landmarker import FaceLandmarker, FaceLandmarkerOptions
from avatar_engine.perception.segmenter import PersonSegmenter
from avatar_engine.records import Avatar, Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

SIZE = (360, 450)
YAWS = (0.0, 25.0)
PARAMS = ("length", "volume", "fringe", "baldness")
ROOT = Path(__file__).resolve().parents[1]


def photo_view(camera: Camera, size: tuple[int, int]) -> PhotoView:
    return PhotoView(size=size, view=camera.view().astype(np.float64),
                     focal_px=size[1] / 2 / np.tan(np.radians(camera.fov_y_deg) / 2))


def green_hair(avatar: Avatar) -> Avatar:
    material = avatar.materials["hair"]
    texture = material.texture.copy()
    texture[..., :3] = (0, 255, 0)
    return dataclasses.replace(avatar, materials={**avatar.materials,
                                                  "hair": dataclasses.replace(material, texture=texture)})


def render(ctx, avatar: Avatar, camera, size, background=STUDIO_BACKDROP) -> np.ndarray:
    with Renderer(ctx, RenderOptions(size=size, background=background)) as r:
        r.load(avatar)
        r.render(Expression(), camera)
        return r.read()


def hair_mask(ctx, style: HairStyle, camera, size) -> np.ndarray:
    """(h, w) bool where the style's hair shows in a render (alpha-cut, occluded by the head)."""
    if style.bald:
        return np.zeros(size[::-1], bool)
    rgb = render(ctx, green_hair(template_avatar(hair=style)), camera, size, None)[..., :3].astype(int)
    return (rgb[..., 1] > rgb[..., 0] + 20) & (rgb[..., 1] > rgb[..., 2] + 20)


def perceive(landmarker, segmenter, rgb: np.ndarray):
    faces = landmarker.detect(rgb)
    if not faces:
        return None, None
    return faces[0], segmenter.segment(rgb)


def overlay(rgb: np.ndarray, region: np.ndarray, fitted: np.ndarray, hidden: np.ndarray | None = None) -> np.ndarray:
    """Photo dimmed; region red, fitted silhouette green, both yellow, headwear blue."""
    out = (rgb[..., :3] * 0.45).astype(np.uint8)
    out[region] = out[region] // 2 + np.array([120, 0, 0], np.uint8)
    out[fitted] = out[fitted] // 2 + np.array([0, 120, 0], np.uint8)
    if hidden is not None:
        out[hidden] = out[hidden] // 2 + np.array([0, 0, 120], np.uint8)
    return np.concatenate([rgb[..., :3], out], 1)


SUBJECTS = {**{name: (style, False) for name, style in HAIR_PRESETS.items()},
            "bald_painted_scalp": (HAIR_PRESETS["bald"], True)}
"""Synthetic subjects: name -> (true style, painted scalp)."""


def synthetic(ctx, landmarker, segmenter, images: Path | None, only: list[str] | None = None) -> list[dict]:
    bald_head = template_avatar(hair=None)
    shaved = default_materials(skin_texture=np.asarray(Image.open(FILL_BASE_PATH).convert("RGBA")))
    rows = []
    for name, (style, painted) in SUBJECTS.items():
        if only and name not in only:
            continue
        for yaw in YAWS:
            camera = Camera(yaw_deg=yaw, distance=0.75, fov_y_deg=30, target=(0.0, 0.13, 0.02))
            view = photo_view(camera, SIZE)
            truth = hair_mask(ctx, style, camera, SIZE)
            subject = template_avatar(materials=None if painted or not style.bald else shaved,
                                      hair=None if style.bald else style)
            rgb = render(ctx, subject, camera, SIZE)[..., :3].copy()
            row = {"preset": name, "yaw_deg": yaw, "true": {p: getattr(style, p) for p in PARAMS}}
            t = time.perf_counter()
            face_area = np.ones_like(truth) if style.bald else np.zeros_like(truth)
            fit = fit_hair(HairRegion(truth, style.color, face_area), bald_head, view)
            fit_s = time.perf_counter() - t  # the fit alone, not the GL render that checks it
            row["from_truth"] = {"iou": round(iou(hair_mask(ctx, fit.style, camera, SIZE), truth), 3),
                                 "fit_s": round(fit_s, 2), "evaluations": fit.evaluations,
                                 **{p: round(getattr(fit.style, p), 3) for p in PARAMS}}
            face, person = perceive(landmarker, segmenter, rgb)
            if face is None:
                row["pipeline"] = {"error": "MediaPipe found no face in the render"}
            else:
                t = time.perf_counter()
                points = face.points[:, :2] * np.array(SIZE)
                region = hair_region(rgb, person, points)
                region_s = time.perf_counter() - t
                wave = round(hair_wave(rgb, region.mask, points), 3)  # as the builder reads it
                fit = fit_hair(region, bald_head, view, wave=wave)
                fit_s = time.perf_counter() - t - region_s
                fitted = hair_mask(ctx, fit.style, camera, SIZE)
                row["pipeline"] = {"region_iou": round(iou(region.mask, truth), 3),
                                   "iou": round(iou(fitted, truth), 3), "region_s": round(region_s, 2),
                                   "fit_s": round(fit_s, 2),
                                   "evaluations": fit.evaluations, "headwear": region.headwear,
                                   "color": region.color, "wave": wave,
                                   **{p: round(getattr(fit.style, p), 3) for p in PARAMS}}
                if images:
                    Image.fromarray(overlay(rgb, region.mask, fitted)).save(images / f"hair_{name}_{yaw:.0f}.png")
            rows.append(row)
            print(json.dumps(row))
    return rows


PHOTOS = ("astronaut", "grace_hopper")


def photo_path(name: str) -> Path:
    import matplotlib.cbook

    if name == "astronaut":
        return ROOT / "assets" / "photos" / "astronaut.png"
    return Path(matplotlib.cbook.get_sample_data(f"{name}.jpg", asfileobj=False))


def photo(ctx, builder: Builder, segmenter, name: str, images: Path | None) -> dict:
    path = photo_path(name)
    built = builder.build(path)  # the builder's own hair stage, timed in its report
    fit, rgb = built.fit, built.photo
    h, w = rgb.shape[:2]
    t = time.perf_counter()
    person = segmenter.segment(rgb)
    segment_s = time.perf_counter() - t
    t = time.perf_counter()
    region = hair_region(rgb, person, fit.landmarks_px)
    region_s = time.perf_counter() - t
    t = time.perf_counter()
    head = head_silhouette(builder.model, fit.identity, fit.neutral_positions, fit.view)
    head_s = time.perf_counter() - t
    wave = round(hair_wave(rgb, region.mask, fit.landmarks_px), 3)
    t = time.perf_counter()
    hair = fit_hair(region, head, wave=wave)
    fit_s = time.perf_counter() - t
    full = head_silhouette(builder.model, fit.identity, fit.neutral_positions, fit.view, size=max(w, h))
    fitted = full.mask(hair.style) if not hair.style.bald else np.zeros((h, w), bool)
    if images:
        Image.fromarray(overlay(rgb, region.mask, fitted, region.occluded)).save(images / f"hair_{name}.png")
        with Renderer(ctx, RenderOptions(size=(w, h), background=None)) as r:
            r.load(built.avatar)  # the built avatar over the photo, through the photo's camera
            r.render(fit.photo_expression, fit.view)
            over = r.read().astype(np.float32)
        alpha = over[..., 3:4] / 255.0
        Image.fromarray((rgb * (1 - alpha) + over[..., :3] * alpha).astype(np.uint8)).save(
            images / f"hair_{name}_avatar.png")
    return {"photo": path.name, "view": "the builder's fit (FitResult.view)", "region_pixels": int(region.mask.sum()),
            "headwear": region.headwear,
            "headwear_pixels": int(region.occluded.sum()) if region.occluded is not None else 0,
            "color": region.color, "region_bald": region.bald,
            "iou_silhouette": round(iou(fitted, region.mask, region.occluded), 3),
            "fit_iou_at_fit_size": round(hair.iou, 3), "evaluations": hair.evaluations,
            "segment_s": round(segment_s, 3), "region_s": round(region_s, 3), "head_s": round(head_s, 3),
            "fit_s": round(fit_s, 3), "builder_hair_stage_s": built.report.stages_s.get("hair"),
            "builder_hair_iou": built.report.hair_iou, "wave": wave,
            **{p: round(getattr(hair.style, p), 3) for p in PARAMS}, "bald": hair.style.bald}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "build_hair.json")
    parser.add_argument("--images", type=Path, default=None)
    parser.add_argument("--presets", nargs="*", default=None, help="only these presets (default: all)")
    args = parser.parse_args()
    if args.images:
        args.images.mkdir(parents=True, exist_ok=True)
    ctx = headless_context()
    with FaceLandmarker(FaceLandmarkerOptions()) as landmarker, PersonSegmenter() as segmenter:
        rows = synthetic(ctx, landmarker, segmenter, args.images, args.presets)
        with Builder(BuildOptions(texture=False)) as builder:
            builder.build(photo_path(PHOTOS[0]))  # warm-up: the first build loads what it needs
            real = [photo(ctx, builder, segmenter, name, args.images) for name in PHOTOS]
    for r in real:
        print(json.dumps(r))
    hairy = [r for r in rows if not r["preset"].startswith("bald")]
    result = {
        "benchmark": "build_hair", "machine": platform.node(), "cpus": os.cpu_count(),
        "renderer": ctx.info.get("GL_RENDERER", "?"),
        "synthetic": rows,
        "synthetic_summary": {
            "from_truth_iou_median": float(np.median([r["from_truth"]["iou"] for r in hairy])),
            "pipeline_iou_median": float(np.median([r["pipeline"].get("iou", 0.0) for r in hairy])),
            "pipeline_region_iou_median": float(np.median([r["pipeline"].get("region_iou", 0.0) for r in hairy])),
            "pipeline_fit_s_median": float(np.median([r["pipeline"].get("fit_s", 0.0) for r in rows])),
            "bald_recognised": all(r["pipeline"].get("baldness", 0) >= 0.98 for r in rows if r["preset"] == "bald"),
            "painted_scalp_recognised_bald": all(r["pipeline"].get("baldness", 0) >= 0.98 for r in rows
                                                 if r["preset"] == "bald_painted_scalp"),
            "headwear_false_alarms": sum(bool(r["pipeline"].get("headwear")) for r in rows),
        },
        "photos": real,
        "note": "timings on a shared 2-core machine (other sessions running) are noisy",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(result, indent=1))
    print(json.dumps(result["synthetic_summary"]))


if __name__ == "__main__":
    main()
