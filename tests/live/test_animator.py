"""Tracking lost and found: hold, ease to a living idle face, resume smoothly; calibration on demand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.live.animator import Animator, AnimatorOptions
from avatar_engine.live.idle import IdleOptions, idle_frame
from avatar_engine.solve.calibration import reference_calibration
from avatar_engine.solve.frames import LandmarkFrame
from avatar_engine.solve.tuning import DEFAULT_TUNING

FPS = 30
JAW = ARKIT_INDEX["jawOpen"]
STEP_MAX = 0.2
"""Largest change of any weight between consecutive frames while resuming (no popping)."""


def smiling(t_s: float) -> LandmarkFrame:
    scores = reference_calibration().scores.copy()
    scores[JAW] = 0.9
    return LandmarkFrame(scores, np.array(reference_calibration().rotation), int(t_s * 1e9))


def animator(**kw) -> Animator:
    tuning = dataclasses.replace(DEFAULT_TUNING, calibration_s=0.2)
    return Animator(AnimatorOptions(tuning=tuning, auto_calibrate=False, **kw))


def test_lost_face_is_held_then_eased_to_idle():
    a = animator(idle=IdleOptions(hold_s=0.5, ease_s=1.0))
    for i in range(30):
        tracked = a.update(smiling(i / FPS), i / FPS)
    assert tracked.weights[JAW] > 0.5 and a.state == "tracking"
    t_lost = 29 / FPS
    held = a.update(None, t_lost + 0.3)
    assert a.state == "holding" and held.weights[JAW] == pytest.approx(tracked.weights[JAW])
    mid = a.update(None, t_lost + 1.0)
    assert a.state == "easing" and 0.05 < mid.weights[JAW] < tracked.weights[JAW]
    idle = a.update(None, t_lost + 2.0)
    assert a.state == "idle" and idle.weights[JAW] < 0.05


def test_idle_life_blinks_and_sways():
    frames = [idle_frame(i / FPS) for i in range(FPS * 12)]
    blink = np.array([f.weights[ARKIT_INDEX["eyeBlinkLeft"]] for f in frames])
    yaw = np.array([f.angles[0] for f in frames])
    assert blink.max() > 0.9 and (blink > 0.5).mean() < 0.1, "blinks happen, briefly"
    assert np.ptp(yaw) > 2.0 and np.abs(np.diff(yaw)).max() < 0.5, "a slow, smooth sway"
    assert np.array_equal(idle_frame(3.3).weights, idle_frame(3.3).weights), "deterministic"


def test_resume_is_smooth():
    a = animator(idle=IdleOptions(hold_s=0.1, ease_s=0.2, resume_s=0.3))
    t = 0.0
    for _ in range(FPS * 2):  # idle from the start: nothing tracked yet
        a.update(None, t)
        t += 1 / FPS
    shown = [a.update(smiling(t + i / FPS), t + i / FPS).weights for i in range(20)]
    steps = np.abs(np.diff(np.array(shown), axis=0)).max()
    assert steps <= STEP_MAX
    assert shown[-1][JAW] > 0.5 and a.state == "tracking"


def test_recalibrate_on_demand_takes_the_next_frames_as_rest():
    a = animator()
    for i in range(10):
        out = a.update(smiling(i / FPS), i / FPS)
    assert out.weights[JAW] > 0.5
    a.recalibrate()
    for i in range(10, 40):
        out = a.update(smiling(i / FPS), i / FPS)
    assert a.calibration.frames >= 6 and out.weights[JAW] < 0.05, "the held expression is now the rest"


def test_mirror_toggles_live():
    a = animator()
    scores = reference_calibration().scores.copy()
    scores[ARKIT_INDEX["eyeBlinkLeft"]] = 0.9
    frame = LandmarkFrame(scores, np.array(reference_calibration().rotation), 0)
    for i in range(15):
        out = a.update(dataclasses.replace(frame, t_ns=int(i * 1e9 / FPS)), i / FPS)
    assert out.weights[ARKIT_INDEX["eyeBlinkLeft"]] > 0.5 > out.weights[ARKIT_INDEX["eyeBlinkRight"]]
    a.mirror = True
    for i in range(15, 30):
        out = a.update(dataclasses.replace(frame, t_ns=int(i * 1e9 / FPS)), i / FPS)
    assert out.weights[ARKIT_INDEX["eyeBlinkRight"]] > 0.5 > out.weights[ARKIT_INDEX["eyeBlinkLeft"]]


MIRROR_STEP_MAX_DEG = 5.0
"""Largest change of the head's yaw between consecutive frames when mirroring is switched on mid-stream."""


def test_switching_the_mirror_glides_the_head_over():
    """The window's M key: a steady 17.5-degree turn swung to -13.5 degrees in one frame (review). It glides, as a
    new rest does, and ends mirrored."""
    from avatar_engine.records import euler_rotation

    a = animator()
    turned = LandmarkFrame(reference_calibration().scores.copy(),
                           np.asarray(reference_calibration().rotation) @ euler_rotation(yaw_deg=17.5).T, 0)
    yaws = []
    for i in range(60):
        if i == 30:
            a.mirror = True
        yaws.append(float(a.update(dataclasses.replace(turned, t_ns=int(i * 1e9 / FPS)), i / FPS).angles[0]))
    assert abs(yaws[29]) > 10 and np.sign(yaws[-1]) == -np.sign(yaws[29]) and abs(yaws[-1]) > 10
    assert np.abs(np.diff(yaws[29:])).max() <= MIRROR_STEP_MAX_DEG


@pytest.mark.parametrize("broken", ["zero_rotation", "huge_rotation", "nan_aspect", "points_at_one_spot"])
def test_frames_that_cannot_be_a_face_count_as_no_face(broken):
    """An all-zero rotation read as a 120-degree turn (the calibration restarted on every frame); landmarks at one
    point calibrated a rest that held the head at 0 degrees; a NaN aspect or a 1e308 rotation crashed the SVD."""
    from avatar_engine.live.animator import usable

    points = np.random.default_rng(0).uniform(0.3, 0.7, (478, 3)).astype(np.float32)
    good = LandmarkFrame(reference_calibration().scores.copy(), np.eye(3), 0, points, 16 / 9)
    bad = {"zero_rotation": dataclasses.replace(good, rotation=np.zeros((3, 3))),
           "huge_rotation": dataclasses.replace(good, rotation=np.full((3, 3), 1e308)),
           "nan_aspect": dataclasses.replace(good, aspect=float("nan")),
           "points_at_one_spot": dataclasses.replace(good, points=np.full((478, 3), 0.5, np.float32))}[broken]
    assert usable(good) and not usable(bad)
    a = animator()
    a.update(bad, 0.0)
    assert a.rejected == 1


def test_a_slow_camera_is_filtered_and_shown_on_time():
    # 7.5 fps: the loop's idle tick (0.1 s) puts a held frame between every two tracked ones. Each tracked frame was
    # taken as a re-acquisition: the filter reset, and the resume blend showed the previous pose (a frame late)
    a = animator(idle=IdleOptions(hold_s=0.5, ease_s=1.0))
    t, shown = 0.0, []
    for k in range(16):
        frame = smiling(t)
        frame.scores[JAW] = 0.9 if k >= 8 else 0.0
        shown.append(a.update(frame, t).weights[JAW])
        held = a.update(None, t + 0.1)
        assert a.state == "holding" and held.weights[JAW] == pytest.approx(shown[-1])
        t += 1 / 7.5
    assert shown[7] < 0.05 and shown[8] > 0.5, "the opening shows on the frame that tracked it, not a frame later"


def test_a_frame_with_a_value_that_is_not_a_number_counts_as_no_face():
    # one NaN score spread to every weight through the filter, for good; a NaN rotation crashed the pose's SVD
    a = animator(idle=IdleOptions(hold_s=0.5, ease_s=1.0))
    for i in range(10):
        a.update(smiling(i / FPS), i / FPS)
    bad_score = smiling(10 / FPS)
    bad_score.scores[ARKIT_INDEX["eyeBlinkLeft"]] = np.nan
    bad_rotation = LandmarkFrame(smiling(11 / FPS).scores, np.full((3, 3), np.nan), int(11 / FPS * 1e9))
    for k, frame in ((10, bad_score), (11, bad_rotation)):
        shown = a.update(frame, k / FPS)
        assert a.state == "holding" and np.isfinite(shown.as_vector()).all()
    after = a.update(smiling(12 / FPS), 12 / FPS)
    assert a.rejected == 2 and a.state == "tracking" and np.isfinite(after.as_vector()).all()
    assert after.weights[JAW] > 0.5


def test_calibration_ends_even_when_media_time_stands_still():
    from avatar_engine.live.animator import MAX_CALIBRATION_FRAMES

    a = Animator(AnimatorOptions(tuning=dataclasses.replace(DEFAULT_TUNING, calibration_s=1.0)))
    for i in range(MAX_CALIBRATION_FRAMES + 5):
        a.update(smiling(0.0), i / FPS)  # a caller's constant t_ns: collected for ever, ~6 KB a frame
    assert a.state == "tracking"


def test_automatic_calibration_keeps_an_expression_held_from_the_start():
    """Smiling (here: jaw open) through the first second: the expression stays readable, the rest raised at most
    `calibration_max_shift` (before, it became the rest face for the session)."""
    a = Animator(AnimatorOptions(tuning=dataclasses.replace(DEFAULT_TUNING, calibration_s=0.2)))
    for i in range(30):
        out = a.update(smiling(i / FPS), i / FPS)
    assert a.state == "tracking" and a.calibration.frames > 0
    shift = a.calibration.scores - reference_calibration().scores
    assert shift.max() <= DEFAULT_TUNING.calibration_max_shift + 1e-6
    assert out.weights[JAW] > 0.3


def test_automatic_calibration_takes_a_rest_below_the_references():
    """A face whose resting brows read far lower than the reference head's (0.02 against 0.59: the built
    astronaut): its rest is its own, so raising the brows shows at once. Bounded 0.3 below (at 0.29), a raise to
    0.32 read as almost nothing."""
    brow = ARKIT_INDEX["browInnerUp"]
    a = Animator(AnimatorOptions(tuning=dataclasses.replace(DEFAULT_TUNING, calibration_s=0.2)))
    rest = reference_calibration()
    low = rest.scores.copy()
    low[brow] = 0.02
    for i in range(15):
        a.update(LandmarkFrame(low.copy(), rest.rotation, int(i / FPS * 1e9)), i / FPS)
    assert a.state == "tracking" and a.calibration.scores[brow] == pytest.approx(0.02, abs=1e-6)
    raised = low.copy()
    raised[brow] = 0.32
    for i in range(15, 45):
        out = a.update(LandmarkFrame(raised.copy(), rest.rotation, int(i / FPS * 1e9)), i / FPS)
    assert out.weights[brow] > 0.5


def test_a_face_resting_far_above_the_reference_settles_to_its_own_rest():
    """MediaPipe reads one synthetic person resting at mouthStretch 0.67 (the reference head: about 0). The
    automatic calibration bounds the rest 0.3 above the reference's, so the avatar stretched its mouth while the
    person rested; after `settled_rest.WINDOW_S` of rest it no longer does, while a smile still shows."""
    from avatar_engine.solve.settled_rest import WINDOW_S

    stretch, smile = ARKIT_INDEX["mouthStretchLeft"], ARKIT_INDEX["mouthSmileLeft"]
    a = Animator(AnimatorOptions(tuning=dataclasses.replace(DEFAULT_TUNING, calibration_s=0.5)))
    rest = reference_calibration()
    own = rest.scores.copy()
    own[stretch] = 0.67
    shown = []
    for i in range(int((WINDOW_S + 12.0) * FPS)):
        shown.append(a.update(LandmarkFrame(own.copy(), rest.rotation, int(i / FPS * 1e9)), i / FPS).weights)
    settled = np.array(shown[2 * FPS:])[:, stretch]  # calibrated, the glide to the new rest over
    assert settled[0] > 0.2, "bounded: the stretch shows at first"
    assert settled[-1] < 0.02
    assert np.abs(np.diff(settled)).max() < 0.05, "it fades over seconds, it does not pop"
    smiling_face = own.copy()
    smiling_face[smile] = 0.8
    t0 = len(shown)
    for i in range(t0, t0 + FPS):
        out = a.update(LandmarkFrame(smiling_face.copy(), rest.rotation, int(i / FPS * 1e9)), i / FPS)
    assert out.weights[smile] > 0.5 and out.weights[stretch] < 0.02
    a.recalibrate()
    assert a.settling is None


def test_automatic_calibration_waits_for_a_still_head():
    """A head turning through the first seconds (a turntable) is not at rest: the window starts again until the
    head holds still for `calibration_s`, and the rest pose is the still one, not mid-turn."""
    from avatar_engine.records import euler_rotation
    from avatar_engine.solve.pose import head_angles

    a = Animator(AnimatorOptions(tuning=dataclasses.replace(DEFAULT_TUNING, calibration_s=0.5)))
    rest = reference_calibration()
    t = 0.0
    for i in range(60):  # 2 s turning at 30 degrees a second
        a.update(LandmarkFrame(rest.scores.copy(), euler_rotation(-30 + i, 0, 0) @ rest.rotation, int(t * 1e9)), t)
        t += 1 / FPS
        assert a.state == "calibrating"
    for i in range(20):  # then still, facing the camera
        a.update(LandmarkFrame(rest.scores.copy(), rest.rotation, int(t * 1e9)), t)
        t += 1 / FPS
    assert a.state == "tracking"
    assert np.abs(head_angles(rest.rotation.T @ a.calibration.rotation)).max() < 1.0


def test_a_face_mostly_beyond_the_frame_counts_as_lost():
    # MediaPipe keeps tracking a face sliding out of the frame, guessing the landmarks it cannot see; the half-seen
    # face's drifting pose and lopsided smile were what the avatar then held
    from avatar_engine.live.animator import EDGE_CUT_MAX, EYE_POINTS, outside_share

    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(0.3, 0.6, 478), rng.uniform(0.3, 0.7, 478), np.zeros(478)]).astype(np.float32)
    points[list(EYE_POINTS), 0] = 0.5

    def face(t_s: float, shift: float, jaw: float, eye_x: float = 0.5) -> LandmarkFrame:
        frame = smiling(t_s)
        frame.scores[JAW] = jaw
        moved = points + np.float32([shift, 0.0, 0.0])
        moved[EYE_POINTS[0], 0] = eye_x + shift
        return dataclasses.replace(frame, points=moved)

    # random points give no real pose: the glide from idle that a head so far off takes is held short
    a = animator(idle=IdleOptions(hold_s=0.5, ease_s=1.0, resume_max_s=0.25))
    for i in range(10):
        whole = a.update(face(i / FPS, 0.0, 0.9), i / FPS)
    partly_out = face(10 / FPS, -0.33, 0.9)  # a tenth of the face beyond the left edge: still tracked
    assert 0.05 < outside_share(partly_out) < EDGE_CUT_MAX
    a.update(partly_out, 10 / FPS)
    assert a.state == "tracking"
    last = a.update(face(11 / FPS, 0.0, 0.9), 11 / FPS)
    mostly_out = face(12 / FPS, -0.39, 0.0)  # 30% beyond the edge, the jaw read shut
    eye_out = face(13 / FPS, -0.33, 0.0, eye_x=0.31)  # a tenth beyond the edge with an eye's corner
    assert outside_share(mostly_out) > EDGE_CUT_MAX and outside_share(eye_out) < EDGE_CUT_MAX
    for k, frame in ((12, mostly_out), (13, eye_out)):
        held = a.update(frame, k / FPS)
        assert a.state == "holding"
        assert np.allclose(held.as_vector(), last.as_vector()) and held.weights[JAW] > 0.5 and whole.weights[JAW] > 0.5
    assert a.cut == 2


RECENTRE_STEP_DEG = 1.0
"""Largest change of head angle between frames as a calibration's new rest takes over (it snapped 5 degrees)."""


def test_a_new_rest_is_glided_to_while_the_face_stays_live():
    # a person sitting 8 degrees off the camera's axis: calibration moves the rest there, and the head turned back
    # to straight in one frame
    from avatar_engine.records import euler_rotation

    rest = reference_calibration()
    turned = euler_rotation(8.0, 3.0) @ np.array(rest.rotation)
    a = Animator(AnimatorOptions(tuning=dataclasses.replace(DEFAULT_TUNING, calibration_s=1.0)))
    shown, states = [], []
    for i in range(90):
        scores = rest.scores.copy()
        scores[JAW] = 0.9 if 36 <= i < 44 else scores[JAW]  # the mouth opens as the glide goes on
        shown.append(a.update(LandmarkFrame(scores, turned, int(i * 1e9 / FPS)), i / FPS))
        states.append(a.state)
    done = states.index("tracking")
    angles = np.array([f.angles for f in shown])
    assert np.abs(angles[done - 1, :2]).max() > 5.0, "before calibrating, the turn shows"
    assert np.abs(np.diff(angles[done - 1:], axis=0)).max() <= RECENTRE_STEP_DEG
    assert np.abs(angles[-1, :2]).max() < 1.0, "then the new rest"
    assert max(f.weights[JAW] for f in shown[36:44]) > 0.5, "the face moves live while the pose glides"


def test_a_face_lost_again_while_gliding_back_holds_what_was_shown():
    # the hold showed the tracked frame, not the one gliding toward it: the avatar popped as the face was lost
    from avatar_engine.records import euler_rotation

    rest = reference_calibration()
    a = animator(idle=IdleOptions(hold_s=0.5, ease_s=0.2))
    t = 0.0
    for _ in range(FPS * 2):  # idle: nothing tracked yet
        a.update(None, t)
        t += 1 / FPS
    turned = LandmarkFrame(smiling(t).scores, euler_rotation(20.0, 0.0) @ np.array(rest.rotation), int(t * 1e9))
    shown = [a.update(dataclasses.replace(turned, t_ns=int((t + i / FPS) * 1e9)), t + i / FPS) for i in range(3)]
    held = a.update(None, t + 3 / FPS)
    assert a.state == "holding"
    assert np.allclose(held.as_vector(), shown[-1].as_vector())
    yaw = [f.angles[0] for f in shown]
    assert abs(yaw[-1]) < 15.0, "still gliding from the idle pose toward the 20-degree turn"


def test_the_glide_back_survives_a_repeated_time_and_keeps_blinks_short():
    # the glide took a frame at its start time for its first: a clock that repeats a time flung the head the other
    # way; and its weights faded as slowly as a far head turn, holding an idle blink shut for half a second
    from avatar_engine.records import euler_rotation
    from avatar_engine.solve.solver import correct_angles

    rest = reference_calibration()
    idle = IdleOptions(hold_s=0.1, ease_s=0.1, resume_s=0.25)
    a = animator(idle=idle)
    t = 0.0
    while t < 2.0 or idle_frame(t, idle).weights[ARKIT_INDEX["eyeBlinkLeft"]] < 0.9:  # idle, until it blinks
        a.update(None, t)
        t += 1 / FPS
    turned = LandmarkFrame(rest.scores.copy(), euler_rotation(35.0, 0.0) @ np.array(rest.rotation), int(t * 1e9))
    first = a.update(turned, t)
    again = a.update(turned, t)  # the same time once more
    assert np.allclose(first.as_vector(), again.as_vector(), atol=1e-5)
    assert first.weights[ARKIT_INDEX["eyeBlinkLeft"]] > 0.5, "found mid-blink: the glide starts from a shut eye"
    yaws, blinks = [], []
    for i in range(1, 40):
        shown = a.update(dataclasses.replace(turned, t_ns=int((t + i / FPS) * 1e9)), t + i / FPS)
        yaws.append(shown.angles[0])
        blinks.append(shown.weights[ARKIT_INDEX["eyeBlinkLeft"]])
    tracked = float(correct_angles(np.array([35.0, 0.0, 0.0]))[0])  # a turn read as 35 degrees, as solved
    assert max(abs(y) for y in yaws) <= 40.0 and abs(yaws[-1] - tracked) < 3.0
    assert max(blinks[int(idle.resume_s * FPS) + 1:]) < 0.05, "the weights' glide lasts resume_s"


def test_a_clock_that_starts_again_does_not_freeze_the_face():
    """An application feeding a new clip from t = 0 (or a clock far back): the filters passed every older sample
    through unchanged, so the face stayed as it was until the new clock passed the old one."""
    a = animator()
    resting = reference_calibration().scores.copy()
    for i in range(60):  # two seconds at rest
        a.update(LandmarkFrame(resting, np.array(reference_calibration().rotation), int(i / FPS * 1e9)), i / FPS)
    for start in (0.0, -1000.0):
        shown = [a.update(smiling(start + i / FPS), start + i / FPS).weights[JAW] for i in range(30)]
        assert shown[-1] > 0.5, (start, shown[-5:])
        for i in range(30):  # back to rest on that clock
            a.update(LandmarkFrame(resting, np.array(reference_calibration().rotation),
                                   int((start + 1 + i / FPS) * 1e9)), start + 1 + i / FPS)
    late = a.update(smiling(start + 1.9), start + 1.9)  # a frame a little late is not a restart
    assert a.state == "tracking" and late.weights[JAW] < 0.5


def test_the_resting_lip_gap_survives_a_calibration_frame_without_landmarks():
    """The calibration's resting lip gap is the median over the frames that have landmarks: one score-only frame in
    the window made it 0, and lips resting apart then read every pucker as a funnel."""
    from avatar_engine.solve.solver import lip_gap

    points = np.zeros((478, 3), np.float32)
    points[33, 0], points[263, 0] = 0.3, 0.7
    for u, v in ((82, 87), (13, 14), (312, 317)):
        points[u, 1], points[v, 1] = 0.6, 0.6 + 0.4 * 0.015
    a = Animator(AnimatorOptions(tuning=dataclasses.replace(DEFAULT_TUNING, calibration_s=0.2)))
    rest = reference_calibration()
    for i in range(15):
        frame_points = None if i == 3 else points
        a.update(LandmarkFrame(rest.scores.copy(), rest.rotation, int(i / FPS * 1e9), frame_points), i / FPS)
    assert a.state == "tracking" and a.calibration.lip_gap == pytest.approx(lip_gap(points), abs=1e-6)
