"""Per-frame timings of the live loop, summarised as percentiles (the `--stats` JSON)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

import numpy as np

KEEP = 100_000
"""Samples kept per series (about an hour at 30 fps): a live session may run all day in bounded memory."""
STAGES = ("capture", "track", "solve", "render", "readback", "outputs")
"""capture: reading/decoding a frame; track: MediaPipe; solve: solver + filter; render: draw to finish;
readback: pixels to the CPU; outputs: recording, virtual camera, VMC, window."""


class LiveStats:
    """Thread-safe collector. Stage times and latency are in milliseconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stage_ms: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=KEEP))
        self.latency_ms: deque[float] = deque(maxlen=KEEP)
        self.counts: dict[str, int] = defaultdict(int)
        self.started = time.monotonic()
        self.ended: float | None = None
        self._cpu0 = time.process_time()

    def restart(self) -> None:
        """Start the clock again (after warm-up, so start-up does not count against the frame rate)."""
        self.started = time.monotonic()
        self._cpu0 = time.process_time()

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self.stage_ms[stage].append(ms)

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

    @staticmethod
    def _summary(values) -> dict[str, float]:
        if not values:
            return {"n": 0}
        v = np.asarray(values)
        return {"n": int(v.size), "mean": round(float(v.mean()), 2), "p50": round(float(np.percentile(v, 50)), 2),
                "p95": round(float(np.percentile(v, 95)), 2), "max": round(float(v.max()), 2)}

    def summary(self) -> dict:
        with self._lock:
            wall = (self.ended or time.monotonic()) - self.started
            return {
                "seconds": round(wall, 2),
                "fps": round(self.counts["rendered"] / wall, 2) if wall > 0 else 0.0,
                "tracked_fps": round(self.counts["tracked"] / wall, 2) if wall > 0 else 0.0,
                "latency_ms": self._summary(self.latency_ms),
                "stage_ms": {s: self._summary(self.stage_ms[s]) for s in STAGES if s in self.stage_ms},
                "counts": dict(self.counts),
                "cpu_percent": round(100.0 * (time.process_time() - self._cpu0) / wall, 1) if wall > 0 else 0.0,
            }

    def write(self, path: str | os.PathLike[str]) -> None:
        """The summary as JSON, written atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.summary(), indent=2) + "\n")
        os.replace(tmp, path)
