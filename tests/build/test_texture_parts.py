"""The texture stage's pieces on exact inputs: rasteriser, SH fit, tone curve, mirror map, fill."""

from __future__ import annotations

import numpy as np

from avatar_engine.build import delight
from avatar_engine.build.texture_fill import dilate, mirror_uv_image
from avatar_engine.build.texture_project import rasterize, texel_map
from avatar_engine.head.model import HeadModel

SH_TOLERANCE = 1e-6
MIRROR_TOLERANCE_TEXELS = 1.0


def test_rasterize_covers_a_triangle_by_its_area_and_keeps_the_nearest():
    xy = np.array([[0, 0], [40, 0], [0, 40], [0, 0], [40, 0], [0, 40]], float)
    depth = np.array([1, 1, 1, 0.5, 0.5, 0.5])
    face, bary = rasterize(xy, np.array([[0, 1, 2], [3, 4, 5]]), (64, 64), depth=depth)
    covered = face >= 0
    assert abs(covered.sum() - 40 * 40 / 2) < 40 + 1  # the diagonal's pixel centres
    assert (face[covered] == 1).all(), "the nearer triangle wins"
    assert np.allclose(bary[covered].sum(-1), 1, atol=1e-5)


def test_display_to_linear_inverts_the_renderer_tone_curve():
    c = np.linspace(0.01, 2.0, 50)
    aces = np.clip((c * (2.51 * c + 0.03)) / (c * (2.43 * c + 0.59) + 0.14), 0, 1)
    assert np.allclose(delight.display_to_linear(np.sqrt(aces)), c, rtol=1e-6)


def test_sh_fit_recovers_known_shading_and_pattern():
    rng = np.random.default_rng(0)
    n = rng.normal(size=(4000, 3))
    n[:, 2] = np.abs(n[:, 2])  # one view sees a hemisphere
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    truth = np.zeros((9, 3))
    truth[0], truth[1], truth[3] = (2.0, 1.8, 1.6), (0.5, 0.5, 0.4), (0.8, 0.6, 0.5)
    pattern = rng.uniform(0.7, 1.3, size=(4000, 3))
    colors = pattern * (delight.sh_basis(n) @ truth)
    fitted = delight.fit_shading(colors, n, np.ones(4000), pattern)
    shading_error = np.abs(delight.sh_basis(n) @ (fitted - truth)).max()
    assert shading_error < 0.05 * np.abs(delight.sh_basis(n) @ truth).max()


def test_mirror_map_is_an_involution():
    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    tmap = texel_map(model.uvs[vs], model.triangles[ts] - vs.start, 1024)
    mirror = mirror_uv_image().reshape(-1, 2)
    there = mirror[tmap.texels] * 1024
    ix = np.clip(there.astype(int), 0, 1023)
    back = mirror[ix[:, 1] * 1024 + ix[:, 0]] * 1024
    here = np.stack([tmap.texels % 1024, tmap.texels // 1024], 1) + 0.5
    error = np.linalg.norm(back - here, axis=1)
    assert np.median(error) < MIRROR_TOLERANCE_TEXELS
    # left and right really swap: the mirror of a texel is elsewhere unless it lies on the midline
    assert np.median(np.linalg.norm(there - here, axis=1)) > 10


def test_dilate_fills_holes_and_keeps_known_texels():
    image = np.zeros((32, 32, 3), np.float32)
    filled = np.zeros((32, 32), bool)
    filled[:, :8], image[:, :8] = True, (0.2, 0.4, 0.6)
    out = dilate(image, filled)
    assert np.array_equal(out[filled], image[filled])
    assert np.allclose(out[~filled], (0.2, 0.4, 0.6), atol=1e-5)
