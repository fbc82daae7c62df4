"""Per-frame timings of the live loop, summarised as percentiles (the `--stats` JSON).

Wall times per stage (`stage_ms`) say where a frame's latency goes; on a shared 2-core machine they also count
waiting for a core, so the summary adds CPU time: per stage on the thread that ran it (`stage_cpu_ms`), per
thread group per rendered frame (`cpu_ms_per_frame`: the loop's threads and the helper threads of llvmpipe,
MediaPipe and FFmpeg, see `cpu.py`), and the machine's load average over the run."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict

import numpy as np

from avatar_engine.live.cpu import stage_cpu, thread_cpu
from avatar_engine.paths import write_json_atomic

KEEP = 100_000
"""Samples kept per series (about an hour at 30 fps): a live session may run all day in bounded memory."""


class Samples:
    """The last `keep` values of one series, in a float32 ring allocated and touched up front, so a session's memory
    is flat from its first frame. (A deque of Python floats took 32 bytes a sample: with 13 series the process grew
    1.8 MB a minute at 71 fps until the deques filled, 4% in a 10-minute soak.)"""

    def __init__(self, keep: int = KEEP) -> None:
        self._ring = np.zeros(keep, np.float32)
        self._ring.fill(0.0)  # np.zeros maps pages lazily: touch them now
        self._added = 0

    def append(self, value: float) -> None:
        self._ring[self._added % len(self._ring)] = value
        self._added += 1

    def extend(self, values) -> None:
        for value in values:
            self.append(value)

    def __len__(self) -> int:
        return min(self._added, len(self._ring))

    def __iter__(self):
        return iter(self.recent().tolist())

    def __getitem__(self, index):
        return self.recent()[index]

    def __array__(self, dtype=None, copy=None):
        return self.recent() if dtype is None else self.recent().astype(dtype)

    def recent(self, count: int | None = None) -> np.ndarray:
        """The last `count` values (all kept when None), oldest first, as a new array."""
        n = len(self) if count is None else min(count, len(self))
        end = self._added % len(self._ring)
        idx = (np.arange(end - n, end)) % len(self._ring)
        return self._ring[idx]
STAGES = ("capture", "track", "solve", "render", "readback", "outputs")
"""capture: reading/decoding a frame; track: MediaPipe; solve: solver + filter; render: draw to finish;
readback: pixels to the CPU; outputs: recording, virtual camera, VMC, window."""


class LiveStats:
    """Thread-safe collector. Stage times and latency are in milliseconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stage_ms: dict[str, Samples] = defaultdict(Samples)
        self.stage_cpu_ms: dict[str, Samples] = defaultdict(Samples)
        self.latency_ms = Samples()
        self.counts: dict[str, int] = defaultdict(int)
        self.started = time.monotonic()
        self.ended: float | None = None
        self._cpu0 = time.process_time()
        self._cpu_end: float | None = None
        self._threads0 = thread_cpu()
        self._threads1: dict | None = None
        self._roles: dict[int, str] = {}
        self._ended: dict[int, tuple[str, float]] = {}
        self._load0 = _load()
        self._load1: list[float] | None = None

    def restart(self) -> None:
        """Start the clock again (after warm-up, so start-up does not count against the frame rate)."""
        self.started = time.monotonic()
        self._cpu0 = time.process_time()
        self._threads0 = thread_cpu()
        self._ended = {}
        self._load0 = _load()

    def role(self, native_id: int, group: str) -> None:
        """Count this thread's CPU under `group` (the thread running the loop is "main")."""
        self._roles[native_id] = group

    def thread_ended(self, native_id: int, group: str, cpu_s: float) -> None:
        """A thread started after `restart()` ends, having used cpu_s seconds (`time.thread_time()`)."""
        with self._lock:
            self._ended[native_id] = (group, cpu_s)

    def add(self, stage: str, ms: float, cpu_ms: float | None = None) -> None:
        """A stage's wall time, and the CPU time of the thread that ran it when known (`time.thread_time`)."""
        with self._lock:
            self.stage_ms[stage].append(ms)
            if cpu_ms is not None:
                self.stage_cpu_ms[stage].append(cpu_ms)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def frame_done(self, t_capture_ns: int | None) -> None:
        """A frame reached the outputs; its latency runs from the capture timestamp (None for idle frames)."""
        with self._lock:
            self.counts["rendered"] += 1
            if t_capture_ns is not None:
                self.latency_ms.append((time.monotonic_ns() - t_capture_ns) * 1e-6)

    def finish(self) -> None:
        self.ended = time.monotonic()
        self._cpu_end = time.process_time()
        self._threads1 = thread_cpu()
        self._load1 = _load()

    @staticmethod
    def _summary(values: Samples) -> dict[str, float]:
        if not len(values):
            return {"n": 0}
        v = values.recent().astype(np.float64)
        return {"n": int(v.size), "mean": round(float(v.mean()), 2), "p50": round(float(np.percentile(v, 50)), 2),
                "p95": round(float(np.percentile(v, 95)), 2), "max": round(float(v.max()), 2)}

    def brief(self, recent: int = 300) -> dict:
        """fps over the run and latency p50/p95 over the last `recent` frames: cheap enough for a live overlay
        (the full summary takes percentiles of every kept sample and reads every thread's CPU time)."""
        with self._lock:
            wall = (self.ended or time.monotonic()) - self.started
            lat = self.latency_ms.recent(recent)
        out = {"fps": round(self.counts["rendered"] / wall, 2) if wall > 0 else 0.0, "latency_ms": {"n": len(lat)}}
        if len(lat):
            out["latency_ms"].update(p50=round(float(np.percentile(lat, 50)), 2),
                                     p95=round(float(np.percentile(lat, 95)), 2))
        return out

    def summary(self) -> dict:
        with self._lock:
            wall = (self.ended or time.monotonic()) - self.started
            cpu = (self._cpu_end if self.ended else time.process_time()) - self._cpu0
            frames = max(self.counts["rendered"], 1)
            # a thread that ended says its own group and CPU: just after its run, Python no longer lists it but the
            # system may, under the program's name, and its CPU went to "other" (the tracker's group was missing)
            after = self._threads1 if self.ended else thread_cpu()
            groups = stage_cpu(self._threads0, {t: v for t, v in after.items() if t not in self._ended},
                               self._roles)
            for group, seconds in self._ended.values():
                groups[group] = groups.get(group, 0.0) + seconds
            per_frame = {g: round(s * 1e3 / frames, 2) for g, s in sorted(groups.items(), key=lambda x: -x[1])}
            return {
                "seconds": round(wall, 2),
                "fps": round(self.counts["rendered"] / wall, 2) if wall > 0 else 0.0,
                "tracked_fps": round(self.counts["tracked"] / wall, 2) if wall > 0 else 0.0,
                "latency_ms": self._summary(self.latency_ms),
                "stage_ms": {s: self._summary(self.stage_ms[s]) for s in STAGES if s in self.stage_ms},
                "counts": dict(self.counts),
                "stage_cpu_ms": {s: self._summary(self.stage_cpu_ms[s]) for s in STAGES if s in self.stage_cpu_ms},
                "cpu_ms_per_frame": {"total": round(cpu * 1e3 / frames, 2), **per_frame},
                "cpu_percent": round(100.0 * cpu / wall, 1) if wall > 0 else 0.0,
                "load_average": {"start": self._load0, "end": self._load1 if self.ended else _load()},
            }

    def write(self, path: str | os.PathLike[str]) -> None:
        """The summary as JSON, written atomically."""
        write_json_atomic(path, self.summary())


def _load() -> list[float]:
    """1, 5 and 15 minute load averages (other work on the machine skews every wall time); [] where unknown."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return []
