"""Known-truth scenes for the texture stage: the template head rendered with a known albedo through a PhotoView."""

from __future__ import annotations

import numpy as np

from avatar_engine.build.records import PhotoView
from avatar_engine.build.texture_fill import fill_base
from avatar_engine.head.template import default_materials, template_avatar
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import Lighting, Renderer, RenderOptions

SIDE_LIGHT = Lighting(directions=((0.95, 0.2, 0.25), (-0.75, 0.05, 0.55), (-0.2, 0.5, -0.85)),
                      colors=((4.0, 3.8, 3.6), (0.2, 0.22, 0.25), (1.0, 1.0, 1.1)))
"""A hard key from the subject's left side, almost no fill: half the face in shade."""
_TUNGSTEN = np.array([1.0, 0.78, 0.52]) / (np.array([1.0, 0.78, 0.52]) @ [0.2126, 0.7152, 0.0722])
WARM_LIGHT = Lighting(colors=tuple(tuple(np.asarray(c) * _TUNGSTEN) for c in Lighting().colors),
                      sky=tuple(np.asarray(Lighting().sky) * _TUNGSTEN),
                      ground=tuple(np.asarray(Lighting().ground) * _TUNGSTEN))
"""The studio lights tungsten-coloured, luminance kept: a colour cast made by the light, before the tone curve."""
BACKGROUND = 90


def truth_texture(tone: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """(1024, 1024, 4) uint8 clean skin albedo (no painted scalp), its linear albedo scaled by `tone`."""
    linear = fill_base().astype(np.float64) ** 2 * np.asarray(tone)
    rgb = np.clip(np.round(np.sqrt(np.clip(linear, 0, 1)) * 255), 0, 255).astype(np.uint8)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def photo_view(camera: Camera, size: tuple[int, int]) -> PhotoView:
    focal = size[1] / 2 / np.tan(np.radians(camera.fov_y_deg) / 2)
    return PhotoView(size, camera.view().astype(np.float64), float(focal))


def render_photo(ctx, avatar, view: PhotoView, lighting: Lighting = Lighting()) -> tuple[np.ndarray, np.ndarray]:
    """The 'photo': (h, w, 3) uint8 on a grey background, and (h, w) bool mask of the head. Offline settings
    (MSAA 4, per-pixel light) on every driver, so the photo does not depend on the machine's GL preset."""
    with Renderer(ctx, RenderOptions(size=view.size, samples=4, shading="pixel", lighting=lighting)) as renderer:
        renderer.load(avatar)
        renderer.render(Expression(), view)
        rgba = renderer.read()
    alpha = rgba[..., 3:4] / 255.0
    rgb = np.round(rgba[..., :3] * alpha + BACKGROUND * (1 - alpha)).astype(np.uint8)
    return rgb, rgba[..., 3] > 127


def bald_head(texture: np.ndarray):
    return template_avatar(materials=default_materials(skin_texture=texture), hair=None)
