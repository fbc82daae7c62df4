"""How wavy the hair is, read from its texture (avatar_engine.build.hair_curl), on renders of the generator's own
hair at known waves and on the astronaut photo."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from avatar_engine.build.hair_curl import PHOTO_WAVE_MAX, curl_read, hair_wave
from avatar_engine.head.hair import HairStyle
from avatar_engine.head.template import template_avatar
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

WAVES = (0.0, 0.5, 1.0)
STRAIGHT_READ = 0.15
"""Straight generator hair reads at most this wave."""
CURLY_READ = PHOTO_WAVE_MAX
"""The generator's tightest curls read at least this wave (the template's style reads 0.6 before the cap: see
COHERENCE_TO_WAVE)."""
ASTRONAUT_READ = PHOTO_WAVE_MAX
"""The astronaut's soft-wave bob reads the most a photo can: soft waves."""
ASTRONAUT = Path(__file__).resolve().parents[2] / "assets" / "photos" / "astronaut.png"


@pytest.fixture(scope="module")
def segmenter():
    from avatar_engine.perception.segmenter import PersonSegmenter

    with PersonSegmenter() as s:
        yield s


def read_photo(rgb, landmarker, segmenter):
    from avatar_engine.build.hair_region import hair_region
    from avatar_engine.build.perception import perceive

    seen = perceive(rgb, landmarker)
    region = hair_region(rgb, segmenter.segment(rgb), seen.points_px)
    return curl_read(rgb, region.mask, seen.points_px), hair_wave(rgb, region.mask, seen.points_px)


@pytest.fixture(scope="module")
def reads(gl_context, landmarker, segmenter):
    out = {}
    with Renderer(gl_context, RenderOptions(size=(512, 512), samples=4, shading="pixel",
                                            background=STUDIO_BACKDROP)) as renderer:
        for wave in WAVES:
            renderer.load(template_avatar(hair=dataclasses.replace(HairStyle(), wave=wave)))
            renderer.render(Expression(), Camera(yaw_deg=10.0, distance=0.62, target=(0.0, 0.12, 0.0)))
            out[wave] = read_photo(np.ascontiguousarray(renderer.read()[..., :3]), landmarker, segmenter)
    return out


def test_the_read_is_monotonic_in_the_generators_wave(reads):
    coherence = [reads[w][0].coherence for w in WAVES]
    assert all(a > b for a, b in zip(coherence, coherence[1:])), coherence
    assert reads[0.0][1] <= STRAIGHT_READ
    assert reads[1.0][1] >= CURLY_READ


def test_the_astronaut_reads_wavy(landmarker, segmenter):
    from avatar_engine.build.image import load_photo

    read, wave = read_photo(load_photo(ASTRONAUT), landmarker, segmenter)
    assert read is not None and wave >= ASTRONAUT_READ


def test_no_hair_reads_straight(grace_hopper, eyes_only_landmarks):
    landmarks = eyes_only_landmarks
    bare = np.zeros(grace_hopper.shape[:2], bool)
    assert curl_read(grace_hopper, bare, landmarks) is None
    assert hair_wave(grace_hopper, bare, landmarks) == 0.0
