"""Hair stage figures: style recovery on renders of known HairStyles, and the fit on grace_hopper.jpg.

    python benchmarks/build_hair.py [--out benchmarks/results/build_hair.json] [--images DIR]

Synthetic truth: each preset is rendered through a known camera (yaw 0 and 25 degrees); its true hair mask is the
same render with the hair drawn pure green. Two fits per render:
  - "from_truth": fit_hair on the true mask (the fit alone);
  - "pipeline": MediaPipe landmarks + person mask on the plain render -> hair_region -> fit_hair (the whole stage);
each reports the IoU of the fitted style's rendered hair (the GL renderer, alpha-cut, green) with the true mask,
and the recovered parameters. Photo: grace_hopper.jpg with a PhotoView from a rough alignment (MediaPipe's head
rotation, eye centres for position and scale, an assumed focal length) until the fit stage's FitResult exists;
IoU of the fitted silhouette with the photo's hair region. --images saves overlays to look at.
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

from avatar_engine.build.hair_fit import HairRegion, HairSilhouette, fit_hair, hair_region, iou
from avatar_engine.build.records import PhotoView
from avatar_engine.head.hair import HAIR_PRESETS, HairStyle
from avatar_engine.head.template import template_avatar
from avatar_engine.perception.landmarker import FaceLandmarker, FaceLandmarkerOptions
from avatar_engine.perception.segmenter import PersonSegmenter
from avatar_engine.records import Avatar, Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

SIZE = (360, 450)
YAWS = (0.0, 25.0)
PARAMS = ("length", "volume", "fringe", "baldness")
ASSUMED_FOCAL = 1.6
"""Rough alignment: focal length in units of the photo's longer side (a portrait lens)."""


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


def rough_view(face, size: tuple[int, int], avatar: Avatar) -> PhotoView:
    """A PhotoView from MediaPipe's head rotation and the eye centres (iris points 468, 473) alone."""
    w, h = size
    focal = ASSUMED_FOCAL * max(w, h)
    eyes_px = face.points[[468, 473], :2] * np.array([w, h])
    names = avatar.skeleton.names
    rest = avatar.skeleton.rest_positions
    eyes_model = rest[[names.index("eye_L"), names.index("eye_R")]].astype(np.float64)
    rotation = np.asarray(face.pose, np.float64)[:3, :3]
    rotation /= np.cbrt(np.linalg.det(rotation))
    depth = focal * np.linalg.norm(eyes_model[0] - eyes_model[1]) / np.linalg.norm(eyes_px[0] - eyes_px[1])
    mid_px = eyes_px.mean(0)
    mid_cam = depth * np.array([(mid_px[0] - w / 2) / focal, -(mid_px[1] - h / 2) / focal, -1.0])
    view = np.eye(4)
    view[:3, :3] = rotation
    view[:3, 3] = mid_cam - rotation @ eyes_model.mean(0)
    return PhotoView(size=size, view=view, focal_px=focal)


def overlay(rgb: np.ndarray, region: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Photo dimmed; region red, fitted silhouette green, both yellow."""
    out = (rgb[..., :3] * 0.45).astype(np.uint8)
    out[region] = out[region] // 2 + np.array([120, 0, 0], np.uint8)
    out[fitted] = out[fitted] // 2 + np.array([0, 120, 0], np.uint8)
    return np.concatenate([rgb[..., :3], out], 1)


def synthetic(ctx, landmarker, segmenter, images: Path | None, only: list[str] | None = None) -> list[dict]:
    bald_head = template_avatar(hair=None)
    rows = []
    for name, style in HAIR_PRESETS.items():
        if only and name not in only:
            continue
        for yaw in YAWS:
            camera = Camera(yaw_deg=yaw, distance=0.75, fov_y_deg=30, target=(0.0, 0.13, 0.02))
            view = photo_view(camera, SIZE)
            truth = hair_mask(ctx, style, camera, SIZE)
            rgb = render(ctx, template_avatar(hair=None if style.bald else style), camera, SIZE)[..., :3].copy()
            row = {"preset": name, "yaw_deg": yaw, "true": {p: getattr(style, p) for p in PARAMS}}
            t = time.perf_counter()
            face_area = np.ones_like(truth) if style.bald else np.zeros_like(truth)
            fit = fit_hair(HairRegion(truth, style.color, face_area), bald_head, view)
            row["from_truth"] = {"iou": round(iou(hair_mask(ctx, fit.style, camera, SIZE), truth), 3),
                                 "fit_s": round(time.perf_counter() - t, 2), "evaluations": fit.evaluations,
                                 **{p: round(getattr(fit.style, p), 3) for p in PARAMS}}
            face, person = perceive(landmarker, segmenter, rgb)
            if face is None:
                row["pipeline"] = {"error": "MediaPipe found no face in the render"}
            else:
                t = time.perf_counter()
                region = hair_region(rgb, person, face.points[:, :2] * np.array(SIZE))
                region_s = time.perf_counter() - t
                fit = fit_hair(region, bald_head, view)
                fitted = hair_mask(ctx, fit.style, camera, SIZE)
                row["pipeline"] = {"region_iou": round(iou(region.mask, truth), 3),
                                   "iou": round(iou(fitted, truth), 3), "region_s": round(region_s, 2),
                                   "fit_s": round(time.perf_counter() - t - region_s, 2),
                                   "color": region.color, **{p: round(getattr(fit.style, p), 3) for p in PARAMS}}
                if images:
                    Image.fromarray(overlay(rgb, region.mask, fitted)).save(images / f"hair_{name}_{yaw:.0f}.png")
            rows.append(row)
            print(json.dumps(row))
    return rows


def photo(ctx, landmarker, segmenter, images: Path | None) -> dict:
    import matplotlib.cbook

    rgb = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    h, w = rgb.shape[:2]
    face, person = perceive(landmarker, segmenter, rgb)
    bald_head = template_avatar(hair=None)
    view = rough_view(face, (w, h), bald_head)
    t = time.perf_counter()
    region = hair_region(rgb, person, face.points[:, :2] * np.array([w, h]))
    region_s = time.perf_counter() - t
    fit = fit_hair(region, bald_head, view)
    fit_s = time.perf_counter() - t - region_s
    sil = HairSilhouette(bald_head, view, size=max(w, h))
    fitted = sil.mask(fit.style)
    gl = hair_mask(ctx, fit.style, view, (w, h))
    if images:
        Image.fromarray(overlay(rgb, region.mask, gl)).save(images / "hair_grace_hopper.png")
        skin = render(ctx, template_avatar(hair=fit.style), view, (w, h), None)
        alpha = skin[..., 3:4] / 255.0
        Image.fromarray((rgb * (1 - alpha) + skin[..., :3] * alpha).astype(np.uint8)).save(
            images / "hair_grace_hopper_avatar.png")
    return {"photo": "grace_hopper.jpg", "view": "rough alignment (MediaPipe rotation, eye centres, focal "
            f"{ASSUMED_FOCAL} x longer side)", "region_pixels": int(region.mask.sum()), "color": region.color,
            "iou_silhouette": round(iou(fitted, region.mask), 3), "iou_rendered": round(iou(gl, region.mask), 3),
            "fit_iou_at_fit_size": round(fit.iou, 3), "region_s": round(region_s, 2), "fit_s": round(fit_s, 2),
            "evaluations": fit.evaluations, **{p: round(getattr(fit.style, p), 3) for p in PARAMS}}


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
        real = photo(ctx, landmarker, segmenter, args.images)
    print(json.dumps(real))
    hairy = [r for r in rows if r["preset"] != "bald"]
    result = {
        "benchmark": "build_hair", "machine": platform.node(), "cpus": os.cpu_count(),
        "renderer": ctx.info.get("GL_RENDERER", "?"),
        "synthetic": rows,
        "synthetic_summary": {
            "from_truth_iou_median": float(np.median([r["from_truth"]["iou"] for r in hairy])),
            "pipeline_iou_median": float(np.median([r["pipeline"].get("iou", 0.0) for r in hairy])),
            "pipeline_region_iou_median": float(np.median([r["pipeline"].get("region_iou", 0.0) for r in hairy])),
            "bald_recognised": all(r["pipeline"].get("baldness", 0) >= 0.98 for r in rows if r["preset"] == "bald"),
        },
        "photo": real,
        "note": "timings on a shared 2-core machine are noisy",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(args.out)
    print(json.dumps(result["synthetic_summary"]))


if __name__ == "__main__":
    main()
