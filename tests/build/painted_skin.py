"""The template head (no hair) in a painted skin (`synth.albedo.paint_albedo`), photographed and built whole, and
the mean colour of a texel zone: what the lips and stubble tests share."""

from __future__ import annotations

import numpy as np

from avatar_engine.build.delight import texture_to_albedo
from avatar_engine.build.hair_region import srgb_to_lab
from avatar_engine.head.template import default_materials, template_avatar
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions
from avatar_engine.synth.albedo import linear_to_srgb

SKIN = (226, 182, 160)
"""sRGB skin tone of the painted people (a light skin)."""


def zone_lab(texture: np.ndarray, where: np.ndarray) -> np.ndarray:
    """CIELAB of the mean linear albedo (the renderer's: texture value squared) over `where`."""
    mean = texture_to_albedo(texture)[where].mean(0)
    return srgb_to_lab(np.round(linear_to_srgb(mean[None])).astype(np.uint8))[0]


def built_from(gl_context, truth: np.ndarray, expression: dict | None = None) -> np.ndarray:
    """The skin texture built from a 512 x 512 studio photo of the template wearing `truth`, 10 degrees round."""
    import avatar_engine.build

    with Renderer(gl_context, RenderOptions(size=(512, 512), background=STUDIO_BACKDROP)) as renderer:
        renderer.load(template_avatar(materials=default_materials(skin_texture=truth), hair=None))
        renderer.render(Expression.from_names(expression or {}), Camera(yaw_deg=10.0, distance=0.6))
        photo = np.ascontiguousarray(renderer.read()[..., :3])
    return avatar_engine.build(photo).materials["skin"].texture
