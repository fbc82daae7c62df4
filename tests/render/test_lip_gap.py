"""The light let into the mouth follows the lips' opening: shut lips hide the teeth, parted ones show them lit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera
from avatar_engine.render.lip_gap import SHUT_GAP_M, SHUT_LIGHT, lip_gap
from avatar_engine.render.renderer import Renderer, RenderOptions

IDENTITIES = 12
"""Random head-model identities the opening is read on (`build.synthetic`)..."""
FOUND_MIN = 10
"""...of which at least this many must have their lips found (59 of 60 were, seeds 5000-5059): an avatar without
them keeps its mouth lit, as before."""
SHOWN_LEVELS = 40
"""A pixel the teeth change by more than this (any channel) shows them."""
TEETH_AT_REST_MAX = 40
"""Pixels of a 512x512 view of the mouth the teeth may change at rest: through the slit between resting lips they
drew a white line (154 pixels; now none)."""
MOUTH_VIEW = Camera(distance=0.4, target=(0.0, 0.08, 0.05))
"""In front of the template's mouth, the face filling the frame."""
TEETH_OPEN_MIN = 400
"""...and at least this many with the jaw half open (861; 857 with the rest pose's lips sealed, which jawOpen has
taken back by then): an open mouth still shows them lit..."""
TEETH_JAW_BONE_MIN = 250
"""...and with the jaw bone turned 15 degrees instead (330): the bone carries the lower lip down but does not take
back the lips' seal as jawOpen does (`head.lip_seal.LIP_OPENERS`), so its mouth opens 3 mm less."""


TOOTHY_SMILE = {"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7, "mouthUpperUpLeft": 0.6, "mouthUpperUpRight": 0.6,
                "mouthLowerDownLeft": 0.5, "mouthLowerDownRight": 0.5}
"""A smile that shows the teeth: lit (pairing the sealed lips as they overlap at rest dimmed it to 0.12-0.62 on 3 of
12 random identities)."""


def weights(**named: float) -> np.ndarray:
    w = np.zeros(52)
    for name, value in named.items():
        w[ARKIT_INDEX[name]] = value
    return w


def test_the_gap_opens_with_the_jaw_and_closes_with_a_smile(template):
    gap = lip_gap(template)
    assert gap is not None
    rest = gap.gap(weights())
    assert rest < 0.0  # the rest pose's lips meet (`head.lip_seal`): they overlap on the midline
    assert gap.light(weights()) == pytest.approx(SHUT_LIGHT)
    assert gap.light(weights(jawOpen=0.3)) == pytest.approx(1.0)
    assert gap.gap(weights(jawOpen=0.1)) > rest + 0.003
    assert gap.gap(weights(mouthSmileLeft=0.7, mouthSmileRight=0.7)) < SHUT_GAP_M
    assert gap.gap(weights(mouthClose=0.3, jawOpen=0.3)) < SHUT_GAP_M  # lips shut over an open jaw
    assert gap.light(weights(jawOpen=np.nan)) == pytest.approx(SHUT_LIGHT)  # a bad weight is no weight
    # weights as the renderer draws them: a negative mouthClose is none (counted, it parted the lips by 7 mm)
    assert gap.light(weights(mouthClose=-0.2)) == pytest.approx(SHUT_LIGHT)


def test_random_faces_rest_shut_and_open_with_the_jaw():
    """The lips are found on other identities too: their narrowest point differs from the template's (the upper
    lip's front edge faces forward 0.15-0.45 over random identities, which a rule on its normal missed)."""
    from avatar_engine.build.synthetic import random_subject, subject_avatar
    from avatar_engine.head.model import HeadModel

    model = HeadModel.default()
    found = 0
    for k in range(IDENTITIES):
        gap = lip_gap(subject_avatar(random_subject(np.random.default_rng(5000 + k), model), model))
        if gap is None:
            continue
        found += 1
        assert gap.light(weights()) == pytest.approx(SHUT_LIGHT), k
        # lit from jawOpen 0.2 (0.15 before the neutral lips were sealed; the jaw takes the seal back as it opens)
        assert gap.light(weights(jawOpen=0.2)) == pytest.approx(1.0), k
        assert gap.light(weights(**TOOTHY_SMILE)) > 0.9, k
    assert found >= FOUND_MIN


def test_the_jaw_bone_opens_the_gap(template):
    """An avatar driven with the jaw bone (`SolverTuning.jaw_open_deg`) parts its lips without jawOpen."""
    from avatar_engine.head.rig import joint_matrices

    gap = lip_gap(template)
    names = template.skeleton.names
    mats = joint_matrices(template.skeleton, {"jaw": euler_rotation(0.0, 12.0)}).astype(np.float64)
    jaw = np.linalg.solve(mats[names.index("head")], mats[names.index("jaw")])
    assert gap.light(weights(), jaw) == pytest.approx(1.0)
    assert gap.light(weights(), np.eye(4)) == pytest.approx(SHUT_LIGHT)


def test_uneven_ears_do_not_lose_the_mouth(template):
    """The midline is the jaw's, not the skin's extent: one ear 6 mm further out (a fit's residual, a stray vertex)
    moved the measured middle off the lips and the mouth was lit at rest."""
    skin = template.part("skin")
    positions = skin.positions.copy()
    positions[positions[:, 0] > 0.065, 0] += 0.006
    moved = replace(template, parts=tuple(replace(p, positions=positions) if p is skin else p
                                          for p in template.parts))
    assert lip_gap(moved) is not None
    assert lip_gap(moved).gap(weights()) == pytest.approx(lip_gap(template).gap(weights()), abs=1e-6)


def test_a_mesh_without_lips_has_no_gap(template):
    skin = template.part("skin")
    flat = replace(template, parts=(replace(skin, morph_positions=np.zeros_like(skin.morph_positions)),))
    assert lip_gap(flat) is None


def test_shut_lips_hide_the_teeth(ctx, template):
    without = replace(template, parts=tuple(p for p in template.parts if not p.name.startswith("teeth")))
    shown = {}
    with Renderer(ctx, RenderOptions(size=(512, 512), background=None)) as r:
        for name, expression in (("rest", Expression()), ("open", Expression(weights(jawOpen=0.5).astype(np.float32))),
                                 ("jaw bone", Expression.from_names(jaw=euler_rotation(0.0, 15.0)))):
            frames = []
            for avatar in (template, without):
                r.load(avatar)
                r.render(expression, MOUTH_VIEW)
                frames.append(r.read().astype(np.int16))
            shown[name] = int((np.abs(frames[0] - frames[1]).max(-1) > SHOWN_LEVELS).sum())
    assert shown["rest"] <= TEETH_AT_REST_MAX, shown
    assert shown["open"] >= TEETH_OPEN_MIN, shown
    assert shown["jaw bone"] >= TEETH_JAW_BONE_MIN, shown  # the renderer passes the bone's turn on
