"""Which way a fringe is combed, read from the strands over the forehead (avatar_engine.build.hair_sweep), on
renders of the generator's own swept fringes and on the photos."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avatar_engine.build.hair_sweep import fringe_slant, fringe_sweep
from avatar_engine.head.hair import HAIR_PRESETS
from avatar_engine.head.template import template_avatar
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import RenderOptions, Renderer

SWEPT = 0.8
"""The sweep of the rendered fringes."""
READ_MARGIN = 0.3
"""A swept fringe reads at least this much further from 0 than the straight one, on its own side."""
STRAIGHT_SLANT_DEG = 10.0
"""A fringe combed straight down reads within this slant of vertical."""
BACKDROP = ((0.8, 0.82, 0.85), (0.7, 0.72, 0.75))


@pytest.fixture(scope="module")
def reads(gl_context, landmarker):
    from avatar_engine.build.hair_region import hair_region
    from avatar_engine.build.perception import perceive
    from avatar_engine.perception.segmenter import PersonSegmenter

    segmenter = PersonSegmenter()
    out = {}
    with Renderer(gl_context, RenderOptions(size=(512, 512), samples=4, shading="pixel", background=BACKDROP)) as renderer:
        for sweep in (-SWEPT, 0.0, SWEPT):
            renderer.load(template_avatar(hair=dataclasses.replace(HAIR_PRESETS["fringe"], sweep=sweep, fringe=0.05)))
            renderer.render(Expression(), Camera(distance=0.62, target=(0.0, 0.12, 0.0)))
            rgb = np.ascontiguousarray(renderer.read()[..., :3])
            seen = perceive(rgb, landmarker)
            region = hair_region(rgb, segmenter.segment(rgb), seen.points_px)
            out[sweep] = (fringe_slant(rgb, region.mask, seen.points_px),
                          fringe_sweep(rgb, region.mask, seen.points_px))
    return out


def test_a_swept_fringe_reads_swept_to_its_side(reads):
    (straight_slant, _), straight = reads[0.0]
    assert abs(straight_slant) < STRAIGHT_SLANT_DEG
    assert reads[SWEPT][1] > straight + READ_MARGIN  # toward the avatar's left, the image's right
    assert reads[-SWEPT][1] < straight - READ_MARGIN


def test_no_hair_over_the_forehead_reads_no_sweep(grace_hopper, eyes_only_landmarks):
    landmarks = eyes_only_landmarks
    bare = np.zeros(grace_hopper.shape[:2], bool)
    assert fringe_slant(grace_hopper, bare, landmarks) is None
    assert fringe_sweep(grace_hopper, bare, landmarks) == 0.0
