"""Curly tips that read as hair ends: no alpha islands in the wave-1 strand atlas (they rendered as specks on the
forehead) and a curly fringe's tips spread along its hanging part instead of squeezed into its last centimetre."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avatar_engine.head.hair import COLUMNS, HAIR_PRESETS, HairStyle, hair_sheets
from avatar_engine.head.hair_scalp import Scalp
from avatar_engine.head.hair_texture import BAND_HEIGHT, GUTTER, strand_atlas

STRAY_TEXELS = 0
"""Opaque texels of a wave-1 band not joined (4-connected, round the band's wrap) to its roots: before the fix the
template's colour had 349 and 2,335 in its two bands, hooked tips cut off by a neighbouring lock."""
FRINGE_TIP_SQUEEZE = 3.5
"""Texture rows per metre along a curly fringe's last grid row at most this many times its strands' median (3.05
with hair.FRINGE_CURL_TIP_M 2 cm): the squeezed tips (8.5 times) were drawn from a coarse mip level and broke into
specks. Straight fringes keep theirs."""
FRONT_COLUMNS = 8
"""Columns whose tips lie furthest forward: the middle of the fringe."""


def stray_texels(alpha: np.ndarray) -> int:
    """alpha : (r, w) uint8, row 0 the roots -> opaque texels no 4-connected path joins to row 0 (u wraps)."""
    inside = alpha > 127
    reach = np.zeros_like(inside)
    reach[0] = inside[0]
    while True:
        grow = reach | np.roll(reach, 1, 1) | np.roll(reach, -1, 1)
        grow[1:] |= reach[:-1]
        grow[:-1] |= reach[1:]
        grow &= inside
        if (grow == reach).all():
            return int((inside & ~reach).sum())
        reach = grow


@pytest.fixture(scope="module")
def scalp(template):
    skin = template.part("skin")
    joints = dict(zip(template.skeleton.names, template.skeleton.rest_positions))
    return Scalp.from_skin(skin.positions, skin.indices, skin.joints, skin.weights, joints, skin.morph_positions)


def test_stray_texels_counts_islands():
    alpha = np.zeros((6, 8), np.uint8)
    alpha[:3, 2] = alpha[4:, 5] = 255  # a rooted column and a two-texel island
    alpha[:2, 7] = alpha[1, 0] = 255  # rooted round the wrap
    assert stray_texels(alpha) == 2


@pytest.mark.parametrize("layers", [2, 4])
def test_curly_tips_leave_no_islands(layers):
    atlas = strand_atlas(HairStyle().color, layers, wave=1.0)
    for k in range(layers):
        band = atlas[k * BAND_HEIGHT + GUTTER:(k + 1) * BAND_HEIGHT - GUTTER, :, 3]
        assert stray_texels(band) <= STRAY_TEXELS, f"band {k} of {layers}"


SQUARE_CUT_TEXELS = 6
"""Between two rows of a strand band, at most this many side-by-side texels may turn from hair to gap: a clump ends
in a taper, a texel or two narrower per row. Thinning hair (baldness) cut whole clumps square (18-36 texels at
once), which drew straight-edged slots through the front hair."""


def square_cut(alpha: np.ndarray) -> int:
    """alpha : (r, w) uint8, row 0 the roots -> the widest run of side-by-side texels opaque in one row and clear in
    the next."""
    ends = (alpha[:-1] > 127) & (alpha[1:] <= 127)
    widest = 0
    for row in ends:
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        widest = max(widest, int((stops - starts).max(initial=0)))
    return widest


@pytest.mark.parametrize("density", [1.0, 0.45])
def test_thinned_hair_ends_its_clumps_in_tapers(density):
    """Straight hair (curly locks meet where a neighbour's tip turns away: their ends are cut 11-18 texels wide at
    full density, a separate matter)."""
    atlas = strand_atlas(HairStyle().color, 2, density)
    for k in range(2):
        band = atlas[k * BAND_HEIGHT + GUTTER:(k + 1) * BAND_HEIGHT - GUTTER, :, 3]
        assert square_cut(band) <= SQUARE_CUT_TEXELS, f"band {k}"


@pytest.mark.parametrize("wave", [0.0, 1.0])
def test_a_curly_fringe_spreads_its_tips(scalp, wave):
    style = dataclasses.replace(HAIR_PRESETS["fringe"], wave=wave)
    sheets = hair_sheets(scalp, style)
    per_layer = len(sheets["positions"]) // style.clamped().layers
    rows = per_layer // (COLUMNS + 1) - 1
    points = sheets["positions"][:per_layer].reshape(COLUMNS + 1, rows + 1, 3)
    v = sheets["uvs"][:per_layer, 1].reshape(COLUMNS + 1, rows + 1)
    rate = np.diff(v, axis=1) / np.linalg.norm(np.diff(points, axis=1), axis=2)  # (c, r) texture per metre
    front = np.argsort(-points[:, -1, 2])[:FRONT_COLUMNS]
    squeeze = rate[front, -1] / np.median(rate[front], axis=1)
    if wave:
        assert squeeze.max() <= FRINGE_TIP_SQUEEZE, squeeze
    else:
        assert squeeze.min() > FRINGE_TIP_SQUEEZE, squeeze  # blunt, as before waves existed
