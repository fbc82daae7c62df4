"""The live loop end to end on tiny clips of our own head: sources, tracking, solving, recording, stats, API."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.live import LiveAvatar, LiveOptions, LivePipeline, PipelineOptions, RecordOutput, open_source
from avatar_engine.live.animator import AnimatorOptions
from avatar_engine.live.outputs import Output
from avatar_engine.live.pipeline import END, Slot, start_delay
from avatar_engine.solve.tuning import DEFAULT_TUNING

pytest.importorskip("mediapipe", reason="the live loop tracks with MediaPipe (pip install 'avatar-engine[track]')")

OPEN_MIN = 0.4
"""jawOpen recovered where the clip's jaw is at 0.85."""
REST_MAX = 0.15
"""jawOpen recovered while the clip rests (after calibration)."""
JAW = ARKIT_INDEX["jawOpen"]


def small_live(ctx, **kw) -> LiveAvatar:
    return LiveAvatar(options=LiveOptions(size=(96, 64), samples=0, **kw), ctx=ctx)


def test_slot_keeps_only_the_newest_item():
    slot = Slot()
    for i in range(3):
        slot.put(i)
    assert slot.get(0.01) == 2 and slot.dropped == 2
    assert slot.get(0.01) is None


def test_lossless_slot_blocks_instead_of_dropping():
    slot = Slot(lossless=True)
    got = []

    def consume():
        for _ in range(3):
            time.sleep(0.02)
            got.append(slot.get(1.0))

    t = threading.Thread(target=consume)
    t.start()
    for i in range(3):
        slot.put(i)
    t.join()
    assert got == [0, 1, 2] and slot.dropped == 0


def test_folder_through_pipeline_recovers_the_jaw_and_records(ctx, template, clip, tmp_path):
    seen = {}
    out = tmp_path / "rec.mp4"
    with open_source(clip["folder"]) as source:
        live = small_live(ctx)
        live.renderer.load(template)
        pipeline = LivePipeline(source, live, [RecordOutput(out)],
                                PipelineOptions(lossless=True, on_frame=lambda f: seen.__setitem__(f.index, f)))
        summary = pipeline.run()
        live.close()
    assert sorted(seen) == list(range(len(clip["jaw"]))), "lossless mode processes every frame once"
    jaw = np.array([seen[i].solved.weights[JAW] for i in sorted(seen)])
    assert jaw[8:10].max() <= REST_MAX
    assert jaw[13:16].max() >= OPEN_MIN
    assert seen[15].rgba.shape == (64, 96, 4)
    assert {"capture", "track", "solve", "render", "readback", "outputs"} <= set(summary["stage_ms"])
    assert summary["counts"]["rendered"] == len(clip["jaw"]) and summary["latency_ms"]["n"] == len(clip["jaw"])
    assert set(summary["stage_cpu_ms"]) == set(summary["stage_ms"])
    if sys.platform.startswith("linux"):  # CPU per thread group comes from /proc
        cpu = summary["cpu_ms_per_frame"]
        assert cpu["main"] > 0 and cpu["track"] + cpu.get("track_workers", 0) > 0
        assert sum(v for k, v in cpu.items() if k != "total") <= cpu["total"] * 1.05 + 0.5
        assert len(summary["load_average"]["start"]) == 3
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    count = sum(1 for _ in reader)
    assert meta["size"] == (96, 64) and count == len(clip["jaw"])


class SlowOutput(Output):
    """An output that takes longer than the source's frame period."""

    needs_pixels = False

    def __init__(self, seconds: float) -> None:
        self.seconds, self.indices = seconds, []

    def write(self, frame) -> None:
        self.indices.append(frame.index)
        time.sleep(self.seconds)


def test_stale_frames_are_dropped_not_queued(ctx, template, clip):
    slow = SlowOutput(0.12)
    with open_source(clip["mp4"]) as source:
        live = small_live(ctx)
        summary = LivePipeline(source, live, [slow], PipelineOptions(realtime=True)).run()
        live.close()
    dropped = summary["counts"].get("dropped_before_track", 0) + summary["counts"].get("dropped_before_render", 0)
    assert dropped > 0
    assert len(slow.indices) < len(clip["jaw"])
    assert slow.indices == sorted(slow.indices), "frames are never shown out of order"
    counts = summary["counts"]
    assert counts.get("dropped_before_render", 0) == 0 and counts["tracked"] <= counts["rendered"] + 1, \
        "the tracker waits for the renderer rather than tracking frames it would drop"
    # a frame waits at most one slot per stage: well under the time a queue of every frame would build up
    assert summary["latency_ms"]["max"] < 1000 * (len(clip["jaw"]) * 0.12) / 2


def test_a_file_read_fast_is_decoded_only_as_the_tracker_needs_it(ctx, clip):
    live = small_live(ctx)
    with open_source(clip["mp4"]) as source:
        summary = LivePipeline(source, live, [SlowOutput(0.03)], PipelineOptions()).run()
    live.close()
    counts = summary["counts"]
    assert counts["captured"] == counts["tracked"] == counts["rendered"] == len(clip["jaw"])
    assert counts.get("dropped_before_track", 0) == 0 and counts.get("dropped_before_render", 0) == 0


def test_serial_layout_tracks_once_the_frame_before_is_rasterised_not_after_its_outputs(ctx, clip):
    spans = {"track": [], "drawn": [], "frame": []}

    class Watched(LiveAvatar):
        def track(self, rgb, t_ns):
            t0 = time.monotonic()
            result = super().track(rgb, t_ns)
            spans["track"].append((t0, time.monotonic()))
            return result

        def draw(self, solved):
            super().draw(solved)
            spans["drawn"].append(time.monotonic())

    live = Watched(options=LiveOptions(size=(96, 64), samples=0), ctx=ctx)
    done = lambda f: spans["frame"].append(time.monotonic())  # noqa: E731
    with open_source(clip["mp4"]) as source:
        LivePipeline(source, live, [SlowOutput(0.02)], PipelineOptions(overlap=False, on_frame=done)).run()
    live.close()
    drawn = spans["drawn"][-len(spans["frame"]):]  # the warm-up draws a frame first
    assert len(spans["track"]) == len(drawn) == len(spans["frame"]) == len(clip["jaw"])
    starts = [start for start, _ in spans["track"][1:]]
    for start, drawn_before in zip(starts, drawn):
        assert start >= drawn_before, "frame N+1 is tracked only once frame N is rasterised"
    # frame N's readback and its 20 ms output (a recording, a window) run while frame N+1 is captured and tracked
    early = sum(start < out for start, out in zip(starts, spans["frame"]))
    assert early >= 0.8 * len(starts), f"only {early} of {len(starts)} frames began tracking during the outputs"


def test_slot_done_marks_the_taker_finished():
    slot = Slot()
    slot.put(1)
    assert slot.wait_empty(0.01, done=True) is False
    assert slot.get(0.01) == 1
    assert slot.wait_empty(0.01) is True and slot.wait_empty(0.01, done=True) is False
    slot.done()
    assert slot.wait_empty(0.01, done=True) is True


def test_tracking_starts_just_in_time_for_the_renderer():
    fast_track, slow_render = [0.010] * 8, [0.030] * 8
    assert start_delay(slow_render, fast_track, margin_s=0.002) == pytest.approx(0.018)
    assert start_delay(fast_track, slow_render) == 0.0, "a tracker slower than the renderer starts at once"
    assert start_delay(slow_render[:3], fast_track) == 0.0, "no delay before there are timings to go by"
    spiky = [0.030] * 6 + [0.001] * 2  # one fast frame in four does not pull the start late
    assert start_delay(spiky, fast_track, margin_s=0.0) == pytest.approx(0.020)


def test_api_feeds_frames_in_and_gets_weights_and_images_out(ctx, template, clip):
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(clip["mp4"]))
    meta = next(reader)
    w, h = meta["size"]
    quick = AnimatorOptions(tuning=dataclasses.replace(DEFAULT_TUNING, calibration_s=0.25))
    with small_live(ctx, animator=quick) as live:
        results = [live.process(np.frombuffer(buf, np.uint8).reshape(h, w, 3), int(i * 1e9 / 30))
                   for i, buf in enumerate(reader)]
    assert all(r.tracked for r in results)
    assert results[14].solved.weights[JAW] >= OPEN_MIN and results[9].solved.weights[JAW] <= REST_MAX
    assert results[-1].rgba.shape == (64, 96, 4) and results[-1].solved.weights.shape == (52,)
    assert results[3].state == "calibrating" and results[-1].state == "tracking"
    assert live.animator.calibration.frames == 9  # 0.25 s of frames at 30 fps, the jaw still at rest


def test_loop_option_replays_a_file_with_increasing_media_time(ctx, clip):
    times = []
    with open_source(clip["folder"]) as source:
        live = small_live(ctx, render=False)
        LivePipeline(source, live, [], PipelineOptions(lossless=True, loop=True, max_frames=45,
                                                       on_frame=lambda f: times.append(f.solved.t_ns))).run()
        live.close()
    assert len(times) == 45 and all(b > a for a, b in zip(times, times[1:]))
    steps = np.diff(times)
    assert steps.max() <= 1.01 * steps.min(), "media time runs on evenly across the restart"


def test_looping_a_source_that_cannot_rewind_ends_instead_of_spinning(ctx, clip):
    # a source whose rewind says yes but gives nothing (a seek in a raw .h264 stream did that): the loop ends, and a
    # max_seconds limit holds even while no frame comes
    class Stuck:
        fps, live = 30.0, False

        def __init__(self):
            self.inner, self.rewinds = open_source(clip["folder"]), 0

        def read(self):
            return self.inner.read() if self.rewinds == 0 else None

        def rewind(self):
            self.rewinds += 1
            return True

    source = Stuck()
    live = small_live(ctx, render=False)
    t0 = time.monotonic()
    summary = LivePipeline(source, live, [], PipelineOptions(lossless=True, loop=True, max_seconds=10.0)).run()
    live.close()
    source.inner.close()
    assert time.monotonic() - t0 < 5.0, "the loop spun on an empty source"
    assert source.rewinds == 1 and summary["counts"]["rendered"] == len(clip["jaw"])


def test_a_worker_error_reaches_the_caller(ctx, clip):
    class Broken:
        fps, live = 30.0, False

        def read(self):
            raise RuntimeError("decoder exploded")

    live = small_live(ctx, render=False)
    with pytest.raises(RuntimeError, match="decoder exploded"):
        LivePipeline(Broken(), live, [], PipelineOptions()).run()
    live.close()
    assert END is not None


def test_slot_keeps_the_end_once_put():
    """A failing worker puts END; the other worker's next result must not replace it (the loop never ended)."""
    slot = Slot()
    slot.put(END)
    slot.put("a tracked frame")
    assert slot.get(0.01) is END


def test_a_worker_error_mid_file_ends_the_run_at_once(ctx):
    """A file read in real time whose decoder fails mid-file while the tracker still has a frame in hand: its
    result replaced the failure's END, and the run raised only when max_seconds ran out (the loop spun on empty
    gets), or never without it."""
    from avatar_engine.live.sources import CapturedFrame

    class FailsMidFile:
        live, fps = False, 30.0

        def __init__(self) -> None:
            self.count = 0

        def read(self):
            self.count += 1
            if self.count == 10:
                raise RuntimeError("decoder exploded")
            return CapturedFrame(np.zeros((48, 64, 3), np.uint8), self.count, time.monotonic_ns(),
                                 int(self.count * 1e9 / 30))

        def close(self):
            pass

    class SlowTracker:  # a tracker still working on a frame when the decoder fails
        threads: dict = {}

        def track(self, rgb, t_ns):
            time.sleep(0.01)
            return None

        def close(self):
            pass

    for _ in range(3):
        live = small_live(ctx, render=False)
        live._tracker = SlowTracker()
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="decoder exploded"):
            LivePipeline(FailsMidFile(), live, [], PipelineOptions(
                realtime=True, max_seconds=3.0, on_frame=lambda frame: time.sleep(0.05))).run()
        live.close()
        assert time.monotonic() - t0 < 2.0, "the failure ended the run only when max_seconds ran out"


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGHUP"), reason="SIGHUP is POSIX")
def test_a_signal_ignored_before_the_run_stays_ignored(ctx):
    """`nohup avatar live ...` ignores SIGHUP so the run outlives its terminal: the loop's stop handler took it
    over, and closing the terminal stopped the run."""
    import signal

    live = small_live(ctx, render=False)
    pipeline = LivePipeline(object(), live, [], PipelineOptions())
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with pipeline._ctrl_c_stops():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
        live.close()


class UnpluggedCamera:
    """A live source that delivers frames, goes silent for a while (unplugged), then delivers again."""

    live, fps = True, 30.0

    def __init__(self, folder, silent_s: float) -> None:
        self.inner = open_source(folder)
        self.silent_s, self.count, self.silent_until = silent_s, 0, None

    def read(self):
        import time as _time

        self.count += 1
        if self.count == 8:
            self.silent_until = _time.monotonic() + self.silent_s
        if self.silent_until and _time.monotonic() < self.silent_until:
            _time.sleep(0.05)
            return None
        frame = self.inner.read()
        if frame is None:
            return None
        _time.sleep(1 / 30)
        t = _time.monotonic_ns()
        return dataclasses.replace(frame, t_capture_ns=t, t_media_ns=t)

    def close(self):
        self.inner.close()


def test_camera_gone_keeps_rendering_idle_then_resumes(ctx, clip):
    shown = []
    camera = UnpluggedCamera(clip["folder"], silent_s=1.2)
    live = small_live(ctx)
    LivePipeline(camera, live, [], PipelineOptions(max_frames=200, max_seconds=6.0,
                                                   on_frame=lambda f: shown.append((f.index, f.state)))).run()
    live.close()
    camera.close()
    gap = [s for i, s in shown if i == -1]
    assert len(gap) >= 5, "the renderer kept going while the camera was silent"
    assert {"holding", "easing"} & set(gap)
    first_gap = next(k for k, (i, s) in enumerate(shown) if i == -1)
    back = [s for i, s in shown[first_gap:] if i >= 0]
    assert back and {"tracking", "calibrating"} & set(back), "frames came back and tracking resumed"


def test_stats_memory_is_bounded():
    from avatar_engine.live import stats as stats_module

    s = stats_module.LiveStats()
    for i in range(stats_module.KEEP + 10):
        s.add("render", 1.0 if i >= 10 else 50.0)
    assert len(s.stage_ms["render"]) == stats_module.KEEP
    assert s.summary()["stage_ms"]["render"]["max"] == 1.0, "the oldest samples made room for the newest"
    kept = s.stage_ms["render"]
    assert kept.recent().nbytes <= 4 * stats_module.KEEP  # float32: 0.4 MB a series, not 3.2 as Python floats


def test_samples_keep_the_newest_in_order():
    from avatar_engine.live.stats import Samples

    ring = Samples(keep=4)
    ring.extend([1, 2, 3, 4, 5, 6])
    assert ring.recent().tolist() == [3, 4, 5, 6] and ring.recent(2).tolist() == [5, 6] and len(ring) == 4
    assert Samples(keep=4).recent().size == 0
    # read as the deques it replaced were: listed, indexed, taken as an array
    assert list(ring) == [3, 4, 5, 6] and ring[-1] == 6 and np.asarray(ring).tolist() == [3, 4, 5, 6]


def test_brief_latency_is_rounded_as_the_summary_is():
    from avatar_engine.live import stats as stats_module

    s = stats_module.LiveStats()
    s.latency_ms.extend([16.6, 16.7, 33.3])
    assert s.brief()["latency_ms"]["p50"] == 16.7


def test_brief_stats_cover_recent_frames_only():
    from avatar_engine.live import stats as stats_module

    s = stats_module.LiveStats()
    s.latency_ms.extend([500.0] * 1000 + [20.0] * 300)  # a slow start, then steady
    brief = s.brief(recent=300)
    assert brief["latency_ms"] == {"n": 300, "p50": 20.0, "p95": 20.0}
    assert s.summary()["latency_ms"]["p95"] == 500.0


def test_a_camera_read_that_never_returns_is_left_running_not_closed_under_it(ctx):
    # a stalled V4L2 read outlives the loop's 2 s wait for its thread: the session must not close the camera (or
    # the tracker) while that thread is inside it
    release = threading.Event()

    class Stalled:
        live, fps = True, 30.0

        def read(self, timeout_s=0.5):
            release.wait(30)  # ignores its timeout, as a hung driver does
            return None

    live = small_live(ctx, render=False)
    pipeline = LivePipeline(Stalled(), live, [], PipelineOptions(max_seconds=0.3))
    pipeline.run()
    assert pipeline.stuck == ["live-capture"]
    release.set()
    live.close()


def test_api_landmarks_on_the_callers_clock_ease_to_idle_and_misuse_is_named(ctx):
    # a phone app stamps frames with the uptime clock; the no-face ticks after them ran on another clock (time since
    # the LiveAvatar was made), so the lost face was held for ever; a t_ns passed in was ignored by the filters
    from avatar_engine.solve.frames import LandmarkFrame

    live = small_live(ctx, render=False, animator=AnimatorOptions(auto_calibrate=False))
    uptime = time.monotonic_ns()
    scores = np.zeros(52, np.float32)
    scores[ARKIT_INDEX["jawOpen"]] = 1.0
    for i in range(5):
        live.process_landmarks(LandmarkFrame(scores, np.eye(3), uptime + i * 33_000_000))
    assert live.animator.state == "tracking"
    live.animator.options = dataclasses.replace(live.animator.options,
                                                idle=dataclasses.replace(live.animator.options.idle, hold_s=0.05,
                                                                         ease_s=0.05))
    time.sleep(0.3)
    live.process_landmarks(None)
    assert live.animator.state == "idle"
    frame = live.process_landmarks(LandmarkFrame(scores, np.eye(3), 0), t_ns=uptime + 10 * 10 ** 9)
    assert frame.t_ns == uptime + 10 * 10 ** 9
    with pytest.raises(RuntimeError, match="does not render"):
        live.read()
    live.close()
    with pytest.raises(RuntimeError, match="closed"):
        live.process_landmarks(None)


def may_raise_priority() -> bool:
    """Whether this process may lower a thread's nice value again (root, CAP_SYS_NICE, RLIMIT_NICE): probed on a
    thread of its own."""
    result = []

    def probe():
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(nice + 1, 19))
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
            result.append(os.getpriority(os.PRIO_PROCESS, tid) == nice)
        except PermissionError:
            result.append(False)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return result == [True]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_a_run_lowers_a_thread_from_its_base_not_from_where_an_earlier_run_left_it():
    from avatar_engine.live.priority import lower_priority

    seen = []

    def worker():
        tid = threading.get_native_id()
        base = os.getpriority(os.PRIO_PROCESS, tid)
        lower_priority({tid: base}, 4)  # a run whose restore the OS refused (no CAP_SYS_NICE)...
        lower_priority({tid: base}, 4)  # ...and the next run: 4 below the base, not 8
        seen.append(os.getpriority(os.PRIO_PROCESS, tid) - base)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [4]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_overlap_lowers_the_trackers_priority_for_the_run_and_serial_leaves_it(ctx, clip):
    def nice_of_trackers(overlap: bool) -> tuple[set, set, set]:
        during, mine = set(), set()

        class Watched(LiveAvatar):
            def track(self, rgb, t_ns):
                mine.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
                return super().track(rgb, t_ns)

        live = Watched(options=LiveOptions(size=(96, 64), samples=0, landmarker="mediapipe"), ctx=ctx)
        live.warm_up()
        graph = live.tracker_threads
        assert graph, "MediaPipe's graph threads are found when the tracker opens"
        base = os.getpriority(os.PRIO_PROCESS, 0)
        on_frame = lambda f: during.update(os.getpriority(os.PRIO_PROCESS, t) - base for t in graph)  # noqa: E731
        with open_source(clip["mp4"]) as source:
            LivePipeline(source, live, [], PipelineOptions(overlap=overlap, tracker_nice=7, on_frame=on_frame)).run()
        after = {os.getpriority(os.PRIO_PROCESS, t) - base for t in graph}
        live.close()
        return during, {m - base for m in mine}, after

    during, mine, after = nice_of_trackers(overlap=True)
    # the renderer goes first when both want the cores: MediaPipe's graph threads and the loop's tracker thread
    assert during == {7} and mine == {7}
    if may_raise_priority():
        assert after == {0}, "MediaPipe's threads get their priority back"
    during, mine, after = nice_of_trackers(overlap=False)
    assert during == mine == after == {0}


def test_idle_frames_come_at_the_sources_rate(ctx):
    # with no frames from a live source (a camera unplugged, a phone gone quiet), idle frames came once per
    # idle_timeout_s (10 a second): the ease to rest and the idle life were choppy in the window and over VMC
    class Silent:
        live, fps = True, 30.0

        def read(self, timeout_s=0.5):
            time.sleep(0.05)
            return None

    shown = []
    live = small_live(ctx, render=False)
    LivePipeline(Silent(), live, [], PipelineOptions(max_seconds=1.0, on_frame=shown.append)).run()
    live.close()
    assert len(shown) >= 20, f"{len(shown)} idle frames in 1 s from a 30 fps source"
    assert all(f.index == -1 for f in shown)


def test_a_thread_that_ended_counts_in_its_own_group(monkeypatch):
    """Just after its run a Python thread is no longer listed by `threading`, but the system may still list it,
    under the program's name: its CPU went to "other", and the tracker's group was missing from the summary (a
    KeyError in test_folder_through_pipeline_recovers_the_jaw_and_records, under load)."""
    from avatar_engine.live import stats as stats_module

    samples = iter([{1: ("MainThread", 1.0)}, {1: ("MainThread", 2.0), 7: ("python", 0.5)}])
    monkeypatch.setattr(stats_module, "thread_cpu", lambda: next(samples))
    s = stats_module.LiveStats()
    s.role(1, "main")
    s.count("rendered", 10)
    s.thread_ended(7, "track", 0.5)
    s.finish()
    cpu = s.summary()["cpu_ms_per_frame"]
    assert cpu["track"] == 50.0 and "other" not in cpu and cpu["main"] == 100.0
