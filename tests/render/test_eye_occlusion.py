"""An eyeball's occlusion stays with its socket as the eye turns."""

from __future__ import annotations

import dataclasses

import numpy as np

from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera
from avatar_engine.head.geometry import sh_basis
from avatar_engine.render.eye_occlusion import socket_occlusion
from avatar_engine.render.renderer import Renderer, RenderOptions

FIT_LEVEL = 0.03
"""The 9-coefficient fit keeps the mean occlusion of the eye's visible front within this of the baked one (it
smooths the lids' sharp shadow line, which the shaders draw by the socket anyway)."""
TURNED_SHADE = 0.85
"""A white eyeball turned 25 degrees keeps at least this share of its darker tenth's brightness looking ahead."""


def test_the_fit_follows_the_baked_occlusion_where_the_eye_shows(template):
    eye = template.part("eye_L")
    fit = sh_basis(eye.normals) @ socket_occlusion(eye.normals, eye.occlusion)
    front = eye.normals[:, 2] > 0.7
    assert abs(fit[front].mean() - eye.occlusion[front].mean()) < FIT_LEVEL


def test_a_turned_eye_shows_no_dark_crescent(ctx, template):
    """Baked per vertex, the rim the nose-side corner shades at rest turned into view: a dark grey crescent on the
    white. Read by the socket's directions, the white keeps its shade."""
    white = np.full((4, 4, 4), 255, np.uint8)
    avatar = dataclasses.replace(template, materials={**template.materials, "eye": dataclasses.replace(
        template.materials["eye"], texture=white)})
    red = dataclasses.replace(template, materials={**template.materials, "eye": dataclasses.replace(
        template.materials["eye"], texture=white, base_color=(1.0, 0.0, 0.0, 1.0))})
    camera = Camera(distance=0.3, target=(0.0, 0.137, 0.11), fov_y_deg=12)
    darker_tenth = []
    for yaw in (0.0, 25.0, -25.0):
        turn = {"eye_L": euler_rotation(yaw, 0), "eye_R": euler_rotation(yaw, 0)}
        images = []
        for a in (avatar, red):
            with Renderer(ctx, RenderOptions(size=(300, 120))) as renderer:
                renderer.load(a)
                renderer.render(Expression(np.zeros(52, np.float32), turn), camera)
                images.append(renderer.read()[..., :3].astype(float))
        ball = np.abs(images[0] - images[1]).max(-1) > 30  # where the eyeballs show
        luma = images[0] @ np.array([0.2126, 0.7152, 0.0722])
        darker_tenth.append(np.percentile(luma[ball], 10))
    assert min(darker_tenth[1:]) >= TURNED_SHADE * darker_tenth[0], darker_tenth


UNOCCLUDED_LEVEL = 0.9
"""An eye from a file without our baked occlusion shows at least this share of its brightness with the occlusion
lifted to 1 everywhere (it rendered black: nine zero coefficients read as fully shaded)."""


def test_an_eye_without_baked_occlusion_is_not_black(ctx, template):
    bare = dataclasses.replace(template, parts=tuple(
        dataclasses.replace(p, occlusion=None) if p.name.startswith("eye") else p for p in template.parts))
    lit = dataclasses.replace(template, parts=tuple(
        dataclasses.replace(p, occlusion=np.ones(p.vertex_count, np.float32)) if p.name.startswith("eye") else p
        for p in template.parts))
    camera = Camera(distance=0.3, target=(0.0, 0.137, 0.11), fov_y_deg=12)
    images = []
    for avatar in (bare, lit):
        with Renderer(ctx, RenderOptions(size=(300, 120))) as renderer:
            renderer.load(avatar)
            renderer.render(Expression(), camera)
            images.append(renderer.read()[..., :3].astype(float))
    luma = [image @ np.array([0.2126, 0.7152, 0.0722]) for image in images]
    whites = (luma[1] > 150) & (np.ptp(images[1], axis=-1) < 40)  # the eye whites, lit: bright and grey, not skin
    assert whites.sum() > 100
    assert luma[0][whites].mean() >= UNOCCLUDED_LEVEL * luma[1][whites].mean()
