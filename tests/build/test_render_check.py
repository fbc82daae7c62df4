"""The render check's measurement: MediaPipe's landmarks on an image against the photo's, in inter-ocular units."""

from __future__ import annotations

import numpy as np

from avatar_engine.build.perception import perceive
from avatar_engine.build.render_check import landmark_agreement

SAME_IMAGE_TOL = 1e-6
"""The photo checked against itself agrees exactly (MediaPipe is deterministic on one image)."""
SHIFT_PX = 12
SHIFT_TOL = 0.25
"""A copy of the photo moved SHIFT_PX to the right reads as that shift, within this fraction of it (MediaPipe's
points move with the face, not exactly by whole pixels)."""


def test_photo_agrees_with_itself_and_a_shift_is_measured(grace_hopper, landmarker):
    seen = perceive(grace_hopper, landmarker)
    same = landmark_agreement(grace_hopper, seen.points_px, landmarker)
    assert same.found and same.mean < SAME_IMAGE_TOL and same.max < SAME_IMAGE_TOL
    moved = np.empty_like(grace_hopper)
    moved[:, SHIFT_PX:] = grace_hopper[:, :-SHIFT_PX]
    moved[:, :SHIFT_PX] = grace_hopper[:, :1]
    shifted = landmark_agreement(moved, seen.points_px, landmarker)
    expected = SHIFT_PX / seen.inter_ocular_px
    assert shifted.found and abs(shifted.mean - expected) < SHIFT_TOL * expected, (shifted.mean, expected)
    assert shifted.render_points_px[:, 0].mean() - seen.points_px[:, 0].mean() > 0


def test_no_face_on_the_render_is_reported_not_raised(grace_hopper, landmarker):
    seen = perceive(grace_hopper, landmarker)
    blank = np.full_like(grace_hopper, 90)
    check = landmark_agreement(blank, seen.points_px, landmarker)
    assert not check.found and np.isnan(check.mean) and check.as_report()["found"] is False
    assert check.as_report()["mean"] is None  # JSON null: a NaN made the report unreadable to strict parsers


SCALED_AGREEMENT = 0.004
"""A photo's fit scaled 2.5x (a 1280 x 1500 photo of the same framing) checks as the photo itself does, on a render
capped at `CHECK_SIDE`: mean agreement within this (fraction of the inter-ocular distance)."""


def test_a_large_photo_is_checked_on_a_smaller_render_of_the_same_framing(grace_hopper, landmarker, gl_context):
    from dataclasses import replace

    from avatar_engine.build.pipeline import Builder, BuildOptions
    from avatar_engine.build.render_check import CHECK_SIDE, check_render

    with Builder(BuildOptions(texture=False, hair=False)) as builder:
        result = builder.build(grace_hopper)
    fit, k = result.fit, 2.5
    plain = check_render(gl_context, result.avatar, fit, landmarker)
    large = replace(fit, view=replace(fit.view, size=(1280, 1500), focal_px=fit.view.focal_px * k),
                    landmarks_px=fit.landmarks_px * k)
    assert max(large.view.size) > CHECK_SIDE
    scaled = check_render(gl_context, result.avatar, large, landmarker)
    assert plain.found and scaled.found
    assert abs(scaled.mean - plain.mean) < SCALED_AGREEMENT, (scaled.mean, plain.mean)
    # the render's points come back in the large photo's pixels
    assert np.allclose(scaled.render_points_px.mean(0), k * plain.render_points_px.mean(0), rtol=0.01)
