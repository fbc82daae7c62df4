"""Shards of a synthetic set made in worker processes.

Every sample is drawn from (seed, index) alone, so a shard made by any worker is the shard one process makes: the
workers only make the set sooner where cores are spare (a shard's renders, MediaPipe runs and, for texture sets, the
builder's stages, are one process's work). Workers are spawned, never forked (MediaPipe's threads and GL contexts do
not survive a fork), each opens its renderer and models once, and shards come back in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

R = TypeVar("R")


def shard_starts(count: int, shard: int) -> list[int]:
    """The first sample index of each shard."""
    return list(range(0, count, shard))


def map_shards(work: Callable[[int], R], starts: list[int], jobs: int, open_worker: Callable[..., None],
               open_args: tuple) -> Iterator[R]:
    """work(first) for every shard start, over `jobs` spawned processes (each runs open_worker(*open_args) once
    first), results in the order of `starts`. `work` and `open_worker` must be module-level functions. A failure
    in any worker stops the others and is raised here."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(min(jobs, len(starts)), initializer=open_worker, initargs=open_args) as pool:
        try:
            yield from pool.imap(work, starts)
        except BaseException:
            pool.terminate()
            raise
        pool.close()  # the workers exit on their own, running their clean-up (leaving the block would kill them)
        pool.join()


def close_at_exit(close: Callable[[], None]) -> None:
    """Run `close` when this worker process exits (a MediaPipe graph left to the garbage collector can hang it)."""
    from multiprocessing.util import Finalize

    Finalize(None, close, exitpriority=10)
