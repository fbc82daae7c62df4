"""Scheduling priority of the tracker's threads while it overlaps the renderer.

With overlap, MediaPipe tracks frame N+1 while frame N renders, and on two cores the two fight for them: frame N's
render is on its own latency path, frame N+1's tracking has until that render ends. Lowering the tracker threads'
priority (a higher Linux nice value: per thread there) lets the renderer go first and the tracker fill the time
it leaves. On a desktop with autogroup scheduling (`/proc/sys/kernel/sched_autogroup_enabled`), nice weighs
threads only against others of the same session: other programs are not favoured over the tracker.

Linux only; elsewhere, or where the OS refuses, nothing changes.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping

MAX_NICE = 19
TRACKER_THREAD_NAME = "drishti"
"""The OS name of MediaPipe's graph threads, where its tracking runs (the loop's own tracker thread lowers itself)."""
LINUX = sys.platform.startswith("linux")
"""Elsewhere setpriority's PRIO_PROCESS takes a process id, not a thread's: a thread id could name another process."""


def nice_of(tid: int) -> int | None:
    """The thread's nice value; None off Linux or when it cannot be read (the thread ended)."""
    if not LINUX:
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:
        return None


def _set_nice(tid: int, value: int) -> bool:
    try:
        os.setpriority(os.PRIO_PROCESS, tid, value)
        return True
    except OSError:  # the thread ended, or no permission (raising a priority again needs CAP_SYS_NICE)
        return False


def tracker_threads() -> dict[int, int]:
    """{native id: nice value} of this process's MediaPipe graph threads; {} off Linux. `Tracker` takes those that
    appear while it opens its landmarker as its own, with the nice value they started with."""
    root = "/proc/self/task"
    if not LINUX:
        return {}
    try:
        tids = os.listdir(root)
    except OSError:
        return {}
    found = {}
    for tid in tids:
        try:
            with open(f"{root}/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        nice = nice_of(int(tid)) if name.startswith(TRACKER_THREAD_NAME) else None
        if nice is not None:
            found[int(tid)] = nice
    return found


def lower_priority(base: Mapping[int, int], by: int) -> dict[int, int]:
    """Set each thread's nice value to its `base` value (its own when it started: not its current one, which an
    earlier run may have left lowered) plus `by`, at most 19 -> {tid: base} of the threads changed, for
    `restore_priority`."""
    changed = {}
    if by > 0 and LINUX:
        for tid, nice in base.items():
            if _set_nice(tid, min(nice + by, MAX_NICE)):
                changed[tid] = nice
    return changed


def restore_priority(before: Mapping[int, int]) -> None:
    """Put the threads' nice values back; best effort: without CAP_SYS_NICE Linux refuses to raise a priority
    again, and those threads stay at the lowered value (which the next run starts from their base, not lower)."""
    for tid, nice in before.items():
        _set_nice(tid, nice)
