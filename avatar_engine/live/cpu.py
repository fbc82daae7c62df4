"""Where the live loop's CPU time goes: per-thread CPU of this process, grouped by the stage that owns the thread.

    before = thread_cpu()
    ...                                   # run the loop
    by_stage = stage_cpu(before, thread_cpu())   # {"render_workers": seconds, "track": seconds, ...}

Wall-clock stage times lie on a shared 2-core machine (a stage that waits for a core looks slow) and miss the
work done on helper threads (llvmpipe's rasteriser, MediaPipe's graph, FFmpeg's decoder), so the loop also
reports CPU time per thread group. Linux only (/proc/self/task); elsewhere `thread_cpu()` returns {}.
"""

from __future__ import annotations

import os
import threading

THREAD_GROUPS: tuple[tuple[str, str], ...] = (
    ("live-capture", "capture"),
    ("live-track", "track"),
    ("llvmpipe", "render_workers"),
    ("drishti", "track_workers"),
    ("ThreadPoolExecutor", "track_workers"),
    ("av:", "decode_workers"),
    ("swscale", "decode_workers"),
)
"""Thread name prefix -> group. live-*: the loop's worker threads; llvmpipe-N: Mesa's rasteriser threads; drishti: MediaPipe's graph threads, and its Python call dispatcher runs on a
ThreadPoolExecutor thread; av:/swscale: FFmpeg's decoder threads. Anything else is "other" (OpenBLAS, the app)."""


def _names() -> dict[int, str]:
    """Native thread id -> Python thread name, for threads Python made (their OS name is the program's)."""
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}


def thread_cpu() -> dict[int, tuple[str, float]]:
    """{native thread id: (name, CPU seconds so far)} for every thread of this process; {} where unsupported."""
    root = "/proc/self/task"
    try:
        tids = os.listdir(root)
    except OSError:
        return {}
    py = _names()
    out = {}
    for tid in tids:
        try:
            with open(f"{root}/{tid}/schedstat") as f:  # nanoseconds on a CPU: finer than stat's 10 ms ticks
                seconds = int(f.read().split()[0]) * 1e-9
            with open(f"{root}/{tid}/comm") as f:
                comm = f.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        out[int(tid)] = (py.get(int(tid), comm), seconds)
    return out


def group_of(name: str) -> str:
    for prefix, group in THREAD_GROUPS:
        if name.startswith(prefix):
            return group
    return "other"


def stage_cpu(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
              roles: dict[int, str] | None = None) -> dict[str, float]:
    """CPU seconds spent between two `thread_cpu()` samples, summed per group; `roles` names the group of given
    thread ids (the thread that runs the loop is "main": solve, render submission, readback, outputs). Threads
    that ended between the samples are missed; the loop's threads and the helpers it uses live through a run."""
    totals: dict[str, float] = {}
    roles = roles or {}
    for tid, (name, seconds) in after.items():
        spent = seconds - before.get(tid, (name, 0.0))[1]
        if spent > 0:
            group = roles.get(tid) or group_of(name)
            totals[group] = totals.get(group, 0.0) + spent
    return totals


def name_this_thread(name: str) -> None:
    """Give the calling thread an OS-visible name (top -H, /proc) as well; best effort, Linux only."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass
