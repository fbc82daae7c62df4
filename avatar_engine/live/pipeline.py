"""The threaded live loop: capture -> track -> solve -> render -> outputs.

    capture thread --[latest slot]--> track thread --[latest slot]--> main thread: solve, render, outputs

Stages overlap (MediaPipe tracks frame N+1 while frame N renders). Each hand-over is a one-frame slot: a
newer frame replaces one not yet taken, so stale frames are dropped (and counted) rather than queued, and
latency stays one frame per stage. `lossless=True` makes the slots block instead (offline processing and
accuracy benchmarks: every frame is processed, latency grows). The renderer never waits on the camera: when
no tracked frame comes within `idle_timeout_s` from a live source, it renders the held / idle face.
The main thread owns the GL context, as OpenGL requires.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from avatar_engine.live.api import LiveAvatar
from avatar_engine.live.outputs import LiveFrame, Output
from avatar_engine.live.stats import LiveStats
from avatar_engine.solve.frames import LandmarkFrame

END = object()
"""Put in a slot after the last frame of a finite source."""


class Slot:
    """A one-item mailbox between two threads."""

    def __init__(self, lossless: bool = False) -> None:
        self._cond = threading.Condition()
        self._item = None
        self._full = False
        self._closed = False
        self.lossless = lossless
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if self.lossless or item is END:
                while self._full and not self._closed:
                    self._cond.wait(0.1)
            elif self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()

    def get(self, timeout: float):
        """The item, or None if nothing came within timeout seconds."""
        with self._cond:
            if not self._full:
                self._cond.wait(timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
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
    on_frame: object = field(default=None, compare=False)
    """Optional callable(LiveFrame) for every rendered frame (API users, tests)."""


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
        self.fps = float(getattr(source, "fps", 30.0) or 30.0)
        self._needs_pixels = any(o.needs_pixels for o in self.outputs)

    def stop(self) -> None:
        self._stop.set()

    # --- worker threads --------------------------------------------------------------------------
    def _guard(self, fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # handed to the main thread, which re-raises it
                self._errors.append(exc)
                self._tracked.put(END)
        return run

    def _capture(self) -> None:
        src, opts = self.source, self.options
        offset, last_media, start = 0, -1, time.monotonic_ns()
        period = int(1e9 / self.fps)
        while not self._stop.is_set():
            t0 = time.perf_counter()
            frame = src.read()
            if frame is None:
                if getattr(src, "live", False):
                    self.stats.count("capture_timeouts")
                    continue
                if opts.loop and src.rewind():
                    offset = last_media + period
                    continue
                self._captured.put(END)
                return
            self.stats.add("capture", (time.perf_counter() - t0) * 1e3)
            self.stats.count("captured")
            media = frame.t_media_ns + offset
            last_media = media
            t_capture = frame.t_capture_ns
            if opts.realtime and not getattr(src, "live", False):
                wait = (start + media - time.monotonic_ns()) * 1e-9
                if wait > 0:
                    time.sleep(wait)
                t_capture = time.monotonic_ns()  # the frame "arrives" now, as from a camera
            self._captured.put((frame.rgb, frame.index, t_capture, media))

    def _track(self) -> None:
        while True:
            item = self._captured.get(0.2)
            if item is None:
                if self._stop.is_set():
                    return
                continue
            if item is END:
                self._tracked.put(END)
                return
            rgb, index, t_capture, media = item
            t0 = time.perf_counter()
            landmarks = self.live.track(rgb, media)
            self.stats.add("track", (time.perf_counter() - t0) * 1e3)
            self.stats.count("tracked" if landmarks is not None else "no_face")
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
        landmark_source = hasattr(self.source, "read_landmarks")
        live_source = landmark_source or getattr(self.source, "live", False)
        workers = [self._receive] if landmark_source else [self._capture, self._track]
        threads = [threading.Thread(target=self._guard(w), name=f"live-{w.__name__.strip('_')}", daemon=True)
                   for w in workers]
        size = self.live.options.size
        started = []
        try:
            self.live.warm_up(track=not landmark_source)  # a model still loading would make file frames stale
            for out in self.outputs:
                out.start(size, self.fps)
                started.append(out)
            self.stats.restart()
            for t in threads:
                t.start()
            self._loop(live_source)
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            self._stop.set()
            self._captured.close()
            self._tracked.close()
            for t in threads:
                t.join(timeout=2.0)
            for out in started:
                out.close()
            self.stats.count("dropped_before_track", self._captured.dropped)
            self.stats.count("dropped_before_render", self._tracked.dropped)
            self.stats.finish()
        if self._errors:
            raise self._errors[0]
        return self.stats.summary()

    def _loop(self, live_source: bool) -> None:
        opts, live, stats = self.options, self.live, self.stats
        t_start = time.monotonic()
        last_media_s, last_wall = 0.0, time.monotonic()
        rendered = 0
        while not self._stop.is_set():
            item = self._tracked.get(opts.idle_timeout_s)
            if item is END:
                break
            if item is None:
                if not live_source or self._errors:
                    continue
                now_s = last_media_s + (time.monotonic() - last_wall)  # keep idle life moving with the clock
                t0 = time.perf_counter()
                solved = live.animator.update(None, now_s)
                index, t_capture, tracked = -1, None, False
            else:
                now_s = item.t_media_ns * 1e-9
                t0 = time.perf_counter()
                solved = live.animator.update(item.landmarks, now_s)
                index, t_capture, tracked = item.index, item.t_capture_ns, item.landmarks is not None
            stats.add("solve", (time.perf_counter() - t0) * 1e3)
            last_media_s, last_wall = now_s, time.monotonic()
            rgba = None
            if live.renderer is not None:
                t0 = time.perf_counter()
                live.draw(solved)
                stats.add("render", (time.perf_counter() - t0) * 1e3)
                if self._needs_pixels or opts.on_frame is not None:
                    t0 = time.perf_counter()
                    rgba = live.read()
                    stats.add("readback", (time.perf_counter() - t0) * 1e3)
            frame = LiveFrame(solved, rgba, index, t_capture, tracked, live.animator.state)
            t0 = time.perf_counter()
            for out in self.outputs:
                out.write(frame)
            if opts.on_frame is not None:
                opts.on_frame(frame)
            stats.add("outputs", (time.perf_counter() - t0) * 1e3)
            stats.frame_done(t_capture)
            rendered += 1
            if opts.max_frames is not None and rendered >= opts.max_frames:
                break
            if opts.max_seconds is not None and time.monotonic() - t_start >= opts.max_seconds:
                break
