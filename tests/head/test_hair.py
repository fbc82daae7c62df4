"""The hair generator: styles change the hair the way their names say, it stays off the face, within budget."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avatar_engine.head.hair import HAIR_PRESETS, HairStyle, grow_hair
from avatar_engine.head.hair_scalp import Scalp, direction_angles
from avatar_engine.head.hair_texture import BANDS

HAIR_TRIANGLE_BUDGET = 9000
"""Hair triangles allowed for any preset (the whole avatar should stay near 20k)."""
AVATAR_TRIANGLE_BUDGET = 21000
EYE_CLEARANCE = 0.012
"""Hair in front of the face must stay this far (metres) above the eye centres."""
SCALP_GAP = 0.004
"""Largest distance between the skin and the innermost layer on the covered scalp."""
BACK_STANDOFF_MAX = 0.8
"""A full style's hair stands off the skull behind the head at most this fraction of how far it does at the sides
(measured 0.67: hair.BACK_FLATTEN; 1.0 without it)."""


@pytest.fixture(scope="module")
def scalp(template):
    skin = template.part("skin")
    joints = dict(zip(template.skeleton.names, template.skeleton.rest_positions))
    return Scalp.from_skin(skin.positions, skin.indices, skin.joints, skin.weights, joints, skin.morph_positions)


@pytest.fixture(scope="module")
def eyes(template):
    names = template.skeleton.names
    rest = template.skeleton.rest_positions
    return (rest[names.index("eye_L")] + rest[names.index("eye_R")]) / 2


@pytest.fixture(scope="module")
def grown(scalp):
    return {name: grow_hair(scalp, style) for name, style in HAIR_PRESETS.items()}


def test_bald_grows_nothing(grown, scalp):
    assert grown["bald"] is None
    assert grow_hair(scalp, HairStyle(baldness=1.0)) is None


@pytest.mark.parametrize("name", [n for n in HAIR_PRESETS if n != "bald"])
def test_preset_is_a_valid_mask_part_within_budget(grown, template, name):
    part, material = grown[name]
    assert material.alpha_mode == "MASK" and material.double_sided and material.kind == "hair"
    assert material.texture.shape[2] == 4 and 0 < (material.texture[..., 3] > 127).mean() < 1
    assert len(part.indices) <= HAIR_TRIANGLE_BUDGET
    skin_etc = template.triangle_count - len(template.part("hair").indices)
    assert skin_etc + len(part.indices) <= AVATAR_TRIANGLE_BUDGET
    n = part.vertex_count
    assert part.indices.max() < n and part.morph_positions.shape == (52, n, 3)
    assert np.allclose(np.linalg.norm(part.tangents[:, :3], axis=1), 1, atol=1e-4)
    assert np.allclose(np.linalg.norm(part.normals, axis=1), 1, atol=1e-4)
    assert np.allclose(part.weights.sum(1), 1, atol=1e-5)
    assert np.isfinite(part.positions).all()
    assert 0 <= part.uvs[:, 1].min() and part.uvs[:, 1].max() <= 1  # v stays inside the layer bands


@pytest.mark.parametrize("name", [n for n in HAIR_PRESETS if n != "bald"])
def test_hair_stays_off_the_face(grown, eyes, name):
    p = grown[name][0].positions
    in_front = (p[:, 2] > eyes[2] - 0.03) & (np.abs(p[:, 0]) < 0.05)
    assert (p[in_front, 1] > eyes[1] + EYE_CLEARANCE).all(), f"{name} hair hangs over the eyes"


def test_inner_layer_covers_the_scalp(grown, scalp, template):
    """Every skin vertex high on the head has hair just above it."""
    skin = template.part("skin").positions
    rel = skin - scalp.centre
    _, polar = direction_angles(rel)
    top = skin[np.degrees(polar) < 40]
    hair = grown["short"][0].positions
    d = np.sqrt(((top[:, None] - hair[None]) ** 2).sum(-1)).min(1)
    assert np.percentile(d, 95) < SCALP_GAP + 0.004  # grid vertices are a few millimetres apart


def lowest_back(part):
    p = part.positions
    return p[p[:, 2] < -0.02, 1].min()


def test_length_lowers_the_back(scalp):
    short = grow_hair(scalp, HairStyle(length=0.0))[0]
    long = grow_hair(scalp, HairStyle(length=0.3))[0]
    assert lowest_back(long) < lowest_back(short) - 0.05


def test_fringe_comes_down_the_forehead(scalp, eyes):
    def lowest_front(style):
        p = grow_hair(scalp, style)[0].positions
        return p[(p[:, 2] > eyes[2] - 0.01) & (np.abs(p[:, 0]) < 0.03), 1].min()

    assert lowest_front(HairStyle(fringe=0.05)) < lowest_front(HairStyle(fringe=0.0)) - 0.03


def test_volume_and_baldness(scalp, eyes):
    # the width above the eyes, where volume stands off the skull (the ends turn under toward the ears and neck)
    width = lambda p: np.abs(p[p[:, 1] > eyes[1] + 0.02, 0]).max()  # noqa: E731
    thin = grow_hair(scalp, HairStyle(volume=0.002))[0].positions
    full = grow_hair(scalp, HairStyle(volume=0.025))[0].positions
    assert width(full) > width(thin) + 0.015
    receding = grow_hair(scalp, HairStyle(baldness=0.7))[0].positions
    normal = grow_hair(scalp, HairStyle())[0].positions
    front = lambda p: p[np.abs(p[:, 0]) < 0.03, 2].max()  # noqa: E731
    assert front(receding) < front(normal) - 0.01


def test_the_back_lies_closer_to_the_skull_than_the_sides(scalp):
    """A front photo shows the volume at the sides; behind the skull a bob lies closer (not a helmet)."""
    rel = grow_hair(scalp, HairStyle(length=0.16, volume=0.04))[0].positions.astype(np.float64) - scalp.centre
    standoff = np.linalg.norm(rel, axis=1) - scalp.skin_radius(rel / np.linalg.norm(rel, axis=1, keepdims=True))
    azimuth, polar = np.degrees(direction_angles(rel))
    band = (polar > 60) & (polar < 100)  # from the temples down past the ears
    back = np.percentile(standoff[band & (np.abs(azimuth) > 150)], 90)
    sides = np.percentile(standoff[band & (np.abs(np.abs(azimuth) - 90) < 30)], 90)
    assert back < BACK_STANDOFF_MAX * sides


def test_hair_follows_the_skin_only_near_it(scalp, template):
    """A hair vertex on the skin moves like its skin vertex (expressions, skinning); one far out is rigid on the head."""
    skin = template.part("skin")
    moving = np.flatnonzero(np.abs(skin.morph_positions).max((0, 2)) > 1e-3)[:5]
    points = np.concatenate([skin.positions[moving], skin.positions[moving] * 1.0 + [0.0, 0.0, 0.2]])
    joints, weights, morphs = scalp.attach(points)
    near, far = slice(0, len(moving)), slice(len(moving), None)
    assert np.allclose(morphs[:, near], skin.morph_positions[:, moving])
    assert (joints[near] == skin.joints[moving]).all() and np.allclose(weights[near], skin.weights[moving])
    assert np.abs(morphs[:, far]).max() == 0.0
    assert (joints[far, 0] == template.skeleton.index("head")).all() and np.allclose(weights[far, 0], 1.0)


def test_parting_moves_the_crown(scalp):
    left = grow_hair(scalp, HairStyle(parting=1.0))[0]
    right = grow_hair(scalp, HairStyle(parting=-1.0))[0]
    # the crown (the fan's centre) is the first vertex of every layer
    assert left.positions[0, 0] > 0.02 and right.positions[0, 0] < -0.02


def test_style_is_clamped():
    wild = HairStyle(length=2.0, volume=-1.0, fringe=1.0, parting=5.0, baldness=-1.0, layers=9).clamped()
    assert wild.length <= 0.45 and wild.volume == 0.0 and wild.fringe <= 0.06 and wild.parting == 1.0
    assert wild.baldness == 0.0 and wild.layers == BANDS
    assert dataclasses.replace(wild, baldness=1.0).bald



def test_cli_offers_every_preset():
    """`avatar template --hair NAME` accepts exactly the presets."""
    from avatar_engine.cli import build_parser

    parser = build_parser()
    for name in HAIR_PRESETS:
        assert parser.parse_args(["template", "--hair", name]).hair == name
    with pytest.raises(SystemExit):
        parser.parse_args(["template", "--hair", "mohawk"])


CAP_CLEARANCE = 0.006
"""Largest height above the skin of the centre of a triangle marked as hiding its back against the skull (its
corners lie within CAP_GAP = 5 mm; a centre may sit a little higher between them)."""


@pytest.mark.parametrize("name", [n for n in HAIR_PRESETS if n != "bald"])
def test_triangles_face_outward_and_the_cap_lies_on_the_skull(grown, scalp, name):
    part, _ = grown[name]
    tri = part.indices.astype(np.int64)
    p = part.positions[tri]
    geometric = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    # counter-clockwise seen from outside (glTF): engines light a double-sided sheet's front with its own normal
    assert ((geometric * part.normals[tri].sum(1)).sum(1) > 0).all()
    assert 0 < part.back_hidden < len(tri), "some hair lies on the scalp and some does not"
    rel = p[:part.back_hidden].mean(1) - scalp.centre
    distance = np.linalg.norm(rel, axis=1)
    height = distance - scalp.skin_radius(rel / distance[:, None])
    assert height.max() <= CAP_CLEARANCE, f"a cap triangle lies {height.max() * 1e3:.1f} mm off the skin"


def test_sweep_combs_the_fringe_sideways(scalp, eyes):
    plain = grow_hair(scalp, HairStyle(fringe=0.05))[0].positions
    front = (plain[:, 2] > eyes[2]) & (plain[:, 1] < eyes[1] + 0.06)  # hanging in front of the face

    def shift(style):  # mean sideways move of those vertices (the grid is the same for every sweep)
        return (grow_hair(scalp, style)[0].positions[front, 0] - plain[front, 0]).mean()

    # +1 combs it toward the avatar's left (+x), -1 toward its right, by over a centimetre on average
    assert shift(HairStyle(fringe=0.05, sweep=1.0)) > 0.01
    assert shift(HairStyle(fringe=0.05, sweep=-1.0)) < -0.01
    # a style without a fringe has nothing to sweep
    bare = grow_hair(scalp, HairStyle(fringe=0.0, sweep=1.0))[0].positions
    assert np.allclose(bare, grow_hair(scalp, HairStyle(fringe=0.0))[0].positions)


SWEPT_SINK_MAX = 0.001
"""A swept fringe's vertices lie at most this far (m) inside the skin (turned rigidly about the vertical axis, the
tips sank up to 17 mm into a flat forehead, and the skin cut the fringe into chunks in every renderer)."""


@pytest.mark.parametrize("sweep", [1.0, -1.0])
def test_a_swept_fringe_stays_on_the_forehead(scalp, sweep):
    p = grow_hair(scalp, HairStyle(fringe=0.055, sweep=sweep, volume=0.028, length=0.2, wave=0.5))[0].positions
    rel = p.astype(np.float64) - scalp.centre
    distance = np.linalg.norm(rel, axis=1)
    radius = scalp.skin_radius(rel / distance[:, None])
    front = (rel[:, 2] > 0.03) & (radius > 0)
    assert (radius - distance)[front].max() <= SWEPT_SINK_MAX



SWEPT_EDGE_STEP = 0.002
"""Over the forehead between 1.5 and 4.5 cm from its middle, a swept fringe's lower edge lies at least this much
(m, on average over 1.5 cm bands) higher on the side the comb comes from than on the side it goes to: combed
across the forehead, high at the parting's side and gathered low on the other."""
SWEPT_LIFT = 0.004
"""...and every band's edge at least this much higher than the fringe combed straight down."""


def test_a_swept_fringe_is_high_on_the_side_it_is_combed_from(scalp, eyes):
    bands = ((0.015, 0.03), (0.03, 0.045))

    def edges(style, side):  # lowest hair over each band of the forehead on that side
        p = grow_hair(scalp, style)[0].positions
        x = side * (p[:, 0] - eyes[0])
        front = (p[:, 2] > eyes[2]) & (p[:, 1] > eyes[1] - 0.03)
        return np.array([p[front & (x > lo) & (x < hi), 1].min() for lo, hi in bands])

    straight = HairStyle(fringe=0.05, length=0.2, volume=0.02)
    assert np.allclose(edges(straight, -1), edges(straight, 1), atol=0.001)  # combed straight down: level
    for sweep in (1.0, -1.0):  # +1 combs toward the avatar's left (+x): its right (-x) is the side it comes from
        swept = HairStyle(fringe=0.05, length=0.2, volume=0.02, sweep=sweep)
        came_from, went_to = edges(swept, -np.sign(sweep)), edges(swept, np.sign(sweep))
        assert (came_from - went_to).mean() >= SWEPT_EDGE_STEP, sweep
        assert (np.minimum(came_from, went_to) - edges(straight, 1)).min() >= SWEPT_LIFT, sweep
