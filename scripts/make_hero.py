"""The README's picture: a photo, the avatar built from it (front, three-quarter, smiling), and the default head.

    python scripts/make_hero.py [-o docs/hero.png]

The photo is the astronaut the demo builds from (assets/photos/astronaut.png); renders use the high-quality
preset (4x MSAA, per-pixel light) on the studio backdrop.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_engine.build.pipeline import Builder
from avatar_engine.demo import DEMO_PHOTO
from avatar_engine.head.template import template_avatar
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.output import write_png
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

TILE = (400, 480)
SMILE = Expression.from_names({"mouthSmileLeft": 0.85, "mouthSmileRight": 0.85, "cheekSquintLeft": 0.35,
                               "cheekSquintRight": 0.35}, head=euler_rotation(-8, 0))
SURPRISE = Expression.from_names({"jawOpen": 0.4, "browInnerUp": 0.8, "browOuterUpLeft": 0.7,
                                  "browOuterUpRight": 0.7, "eyeWideLeft": 0.6, "eyeWideRight": 0.6})


def photo_tile(path: Path) -> np.ndarray:
    """The photo cropped to the tile's aspect around its middle and resized to the tile."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    aspect = TILE[0] / TILE[1]
    cw = min(w, int(h * aspect))
    ch = int(cw / aspect)
    left, top = (w - cw) // 2, max(0, (h - ch) // 3)
    return np.asarray(image.crop((left, top, left + cw, top + ch)).resize(TILE, Image.LANCZOS))


FRAME_BOTTOM_M = 0.03
"""The tiles show the avatars from this height (metres above the neck joint: the upper neck) to the top."""
FRAME_MARGIN = 1.25
"""The shown height over the avatars' height: room above the hair and for the chin, nearer the camera."""


def framing(avatars) -> dict:
    """One camera target and distance for every tile, fitting the tallest avatar, hair included, from
    `FRAME_BOTTOM_M` to its top: a built head's size follows the photo and a fixed camera cut its hair off."""
    top = max(float(p.positions[:, 1].max()) for avatar in avatars for p in avatar.parts)
    shown = (top - FRAME_BOTTOM_M) * FRAME_MARGIN
    distance = 0.5 * shown / np.tan(np.radians(Camera().fov_y_deg) / 2)
    return dict(distance=distance, target=(0.0, 0.5 * (top + FRAME_BOTTOM_M), 0.02))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs/hero.png")
    args = parser.parse_args()
    with Builder() as builder:
        built = builder.build(DEMO_PHOTO).avatar
    tiles = [photo_tile(DEMO_PHOTO)]
    template = template_avatar()
    camera = framing((built, template))
    with Renderer(headless_context(), RenderOptions(size=TILE, samples=4, shading="pixel",
                                                   background=STUDIO_BACKDROP)) as renderer:
        for avatar, shots in ((built, ((Expression(), 0.0), (SMILE, 30.0))), (template, ((SURPRISE, -20.0),))):
            renderer.load(avatar)
            for expression, yaw in shots:
                renderer.render(expression, Camera(yaw_deg=yaw, **camera))
                tiles.append(renderer.read()[..., :3])
    write_png(np.concatenate(tiles, axis=1), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
