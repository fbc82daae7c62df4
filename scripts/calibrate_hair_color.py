"""The table behind avatar_engine.build.scalp.HAIR_RESPONSE: how the renderer's studio light turns a hair albedo
into the light a photo of it would record, next to the same light on skin.

    python scripts/calibrate_hair_color.py

The builder reads the hair's colour from the photo and gives it the face's brightness correction, as if hair
caught the light as skin does. It does not: the strand texture's lighter outer layer, the Kajiya-Kay highlight
and the sky's blue on a surface that faces up everywhere make a hair albedo render lighter and greyer than skin of
that albedo. Here the template's head is rendered through the calibration camera at two grey albedos per material
(the hair's strand texture grown in that grey, the skin uniform), each style of STYLES; the renders are undone to linear light (delight.display_to_linear,
as the builder undoes photos) and averaged over the hair's pixels (those that change with the hair's albedo), and read on the skin where
the builder reads a photo's (delight.skin_color, on MediaPipe's landmarks of the render). Light is affine in albedo per channel
(diffuse times albedo plus highlight): the hair's slope and offset, and the skin's slope, averaged over the styles,
are printed for pasting into scalp.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from avatar_engine.build.delight import albedo_to_texture, display_to_linear, skin_color
from avatar_engine.build.perception import MAX_FACES, perceive
from avatar_engine.head.hair import HAIR_PRESETS, HairStyle, hair_material
from avatar_engine.head.template import template_avatar
from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

STYLES = {"template": HairStyle(), "medium": HAIR_PRESETS["medium"],
          "astronaut": HairStyle(length=0.18, volume=0.04, fringe=0.052, sweep=1.0, wave=0.5)}
"""The astronaut's style is the builder's fit of assets/photos/astronaut.png."""
CAMERA = Camera(yaw_deg=10.0, distance=0.62, target=(0.0, 0.12, 0.0))
"""The camera of scripts/calibrate_hair_wave.py: a head filling a portrait photo, turned a little."""
LEVELS = (0.02, 0.2)
"""Two uniform linear albedos per material: the line through them."""
OPTIONS = RenderOptions(size=(512, 512), samples=4, shading="pixel", background=STUDIO_BACKDROP)
"""The builder's render check renders this way (build/render_check.py)."""


def _render(ctx, avatar) -> np.ndarray:
    """(h, w, 3) uint8 display values."""
    with Renderer(ctx, OPTIONS) as renderer:
        renderer.load(avatar)
        renderer.render(Expression.from_names(), CAMERA)
        return np.ascontiguousarray(renderer.read()[..., :3])


def _skin_at(avatar, level: float):
    """`avatar` with a uniform skin of linear albedo `level`."""
    skin = avatar.materials["skin"]
    texture = np.array(skin.texture, copy=True)
    texture[..., :3] = albedo_to_texture(np.full(3, level))
    return dataclasses.replace(avatar, materials={**avatar.materials, "skin": dataclasses.replace(skin, texture=texture)})


def _hair_at(avatar, style: HairStyle, level: float):
    """`avatar` with `style`'s strand texture grown in the grey of linear albedo `level`."""
    grey = tuple(int(c) for c in albedo_to_texture(np.full(3, level)))
    return dataclasses.replace(avatar, materials={**avatar.materials,
                                                  "hair": hair_material(dataclasses.replace(style, color=grey))})


def main() -> None:
    ctx = headless_context()
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES)) as landmarker:
        slopes = [_style_lines(ctx, landmarker, name, style) for name, style in STYLES.items()]
    hair_slopes, hair_offsets, skin_slopes = zip(*slopes)
    fmt = lambda v: "(" + ", ".join(f"{x:.3f}" for x in np.mean(v, axis=0)) + ")"  # noqa: E731
    print(f"HAIR_RESPONSE = ({fmt(hair_slopes)}, {fmt(hair_offsets)}, {fmt(skin_slopes)})")


def _style_lines(ctx, landmarker, name: str, style: HairStyle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hair's slope and offset and the cheeks' slope for one style."""
    avatar = template_avatar(hair=style)
    base = _skin_at(_hair_at(avatar, style, LEVELS[0]), LEVELS[0])
    hair_hi, skin_hi = _hair_at(base, style, LEVELS[1]), _skin_at(base, LEVELS[1])
    low_rgb, hair_rgb, skin_rgb = _render(ctx, base), _render(ctx, hair_hi), _render(ctx, skin_hi)
    low, hair_up = display_to_linear(low_rgb), display_to_linear(hair_rgb)
    hair = np.abs(hair_rgb.astype(int) - low_rgb).max(-1) > 0
    span = LEVELS[1] - LEVELS[0]
    hair_slope = (hair_up[hair].mean(0) - low[hair].mean(0)) / span
    hair_offset = low[hair].mean(0) - hair_slope * LEVELS[0]
    # the skin where the builder reads it in a photo: delight.skin_color's cheek and forehead patches
    points = perceive(skin_rgb, landmarker).points_px
    cheeks = [display_to_linear(skin_color(rgb, points) / 255.0) for rgb in (low_rgb, skin_rgb)]
    skin_slope = (cheeks[1] - cheeks[0]) / span
    print(f"{name:10s} hair pixels {int(hair.sum()):6d} slope {np.round(hair_slope, 3)} offset "
          f"{np.round(hair_offset, 4)}   skin (cheeks) slope {np.round(skin_slope, 3)}")
    return hair_slope, hair_offset, skin_slope


if __name__ == "__main__":
    main()
