"""Lip colour on known truth: does the avatar wear the person's lips, mouth shut and in a smile that shows teeth?

    python benchmarks/build_lips.py [--yaws 0 20] [--size 512] [--save DIR] [--out result.json]

The issue asks for the lips kept. `build_texture.py` cannot see whether they are: its people wear the shipped skin
tinted as a whole, lips and all, so lips filled in from the shipped skin's own, times the skin's tone, come out
right there whatever the photo showed of them. People's lips differ from their skin by their own amount (pale,
dark, lipstick).

Here the template head (no hair) wears `synth.albedo.paint_albedo` skins: one skin tone (`SKIN`) with each of
`LIPS` (the shipped skin's own, pale, dark, a red and a mauve lipstick). Each is rendered under the studio light with
each of `EXPRESSIONS` (at rest, a closed smile, a broad smile that shows the teeth, like scikit-image's astronaut)
at each yaw, and built whole (`avatar_engine.build`: perception, fit, texture) from the render. Scored over the
lip zone the painter paints (`synth.albedo` lip mask over 0.5): the CIE76 Delta E between the mean linear albedo of
the rebuilt texture and of the truth there, and the same over the plain cheeks beside them (`CHEEKS`) for scale.
No target of its own: the issue's "lips kept", measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_engine.build.hair_region import srgb_to_lab
from avatar_engine.build.pipeline import Builder, BuildOptions
from avatar_engine.head.template import default_materials, template_avatar
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions
from avatar_engine.synth.albedo import SkinLook, UVSurface, lip_zone, linear_to_srgb, paint_albedo

sys.path.insert(0, str(Path(__file__).parent))
from result_file import emit  # noqa: E402

SKIN = (226, 182, 160)
"""sRGB skin tone every person here has (a light skin; the lips are what varies)."""
LIPS = {"shipped": (184, 98, 92), "pale": (214, 150, 146), "dark": (128, 66, 66), "red_lipstick": (176, 32, 48),
        "mauve_lipstick": (150, 84, 110)}
"""sRGB lip colours (`SkinLook.lips`): the shipped skin's own lips, then people whose lips are not."""
EXPRESSIONS = {
    "rest": {},
    "closed_smile": {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6},
    "teeth_smile": {"mouthSmileLeft": 0.85, "mouthSmileRight": 0.85, "mouthUpperUpLeft": 0.5,
                    "mouthUpperUpRight": 0.5, "mouthLowerDownLeft": 0.35, "mouthLowerDownRight": 0.35,
                    "jawOpen": 0.15},
}
"""ARKit weights of each photo's expression."""
CHEEKS = ((0.025, 0.05), (-0.06, -0.03))
"""The plain skin scored for scale: |x| and y (m, against the eyes' height) of the cheeks beside the mouth."""


def mean_lab(texture: np.ndarray, where: np.ndarray) -> np.ndarray:
    """CIELAB of the mean linear albedo of `texture` (h, w, >=3 uint8, our gamma-2 texture units) over `where`."""
    linear = (texture[..., :3].astype(np.float64) / 255.0) ** 2
    mean = linear[where].mean(0)
    return srgb_to_lab(np.round(linear_to_srgb(mean[None])).clip(0, 255).astype(np.uint8))[0]


def zones() -> tuple[np.ndarray, np.ndarray]:
    """(lips, cheeks): (SIZE, SIZE) bool texel masks of the skin layout."""
    surface = UVSurface.default()
    lips = lip_zone(surface) > 0.5
    p = surface.positions
    x, y = np.abs(p[..., 0]), p[..., 1] - surface.eye_y
    cheeks = (surface.covered & (x > CHEEKS[0][0]) & (x < CHEEKS[0][1]) & (y > CHEEKS[1][0]) & (y < CHEEKS[1][1])
              & (p[..., 2] > surface.eye_z - 0.03))
    return lips, cheeks


def photo(ctx, truth: np.ndarray, weights: dict, yaw: float, size: int) -> np.ndarray:
    avatar = template_avatar(materials=default_materials(skin_texture=truth), hair=None)
    with Renderer(ctx, RenderOptions(size=(size, size), background=STUDIO_BACKDROP)) as renderer:
        renderer.load(avatar)
        renderer.render(Expression.from_names(weights), Camera(yaw_deg=yaw, distance=0.6))
        return np.ascontiguousarray(renderer.read()[..., :3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yaws", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--save", type=Path, help="directory for the photos and the rebuilt lips as PNG")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "build_lips.json")
    args = parser.parse_args()
    lips, cheeks = zones()
    ctx = headless_context()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    cases = []
    with Builder(BuildOptions()) as builder:
        for lip_name, lip_rgb in LIPS.items():
            truth = paint_albedo(SkinLook(skin=SKIN, lips=lip_rgb, blush=0.35, seed=1))
            true_lips, true_cheeks = mean_lab(truth, lips), mean_lab(truth, cheeks)
            for expression, weights in EXPRESSIONS.items():
                for yaw in args.yaws:
                    rgb = photo(ctx, truth, weights, yaw, args.size)
                    built = builder.build(rgb).avatar.materials["skin"].texture
                    got_lips, got_cheeks = mean_lab(built, lips), mean_lab(built, cheeks)
                    case = {"lips": lip_name, "expression": expression, "yaw": yaw,
                            "lips_delta_e": round(float(np.linalg.norm(got_lips - true_lips)), 2),
                            "cheeks_delta_e": round(float(np.linalg.norm(got_cheeks - true_cheeks)), 2),
                            "true_lips_lab": [round(float(v), 1) for v in true_lips],
                            "built_lips_lab": [round(float(v), 1) for v in got_lips]}
                    cases.append(case)
                    print(json.dumps(case), file=sys.stderr, flush=True)
                    if args.save:
                        name = f"{lip_name}_{expression}_yaw{int(yaw)}"
                        Image.fromarray(rgb).save(args.save / f"{name}_photo.png")
                        box = np.argwhere(lips)
                        (r0, c0), (r1, c1) = box.min(0) - 20, box.max(0) + 20
                        Image.fromarray(np.hstack([truth[r0:r1, c0:c1, :3], built[r0:r1, c0:c1, :3]])).save(
                            args.save / f"{name}_lips.png")

    def summary(rows: list[dict]) -> dict:
        values = np.array([r["lips_delta_e"] for r in rows])
        return {"median": round(float(np.median(values)), 2), "max": round(float(values.max()), 2), "n": len(rows)}

    result = {"benchmark": "build_lips", "size": args.size, "yaws": args.yaws, "skin": list(SKIN),
              "lips_delta_e": summary(cases),
              "by_expression": {e: summary([c for c in cases if c["expression"] == e]) for e in EXPRESSIONS},
              "by_lips": {n: summary([c for c in cases if c["lips"] == n]) for n in LIPS},
              "cheeks_delta_e_median": round(float(np.median([c["cheeks_delta_e"] for c in cases])), 2),
              "delta_e_formula": "CIE76 between mean linear albedos over the painter's lip zone",
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "cases": cases}
    emit(result, args.out)


if __name__ == "__main__":
    main()
