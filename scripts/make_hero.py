"""The README's picture: the default head neutral, smiling and surprised, high-quality preset.

    python scripts/make_hero.py [-o docs/hero.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from avatar_engine.head.template import template_avatar
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.output import write_png
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

SHOTS = (
    (Expression(), 0.0),
    (Expression.from_names({"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "cheekSquintLeft": 0.4,
                            "cheekSquintRight": 0.4}, head=euler_rotation(-8, 0)), 25.0),
    (Expression.from_names({"jawOpen": 0.45, "browInnerUp": 0.8, "browOuterUpLeft": 0.7, "browOuterUpRight": 0.7,
                            "eyeWideLeft": 0.6, "eyeWideRight": 0.6}), -20.0),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs/hero.png")
    args = parser.parse_args()
    tiles = []
    with Renderer(headless_context(), RenderOptions(size=(480, 560), samples=4, shading="pixel",
                                                   background=STUDIO_BACKDROP)) as renderer:
        renderer.load(template_avatar())
        for expression, yaw in SHOTS:
            renderer.render(expression, Camera(yaw_deg=yaw, distance=0.62, target=(0.0, 0.15, 0.02)))
            tiles.append(renderer.read())
    write_png(np.concatenate(tiles, axis=1), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
