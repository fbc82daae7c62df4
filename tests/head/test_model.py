"""The head model's tables: identity evaluation, expression targets and the rig."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.errors import InputError
from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES
from avatar_engine.head.model import HeadModel
from avatar_engine.head.rig import joint_matrices, pose_part
from avatar_engine.records import Expression, euler_rotation

MM = 1e-3


@pytest.fixture(scope="module")
def model() -> HeadModel:
    return HeadModel.default()


PHENOTYPE_BASIS_TOLERANCE = 5e-5
"""metres: the phenotype grid is stored as a low-rank basis, exact to 2e-5 m (scripts/make_head_asset.py)."""
NORMAL_OFFSET_TOLERANCE = 1e-5
"""Sparse and dense morph normal offsets agree to float32 rounding (the unit normals' components are below 1)."""


def test_default_identity_is_the_stored_mesh(model):
    assert np.abs(model.neutral_positions() - model.positions).max() < PHENOTYPE_BASIS_TOLERANCE


def test_head_is_life_sized_and_faces_plus_z(model):
    p = model.positions
    height = p[:, 1].max() - p[:, 1].min()
    assert 0.20 < height < 0.30, "neck-to-crown height in metres"
    eyes = model.joint_rest[[model.joint_names.index("eye_L"), model.joint_names.index("eye_R")]]
    assert eyes[0, 0] > 0 > eyes[1, 0], "eye_L is on the head's own left (+X)"
    nose_tip = p[np.argmax(p[:, 2])]
    assert abs(nose_tip[0]) < 5 * MM and nose_tip[1] < eyes[0, 1], "the most forward point is the nose, below the eyes"


def test_phenotypes_interpolate_between_grid_nodes(model):
    young, old = model.neutral_positions({"age": 1 / 3}), model.neutral_positions({"age": 2 / 3})
    mid = model.neutral_positions({"age": 0.5})
    assert np.allclose(mid, (young + old) / 2, atol=1e-5), "age 0.5 lies halfway between its anchors"
    assert np.abs(old - young).max() > 2 * MM, "age changes the head"


def test_shape_change_is_signed(model):
    name = "nose-scale-horiz-incr"
    wide, narrow = model.neutral_positions({name: 1.0}), model.neutral_positions({name: -1.0})
    nose = np.abs(wide - model.positions).max(1) > 0.5 * MM
    width = lambda p: np.ptp(p[nose, 0])  # noqa: E731
    assert width(wide) > width(model.positions) > width(narrow)


@pytest.mark.parametrize("bad", [{"age": 1.5}, {"nose-scale-horiz-incr": -2.0}, {"wingspan": 0.3}])
def test_bad_identity_is_refused(model, bad):
    with pytest.raises(InputError):
        model.neutral_positions(bad)


def test_jaw_open_lowers_the_chin_and_lower_teeth(template):
    skin, teeth = template.part("skin"), template.part("teeth_lower")
    open_mouth = Expression.from_names({"jawOpen": 1.0})
    posed, _ = pose_part(skin, template.skeleton, open_mouth)
    drop = skin.positions[:, 1] - posed[:, 1]
    assert drop.max() > 10 * MM, "jawOpen drops the chin by more than a centimetre"
    teeth_posed, _ = pose_part(teeth, template.skeleton, open_mouth)
    assert (teeth.positions[:, 1] - teeth_posed[:, 1]).mean() > 5 * MM, "lower teeth follow the jaw"
    upper, _ = pose_part(template.part("teeth_upper"), template.skeleton, open_mouth)
    assert np.abs(upper - template.part("teeth_upper").positions).max() < 2 * MM, "upper teeth stay with the skull"


TEETH_STILL_MM = 0.01
"""Under the shapes that do not move a row of teeth, its vertices move less than this."""


def test_teeth_move_only_with_the_jaw(model):
    """The upper row is part of the skull (no shape moves it); the lower row rides on the jaw: only jawOpen,
    jawForward, jawLeft and jawRight move it. Carried by the lips and chin, it came out through the lower lip under
    mouthClose (20 mm) and moved with mouthRollLower and mouthPucker, the upper row with blinks."""
    jaw_shapes = {"jawOpen", "jawForward", "jawLeft", "jawRight", "tongueOut"}  # the jaw drops for the tongue
    upper, _ = model.part_slices("teeth_upper")
    lower, _ = model.part_slices("teeth_lower")
    for name, offsets in zip(ARKIT_NAMES, model.expression_offsets):
        assert np.abs(offsets[upper]).max() * 1000 < TEETH_STILL_MM, name
        if name not in jaw_shapes:
            assert np.abs(offsets[lower]).max() * 1000 < TEETH_STILL_MM, name
    assert np.abs(model.expression_offsets[ARKIT_NAMES.index("jawOpen")][lower]).max() * 1000 > 5.0


def test_blink_closes_only_its_own_eye(template):
    skin, skel = template.part("skin"), template.skeleton
    offsets = np.linalg.norm(skin.morph_positions[ARKIT_INDEX["eyeBlinkLeft"]], axis=1)

    def upper_lid(joint: str) -> np.ndarray:
        d = skin.positions - skel.rest_positions[skel.index(joint)]
        return (np.linalg.norm(d, axis=1) < 22 * MM) & (np.abs(d[:, 0]) < 10 * MM) & (d[:, 1] > 0)

    own, other = offsets[upper_lid("eye_L")].max(), offsets[upper_lid("eye_R")].max()
    assert own > 8 * MM, "the lid of the head's left eye (+X) closes"
    # MakeHuman's target pulls the other lid by about 2 mm; a wink must still read as one eye
    assert other < 0.25 * own, "the other lid barely moves"


def test_joint_matrices_are_identity_at_rest_and_rotate_about_the_joint(template):
    skel = template.skeleton
    assert np.allclose(joint_matrices(skel, {}), np.eye(4), atol=1e-6)
    mats = joint_matrices(skel, {"head": euler_rotation(yaw_deg=30)})
    head = skel.index("head")
    origin = np.append(skel.rest_positions[head], 1.0)
    assert np.allclose(mats[head] @ origin, origin, atol=1e-6), "the head turns about its own origin"
    assert np.allclose(mats[skel.index("jaw")], mats[head], atol=1e-6), "children follow"
    with pytest.raises(KeyError):
        joint_matrices(skel, {"tail": np.eye(3)})


def test_sparse_normal_offsets_match_the_dense_ones():
    """The morph normals computed only where each target moves equal recomputing every normal."""
    from avatar_engine.head.model import HeadModel

    model = HeadModel.default()
    rng = np.random.default_rng(3)
    positions = model.positions.astype(np.float64) + 0.002 * rng.standard_normal(model.positions.shape)
    offsets = model.expression_offsets[::7]
    dense = model.normals(positions[None] + offsets) - model.normals(positions)[None]
    assert np.abs(model.normal_offsets(positions, offsets) - dense).max() < NORMAL_OFFSET_TOLERANCE


def test_every_vertex_has_a_unit_normal_and_the_eye_apexes_one_each():
    from avatar_engine.head.model import HeadModel

    model = HeadModel.default()
    normals = model.normals(model.positions)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    for eye in ("eye_L", "eye_R"):
        vs = model.part_slices(eye)[0]
        positions, eye_normals = model.positions[vs], normals[vs]
        _, first, group, counts = np.unique(np.round(positions * 1e6), axis=0, return_index=True,
                                            return_inverse=True, return_counts=True)
        apex = group.ravel() == np.argmax(counts)  # the largest fan of copies: the cornea's apex (33)
        assert apex.sum() >= 30
        np.testing.assert_allclose(eye_normals[apex], eye_normals[apex][:1].repeat(apex.sum(), 0), atol=1e-6)


def test_the_avatars_triangles_all_have_an_area(template):
    """No part of the avatar file has zero-area triangles (the asset's eyeballs had 64 each at their poles, which
    other engines' checks count as faults)."""
    for part in template.parts:
        p = part.positions.astype(np.float64)
        t = part.indices.astype(np.int64)
        area = np.linalg.norm(np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]]), axis=1) / 2
        assert area.min() > 0, f"{part.name}: {int((area <= 0).sum())} triangles without area"
