"""A tiny clip of our own head with known weights, rendered once per session (PNG folder and mp4)."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera

CLIP_SIZE = (192, 192)
CLIP_CAMERA = Camera(distance=0.55, target=(0.0, 0.10, 0.05))
CLIP_FPS = 30
JAW = np.array([0.0] * 10 + [0.2, 0.45, 0.7, 0.85, 0.85, 0.85, 0.6, 0.3, 0.1, 0.0], np.float32)
"""jawOpen per frame of the clip (20 frames): rest long enough to calibrate, then open and close."""


@pytest.fixture(scope="session")
def clip(gl_context, template, tmp_path_factory):
    """{'folder': Path of PNGs, 'mp4': Path, 'jaw': (20,) true jawOpen}."""
    from avatar_engine.render.output import VideoWriter, write_png
    from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

    root = tmp_path_factory.mktemp("clip")
    folder = root / "frames"
    folder.mkdir()
    with Renderer(gl_context, RenderOptions(size=CLIP_SIZE, samples=0, background=STUDIO_BACKDROP)) as r, \
            VideoWriter(root / "clip.mp4", CLIP_FPS, CLIP_SIZE) as video:
        r.load(template)
        for i, jaw in enumerate(JAW):
            w = np.zeros(52, np.float32)
            w[ARKIT_INDEX["jawOpen"]] = jaw
            r.render(Expression(w), CLIP_CAMERA)
            rgba = r.read()
            write_png(rgba, folder / f"{i:04d}.png")
            video.write(rgba)
    return {"folder": folder, "mp4": root / "clip.mp4", "jaw": JAW}
