"""Each mip level as a texture of its own: the frame's level bound, the same picture as GL's own mip selection."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from avatar_engine.head.hair import HairStyle
from avatar_engine.head.template import template_avatar
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.mip_levels import MipLevels, nearest_level
from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions, texel_density, texture_lod

SIZE = (320, 180)
CHANGED_LEVELS = 8
"""A pixel differing by more than this (any channel, 0-255) counts as changed."""
UNCHANGED_FRACTION = 0.0005
"""At most this fraction of pixels may change (llvmpipe: none; another driver may filter a level differently)."""
CAMERAS = (Camera(distance=0.2), Camera(), Camera(distance=1.6, yaw_deg=35), Camera(distance=5.0, yaw_deg=-50))
"""From close up (the skin at mip level 0 or 1) to far away (level 4 and beyond)."""


def test_nearest_level_is_the_one_gl_samples():
    """OpenGL's *_MIPMAP_NEAREST: level 0 up to a level of detail of 1/2, then the nearest level, within range."""
    assert [nearest_level(lod, 11) for lod in (0.0, 0.5, 0.51, 1.49, 1.5, 1.51, 2.5, 3.2)] == [0, 0, 1, 1, 1, 2, 2, 3]
    assert nearest_level(40.0, 11) == 10 and nearest_level(3.0, 1) == 0


def test_levels_halve_down_to_one_texel(ctx):
    image = np.random.default_rng(0).integers(0, 256, (64, 256, 4), dtype=np.uint8)
    levels = MipLevels.of(ctx, image, nearest=True)
    try:
        assert [t.size for t in levels.levels] == [(256 >> k, max(1, 64 >> k)) for k in range(9)]
        assert np.array_equal(np.frombuffer(levels.levels[0].read(), np.uint8).reshape(image.shape), image)
        # every level holds the image's average colour (a level read before the driver wrote it would be blank)
        for level in levels.levels:
            texels = np.frombuffer(level.read(), np.uint8).reshape(-1, 4)
            assert np.abs(texels.mean(0) - image.reshape(-1, 4).mean(0)).max() < 8
        assert all(t.filter == (moderngl.NEAREST, moderngl.NEAREST) for t in levels.levels)
    finally:
        levels.release()


@pytest.mark.parametrize("texture_filter", ["nearest", "linear"])
def test_level_textures_draw_the_same_picture(ctx, texture_filter):
    """Per-vertex shading with each level a texture of its own against a mipmapped texture and GL's level choice,
    from every distance the cameras span (the skin from level 0 or 1 to 4 and beyond)."""
    avatar = template_avatar(hair=HairStyle(layers=3))
    skin = avatar.part("skin")
    lods = [texture_lod(texel_density(skin, (1024, 1024)),
                        SIZE[1] / (2 * cam.distance * np.tan(np.radians(cam.fov_y_deg) / 2))) for cam in CAMERAS]
    assert min(lods) < 1.0 and max(lods) > 4.0  # the views do span the levels
    pictures = {}
    for levels in (True, False):
        options = RenderOptions(size=SIZE, shading="vertex", samples=0, texture_filter=texture_filter,
                                background=STUDIO_BACKDROP, mip_levels=levels)
        with Renderer(ctx, options) as renderer:
            renderer.load(avatar)
            frames = []
            for cam in CAMERAS:
                for expression in (Expression(), Expression.from_names({"jawOpen": 0.7, "eyeBlinkRight": 1.0})):
                    renderer.render(expression, cam)
                    frames.append(renderer.read().astype(np.int16))
            pictures[levels] = np.stack(frames)
    changed = np.abs(pictures[True] - pictures[False]).max(-1) > CHANGED_LEVELS
    assert changed.mean() <= UNCHANGED_FRACTION
