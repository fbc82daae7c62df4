"""The threaded live loop: capture -> track -> solve -> render -> outputs.

    camera, or a file paced in real time:
        capture thread --[latest slot]--> track thread --[slot]--> main thread: solve, render, outputs
    a file read as fast as the loop goes:
        track thread (reads the next frame, then tracks it) --[slot]--> main thread

Stages overlap (MediaPipe tracks frame N+1 while frame N renders). Each hand-over is a one-frame slot: a
newer camera frame replaces one not yet taken, so stale frames are dropped (and counted) rather than queued.
The tracker only starts a frame once the renderer has taken the previous one (a result the renderer never
takes is a whole tracking pass of CPU stolen from it), and starts it just in time: late enough that it
finishes about when the renderer frees up, so the frame it tracks is as fresh as it can be
(`just_in_time`). A file read as fast as possible is decoded only when the tracker wants a frame (decoding
frames only to drop them cost as much CPU as tracking). `lossless=True` makes the slots block instead
(offline processing and accuracy benchmarks: every frame is processed, latency grows). The renderer never
waits on the camera: when no tracked frame comes within `idle_timeout_s` from a live source, it renders the
held / idle face, and goes on at the source's frame rate until frames come again. The main thread owns the GL context, as OpenGL requires.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from avatar_engine.live.api import LiveAvatar
from avatar_engine.live.outputs import LiveFrame, Output
from avatar_engine.live.priority import lower_priority, nice_of, restore_priority
from avatar_engine.live.stats import LiveStats
from avatar_engine.solve.frames import LandmarkFrame

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""Signals that end a run cleanly, outputs finalised (SIGHUP does not exist on Windows)."""
END = object()
"""Put in a slot after the last frame of a finite source."""
_SIGNALLED: list[int] = []
"""Signals the last live loop run in this process took as a request to stop (`stopped_by_signal`)."""


def stopped_by_signal() -> bool:
    """The last live loop run in this process took a signal as its request to stop: a KeyboardInterrupt after that is
    the second signal, which cut the outputs' finishing short (one before the loop began cut nothing)."""
    return bool(_SIGNALLED)


class Slot:
    """A one-item mailbox between two threads."""

    def __init__(self, lossless: bool = False) -> None:
        self._cond = threading.Condition()
        self._item = None
        self._full = False
        self._busy = False
        self._closed = False
        self.lossless = lossless
        self.dropped = 0
        self.taken_at = 0.0
        """`time.monotonic()` when an item was last taken."""

    def put(self, item) -> None:
        with self._cond:
            if self._full and self._item is END:
                return  # the end stays: a tracker's next result overwrote a failed capture's END and the loop spun
            if self.lossless or item is END:
                while self._full and not self._closed:
                    self._cond.wait(0.1)
            elif self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()

    def wait_empty(self, timeout: float, done: bool = False) -> bool:
        """Wait until the item put last has been taken (with `done`: and its taker called `done()`), or the slot
        closed; False if timeout passed first."""
        with self._cond:
            ready = lambda: not (self._full or (done and self._busy)) or self._closed  # noqa: E731
            if not ready():
                self._cond.wait(timeout)
            return ready()

    def done(self) -> None:
        """The taker has finished with the item it took last."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def get(self, timeout: float):
        """The item, or None if nothing came within timeout seconds."""
        with self._cond:
            if not self._full:
                self._cond.wait(timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self._busy = True
            self.taken_at = time.monotonic()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass(frozen=True)
class Tracked:
    index: int
    t_capture_ns: int
    t_media_ns: int
    landmarks: LandmarkFrame | None


TRACKER_NICE = 10
"""With overlap, the tracker threads' nice value above the renderer's. Measured at nice 0 / 3 / 5 / 8 / 10 / 12 on the
built astronaut at 1280x720, read as fast as the loop goes on 2 cores (benchmarks/live_fps.py's fast run, 6 s each,
interleaved rounds): 68.9 / 67.0 / 66.0 / 63.3 / 64.8 / 62.1 fps at latency p50 21.4 / 20.1 / 19.7 / 18.8 / 16.6 /
17.0 ms in one round, 67.8 / 64.3 / 63.4 / 61.6 / 64.0 / 56.4 fps at 21.7 / 20.6 / 20.3 / 19.8 / 18.7 / 19.1 ms in the
next. At 10 the render runs near its solo speed (8-9 ms a frame against 11-13 at nice 0) and the rate holds."""


@dataclass(frozen=True)
class PipelineOptions:
    """How the loop runs (what it renders is `LiveOptions`, on the LiveAvatar)."""

    realtime: bool = False
    """Pace a file or folder at its own frame rate, as a camera delivers; False reads as fast as the loop goes."""
    lossless: bool = False
    """Never drop frames (offline processing); latency then grows with the slowest stage."""
    loop: bool = False
    """Start a file or folder again at its end (soak tests, demos)."""
    max_frames: int | None = None
    """Stop after this many rendered frames."""
    max_seconds: float | None = None
    """Stop after this long."""
    idle_timeout_s: float = 0.1
    """From a live source, render the held or idle face when no tracked frame came for this long."""
    overlap: bool = True
    """Track the next frame while this one renders, at a lower priority (`tracker_nice`): more frames a second
    where both cores are free, at about the same latency. False tracks and renders one after the other (less
    contention where the cores are busy with other work: then the two stages only slow each other down); the next
    frame is then read and tracked once this one is rasterised, while it is read back and handed to the outputs."""
    just_in_time: bool = True
    """With overlap: delay the start of tracking so that it ends about when the renderer needs the result
    (lower latency at the same frame rate); False starts as soon as the renderer has taken the previous one."""
    tracker_nice: int = TRACKER_NICE
    """With overlap: how much lower the tracker threads' scheduling priority is than the renderer's, in Linux nice
    steps (`priority.py`; 0 leaves it alone)."""
    limit_threads: bool = True
    """Hold BLAS and OpenCV to one thread for the run (`limits.py`; process-wide, restored at the end)."""
    on_frame: object = field(default=None, compare=False)
    """Optional callable(LiveFrame) for every rendered frame (API users, tests)."""


TIMING_WINDOW = 16
"""Recent frames whose stage times set the just-in-time start."""
JIT_MARGIN_S = 0.002
"""Tracking is started this much earlier than the estimate says, so the renderer rarely waits for it."""


def start_delay(main_s, track_s, margin_s: float = JIT_MARGIN_S) -> float:
    """Seconds the tracker waits, after the renderer took its last result, before starting the next frame so
    that it finishes about when the renderer is free: a fast recent main-thread frame (lower quartile) less a
    slow recent tracker frame (upper quartile) less a margin; 0 until each has 4 samples.
    main_s, track_s : recent durations in seconds."""
    if len(main_s) < 4 or len(track_s) < 4:
        return 0.0
    main = sorted(main_s)[len(main_s) // 4]
    track = sorted(track_s)[(3 * len(track_s)) // 4]
    return max(0.0, main - track - margin_s)


class LivePipeline:
    """Runs one source through one LiveAvatar to outputs. `run()` blocks; `stop()` may come from any thread."""

    def __init__(self, source, live: LiveAvatar, outputs: list[Output] = (), options: PipelineOptions | None = None,
                 stats: LiveStats | None = None) -> None:
        self.source, self.live, self.outputs = source, live, list(outputs)
        self.options = options or PipelineOptions()
        self.stats = stats or LiveStats()
        self._stop = threading.Event()
        self._captured = Slot(self.options.lossless)
        self._tracked = Slot(self.options.lossless)
        self._errors: list[BaseException] = []
        self.interrupted = False
        self.stop_signal: int | None = None
        """The signal that stopped the loop (SIGINT, SIGTERM, SIGHUP), None when it ended otherwise."""
        self.stuck: list[str] = []
        """Worker threads still running after `run()` (a camera read that never returns): the source and the
        tracker they use must not be closed under them (a native crash); they end with the process."""
        self.fps = float(getattr(source, "fps", 30.0) or 30.0)
        self._needs_pixels = any(o.needs_pixels for o in self.outputs)
        self._offset, self._last_media, self._start = 0, -1, 0
        self._main_s: deque[float] = deque(maxlen=TIMING_WINDOW)
        """Recent main-thread frame times (solve to outputs), seconds."""
        self._track_s: deque[float] = deque(maxlen=TIMING_WINDOW)
        """Recent tracker frame times (getting the frame and tracking it), seconds."""

    def stop(self) -> None:
        self._stop.set()

    @contextmanager
    def _ctrl_c_stops(self):
        """Ctrl-C (and SIGTERM, SIGHUP: `timeout`, `docker stop`, a closed terminal) asks the loop to stop at its next
        frame instead of raising wherever the main thread is or ending the process: an interrupt inside an output's
        write (the mp4 encoder's pipe) left an unplayable recording, and a SIGTERM left it under its temporary name.
        A second signal acts as it would have. Only where signals can be handled (the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous: dict[int, object] = {}
        _SIGNALLED.clear()  # this run's signals: an earlier run in this process (an application's) is over

        def request_stop(signum, frame) -> None:
            _SIGNALLED.append(int(signum))
            self.interrupted = True
            self.stop_signal = int(signum)
            self._stop.set()
            signal.signal(signum, previous[signum])

        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue  # ignored on purpose (`nohup`, a background job's SIGINT): the run outlives its terminal
            previous[signum] = signal.signal(signum, request_stop)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                if signal.getsignal(signum) is request_stop:
                    signal.signal(signum, handler)

    # --- worker threads --------------------------------------------------------------------------
    def _guard(self, fn, group: str):
        def run():
            try:
                fn()
            except BaseException as exc:  # handed to the main thread, which re-raises it
                self._errors.append(exc)
                self._tracked.put(END)
            finally:  # a worker may end before the loop (the file ran out): keep its CPU time
                self.stats.thread_ended(threading.get_native_id(), group, time.thread_time())
        return run

    def _next_frame(self):
        """Read the source: (rgb, index, t_capture_ns, t_media_ns), END after the last frame, or None when a
        live source gave nothing this time. Timed as the capture stage."""
        src, opts = self.source, self.options
        period = int(1e9 / self.fps)
        rewound = False
        while not self._stop.is_set():
            t0, c0 = time.perf_counter(), time.thread_time()
            frame = src.read()
            if frame is None:
                if getattr(src, "live", False):
                    self.stats.count("capture_timeouts")
                    return None
                if opts.loop and not rewound and src.rewind():
                    self._offset = self._last_media + period
                    rewound = True  # a source that gives nothing even from its start ends: never loop on nothing
                    continue
                return END
            self.stats.add("capture", (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3)
            self.stats.count("captured")
            media = frame.t_media_ns + self._offset
            self._last_media = media
            t_capture = frame.t_capture_ns
            if opts.realtime and not getattr(src, "live", False):
                wait = (self._start + media - time.monotonic_ns()) * 1e-9
                if wait > 0:
                    time.sleep(wait)
                t_capture = time.monotonic_ns()  # the frame "arrives" now, as from a camera
            return frame.rgb, frame.index, t_capture, media
        return END

    def _capture(self) -> None:
        self._start = time.monotonic_ns()
        while not self._stop.is_set():
            item = self._next_frame()
            if item is None:
                continue
            self._captured.put(item)
            if item is END:
                return

    def _wait_for_renderer(self) -> bool:
        """Block until the renderer took the last result, then until just in time to start the next frame.
        False when stopping."""
        while not self._tracked.wait_empty(0.2, done=not self.options.overlap):
            if self._stop.is_set():
                return False
        if self.options.overlap and self.options.just_in_time:
            delay = self._tracked.taken_at + start_delay(tuple(self._main_s), tuple(self._track_s)) - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        return not self._stop.is_set()

    def _track(self, pull: bool) -> None:
        """Track frames: read from the source itself (`pull`, files read as fast as possible) or take the
        newest frame the capture thread left."""
        self._start = time.monotonic_ns()
        me = threading.get_native_id()
        base = nice_of(me)
        if self.options.overlap and base is not None:  # this thread ends with the run: nothing to restore
            lower_priority({me: base}, self.options.tracker_nice)
        while self._wait_for_renderer():
            t0 = time.monotonic()
            item = self._next_frame() if pull else self._captured.get(0.2)
            if item is None:
                continue
            if item is END:
                self._tracked.put(END)
                return
            rgb, index, t_capture, media = item
            t1, c1 = time.perf_counter(), time.thread_time()
            landmarks = self.live.track(rgb, media)
            self.stats.add("track", (time.perf_counter() - t1) * 1e3, (time.thread_time() - c1) * 1e3)
            self.stats.count("tracked" if landmarks is not None else "no_face")
            # a camera frame's wait for the tracker is not tracking time: time from when the frame was there
            self._track_s.append(time.monotonic() - max(t0, t_capture * 1e-9))
            self._tracked.put(Tracked(index, t_capture, media, landmarks))

    def _receive(self) -> None:
        """For landmark sources (phone apps): the source is already the tracker."""
        while not self._stop.is_set():
            landmarks = self.source.read_landmarks(0.2)
            if landmarks is None:
                continue
            self.stats.count("tracked")
            self._tracked.put(Tracked(self.stats.counts["tracked"], time.monotonic_ns(), landmarks.t_ns, landmarks))

    # --- main thread -----------------------------------------------------------------------------
    def run(self) -> dict:
        """Run until the source ends, `stop()`, max_frames/max_seconds, or Ctrl-C; outputs are always closed
        (recordings finalised). Returns the stats summary; a worker's exception is re-raised here."""
        self.live.check_thread()  # the render loop runs here: on another thread its frames came out blank
        landmark_source = hasattr(self.source, "read_landmarks")
        live_source = landmark_source or getattr(self.source, "live", False)
        pull = not live_source and not self.options.realtime
        if landmark_source:
            workers = [("receive", self._receive)]
        elif pull:
            workers = [("track", lambda: self._track(pull=True))]
        else:
            workers = [("capture", self._capture), ("track", lambda: self._track(pull=False))]
        threads = [threading.Thread(target=self._guard(fn, name), name=f"live-{name}", daemon=True)
                   for name, fn in workers]
        self.stats.role(threading.get_native_id(), "main")
        size = self.live.options.size
        started = []
        limits = nullcontext()
        if self.options.limit_threads:
            from avatar_engine.pools import single_threaded_pools

            limits = single_threaded_pools()
        lowered: dict[int, int] = {}
        with limits, self._ctrl_c_stops():
            try:
                self.live.warm_up(track=not landmark_source)  # a model still loading would make file frames stale
                if self.options.overlap:  # the tracker's helper threads (MediaPipe's graph) exist from here
                    lowered = lower_priority(self.live.tracker_threads, self.options.tracker_nice)
                for out in self.outputs:
                    out.start(size, self.fps)
                    started.append(out)
                self.stats.restart()
                for t in threads:
                    t.start()
                self._loop(live_source)
            except KeyboardInterrupt as exc:  # a second signal (the first only asked to stop), or no handler here
                self.interrupted = True
                self.stop_signal = int(getattr(exc, "signum", signal.SIGINT))
            finally:
                self.stats.finish()  # before the workers end: their CPU time is read from their live threads
                self._stop.set()
                self._captured.close()
                self._tracked.close()
                for t in threads:
                    if t.ident is not None:  # started: a failure in warm-up (the tracker's model) comes first
                        t.join(timeout=2.0)
                self.stuck = [t.name for t in threads if t.is_alive()]
                failure = None
                for out in started:  # every output closed, whichever fails (a recording refused at its end)
                    try:
                        out.close()
                    except BaseException as exc:
                        failure = failure or exc
                if failure is not None and not self._errors:
                    self._errors.append(failure)
                restore_priority(lowered)
                self.stats.count("dropped_before_track", self._captured.dropped)
                self.stats.count("dropped_before_render", self._tracked.dropped)
        if self._errors:
            raise self._errors[0]
        return self.stats.summary()

    def _timed(self, stage: str, fn, *args):
        t0, c0 = time.perf_counter(), time.thread_time()
        result = fn(*args)
        self.stats.add(stage, (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3)
        return result

    def _loop(self, live_source: bool) -> None:
        opts, live, stats = self.options, self.live, self.stats
        t_start = time.monotonic()
        # idle frames before the first one (a camera still opening, a phone not yet sending) take their time from
        # where the source's clock is: live sources stamp frames with the monotonic clock, files from 0
        last_media_s, last_wall = (time.monotonic() if live_source else 0.0), time.monotonic()
        rendered, idle, idle_due = 0, False, 0.0
        while not self._stop.is_set():
            if opts.max_seconds is not None and time.monotonic() - t_start >= opts.max_seconds:
                break  # checked here too: a file whose frames stopped coming renders nothing, yet must end
            # once idle, idle frames come at the source's rate: easing to rest at 1 / idle_timeout_s looked choppy
            item = self._tracked.get(max(0.0, idle_due - time.monotonic()) if idle else opts.idle_timeout_s)
            idle = item is None and live_source
            if idle:
                idle_due = time.monotonic() + 1.0 / self.fps
            if item is END:
                break
            if self._errors:
                break  # a worker failed: re-raised below (a file source's loop spun here on empty gets)
            if item is None:
                if not live_source:
                    continue
                now_s = last_media_s + (time.monotonic() - last_wall)  # keep idle life moving with the clock
                solved = self._timed("solve", live.animator.update, None, now_s)
                index, t_capture, tracked = -1, None, False
            else:
                now_s = item.t_media_ns * 1e-9
                solved = self._timed("solve", live.animator.update, item.landmarks, now_s)
                index, t_capture, tracked = item.index, item.t_capture_ns, live.animator.used
            last_media_s, last_wall = now_s, time.monotonic()
            rgba = None
            if live.renderer is not None:
                self._timed("render", live.draw, solved)
                if not opts.overlap:
                    self._tracked.done()  # rasterised: what is left of the frame does not contend with tracking
                if self._needs_pixels or opts.on_frame is not None:
                    rgba = self._timed("readback", live.read)
            frame = LiveFrame(solved, rgba, index, t_capture, tracked, live.animator.state, int(now_s * 1e9))
            t0, c0 = time.perf_counter(), time.thread_time()
            for out in self.outputs:
                out.write(frame)
            if opts.on_frame is not None:
                opts.on_frame(frame)
            stats.add("outputs", (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3)
            stats.frame_done(t_capture)
            self._tracked.done()
            live.frame_done()  # the next frame's backdrop, laid while the tracker works
            if item is not None:
                self._main_s.append(time.monotonic() - self._tracked.taken_at)
            rendered += 1
            if opts.max_frames is not None and rendered >= opts.max_frames:
                break
            if opts.max_seconds is not None and time.monotonic() - t_start >= opts.max_seconds:
                break
