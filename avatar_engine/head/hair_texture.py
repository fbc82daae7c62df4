"""The strand texture of the hair sheets: clumps of strands with tapered tips, one horizontal band per layer.

u runs around the head (the texture repeats several times round it), v runs along the strands from root (band
top) to tip (band bottom). Alpha is cut by clumps a few millimetres wide, not by single strands: alpha-tested
strands thinner than a pixel vanish in the mipmaps, clumps survive them; the single strands live in the colour.
"""

from __future__ import annotations

import numpy as np

BANDS = 4
"""Layers the atlas has room for: band k spans v in [k / BANDS, (k + 1) / BANDS]."""
WIDTH, BAND_HEIGHT = 512, 512
CLUMP_TEXELS = (18, 36)
"""Range of clump widths in texels (0.2 mm each round a typical head): locks several pixels wide at 720p (narrower
clumps read as separate straws with dark gaps between them)."""
SWAY_TEXELS = 3.0
"""Largest sideways wander of a clump along its length."""
GUTTER = 3
"""Texels left transparent between bands so mipmaps do not bleed one layer's roots into another's tips."""
TIP_START = 0.75
"""Fraction of a strand's length (v) where the innermost layer starts to taper into tips."""
TIP_SPREAD = 0.2
"""Clumps of the outermost layer end up to this fraction of the strand short of its full length (a layered cut, not
a straight line); the innermost, which hides the scalp, a quarter of it."""
OUTER_PRESENCE = 0.95
"""Fraction of clumps present in the outermost layer (the innermost has all): the inner layers show between."""
CROWN_SOLID = 0.12
"""Along the first part of a strand (v below this) every layer is solid: the crown shows no gaps."""
GAP_FROM = 0.3
"""An absent clump of an outer layer leaves its gap from this far along the strand (v) on: gaps open toward the
tips, where locks part, not as dark stripes over the crown."""
INNER_SHADE = 0.9
"""Brightness of the innermost layer relative to the outermost: it sits in the outer layers' shadow."""


def band_v(layer: int, t: np.ndarray) -> np.ndarray:
    """t : (...,) position along the strand in [0, 1] (root to tip) -> v in the layer's band."""
    top = layer * BAND_HEIGHT + GUTTER
    span = BAND_HEIGHT - 2 * GUTTER
    return ((top + np.asarray(t) * span) / (BANDS * BAND_HEIGHT)).astype(np.float32)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Circular box blur along the last axis."""
    kernel = np.ones(width) / width
    return np.real(np.fft.ifft(np.fft.fft(x, axis=-1) * np.fft.fft(kernel, x.shape[-1]), axis=-1))


def strand_atlas(color: tuple[int, int, int], layers: int, density: float = 1.0, seed: int = 7) -> np.ndarray:
    """(BANDS * BAND_HEIGHT, WIDTH, 4) uint8 sRGB + alpha; band k holds layer k of `layers` (innermost first).

    density in [0, 1] thins every layer's clumps (thinning hair)."""
    rng = np.random.default_rng(seed)
    atlas = np.zeros((BANDS * BAND_HEIGHT, WIDTH, 4), np.uint8)
    v = (np.arange(BAND_HEIGHT - 2 * GUTTER) + 0.5) / (BAND_HEIGHT - 2 * GUTTER)  # root 0 -> tip 1
    u = np.arange(WIDTH)
    base = np.asarray(color, np.float32)
    # strands: one texel wide, tone varying strand to strand and slowly along the strand
    for k in range(min(layers, BANDS)):
        outer = k / max(layers - 1, 1)  # 0 innermost, 1 outermost
        # clumps: random widths in CLUMP_TEXELS tiling the width
        widths = rng.integers(CLUMP_TEXELS[0], CLUMP_TEXELS[1] + 1, WIDTH // 4)
        edges = np.concatenate([[0], np.cumsum(widths)])
        edges = edges[edges < WIDTH]
        clump = np.searchsorted(edges, u, side="right") - 1
        n = clump.max() + 1
        centre = (edges[clump] + np.minimum(np.append(edges[1:], WIDTH)[clump], WIDTH)) / 2
        half = (np.append(edges[1:], WIDTH)[clump] - edges[clump]) / 2
        # clumps sway a little sideways along their length, so they read as locks, not planks
        sway = (rng.uniform(0, SWAY_TEXELS, n)[None] * np.sin(2 * np.pi * rng.uniform(0.7, 2.5, n)[None] * v[:, None]
                                                                + rng.uniform(0, 2 * np.pi, n)[None]))
        across = np.abs(u[None] - centre[None]) / np.maximum(half, 1)[None]  # 0 middle, 1 edge: tiles, no gaps
        # the sway bends a clump's tip and its shading, never its body: clumps side by side must not open gaps
        swayed = np.abs(u[None] - centre[None] - sway[:, clump]) / np.maximum(half, 1)[None]
        presence = 1.0 - (1.0 - OUTER_PRESENCE) * outer
        present = rng.random(n) < presence * density
        tip_start = np.where(rng.random(n) < 0.5, TIP_START, TIP_START - 0.25 * outer * rng.random(n))
        tip_start = tip_start - 0.08 * rng.random(n)
        end = 1.0 - TIP_SPREAD * (0.25 + 0.75 * outer) * rng.random(n) ** 0.7  # clumps end at different lengths: no straight cut line
        tip_start = tip_start * end
        # an absent clump is absent only away from the crown, where all columns meet and gaps would show the scalp
        gap_from = np.where(present, 2.0, GAP_FROM + rng.random(n) * 0.25)
        # a clump tapers to a point: past tip_start its half-width shrinks linearly to zero at its end
        taper = np.clip((end[clump][None] - v[:, None]) / np.maximum(end[clump] - tip_start[clump], 1e-3)[None], 0, 1)
        tip_len = np.clip(taper ** 0.5, 0, 1)
        along = v[:, None] < gap_from[clump][None]
        inside = (np.where(tip_len < 1.0, swayed, across) <= tip_len) & (along | (v[:, None] < CROWN_SOLID))
        alpha = np.where(inside, 255, 0).astype(np.uint8)
        tone = 0.84 + 0.28 * _smooth(rng.random(WIDTH), 2)  # per strand
        drift = 1.0 + 0.08 * np.sin(v[:, None] * rng.uniform(6, 14) + rng.uniform(0, 6.3, WIDTH)[None])
        edge_shadow = 1.0 - 0.08 * np.minimum(swayed, 1.0) ** 2  # the clump's own strands shade its edges
        gradient = 0.82 + 0.26 * v[:, None]  # roots darker, sunlit tips lighter
        shade = INNER_SHADE + (1.0 - INNER_SHADE) * outer if layers > 1 else 0.85
        light = (tone[None] * drift * edge_shadow * gradient * shade)[..., None]
        rgb = np.clip(base[None, None] * light, 0, 255).astype(np.uint8)
        top = k * BAND_HEIGHT + GUTTER
        atlas[top:top + len(v), :, :3] = rgb
        atlas[top:top + len(v), :, 3] = alpha
        atlas[top - GUTTER:top, :, :3] = rgb[:1]
        atlas[top + len(v):top + len(v) + GUTTER, :, :3] = rgb[-1:]
    return atlas
