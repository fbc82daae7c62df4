"""Frames of a synthetic person for the live tests: a face other than the reference head's."""

from __future__ import annotations

import numpy as np


def synthetic_person_frames(gl_context, seed: int, shots: dict, size: tuple[int, int], samples: int) -> dict:
    """{name: (h, w, 3) uint8 RGB}: synthetic person `seed` (`synth.scene`) rendered as each `Expression` of shots,
    framed as a webcam frames a person at a desk (`turn_profile.face_camera`)."""
    from avatar_engine.live.turn_profile import face_camera
    from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer
    from avatar_engine.synth.scene import random_scene, scene_avatar

    avatar = scene_avatar(random_scene(np.random.default_rng(seed)))
    camera = face_camera(avatar)
    out = {}
    with Renderer(gl_context, RenderOptions(size=size, samples=samples, background=STUDIO_BACKDROP)) as r:
        r.load(avatar)
        for name, expression in shots.items():
            r.render(expression, camera)
            out[name] = np.ascontiguousarray(r.read()[..., :3])
    return out
