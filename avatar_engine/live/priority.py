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

MAX_NICE = 19
TRACKER_THREAD_NAME = "drishti"
"""The OS name of MediaPipe's graph threads, where its tracking runs (the loop's own tracker thread lowers itself)."""


def _nice(tid: int) -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, tid)
    except (OSError, AttributeError):
        return None


def _set_nice(tid: int, value: int) -> bool:
    try:
        os.setpriority(os.PRIO_PROCESS, tid, value)
        return True
    except (OSError, AttributeError):  # the thread ended, a platform without per-thread nice, no permission
        return False


def tracker_threads() -> list[int]:
    """Native ids of this process's MediaPipe graph threads; [] where threads cannot be listed. `Tracker` takes
    those that appear while it opens its landmarker as its own."""
    root = "/proc/self/task"
    try:
        tids = os.listdir(root)
    except OSError:
        return []
    found = []
    for tid in tids:
        try:
            with open(f"{root}/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith(TRACKER_THREAD_NAME):
            found.append(int(tid))
    return found


def lower_priority(tids: list[int], by: int) -> dict[int, int]:
    """Raise the nice value of each thread in `tids` by `by` (at most to 19) -> {tid: nice before} of the threads
    changed, for `restore_priority`."""
    before = {}
    for tid in tids:
        nice = _nice(tid)
        if nice is not None and by > 0 and _set_nice(tid, min(nice + by, MAX_NICE)):
            before[tid] = nice
    return before


def restore_priority(before: dict[int, int]) -> None:
    """Put the threads' nice values back; best effort: without CAP_SYS_NICE Linux refuses to raise a priority
    again, and those threads stay lower (they only yield to this session's own threads under autogroup)."""
    for tid, nice in before.items():
        _set_nice(tid, nice)
