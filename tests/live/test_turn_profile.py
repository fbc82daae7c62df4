"""A built avatar's turn profile: measured on first use and kept, and a turned head of that face read level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_engine.live import turn_profile as tp
from avatar_engine.live.api import LiveAvatar, LiveOptions
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.solve.turn_profile import TurnProfile

ROOT = Path(__file__).resolve().parents[2]
LEVEL_DEG = 1.5
"""A head turned 30 degrees without nodding reads within this of level with its profile (the built astronaut: 0.2
and 0.0 degrees; without it 5.8 and 6.2)."""
FAULT_DEG = 2.5
"""...and without it, at least this far off at one side or the other: the fault the profile is for."""


@pytest.fixture(scope="module")
def astronaut():
    from avatar_engine.build.pipeline import build

    return build(ROOT / "assets" / "photos" / "astronaut.png")


@pytest.fixture
def kept_in(tmp_path, monkeypatch):
    monkeypatch.setattr(tp, "cache_folder", lambda: tmp_path / "profiles")
    return tmp_path / "profiles"


def turned_renders(ctx, avatar, yaws) -> list[np.ndarray]:
    from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

    camera = tp.face_camera(avatar)
    frames = []
    with Renderer(ctx, RenderOptions(size=(320, 320), samples=0, background=STUDIO_BACKDROP)) as r:
        r.load(avatar)
        for yaw in yaws:
            r.render(Expression(rotations={"neck": euler_rotation(0.4 * yaw), "head": euler_rotation(0.6 * yaw)}),
                     camera)
            frames.append(np.ascontiguousarray(r.read()[..., :3]))
    return frames


def pitch_when_turned(live: LiveAvatar, frames: dict[float, np.ndarray]) -> dict[float, float]:
    """Rest for 2 s (the automatic calibration), then turn to each side and hold 1 s: the solved pitch there."""
    t, step, out = 0, 33_333_333, {}
    schedule = [(0.0, 60)] + [(y, 30) for y in (15.0, 30.0)] + [(0.0, 20)] + [(y, 30) for y in (-15.0, -30.0)]
    for yaw, count in schedule:
        for _ in range(count):
            t += step
            solved = live.animate(live.track(frames[yaw], t), t)
        out[yaw] = float(solved.angles[1])
    return out


def test_a_built_face_turned_without_nodding_reads_level(astronaut, gl_context, kept_in):
    frames = dict(zip((0.0, 15.0, 30.0, -15.0, -30.0),
                      turned_renders(gl_context, astronaut, (0.0, 15.0, 30.0, -15.0, -30.0))))
    pitch = {}
    for mode in ("off", "auto"):
        with LiveAvatar(astronaut, LiveOptions(render=False, turn_profile=mode)) as live:
            assert (live.turn_profile is None) == (mode == "off")
            pitch[mode] = pitch_when_turned(live, frames)
    assert max(abs(pitch["off"][30.0]), abs(pitch["off"][-30.0])) > FAULT_DEG, pitch
    for yaw in (30.0, -30.0):
        assert abs(pitch["auto"][yaw]) < LEVEL_DEG, pitch
    assert len(list(kept_in.glob("*.json"))) == 1, "measured once, then kept"


def test_the_profile_is_kept_per_avatar_and_measured_again_when_damaged(template, tmp_path, monkeypatch):
    measured = []

    def fake(avatar, landmarker="mediapipe", backend="auto"):
        measured.append(avatar)
        return TurnProfile(0.01, -0.004, 33.0)

    monkeypatch.setattr(tp, "measure_turn_profile", fake)
    first, new = tp.turn_profile(template, folder=tmp_path)
    assert new and len(measured) == 1
    again, new = tp.turn_profile(template, folder=tmp_path)
    assert not new and again == first and len(measured) == 1
    (kept,) = tmp_path.glob("*.json")
    kept.write_text("{not json")
    _, new = tp.turn_profile(template, folder=tmp_path)
    assert new and len(measured) == 2, "a damaged file is measured again, not an error"
    from dataclasses import replace

    other = replace(template, parts=tuple(replace(p, positions=p.positions * 1.01) if p.name == "skin" else p
                                          for p in template.parts))
    _, new = tp.turn_profile(other, folder=tmp_path)
    assert new, "another face gets its own profile"
    renamed = replace(template, skeleton=replace(template.skeleton, names=tuple(
        n.upper() for n in template.skeleton.names)))
    _, new = tp.turn_profile(renamed, folder=tmp_path)
    assert new, "another rig is measured anew (without eye joints it is refused, not served a kept profile)"
    _, new = tp.turn_profile(template, landmarker="onnx", folder=tmp_path)
    assert new, "another landmarker reads the face anew"


def test_auto_measures_only_a_face_the_builder_rigged(template, monkeypatch):
    monkeypatch.setattr(tp, "turn_profile", lambda *a, **k: (TurnProfile(0.0, -0.004, 33.0), True))
    from dataclasses import replace

    built = replace(template, generator=template.generator + " build")
    cases = {("auto", False): None, ("auto", True): True, ("on", False): True, ("off", True): None}
    for (mode, is_built), expected in cases.items():
        with LiveAvatar(built if is_built else template, LiveOptions(render=False, turn_profile=mode)) as live:
            assert (live.turn_profile is not None) == bool(expected), (mode, is_built)
            table = live.animator.options.tuning.pitch_at_yaw
            assert (table is not None) == bool(expected)
    with pytest.raises(ValueError, match="turn_profile must be one of"):
        LiveOptions(turn_profile="yes")


def test_on_says_why_it_cannot_apply_and_a_tuning_that_would_ignore_it_gets_none(template, monkeypatch, caplog):
    """A profile the solver would not use is neither measured (2 s) nor reported as used (review)."""
    from dataclasses import replace

    from avatar_engine.live.animator import AnimatorOptions
    from avatar_engine.solve.tuning import ARKIT_TUNING, DEFAULT_TUNING

    monkeypatch.setattr(tp, "turn_profile", lambda *a, **k: pytest.fail("measured a profile that cannot be used"))
    built = replace(template, generator=template.generator + " build")
    cases = {"no avatar was given": (None, DEFAULT_TUNING),
             "the scores come from a phone app": (built, ARKIT_TUNING),
             "the tuning sets pose_gain": (built, replace(DEFAULT_TUNING, pose_gain=(1.5, 1.5, 1.0))),
             "its own pitch_at_yaw": (built, replace(DEFAULT_TUNING, pitch_at_yaw=((-30.0, 30.0), (0.0, 0.0))))}
    for why, (avatar, tuning) in cases.items():
        for mode in ("on", "auto"):
            caplog.clear()
            with caplog.at_level("WARNING", logger="avatar_engine.live"), LiveAvatar(avatar, LiveOptions(
                    render=False, turn_profile=mode, animator=AnimatorOptions(tuning=tuning))) as live:
                assert live.turn_profile is None
            assert (why in caplog.text) == (mode == "on"), "asked for by name, it says why it does nothing"
            if avatar is not None:
                assert why in live.turn_profile_note, (why, mode, live.turn_profile_note)


def test_a_face_the_tracker_cannot_find_warns_and_runs_on(template, monkeypatch, caplog):
    def lost(*a, **k):
        raise ValueError("the tracker lost the avatar's face turned 30 degrees")

    monkeypatch.setattr(tp, "turn_profile", lost)
    with caplog.at_level("WARNING", logger="avatar_engine.live"), \
            LiveAvatar(template, LiveOptions(render=False, turn_profile="on")) as live:
        assert live.turn_profile is None
    assert "turn profile was not measured (the tracker lost" in caplog.text
    assert live.turn_profile_note.startswith("not measured: the tracker lost")
