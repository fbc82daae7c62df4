"""Texture stage on known truth: albedo error, seams, and the same skin under other light.

    python benchmarks/build_texture.py [--size 512] [--save DIR] [--jpeg 85] [--out result.json]

The template head (no hair) wears a known albedo (the shipped skin structure, or a darker tint of it), is rendered
through a PhotoView under studio, hard side and warm (tungsten) light, at several yaws, and with an image-editor
colour cast; the stage rebuilds the albedo from each render. Reported per case: L1 (0-255) and PSNR against the
truth on the texels the photo shows well ('visible', seen > 0.5) and on the whole skin layout ('all'), the colour
step across UV island borders (median over seam edges, the truth's own median, and 'seam_excess': the mean step
beyond the truth's on the same edge), the mean skin albedo's Delta E (CIELAB) to the truth,
and, per relit case, Delta E to the studio rebuild of the same pose (the 'same person under other light' check).
Mean landmarks for white balance and iris colour come from MediaPipe run on each render. Timings are wall-clock
on whatever machine runs it (2 shared cores here: noisy).
--jpeg QUALITY passes every photo, casts included, through a JPEG of that quality with its colour at half
resolution (4:2:0), as a camera or an editor saves it (session 51: `build_texture_jpeg85.json`).
--save writes, per case, the photo, the recovered albedo, and front / three-quarter studio re-renders as PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from jpeg_photo import jpeg_round_trip
from PIL import Image

from avatar_engine.build import delight
from avatar_engine.build.records import PhotoView
from avatar_engine.build.texture import build_skin_texture, eye_centres
from avatar_engine.build.texture_fill import fill_base, seam_error
from avatar_engine.build.texture_project import texel_map
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import default_materials, template_avatar
from avatar_engine.paths import write_text_atomic
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, Lighting, Renderer, RenderOptions

LIGHTS = {
    "studio": Lighting(),
    "side": Lighting(directions=((0.95, 0.2, 0.25), (-0.75, 0.05, 0.55), (-0.2, 0.5, -0.85)),
                     colors=((4.0, 3.8, 3.6), (0.2, 0.22, 0.25), (1.0, 1.0, 1.1))),
    "warm": Lighting(colors=((3.6, 2.9, 2.0), (0.95, 0.8, 0.6), (2.4, 2.0, 1.5)), sky=(0.34, 0.28, 0.2)),
}
CASTS = {"cast_warm": (1.1, 1.0, 0.82), "cast_cool": (0.88, 1.0, 1.12)}
"""Display-space per-channel factors applied to the studio render."""
TONES = {"light": (1.0, 1.0, 1.0), "dark": (0.32, 0.26, 0.24)}
"""Linear albedo factors on the shipped skin structure."""
YAWS = (-30.0, 0.0, 15.0, 30.0)


def truth_texture(tone) -> np.ndarray:
    linear = fill_base().astype(np.float64) ** 2 * np.asarray(tone)
    return np.dstack([delight.albedo_to_texture(linear), np.full(linear.shape[:2], 255, np.uint8)])


def template_eyes() -> np.ndarray:
    """(2, 3) the template head's eyeball centres (right, left), as the builder hands its fitted head's to the
    texture stage: where glasses may sit, found or not, the stage holds detail as before (`strict_detail_log`)."""
    model = HeadModel.default()
    return eye_centres(model, model.positions)


def render(ctx, avatar, camera, size, lighting=Lighting(), background=None) -> np.ndarray:
    with Renderer(ctx, RenderOptions(size=size, lighting=lighting, background=background)) as r:
        r.load(avatar)
        r.render(Expression(), camera)
        return r.read()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-9)))


def score(texture, truth, seen, covered, skin) -> dict:
    vis, cov = seen > 0.5, covered
    mean_de = np.linalg.norm(delight.linear_to_lab(delight.texture_to_albedo(texture)[vis].mean(0))
                             - delight.linear_to_lab(delight.texture_to_albedo(truth)[vis].mean(0)))
    return {"l1_visible": round(float(np.abs(texture[vis][:, :3].astype(float) - truth[vis][:, :3]).mean()), 2),
            "psnr_visible": round(psnr(texture[vis][:, :3], truth[vis][:, :3]), 2),
            "l1_all": round(float(np.abs(texture[cov][:, :3].astype(float) - truth[cov][:, :3]).mean()), 2),
            "psnr_all": round(psnr(texture[cov][:, :3], truth[cov][:, :3]), 2),
            "seam_median": round(seam_error(texture, skin.uvs, skin.indices, skin.positions), 2),
            "seam_excess": round(seam_error(texture, skin.uvs, skin.indices, skin.positions, reference=truth), 2),
            "mean_skin_delta_e": round(float(mean_de), 2)}


def save_looks(ctx, texture, out: Path, name: str) -> None:
    avatar = template_avatar(materials=default_materials(skin_texture=texture), hair=None)
    views = [render(ctx, avatar, Camera(yaw_deg=yaw, distance=0.6), (384, 384), background=STUDIO_BACKDROP)[..., :3]
             for yaw in (0.0, 40.0, 100.0)]
    Image.fromarray(np.hstack(views)).save(out / f"{name}_renders.png")
    Image.fromarray(texture).save(out / f"{name}_albedo.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="rendered photo width and height")
    parser.add_argument("--save", type=Path, help="directory for PNGs to look at")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "build_texture.json")
    parser.add_argument("--quick", action="store_true", help="light skin, yaws 0 and 30 only")
    parser.add_argument("--jpeg", type=int, metavar="QUALITY",
                        help="pass every photo (casts included) through a JPEG of this quality, its colour at half "
                             "resolution (4:2:0), as cameras and editors save them")
    args = parser.parse_args()
    ctx = headless_context()
    from avatar_engine.perception import FaceLandmarker
    landmarker = FaceLandmarker()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    size = (args.size, args.size)
    cases, relit = [], []
    tones = {"light": TONES["light"]} if args.quick else TONES
    yaws = (0.0, 30.0) if args.quick else YAWS
    for tone_name, tone in tones.items():
        truth = truth_texture(tone)
        avatar = template_avatar(materials=default_materials(skin_texture=truth), hair=None)
        skin = avatar.part("skin")
        truth_seam = seam_error(truth, skin.uvs, skin.indices, skin.positions)
        for yaw in yaws:
            cam = Camera(yaw_deg=yaw, distance=0.6)
            view = PhotoView(size, cam.view().astype(np.float64),
                             size[1] / 2 / np.tan(np.radians(cam.fov_y_deg) / 2))
            photos = {}
            for light_name, light in LIGHTS.items():
                rgba = render(ctx, avatar, view, size, light)
                alpha = rgba[..., 3:4] / 255.0
                photos[light_name] = (np.round(rgba[..., :3] * alpha + 90 * (1 - alpha)).astype(np.uint8),
                                      rgba[..., 3] > 127)
            for cast_name, cast in CASTS.items():
                rgb, mask = photos["studio"]
                photos[cast_name] = (np.clip(np.round(rgb * np.array(cast)), 0, 255).astype(np.uint8), mask)
            if args.jpeg:
                photos = {name: (jpeg_round_trip(rgb, args.jpeg), mask) for name, (rgb, mask) in photos.items()}
            studio_result = None
            for light_name, (rgb, mask) in photos.items():
                faces = landmarker.detect(rgb)
                points = faces[0].points[:, :2] * [size[0], size[1]] if faces else None
                t0 = time.perf_counter()
                result = build_skin_texture(rgb, skin.positions, skin.uvs, skin.indices, skin.normals, view,
                                            mask=mask, landmarks_px=points, occlusion=skin.occlusion,
                                            eyes=template_eyes())
                seconds = time.perf_counter() - t0
                tm = texel_map(skin.uvs, skin.indices, result.texture.shape[0])
                covered = np.zeros(result.texture.shape[0] ** 2, bool)
                covered[tm.texels] = True
                covered = covered.reshape(result.texture.shape[:2])
                case = {"tone": tone_name, "yaw": yaw, "light": light_name, **score(
                    result.texture, truth, result.seen, covered, skin), "seam_truth": round(truth_seam, 2),
                    "white_balance_from_sclera": result.white_balance_from_sclera, "iris_rgb": result.iris_rgb,
                    "coverage": {k: round(v, 3) for k, v in result.coverage.items()},
                    "face_light": round(result.face_light, 3), "key_facing": round(result.key_facing, 2),
                    "warnings": list(result.warnings),
                    "seconds": round(seconds, 2)}
                if light_name == "studio":
                    studio_result = result
                else:
                    seen = studio_result.seen > 0.5
                    lab = [delight.linear_to_lab(delight.texture_to_albedo(r.texture)[seen].mean(0))
                           for r in (result, studio_result)]
                    case["delta_e_to_studio"] = round(float(np.linalg.norm(lab[0] - lab[1])), 2)
                    relit.append(case["delta_e_to_studio"])
                cases.append(case)
                print(json.dumps(case), file=sys.stderr)
                if args.save:
                    name = f"{tone_name}_yaw{int(yaw)}_{light_name}"
                    Image.fromarray(rgb).save(args.save / f"{name}_photo.png")
                    if light_name in ("studio", "side") and yaw in (0.0, 30.0):
                        save_looks(ctx, result.texture, args.save, name)
    landmarker.close()
    studio = [c for c in cases if c["light"] == "studio"]
    summary = {
        "l1_visible_studio_mean": round(float(np.mean([c["l1_visible"] for c in studio])), 2),
        "psnr_visible_studio_mean": round(float(np.mean([c["psnr_visible"] for c in studio])), 2),
        "l1_all_studio_mean": round(float(np.mean([c["l1_all"] for c in studio])), 2),
        "seam_excess_mean": round(float(np.mean([c["seam_excess"] for c in cases])), 2),
        "relit_delta_e_median": round(float(np.median(relit)), 2),
        "relit_delta_e_max": round(float(np.max(relit)), 2),
        "relit_within_5": f"{sum(d <= 5 for d in relit)}/{len(relit)}",
        "relit_over_5_without_shade_warning": sum(c.get("delta_e_to_studio", 0) > 5 and not any(
            "skin tone uncertain" in w for w in c["warnings"]) for c in cases),
        "seconds_median": round(float(np.median([c["seconds"] for c in cases])), 2),
    }
    result = {"benchmark": "build_texture", "photo_size": list(size), "jpeg_quality": args.jpeg,
              "cpu_count": os.cpu_count(),
              "machine": platform.machine(), "gl_renderer": ctx.info["GL_RENDERER"], "summary": summary,
              "cases": cases}
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, text + "\n")


if __name__ == "__main__":
    main()
