"""The rig carries the head model's targets over to a fitted person: the mouth's and cheeks' scaled to the face."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.build.rig import SCALE_RANGE, SCALED_SHAPES, scaled_expressions
from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.model import HeadModel


@pytest.fixture(scope="module")
def model() -> HeadModel:
    return HeadModel.default()


def test_the_default_head_keeps_its_targets(model):
    scaled = scaled_expressions(model, model.positions)
    np.testing.assert_allclose(scaled, model.expression_offsets, atol=1e-7)


def test_a_smaller_face_smiles_smaller_and_still_blinks_and_opens_its_jaw_in_full(model):
    """A head 0.8 times the size: a smile moves its mouth corners 0.8 times as far (the same millimetres made a
    grimace on a small mouth); a blink and jawOpen are not scaled (the lids must meet, the teeth ride the jaw)."""
    smaller = model.positions * 0.8
    scaled = scaled_expressions(model, smaller)
    vs, _ = model.part_slices("skin")
    for name in ("mouthSmileLeft", "cheekPuff", "mouthPucker"):
        k = ARKIT_INDEX[name]
        moved = np.linalg.norm(model.expression_offsets[k, vs], axis=1) > 0.001
        ratio = np.linalg.norm(scaled[k, vs][moved], axis=1) / np.linalg.norm(model.expression_offsets[k, vs][moved],
                                                                                axis=1)
        assert np.median(ratio) == pytest.approx(0.8, abs=0.02), name
    for name in ("eyeBlinkLeft", "jawOpen", "mouthClose"):
        assert name not in SCALED_SHAPES
        np.testing.assert_array_equal(scaled[ARKIT_INDEX[name]], model.expression_offsets[ARKIT_INDEX[name]])
    tiny = scaled_expressions(model, model.positions * 0.2)
    k = ARKIT_INDEX["mouthSmileLeft"]
    assert np.linalg.norm(tiny[k], axis=1).max() >= SCALE_RANGE[0] * np.linalg.norm(
        model.expression_offsets[k], axis=1).max() - 1e-6, "bounded"


UNDER_HAIR_MAX = 0.3
"""As tests/head/test_occlusion.py: skin with hair within 5 mm over it sees at most this much of its sky on median."""


def test_the_rig_shades_the_skin_under_its_hair(model):
    """The builder rigs with no materials (`{}`) and dresses the avatar after: the occlusion baked in the rig must
    still know the skin and the hair apart (it read 0.56 under a fringe, and its tips' gaps drew pale patches)."""
    from avatar_engine.build.rig import rigged_avatar
    from avatar_engine.head.hair import HairStyle

    avatar = rigged_avatar(model, model.default_identity(), model.neutral_positions(model.default_identity()), {},
                           HairStyle(fringe=1.0))
    assert "skin" not in avatar.materials
    skin, hair = avatar.part("skin"), avatar.part("hair")
    gap = np.array([np.linalg.norm(hair.positions - p, axis=1).min() for p in skin.positions])
    assert np.median(skin.occlusion[gap < 0.005]) <= UNDER_HAIR_MAX


FRAMED_MIN = 0.1
"""Share of a default `Camera()` view the head must cover (the average head: about 0.25 at 320x320)."""


@pytest.mark.parametrize("identity", [{"age": 0.7, "nose-scale-horiz-incr": 0.5}, {"age": 0.0}, {"height": 0.0}])
def test_an_identity_avatar_stands_where_the_camera_looks(ctx, identity):
    """The README's example rendered `template_avatar({"age": 0.7, ...})` with `Camera()`: its neck joint sits
    where the identity puts it (+0.19 m; -0.85 at age 0), so the frame showed a chin or nothing (review).
    `identity_avatar` rigs it as the builder rigs a person: neck at the origin, framed."""
    from avatar_engine.build.rig import identity_avatar
    from avatar_engine.records import Expression
    from avatar_engine.render.camera import Camera
    from avatar_engine.render.renderer import Renderer, RenderOptions

    avatar = identity_avatar(identity)
    assert np.abs(avatar.skeleton.rest_positions[avatar.skeleton.index("neck")]).max() < 1e-6
    with Renderer(ctx, RenderOptions(size=(320, 320))) as renderer:
        renderer.load(avatar)
        renderer.render(Expression(), Camera())
        covered = (renderer.read()[..., 3] > 0).mean()
    assert covered >= FRAMED_MIN
