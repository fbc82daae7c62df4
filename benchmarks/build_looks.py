"""Pictures to judge a build by eye: the fitted mesh over the photo, and the avatar front and three-quarter.

    python benchmarks/build_looks.py [PHOTO] [--out benchmarks/results/looks] [--face largest]

Writes NAME_overlay.png (the photo, the fitted head rendered through the photo's camera with the photo's
expression at 50%, MediaPipe's landmarks green, the fitted ones red), NAME_front.png, NAME_three_quarter.png
(the rebuilt avatar at rest, studio light), NAME_smile.png and NAME_turntable.png (yaw 0, 90, 180, 270 side by
side), all with the high-quality preset (MSAA 4, per-pixel light), and prints the build report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from avatar_engine.build.landmark_model import Correspondence
from avatar_engine.build.pipeline import BuildOptions, Builder
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.output import write_png
from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

ROOT = Path(__file__).resolve().parents[1]


def dots(image: np.ndarray, points: np.ndarray, color: tuple[int, int, int], radius: int = 1) -> None:
    h, w = image.shape[:2]
    for x, y in np.round(points).astype(int):
        image[max(y - radius, 0):min(y + radius + 1, h), max(x - radius, 0):min(x + radius + 1, w), :3] = color


def main() -> None:
    import matplotlib.cbook

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", default=matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                                                     asfileobj=False))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "looks"))
    parser.add_argument("--face", default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = Path(args.photo).stem
    face = None if args.face is None else (args.face if args.face == "largest" else int(args.face))
    with Builder(BuildOptions(face=face)) as builder:
        result = builder.build(args.photo)
    fit, photo = result.fit, result.photo
    ctx = headless_context()
    w, h = fit.view.size
    with Renderer(ctx, RenderOptions(size=(w, h), samples=4, shading="pixel")) as renderer:
        renderer.load(result.avatar)
        renderer.render(fit.photo_expression, fit.view)
        head = renderer.read().astype(np.float32)
    alpha = head[..., 3:] / 255.0 * 0.5
    overlay = (photo * (1 - alpha) + head[..., :3] * alpha).astype(np.uint8)
    overlay = np.dstack([overlay, np.full((h, w), 255, np.uint8)])
    dots(overlay, fit.landmarks_px[:468], (40, 230, 40))
    dots(overlay, fit.view.project(Correspondence.default().points(fit.posed_positions.astype(np.float64))),
         (240, 40, 40))
    write_png(overlay, out / f"{name}_overlay.png")
    with Renderer(ctx, RenderOptions(size=(640, 640), samples=4, shading="pixel",
                                     background=STUDIO_BACKDROP)) as renderer:
        renderer.load(result.avatar)
        for label, yaw, expression in (("front", 0.0, Expression()), ("three_quarter", 35.0, Expression()),
                                       ("smile", 0.0, Expression.from_names({"mouthSmileLeft": 0.8,
                                                                             "mouthSmileRight": 0.8}))):
            renderer.render(expression, Camera(yaw_deg=yaw, distance=0.62))
            write_png(renderer.read(), out / f"{name}_{label}.png")
        turns = []
        for yaw in (0.0, 90.0, 180.0, 270.0):
            renderer.render(Expression(), Camera(yaw_deg=yaw, distance=0.62))
            turns.append(renderer.read()[80:560, 80:560])
        write_png(np.concatenate(turns, 1), out / f"{name}_turntable.png")
    print(result.report.to_json())
    print(f"wrote {out}/{name}_{{overlay,front,three_quarter,smile,turntable}}.png")


if __name__ == "__main__":
    main()
