"""Work spread over spawned worker processes, results in the order given: batch builds and synthetic sets.

Each worker runs `open_worker(*open_args)` once (its renderer, models, builder), then `work(item)` per item. Workers
are spawned, never forked: MediaPipe's threads and GL contexts do not survive a fork. A worker that cannot start
(a missing model, no OpenGL) makes every item raise that error, with its own type and exit code, rather than the
pool restarting workers for ever; a worker that dies (a crash, the memory killer) raises BrokenProcessPool.
`work` and `open_worker` must be module-level functions (they are sent to the workers by name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_OPEN_ERROR: list[BaseException] = []
"""In a worker: why it could not start (empty when it did)."""


def _open(open_worker: Callable[..., None], open_args: tuple) -> None:
    try:
        open_worker(*open_args)
    except BaseException as exc:  # kept: raised by every item, so that the caller sees it and its exit code
        _OPEN_ERROR.append(exc)


def _run(work: Callable[[T], R], item: T) -> R:
    if _OPEN_ERROR:
        raise _OPEN_ERROR[0]
    return work(item)


def map_in_workers(work: Callable[[T], R], items: list[T], jobs: int, open_worker: Callable[..., None],
                   open_args: tuple = ()) -> Iterator[R]:
    """work(item) for every item over `jobs` spawned worker processes, yielded in the order of `items`. The first
    failure is raised here; the items not started yet are cancelled and the workers exit (after their current
    item), running their own clean-up."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max(1, min(jobs, len(items))), mp_context=mp.get_context("spawn"),
                               initializer=_open, initargs=(open_worker, open_args))
    try:
        futures = [pool.submit(_run, work, item) for item in items]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def close_at_exit(close: Callable[[], None]) -> None:
    """Run `close` when this worker process exits (a MediaPipe graph left to the garbage collector can hang it)."""
    from multiprocessing.util import Finalize

    Finalize(None, close, exitpriority=10)
