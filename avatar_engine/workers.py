"""Work spread over spawned worker processes, results in the order given: batch builds and synthetic sets.

Each worker runs `open_worker(*open_args)` once (its renderer, models, builder), then `work(item)` per item. Workers
are spawned, never forked: MediaPipe's threads and GL contexts do not survive a fork. A worker that cannot start
(a missing model, no OpenGL) makes every item raise that error, with its own type and exit code, rather than the
pool restarting workers for ever; a worker that dies (a crash, the memory killer) is a BackendError (exit code 4).
`work` and `open_worker` must be module-level functions (they are sent to the workers by name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from avatar_engine.paths import remove_temporaries

T = TypeVar("T")
R = TypeVar("R")

_OPEN_ERROR: list[BaseException] = []
"""In a worker: why it could not start (empty when it did)."""
_STOP: list = []
"""In a worker: the parent's stop event (a multiprocessing Event), set once the run stops."""


class NotStarted:
    """What a worker gives back for an item it had been handed but had not begun when the run stopped."""


class Abandoned(Exception):
    """Raised by a `work` function that gave its item up between two of its steps because the run stopped
    (`stop_requested`): an item of many steps (a shard of 100 renders) held a stop for minutes."""


def stop_requested() -> bool:
    """In a worker: the run has stopped (Ctrl-C, SIGTERM, a failure); a long item checks this between its steps and
    raises `Abandoned`, leaving nothing of itself written. False outside `map_in_workers`' workers."""
    return bool(_STOP) and _STOP[0].is_set()


def _open(open_worker: Callable[..., None], open_args: tuple, stop=None) -> None:
    import signal

    # Ctrl-C reaches the whole process group, and so do `timeout`'s SIGTERM and a closed terminal's SIGHUP: the
    # parent alone answers them (lets the items in hand finish, then stops the pool). A worker interrupted inside
    # the pool's queue kept its lock, and the pool hung for ever; one killed mid-item left its temporary file.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    if stop is not None:
        _STOP.append(stop)
    try:
        open_worker(*open_args)
    except BaseException as exc:  # kept: raised by every item, so that the caller sees it and its exit code
        _OPEN_ERROR.append(exc)


def _run(work: Callable[[T], R], item: T) -> R | NotStarted:
    if stop_requested():
        return NotStarted()
    if _OPEN_ERROR:
        raise _OPEN_ERROR[0]
    return work(item)


def map_in_workers(work: Callable[[T], R], items: Sequence[T], jobs: int, open_worker: Callable[..., None],
                   open_args: tuple = (), late: list | None = None, outputs: Path | None = None) -> Iterator[R]:
    """work(item) for every item over `jobs` spawned worker processes, yielded in the order of `items`. At most
    two items a worker are handed out ahead, so a stop (a failure, Ctrl-C, SIGTERM) leaves few running: those
    finish whole (a worker is never killed mid-write; a long one may give up between its steps: `stop_requested`),
    those not yet begun are given back unbuilt, and, when `late` is given, the results the finished ones gave are
    appended to it in order. The first failure is raised here; a worker that died is a BackendError, and the others
    are then ended at once: a broken pool can return none of their results, so what they went on to write was
    reported unfinished. Their temporary files in `outputs` (the folder they write into, searched whole) go with them."""
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from itertools import islice

    from avatar_engine.errors import BackendError

    workers = max(1, min(jobs, len(items)))
    context = mp.get_context("spawn")
    # items are handed out ahead so no worker waits for the next; one handed out but not begun when the run stops
    # is given back unbuilt (`NotStarted`): a `kill` of the parent alone had it start after the signal
    stop = context.Event()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_open, initargs=(open_worker, open_args, stop))
    source = iter(items)
    running = deque(pool.submit(_run, work, item) for item in islice(source, 2 * workers))
    try:
        while running:
            result = running[0].result()
            running.popleft()
            running.extend(pool.submit(_run, work, item) for item in islice(source, 1))
            yield result
    except BrokenProcessPool as exc:
        ended = _stop_now(pool)
        if outputs is not None:
            remove_temporaries(outputs, ended)
        raise BackendError(f"a worker process died ({exc}); with less memory per worker (fewer jobs) it may "
                           "not") from None
    finally:
        stop.set()
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except BaseException:  # a second Ctrl-C while the items in hand finish: the user means now
            _stop_now(pool)
            raise
        if late is not None:
            done = (f.result() for f in running if not f.cancelled() and f.exception() is None)
            late.extend(r for r in done if not isinstance(r, NotStarted))


def _stop_now(pool) -> list[int]:
    """Ends the pool's workers at once; returns their process ids. Interrupted inside `shutdown`, the pool had not
    yet told them to stop, and the interpreter's exit then waited for them for ever (a second Ctrl-C hung `--jobs 2`
    runs); broken, it tells them with SIGTERM, which they ignore."""
    processes = list(dict(getattr(pool, "_processes", None) or {}).values())  # concurrent.futures': pid -> Process
    for process in processes:
        process.kill()  # they ignore SIGTERM (`_open`): the parent alone answers signals
    for process in processes:
        process.join(5.0)
    return [process.pid for process in processes if process.pid is not None]


def close_at_exit(close: Callable[[], None]) -> None:
    """Run `close` when this worker process exits (a MediaPipe graph left to the garbage collector can hang it)."""
    from multiprocessing.util import Finalize

    Finalize(None, close, exitpriority=10)
