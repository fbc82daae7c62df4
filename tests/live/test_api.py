"""The embeddable live API used as an application would: several avatars, threads, its own clock, misuse."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from avatar_engine.errors import InputError
from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.live import LiveAvatar, LiveOptions, LivePipeline, PipelineOptions, RecordOutput
from avatar_engine.live.animator import AnimatorOptions
from avatar_engine.solve.frames import LandmarkFrame, SolvedFrame

SIZE = (96, 64)
SAME_MAX = 2
"""Largest per-channel difference between two renders of one face on one driver (none is expected)."""


def small(**kw) -> LiveAvatar:
    """A LiveAvatar with a context of its own, as an application makes one."""
    return LiveAvatar(options=LiveOptions(size=SIZE, samples=0, **kw))


def frame_of(live: LiveAvatar, jaw: float = 0.0) -> np.ndarray:
    weights = np.zeros(52, np.float32)
    weights[ARKIT_INDEX["jawOpen"]] = jaw
    live.draw(SolvedFrame(weights, np.zeros(3, np.float32), np.zeros((2, 2), np.float32), 0))
    return live.read().astype(np.int16)


def cleared(fbo, colour) -> list[int]:
    """fbo cleared to colour and read back, with its context used as it is (no `with`): an application's own."""
    fbo.use()
    fbo.ctx.clear(*colour, 1.0)
    return np.frombuffer(fbo.read(components=4), np.uint8)[:3].tolist()


def test_several_live_avatars_each_draw_their_own_and_leave_the_threads_context_alone(gl_context):
    # every LiveAvatar drew into the context made last, and closing one left its neighbours drawing into nothing: the
    # older one's frames came out as stale memory (255 off), with no error
    gl_context.__enter__()  # the application's context is the current one (earlier tests may have left another)
    theirs = gl_context.simple_framebuffer((4, 4))
    assert cleared(theirs, (1.0, 0.0, 0.0)) == [255, 0, 0]
    a = small()
    rest, open_jaw = frame_of(a), frame_of(a, 0.9)
    assert np.abs(rest - open_jaw).max() > 50, "the open jaw shows"
    b = small()
    assert np.abs(frame_of(a, 0.9) - open_jaw).max() <= SAME_MAX
    assert np.abs(frame_of(b) - rest).max() <= SAME_MAX
    b.close()
    assert np.abs(frame_of(a) - rest).max() <= SAME_MAX, "closing one leaves the other drawing"
    # an application's own context, current on this thread before, still is: making and closing ours took it
    assert cleared(theirs, (0.0, 1.0, 0.0)) == [0, 255, 0]
    a.close()
    assert cleared(theirs, (0.0, 0.0, 1.0)) == [0, 0, 255]
    assert gl_context.error == "GL_NO_ERROR"


def test_rendering_from_another_thread_is_refused(tmp_path):
    # the GL context belongs to the thread that made it: from another, draws went nowhere and reads gave stale
    # memory; a LivePipeline run on a worker thread recorded blank frames
    live = small()
    errors = []

    def elsewhere(fn):
        try:
            fn()
        except RuntimeError as exc:
            errors.append(str(exc))

    for fn in (lambda: live.draw(SolvedFrame.neutral()), live.read, live.close,
               lambda: LivePipeline(object(), live, [], PipelineOptions(max_frames=1)).run()):
        worker = threading.Thread(target=elsewhere, args=(fn,))
        worker.start()
        worker.join(10)
    assert len(errors) == 4 and all("thread that made it" in e for e in errors), errors
    assert frame_of(live).max() > 0, "still usable on its own thread"
    live.close()


def test_tracking_on_two_threads_at_once_is_refused(monkeypatch):
    # MediaPipe takes frames one at a time in time order: two threads made two trackers (one never closed) and
    # MediaPipe's own "timestamp must be monotonically increasing" came out
    live = small(render=False)
    made = []

    class SlowTracker:
        def track(self, rgb, t_ns):
            time.sleep(0.3)

        def close(self):
            pass

    monkeypatch.setattr(live, "_new_tracker", lambda: made.append(1) or SlowTracker())
    image = np.zeros((8, 8, 3), np.uint8)
    worker = threading.Thread(target=live.track, args=(image, 0))
    worker.start()
    time.sleep(0.1)
    with pytest.raises(RuntimeError, match="another thread at the same time"):
        live.track(image, 1)
    worker.join()
    live.track(image, 2)  # one after the other is fine
    assert len(made) == 1
    live.close()


def test_a_pil_image_is_tracked_as_its_rgb_array(monkeypatch):
    # review: MediaPipe read a PIL image, then the tracker failed on its missing .shape (the builder takes them)
    from PIL import Image

    live = small(render=False)
    seen = []

    class Recorder:
        def track(self, rgb, t_ns):
            seen.append((type(rgb), rgb.shape, rgb.dtype))

        def close(self):
            pass

    monkeypatch.setattr(live, "_new_tracker", Recorder)
    live.process(Image.new("L", (16, 8), 128), 10 ** 9)
    assert seen == [(np.ndarray, (8, 16, 3), np.uint8)]
    live.close()


def test_frame_times_must_increase():
    # the filters pass nothing on at no elapsed time: a repeated time (or milliseconds passed as nanoseconds, then a
    # clock restart) froze the face for good while the state still said "tracking"
    live = small(render=False, animator=AnimatorOptions(auto_calibrate=False))
    scores = np.zeros(52, np.float32)
    live.process_landmarks(LandmarkFrame(scores, np.eye(3), 1_000_000))
    for t in (1_000_000, 999_999):
        with pytest.raises(ValueError, match="frame times must increase"):
            live.process_landmarks(LandmarkFrame(scores, np.eye(3), t))
    live.process_landmarks(None)  # no face: the clock moves on by itself
    later = live.process_landmarks(LandmarkFrame(scores, np.eye(3), 10 ** 12))
    assert later.t_ns == 10 ** 12
    with pytest.raises(ValueError, match="frame times must increase"):
        live.process_landmarks(LandmarkFrame(scores, np.eye(3), 0), t_ns=5)
    live.close()


@pytest.mark.parametrize("step", [33, 1], ids=["milliseconds", "frame_numbers"])
def test_times_in_another_unit_are_named(step):
    """Review: milliseconds or frame numbers passed as t_ns were taken, and every frame stayed 'calibrating' with
    all weights 0 for 600 frames (then the filters ran on nanosecond gaps)."""
    live = small(render=False)
    scores = np.zeros(52, np.float32)
    for i in range(1, 4):
        live.process_landmarks(LandmarkFrame(scores, np.eye(3), i * step))
    with pytest.raises(ValueError, match=rf"3 frames in a row under 100 us apart \(the last {step} ns\): t_ns is "
                                         "in nanoseconds"):
        live.process_landmarks(LandmarkFrame(scores, np.eye(3), 4 * step))
    live.process_landmarks(LandmarkFrame(scores, np.eye(3), step + 33_000_000))  # a camera's 30 a second is fine
    live.close()


def test_a_burst_of_datagrams_stamped_on_arrival_is_taken():
    # review: two phone datagrams a few microseconds apart (one Wi-Fi burst, stamped as they came) raised mid-run;
    # so did a fast tracker's frames without a t_ns, timed by the LiveAvatar's own clock
    live = small(render=False)
    scores = np.zeros(52, np.float32)
    t = 10 ** 9
    for _ in range(5):
        live.process_landmarks(LandmarkFrame(scores, np.eye(3), t))
        live.process_landmarks(LandmarkFrame(scores, np.eye(3), t + 20_000))  # 20 us later
        t += 33_000_000
    for _ in range(5):
        live.process_landmarks(None)  # the clock's own time, microseconds apart
    live.close()


@pytest.mark.parametrize("change, message", [
    (dict(rotation=np.eye(4)), r"rotation must be the head's \(3, 3\) rotation, got float64 of shape \(4, 4\) "
                               r"\(a 4 x 4 transform's upper-left 3 x 3 is it\)"),
    (dict(scores=np.full(52, 80.0, np.float32)), r"scores must lie in \[0, 1\], got 80 to 80 \(a 0-100 scale"),
    (dict(scores=np.zeros(51, np.float32)), r"the 52 ARKit scores in ARKit order, got float32 of shape \(51,\)"),
    (dict(points=np.zeros((10, 3), np.float32)), r"points must be MediaPipe's \(478, 3\) landmarks or None"),
])
def test_landmarks_of_the_wrong_shape_or_scale_are_named(change, message):
    """Review: a 4 x 4 transform had every frame refused in silence (weights 0, yet tracked=True); scores on a
    0-100 scale were clipped to 1; 51 scores failed on numpy's broadcasting deep in the solver."""
    import dataclasses

    live = small(render=False)
    frame = dataclasses.replace(LandmarkFrame(np.zeros(52, np.float32), np.eye(3), 10 ** 9), **change)
    with pytest.raises(ValueError, match=message):
        live.process_landmarks(frame)
    with pytest.raises(TypeError, match="must be an avatar_engine.solve.frames.LandmarkFrame or None, got dict"):
        live.process_landmarks({"scores": np.zeros(52)})
    assert live.process_landmarks(LandmarkFrame(np.zeros(52, np.float32), np.eye(3), 10 ** 9)).tracked
    live.close()


def test_a_frame_the_animator_refuses_is_not_tracked():
    # a NaN score or a matrix that is no rotation is the tracker's bad frame: shown as no face, and now said so
    live = small(render=False)
    scores = np.zeros(52, np.float32)
    scores[3] = np.nan
    frame = live.process_landmarks(LandmarkFrame(scores, np.eye(3), 10 ** 9))
    assert not frame.tracked and live.animator.rejected == 1
    frame = live.process_landmarks(LandmarkFrame(np.zeros(52, np.float32), 3 * np.eye(3), 2 * 10 ** 9))
    assert not frame.tracked and live.animator.rejected == 2
    live.close()


def test_misuse_is_named():
    with pytest.raises(TypeError, match="read_glb"):
        LiveAvatar("me.glb", LiveOptions(size=SIZE, render=False))
    with pytest.raises(ValueError, match="whole pixels"):
        LiveOptions(size=(640.5, 360))
    with pytest.raises(ValueError, match="samples must be one of"):
        LiveOptions(samples=3)
    live = small(render=False)
    live.close()
    live.close()  # twice is fine
    for misuse in (live.recalibrate, lambda: live.animate(None, 0), lambda: setattr(live, "mirror", True)):
        with pytest.raises(RuntimeError, match="closed"):
            misuse()


@pytest.mark.parametrize("name, cause", [("take.avi", "must end in .mp4"), ("missing/take.mp4", "does not exist")])
def test_a_recording_that_cannot_be_written_is_refused_when_made(tmp_path, name, cause):
    # an API user heard of it only from FFmpeg once the whole run was over
    with pytest.raises(InputError, match=cause):
        RecordOutput(tmp_path / name)


def test_tracking_leaves_the_applications_stderr_to_it(tmp_path):
    """Review: the first process() printed MediaPipe's start-up lines (W0000 ..., INFO: Created TensorFlow Lite
    XNNPACK delegate) to the application's stderr unless warm_up() was called first. A fresh process: MediaPipe
    logs so once per process."""
    import subprocess
    import sys

    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    code = ("import numpy as np\n"
            "from avatar_engine.live import LiveAvatar, LiveOptions\n"
            "with LiveAvatar(None, LiveOptions(render=False)) as live:\n"
            "    for i in range(3):\n"
            "        live.process(np.full((240, 320, 3), 128, np.uint8), (i + 1) * 33_000_000)\n"
            "print('tracked')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "tracked", done.stderr[-1000:]
    assert "W0000" not in done.stderr and "XNNPACK" not in done.stderr, done.stderr[-1000:]


def test_a_live_avatar_dropped_unclosed_says_so():
    """Review: a LiveAvatar dropped without close() kept ~47 MB (its GL context) in silence; it cannot be released
    from a finaliser (any thread), so it warns as an unclosed file does. A closed one, or one that does not render,
    says nothing."""
    import gc
    import warnings

    with pytest.warns(ResourceWarning, match="dropped without close"):
        live = small()
        del live
        gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with small() as live:
            pass
        del live
        quiet = small(render=False)
        del quiet
        gc.collect()


def test_animate_checks_its_frame_times_as_process_does():
    """Review: `animate` took a repeated or earlier time without a word, and the face froze (jawOpen 0.9 shown as
    0.0 for every later frame); a string passed as landmarks was an AttributeError."""
    live = small(render=False, animator=AnimatorOptions(auto_calibrate=False))
    rest = np.zeros(52, np.float32)
    for i in range(1, 30):
        live.animate(LandmarkFrame(rest, np.eye(3), i * 33_000_000), i * 33_000_000)
    last = 29 * 33_000_000
    for t in (last, last - 20_000_000):
        with pytest.raises(ValueError, match="frame times must increase"):
            live.animate(LandmarkFrame(rest, np.eye(3), t), t)
    with pytest.raises(TypeError, match="LandmarkFrame or None"):
        live.animate("x", last + 33_000_000)
    jaw = rest.copy()
    jaw[ARKIT_INDEX["jawOpen"]] = 0.9
    shown = [live.animate(LandmarkFrame(jaw, np.eye(3), last + k * 33_000_000), last + k * 33_000_000)
             for k in range(1, 10)]
    assert shown[-1].weights[ARKIT_INDEX["jawOpen"]] > 0.5, "the face still follows after a refused time"
    live.close()


@pytest.mark.parametrize("t, message", [
    (12345.0333, r"t_ns 12345.0333 looks like seconds: it is in nanoseconds \(time.monotonic_ns\(\)"),
    (float("nan"), "whole number of nanoseconds"), (float("inf"), "whole number of nanoseconds"),
    ("200000000", "whole number of nanoseconds, got str"), (2 ** 63, "beyond a 64-bit count")])
def test_a_frame_time_that_is_no_count_of_nanoseconds_is_named(t, message):
    """Review: seconds as floats were cut to whole nanoseconds (12345.0333 refused as not following 12345.0), NaN and
    inf gave errors that did not name t_ns, a string was taken, and 2**63 flooded stderr with MediaPipe's lines."""
    live = small(render=False)
    with pytest.raises(ValueError, match=message):
        live.process_landmarks(LandmarkFrame(np.zeros(52, np.float32), np.eye(3), 0), t)
    assert live.process_landmarks(LandmarkFrame(np.zeros(52, np.float32), np.eye(3), 0), 33_000_000.0).t_ns \
        == 33_000_000  # a whole float is a count
    assert live.process_landmarks(LandmarkFrame(np.zeros(52, np.float32), np.eye(3), 0), 2 / 30 * 1e9).t_ns \
        == 66_666_667  # nanoseconds a float carried (i / 30 * 1e9): rounded, as they were cut before
    with pytest.raises(ValueError, match=message):  # the time a LandmarkFrame carries: NaN there froze the face
        live.process_landmarks(LandmarkFrame(np.zeros(52, np.float32), np.eye(3), t))
    live.close()


def test_a_frame_refused_on_another_thread_does_not_use_up_its_time():
    """Review: process_landmarks from another thread moved the clock on before refusing the frame, and the owner's
    next, earlier frame was then refused as going back in time."""
    live = small()
    rest = LandmarkFrame(np.zeros(52, np.float32), np.eye(3), 10 ** 9)
    live.process_landmarks(rest)
    errors = []
    worker = threading.Thread(target=lambda: errors.append(pytest.raises(
        RuntimeError, live.process_landmarks, LandmarkFrame(rest.scores, np.eye(3), 5 * 10 ** 9))))
    worker.start()
    worker.join(10)
    assert len(errors) == 1
    assert live.process_landmarks(LandmarkFrame(rest.scores, np.eye(3), 2 * 10 ** 9)).t_ns == 2 * 10 ** 9
    live.close()


def test_options_that_cannot_be_are_named():
    with pytest.raises(ValueError, match=r"render size must be \(width, height\)"):
        LiveOptions(size=(64,))
    with pytest.raises(TypeError, match="options must be a LiveOptions"):
        LiveAvatar(None, {"size": SIZE})
    with pytest.raises(ValueError, match="0-1 per channel"):  # 0-255 drew a white frame
        LiveAvatar(None, LiveOptions(size=SIZE, samples=0, background=((128, 128, 128), (128, 128, 128))))


def test_process_numbers_the_camera_frames_it_takes(monkeypatch):
    """Review: a frame from `process` came back with index -1 and no capture time, which outputs.py reserves for
    frames rendered without a new camera frame."""
    live = small(render=False)
    monkeypatch.setattr(live, "track", lambda rgb, t_ns: None)
    before = time.monotonic_ns()
    frames = [live.process(np.zeros((48, 64, 3), np.uint8), (k + 1) * 33_000_000) for k in range(3)]
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(isinstance(f.t_capture_ns, int) and f.t_capture_ns >= before for f in frames)
    assert live.process_landmarks(None).index == -1  # no camera frame
    live.close()


def test_an_unclosed_live_avatar_leaves_no_traceback_at_exit():
    """Review: a script that tracked a frame and ended without close() printed two tracebacks at shutdown (an import
    inside __del__, and MediaPipe's finaliser on a half torn-down interpreter)."""
    import subprocess
    import sys

    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    code = ("import numpy as np\n"
            "from avatar_engine.live import LiveAvatar, LiveOptions\n"
            "live = LiveAvatar(None, LiveOptions(size=(64, 48), samples=0))\n"
            "live.process(np.full((240, 320, 3), 128, np.uint8), 33_000_000)\n"
            "print('tracked')\n")
    done = subprocess.run([sys.executable, "-W", "ignore::ResourceWarning", "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "tracked", done.stderr[-1000:]
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr[-1500:]
