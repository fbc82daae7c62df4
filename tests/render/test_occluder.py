"""The skull occluder: hair the head hides is dropped before rasterising, and the picture does not change."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avatar_engine.head.hair import HAIR_PRESETS, HairStyle
from avatar_engine.head.template import template_avatar
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera
from avatar_engine.render.occluder import skull_occluder
from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

SIZE = (320, 180)
CHANGED_LEVELS = 8
"""A pixel differing by more than this (any channel, 0-255) counts as changed."""
UNCHANGED_FRACTION = 0.0005
"""Culling may change at most this fraction of pixels (llvmpipe: none; another driver may round a clipped
triangle's edge differently)."""
MIN_SEMI_AXIS_M = 0.05
"""The ellipsoid must fill most of the skull (semi-axes ~6-8 cm on the template), or it culls little."""
VIEWS = [
    (Camera(), Expression()),
    (Camera(yaw_deg=40), Expression(rotations={"head": euler_rotation(20, 8)})),
    (Camera(yaw_deg=160), Expression.from_names({"jawOpen": 1.0, "browInnerUp": 1.0})),
    (Camera(yaw_deg=90, pitch_deg=-25, distance=0.5), Expression(rotations={"neck": euler_rotation(-15, 10)})),
    (Camera(pitch_deg=60, distance=0.45), Expression()),
    (Camera(yaw_deg=20, distance=0.3), Expression()),
]
"""Front, three-quarter with the head turned, behind with the mouth open, from below, from above, close up."""


@pytest.fixture(scope="module")
def hair_avatars():
    return {"four_sheets": template_avatar(hair=HairStyle(layers=4)),
            "long": template_avatar(hair=HAIR_PRESETS["long"])}


def test_occluder_stays_inside_the_skin_under_every_expression(template):
    occluder = skull_occluder(template)
    assert occluder is not None
    assert occluder.axes.min() >= MIN_SEMI_AXIS_M, occluder.axes
    skin = next(p for p in template.parts if template.materials[p.material].kind == "skin")
    # rest, and each of the 52 shapes at full weight
    poses = np.concatenate([skin.positions[None], skin.positions[None] + skin.morph_positions])
    radius = np.linalg.norm((poses - occluder.centre) / occluder.axes, axis=-1)
    assert radius.min() > 1.0, f"a skin vertex lies inside the occluder (radius {radius.min():.3f})"


@pytest.mark.parametrize("name, quality", [("four_sheets", {}), ("long", {}),
                                           ("four_sheets", {"samples": 4, "shading": "pixel"})])
def test_culling_leaves_the_picture_unchanged(gl_context, hair_avatars, name, quality):
    """In both presets: the software rasteriser's and a GPU's (MSAA, per-pixel light)."""
    avatar = hair_avatars[name]
    options = RenderOptions(size=SIZE, background=STUDIO_BACKDROP, **quality)
    with Renderer(gl_context, options) as culled, \
            Renderer(gl_context, dataclasses.replace(options, occlusion_culling=False)) as plain:
        culled.load(avatar)
        plain.load(avatar)
        for camera, expression in VIEWS:
            culled.render(expression, camera)
            plain.render(expression, camera)
            changed = np.abs(culled.read().astype(int) - plain.read().astype(int)).max(-1) > CHANGED_LEVELS
            assert changed.mean() <= UNCHANGED_FRACTION, (camera, changed.sum())


def test_culling_drops_the_hair_behind_the_skull(gl_context, hair_avatars):
    """Drawn without the head that hides it, the hair behind the skull is missing when culled: the triangles are
    really dropped (with the head drawn, the test above shows nobody can tell)."""
    avatar = hair_avatars["four_sheets"]
    hair_pixels = {}
    for culling in (True, False):
        with Renderer(gl_context, RenderOptions(size=SIZE, occlusion_culling=culling)) as renderer:
            renderer.load(avatar)
            renderer._parts = [p for p in renderer._parts if p.material_kind == "hair"]  # the hair alone
            renderer.render(Expression(), Camera())
            hair_pixels[culling] = renderer.read()[..., 3] > 0
    assert hair_pixels[True].sum() < hair_pixels[False].sum()
    missing = hair_pixels[False] & ~hair_pixels[True]
    assert missing.mean() > 0.01, "culling dropped almost nothing"
    assert not (hair_pixels[True] & ~hair_pixels[False]).any(), "culling cannot add hair"


@pytest.mark.parametrize("pitch", [-60, -89])
def test_from_below_nothing_is_culled_that_shows(ctx, pitch):
    # under the chin a view ray can reach hair through the open neck without crossing skin: the ellipsoid test
    # dropped that hair and left a see-through hole (3,874 pixels of 65,536 looking straight up)
    avatar = template_avatar(hair=HAIR_PRESETS["long"])
    images = []
    for culling in (True, False):
        with Renderer(ctx, RenderOptions(size=(256, 256), occlusion_culling=culling)) as r:
            r.load(avatar)
            r.render(Expression(), Camera(yaw_deg=90, pitch_deg=pitch))
            images.append(r.read().astype(int))
    assert int((np.abs(images[0] - images[1]).max(-1) > 8).sum()) == 0
