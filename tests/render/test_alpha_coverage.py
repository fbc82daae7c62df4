"""Mip levels of alpha-tested textures keep their strands: coverage, sizes, colour, and the renderer's use of them."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.head.lashes import lash_texture
from avatar_engine.render.alpha_coverage import coverage, mip_chain
from avatar_engine.render.mip_levels import MipLevels
from avatar_engine.render.renderer import ALPHA_CUTOFF, Renderer, RenderOptions

COVERAGE_TOLERANCE = 0.02
"""A level's coverage stays this close to level 0's (absolute fraction of texels) while it has 64 texels or more."""


def plain_alphas(alpha: np.ndarray) -> list[np.ndarray]:
    """Alpha averaged 2x2 down the chain, as a driver's mipmaps do (even sizes only)."""
    out = []
    while min(alpha.shape) > 1:
        alpha = alpha.reshape(alpha.shape[0] // 2, 2, alpha.shape[1] // 2, 2).mean((1, 3))
        out.append(alpha)
    return out


def test_levels_keep_the_strands_coverage_that_plain_averaging_loses():
    lashes = lash_texture()
    chain = mip_chain(lashes, ALPHA_CUTOFF)
    base = coverage(lashes[..., 3] / 255.0, ALPHA_CUTOFF)
    for level in chain[1:]:
        if level.shape[0] * level.shape[1] >= 64:
            assert abs(coverage(level[..., 3] / 255.0, ALPHA_CUTOFF) - base) <= COVERAGE_TOLERANCE
    # what the tolerance guards against: plain averaging thins the lashes by a fifth or more on the way down
    plain = [a for a in plain_alphas(lashes[..., 3] / 255.0) if a.size >= 64]
    assert min(coverage(a, ALPHA_CUTOFF) for a in plain) < 0.8 * base


def test_levels_have_gl_sizes_down_to_one_texel():
    image = np.zeros((37, 100, 4), np.uint8)
    sizes = [level.shape[:2] for level in mip_chain(image, ALPHA_CUTOFF)]
    assert sizes[:4] == [(37, 100), (18, 50), (9, 25), (4, 12)] and sizes[-1] == (1, 1)
    assert len(sizes) == 1 + int(np.floor(np.log2(100)))


def test_transparent_texels_do_not_tint_the_strands():
    image = np.zeros((8, 8, 4), np.uint8)  # black where transparent
    image[:, ::2] = (200, 40, 30, 255)      # red strands one texel wide
    level = mip_chain(image, ALPHA_CUTOFF)[1]
    assert np.all(np.abs(level[..., :3].astype(int) - (200, 40, 30)) <= 1)
    assert np.all(level[..., 3] >= 128)  # half-covered blocks pass the test, as half the texels did


@pytest.mark.parametrize("shading", ["vertex", "pixel"])
def test_the_renderer_samples_the_kept_levels(gl_context, template, shading):
    """Both texture paths (a texture per level for per-vertex shading, one mipmapped texture otherwise) hold the
    coverage-keeping levels of the masked materials."""
    renderer = Renderer(gl_context, RenderOptions(size=(64, 64), shading=shading, samples=0))
    try:
        renderer.load(template)
        lash = next(p for p in renderer._parts if p.material_kind == "lash")
        chain = mip_chain(template.materials["lashes"].texture, ALPHA_CUTOFF)
        for k, level in enumerate(chain):
            if isinstance(lash.texture, MipLevels):
                data = lash.texture.levels[k].read()
            else:
                data = lash.texture.read(level=k)
            assert np.array_equal(np.frombuffer(data, np.uint8).reshape(level.shape), level), f"level {k}"
    finally:
        renderer.release()
