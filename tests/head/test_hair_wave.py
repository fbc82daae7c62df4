"""Wavy hair (HairStyle.wave): straight hair is unchanged, waves ripple the sheets by the intended amplitude with a
phase that wanders round the head, curl the strand texture without opening gaps, and cost few triangles."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from avatar_engine.head.hair import COLUMNS, HAIR_PRESETS, HairStyle, grow_hair, hair_sheets
from avatar_engine.head.hair_scalp import Scalp
from avatar_engine.head.hair_texture import BAND_HEIGHT, CROWN_SOLID, GUTTER, strand_atlas
from avatar_engine.head.hair_wave import AMPLITUDE, LOCK_VARIATION, ripple, wave_phase

STRAIGHT = {"template": (4480, 2470, 690.8375696224471), "medium": (4736, 2600, 719.7805008397722)}
"""(triangles, vertices, sum of |coordinates|) of the straight hair sheets on the template's scalp: as before waves
existed, but for the flatter back (hair.BACK_FLATTEN, which came later)."""
STRAIGHT_ATLAS_SHA256 = "93c74233e4663339350c396b55acec217b6b90a94fb1b87272a0e6bc1c4b6372"
"""The default colour's two-layer strand atlas before waves existed."""
SUM_TOLERANCE = 1e-3
"""Sum of |coordinates| over ~2,500 float32 vertices: rounding only."""
TRIANGLE_GROWTH = 1.25
"""Wave 1 may add at most this factor of hair triangles (each is alpha-tested fill on a software rasteriser)."""
BEND_GAIN = 1.25
"""Strand tangents turn this much more from row to row along the hanging half at wave 1 (0.14 against 0.10
radians): the Kajiya-Kay highlight breaks up along the waves."""
GRID_SLACK = 0.002
"""Displacement measured against the straight sheet's vertices, which lie a few millimetres apart."""
PHASE_SPREAD = np.pi
"""Radians the ripple's phase spans round the head at least: crests do not run in rings."""
NEIGHBOUR_STEP = 0.5
"""Radians the phase changes at most from one column to the next: crests are lines, not noise."""


@pytest.fixture(scope="module")
def scalp(template):
    skin = template.part("skin")
    joints = dict(zip(template.skeleton.names, template.skeleton.rest_positions))
    return Scalp.from_skin(skin.positions, skin.indices, skin.joints, skin.weights, joints, skin.morph_positions)


@pytest.mark.parametrize("name", list(STRAIGHT))
def test_wave_zero_leaves_the_geometry_as_it_was(scalp, name):
    style = HairStyle() if name == "template" else HAIR_PRESETS[name]
    sheets = hair_sheets(scalp, dataclasses.replace(style, wave=0.0))
    triangles, vertices, total = STRAIGHT[name]
    assert len(sheets["indices"]) == triangles and len(sheets["positions"]) == vertices
    assert abs(np.abs(sheets["positions"].astype(np.float64)).sum() - total) < SUM_TOLERANCE


def test_wave_zero_leaves_the_texture_as_it_was():
    atlas = strand_atlas(HairStyle().color, 2, wave=0.0)
    assert hashlib.sha256(atlas.tobytes()).hexdigest() == STRAIGHT_ATLAS_SHA256
    assert not np.array_equal(strand_atlas(HairStyle().color, 2, wave=1.0), atlas)


def test_style_wave_is_the_last_field_and_clamped():
    assert [f.name for f in dataclasses.fields(HairStyle)][-1] == "wave" and HairStyle().wave == 0.0
    assert HairStyle(wave=3.0).clamped().wave == 1.0 and HairStyle(wave=-1.0).clamped().wave == 0.0


def test_ripple_amplitude_grows_toward_the_tips_and_wanders_round_the_head():
    length = np.full(COLUMNS, 0.2)
    s = np.linspace(0.0, 0.2, 200)[None] * np.ones((COLUMNS, 1))
    lift = ripple(s, length, 1.0)
    assert (ripple(s, length, 0.0) == 0).all()
    assert lift.min() >= 0.0 and lift.max() <= AMPLITUDE * (1 + LOCK_VARIATION) + 1e-9
    assert lift.max() > 0.9 * AMPLITUDE  # some crest reaches the full height
    assert lift[:, :20].max() == 0.0  # nothing near the crown
    assert ripple(s, length, 0.5).max() <= 0.5 * AMPLITUDE * (1 + LOCK_VARIATION) + 1e-9  # height scales with wave
    # the crests wander along the strands round the head (no rings) but smoothly from column to column (no noise)
    phase = wave_phase(COLUMNS)
    assert np.ptp(phase) > PHASE_SPREAD
    assert np.abs(np.diff(np.append(phase, phase[0]))).max() < NEIGHBOUR_STEP


def test_waves_displace_the_sheets_by_the_intended_amplitude(scalp):
    straight = hair_sheets(scalp, HairStyle())["positions"]
    wavy = hair_sheets(scalp, HairStyle(wave=1.0))["positions"]
    # every wavy vertex lies near the straight hair, none further than the ripple's crest (plus the fuller volume)
    d = np.sqrt(((wavy[:, None] - straight[None]) ** 2).sum(-1)).min(1)
    assert d.max() <= AMPLITUDE * (1 + LOCK_VARIATION) + 0.003 + GRID_SLACK
    assert np.percentile(d, 99) >= 0.5 * AMPLITUDE  # and the crests do stand off it


def test_waves_cost_few_triangles_and_bend_the_tangents(scalp):
    for style in (HairStyle(), HAIR_PRESETS["long"]):
        straight = hair_sheets(scalp, style)
        wavy = hair_sheets(scalp, dataclasses.replace(style, wave=1.0))
        assert len(wavy["indices"]) <= TRIANGLE_GROWTH * len(straight["indices"])

    def bend(sheets):  # mean angle (radians) between neighbouring tangents along the tip half of the inner sheet
        t = sheets["tangents"][:(COLUMNS + 1) * (len(sheets["tangents"]) // (2 * (COLUMNS + 1)))]
        t = t.reshape(COLUMNS + 1, -1, 3)
        t = t[:, t.shape[1] // 2:]
        return np.arccos(np.clip((t[:, 1:] * t[:, :-1]).sum(-1), -1, 1)).mean()

    assert bend(hair_sheets(scalp, HairStyle(wave=1.0))) > BEND_GAIN * bend(hair_sheets(scalp, HairStyle()))


def test_curls_open_no_gaps_in_the_inner_layer():
    for wave in (0.0, 1.0):
        atlas = strand_atlas(HairStyle().color, 2, wave=wave)
        body = atlas[GUTTER + int(CROWN_SOLID * BAND_HEIGHT):GUTTER + int(0.55 * BAND_HEIGHT), :, 3]
        assert (body == 255).all(), f"the inner layer has gaps at wave {wave}"


def test_wavy_presets_stay_valid(scalp):
    for name in ("short", "long", "fringe"):
        part, material = grow_hair(scalp, dataclasses.replace(HAIR_PRESETS[name], wave=1.0))
        assert np.isfinite(part.positions).all()
        assert np.allclose(np.linalg.norm(part.tangents[:, :3], axis=1), 1, atol=1e-4)
        assert 0 <= part.uvs[:, 1].min() and part.uvs[:, 1].max() <= 1
