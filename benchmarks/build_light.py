"""Same person under other light: the rebuilt face and skin of a photo vs the same photo relit or colour-cast.

    python benchmarks/build_light.py [--subjects 3] [--save DIR] [--jpeg 85] [--out result.json]

Photos: grace_hopper.jpg, and known-truth renders of `avatar_engine.build.synthetic` subjects (512x512). Variants:
- grace_hopper: synthetic side shading (linear light falls to `RAMP_FLOOR` from the face's midline to one edge,
  both ways: 'shade_half'), a harsher ramp from one edge to the other ('ramp': the whole face but that edge is
  darker, i.e. also a dimmer exposure), display-space colour casts (as an image editor makes them), a light-colour
  cast applied to linear light before re-encoding, and a ramp with a cast;
- renders: the same subject re-rendered under a hard side key with almost no fill (both sides), under tungsten
  coloured lights, and with a display-space cast.
Each variant is rebuilt (fit, then texture; hair and rig do not enter these figures) and compared with the
original photo's rebuild: the rest face over the face region after a similarity alignment (head at real size, mm)
and the mean albedo of the skin the original shows well (texels seen > 0.5 in the original's texture), as
CIE76 Delta E (CIELAB, D65, of the mean linear albedo). Targets: face median <= 1 mm, Delta E <= 5. For renders,
Delta E of each rebuild to the true albedo is reported too (`delta_e_to_truth`).
--jpeg QUALITY passes every photo, the original and each variant, through a JPEG of that quality with its colour
at half resolution (4:2:0), as a camera or an editor saves it (session 51: `build_light_jpeg85.json`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from jpeg_photo import jpeg_round_trip
from PIL import Image
from result_file import emit, machine_record

from avatar_engine.build import delight
from avatar_engine.build.image import load_photo
from avatar_engine.build.pipeline import Builder, BuildOptions
from avatar_engine.build.synthetic import (face_region, random_subject, render_subject, subject_avatar,
                                           subject_view)
from avatar_engine.build.texture import texture_from_fit
from avatar_engine.errors import InputError
from avatar_engine.head.geometry import similarity_fit
from avatar_engine.head.model import HeadModel
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, Lighting, Renderer, RenderOptions

ROOT = Path(__file__).resolve().parents[1]
FACE_TARGET_MM = 1.0
DELTA_E_TARGET = 5.0
RAMP_FLOOR = 0.25
"""Strong side shading on the photo: the far side of the face gets this fraction of the near side's light."""
DISPLAY_CASTS = {"cast_warm": (1.1, 1.0, 0.82), "cast_cool": (0.88, 1.0, 1.12)}
"""Per-channel factors on display values (an image editor's cast)."""
LIGHT_CAST = (1.0, 0.78, 0.52)
"""Tungsten-like light colour, applied to linear light (luminance kept)."""
STRESS_KINDS = ("ramp",)
"""Variants outside issue 3's "strong side shading or a colour cast": a ramp is side shading and a dimmer exposure
at once (`side_ramp`). Counted in the totals, and apart in `side_shading_and_casts`, which leaves them out."""
SIDE_KEY = {"side_left": (0.95, 0.2, 0.25), "side_right": (-0.95, 0.2, 0.25)}
"""Hard key directions for the re-rendered subjects (toward the light; +X is the avatar's own left)."""


def to_linear(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def to_display(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0, 1)
    c = np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.clip(np.round(c * 255), 0, 255).astype(np.uint8)


def side_ramp(rgb: np.ndarray, landmarks_px: np.ndarray, direction: int, half: bool = False) -> np.ndarray:
    """Linear light times a ramp across the face: 1 on one side, RAMP_FLOOR on the other (direction +1: dark right).
    half: the ramp starts at the face's midline (one side in shade, the other as it was); else at the near edge
    (the whole face but that edge darker: also a dimmer exposure, which nothing in the photo can reveal)."""
    x0, x1 = landmarks_px[:, 0].min(), landmarks_px[:, 0].max()
    if half:
        x0, x1 = (x0, 0.5 * (x0 + x1)) if direction < 0 else (0.5 * (x0 + x1), x1)
    t = np.clip((np.arange(rgb.shape[1]) + 0.5 - x0) / max(x1 - x0, 1.0), 0, 1)
    t = t * t * (3 - 2 * t)
    ramp = 1 - (1 - RAMP_FLOOR) * (t if direction > 0 else 1 - t)
    return to_display(to_linear(rgb) * ramp[None, :, None])


def display_cast(rgb: np.ndarray, factors) -> np.ndarray:
    return np.clip(np.round(rgb * np.asarray(factors)), 0, 255).astype(np.uint8)


def light_cast(rgb: np.ndarray, factors) -> np.ndarray:
    f = np.asarray(factors) / (np.asarray(factors) @ delight.LUMA)
    return to_display(to_linear(rgb) * f)


def hard_side_lighting(key_direction) -> Lighting:
    """A hard key toward `key_direction` (`SIDE_KEY`) with almost no fill: the far side of the face in deep shade."""
    return Lighting(directions=(key_direction, (-key_direction[0] * 0.8, 0.05, 0.55), (-0.2, 0.5, -0.85)),
                    colors=((4.0, 3.8, 3.6), (0.2, 0.22, 0.25), (1.0, 1.0, 1.1)))


def tungsten_lighting(studio: Lighting) -> Lighting:
    """The studio rig with every light (sky and ground too) tinted by `LIGHT_CAST`, luminance kept: a colour cast
    of the light alone, not also a dimmer exposure."""
    f = np.asarray(LIGHT_CAST) / (np.asarray(LIGHT_CAST) @ delight.LUMA)

    def tint(color) -> tuple[float, float, float]:
        return tuple(float(c) for c in np.asarray(color) * f)

    return replace(studio, colors=tuple(tint(c) for c in studio.colors), sky=tint(studio.sky),
                   ground=tint(studio.ground))


def mean_lab(texture: np.ndarray, where: np.ndarray) -> np.ndarray:
    return delight.linear_to_lab(delight.texture_to_albedo(texture)[where].mean(0))


def aligned_error_mm(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    s, r, t = similarity_fit(estimate.astype(np.float64), truth.astype(np.float64))
    return np.linalg.norm(s * estimate @ r.T + t - truth, axis=1) * 1000


def stats(values) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    return {"median": round(float(np.median(v)), 3), "p90": round(float(np.percentile(v, 90)), 3),
            "max": round(float(v.max()), 3), "n": int(len(v))}


class Rebuilder:
    """Fit + texture of one photo (hair and rig do not enter these figures)."""

    def __init__(self, model: HeadModel, jpeg: int | None = None) -> None:
        self.model, self.jpeg = model, jpeg
        self.builder = Builder(BuildOptions(texture=False, hair=False), model=model)

    def __call__(self, photo: np.ndarray):
        if self.jpeg:  # saved as a camera or an editor saves it, original and variants alike
            photo = jpeg_round_trip(photo, self.jpeg)
        fit = self.builder.build(photo).fit
        return fit, texture_from_fit(photo, fit, model=self.model)


def compare(name: str, variant: str, photo, rebuild: Rebuilder, original, face, truth=None, save=None) -> dict:
    fit0, tex0 = original
    row = {"photo": name, "variant": variant}
    try:
        fit, tex = rebuild(photo)
    except InputError as exc:
        return {**row, "refused": str(exc)}
    seen = tex0.seen > 0.5
    row["face_mm_median"] = round(float(np.median(aligned_error_mm(fit.neutral_positions[face],
                                                                   fit0.neutral_positions[face]))), 3)
    row["delta_e"] = round(float(np.linalg.norm(mean_lab(tex.texture, seen) - mean_lab(tex0.texture, seen))), 2)
    row["skin_rgb"], row["skin_rgb_original"] = list(tex.skin_rgb), list(tex0.skin_rgb)
    row["white_balance_from_sclera"] = tex.white_balance_from_sclera
    row["face_light"] = round(tex.face_light, 3)
    row["key_facing"] = round(tex.key_facing, 2)
    row["warnings"] = list(tex.warnings)
    if truth is not None:
        row["delta_e_to_truth"] = round(float(np.linalg.norm(mean_lab(tex.texture, seen) - mean_lab(truth, seen))), 2)
    if save is not None:
        Image.fromarray(photo).save(save / f"{name}_{variant}_photo.png")
        Image.fromarray(tex.texture[..., :3]).save(save / f"{name}_{variant}_albedo.png")
    print(json.dumps(row), flush=True)
    return row


def render(ctx, avatar, subject, view, lighting: Lighting) -> np.ndarray:
    with Renderer(ctx, RenderOptions(size=view.size, background=STUDIO_BACKDROP, lighting=lighting)) as renderer:
        renderer.load(avatar)
        return render_subject(renderer, subject, view)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--max-yaw", type=float, default=20.0)
    parser.add_argument("--save", type=Path, help="directory for the variant photos and albedos as PNG")
    parser.add_argument("--jpeg", type=int, metavar="QUALITY",
                        help="pass every photo through a JPEG of this quality, its colour at half resolution (4:2:0)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "build_light.json")
    args = parser.parse_args()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    model = HeadModel.default()
    face = face_region(model)
    rebuild = Rebuilder(model, args.jpeg)
    rows = []

    import matplotlib
    photo = load_photo(Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg")
    original = rebuild(photo)
    if args.save:
        Image.fromarray(original[1].texture[..., :3]).save(args.save / "grace_hopper_original_albedo.png")
    points = original[0].landmarks_px
    variants = {"shade_half_right": side_ramp(photo, points, +1, half=True),
                "shade_half_left": side_ramp(photo, points, -1, half=True),
                "ramp_dark_right": side_ramp(photo, points, +1), "ramp_dark_left": side_ramp(photo, points, -1),
                **{k: display_cast(photo, v) for k, v in DISPLAY_CASTS.items()},
                "light_tungsten": light_cast(photo, LIGHT_CAST),
                "ramp_and_cast_warm": display_cast(side_ramp(photo, points, +1), DISPLAY_CASTS["cast_warm"])}
    for variant, image in variants.items():
        rows.append(compare("grace_hopper", variant, image, rebuild, original, face, save=args.save))

    ctx = headless_context()
    tungsten = tungsten_lighting(Lighting())
    for k in range(args.subjects):
        subject = random_subject(np.random.default_rng(args.seed + k), model, max_yaw=args.max_yaw)
        name = f"subject_{args.seed + k}"
        view = subject_view(subject, (512, 512), model=model)
        avatar = subject_avatar(subject, model)
        truth = avatar.materials[avatar.part("skin").material].texture
        studio = render(ctx, avatar, subject, view, Lighting())
        try:
            original = rebuild(studio)
        except InputError as exc:
            rows.append({"photo": name, "variant": "studio", "refused": str(exc)})
            continue
        seen = original[1].seen > 0.5
        rows.append({"photo": name, "variant": "studio (original)", "delta_e_to_truth": round(float(
            np.linalg.norm(mean_lab(original[1].texture, seen) - mean_lab(truth, seen))), 2)})
        images = {**{v: render(ctx, avatar, subject, view, hard_side_lighting(d)) for v, d in SIDE_KEY.items()},
                  "light_tungsten": render(ctx, avatar, subject, view, tungsten),
                  "cast_warm": display_cast(studio, DISPLAY_CASTS["cast_warm"])}
        for variant, image in images.items():
            rows.append(compare(name, variant, image, rebuild, original, face, truth=truth, save=args.save))
    rebuild.builder.close()

    done = [r for r in rows if "face_mm_median" in r]
    # issue 3 asks for strong side shading or a colour cast; a ramp also dims the whole exposure, which nothing in
    # a photo without a white reference can tell from darker skin: reported, apart
    criterion = [r for r in done if not r["variant"].startswith(STRESS_KINDS)]
    result = {
        "benchmark": "build_light",
        "jpeg_quality": args.jpeg,
        "targets": {"face_mm_median": FACE_TARGET_MM, "delta_e_cie76": DELTA_E_TARGET},
        "summary": {
            "face_mm_median": stats([r["face_mm_median"] for r in done]),
            "delta_e": stats([r["delta_e"] for r in done]),
            "face_within_target": f"{sum(r['face_mm_median'] <= FACE_TARGET_MM for r in done)}/{len(done)}",
            "delta_e_within_target": f"{sum(r['delta_e'] <= DELTA_E_TARGET for r in done)}/{len(done)}",
            "refused": sum("refused" in r for r in rows),
            "side_shading_and_casts": {
                "kinds": sorted({r["variant"].split("_")[0] for r in criterion}),
                "face_within_target": f"{sum(r['face_mm_median'] <= FACE_TARGET_MM for r in criterion)}/{len(criterion)}",
                "delta_e_within_target": f"{sum(r['delta_e'] <= DELTA_E_TARGET for r in criterion)}/{len(criterion)}"},
            "by_kind": {kind: {"delta_e": stats([r["delta_e"] for r in done if r["variant"].startswith(kind)]),
                               "face_mm_median": stats([r["face_mm_median"] for r in done
                                                        if r["variant"].startswith(kind)])}
                        for kind in ("shade", "ramp", "side", "cast", "light") if any(r["variant"].startswith(kind)
                                                                             for r in done)},
        },
        "delta_e_formula": "CIE76 (Euclidean distance in CIELAB, D65) between mean linear albedos",
        "machine": machine_record(load_before, t_start),
        "cases": rows,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
