"""Work over spawned worker processes: results in order, and a worker that cannot start or dies is an error, never a
hang: one line for the CLI (stdlib functions stand in for the builders and renderers the workers open)."""

from __future__ import annotations

import operator
import os
import pytest

from avatar_engine.errors import BackendError
from avatar_engine.workers import map_in_workers


def test_results_come_in_the_order_given():
    assert list(map_in_workers(abs, [-3, 1, -2, 5], 2, int)) == [3, 1, 2, 5]


def test_a_worker_that_cannot_start_raises_its_own_error():
    # e.g. a missing model: the caller sees that error (and its exit code), not a pool restarting workers for ever
    with pytest.raises(ZeroDivisionError):
        list(map_in_workers(abs, [1, 2, 3], 2, operator.truediv, (1, 0)))


def test_a_worker_that_dies_is_an_error():
    with pytest.raises(BackendError, match="a worker process died"):
        list(map_in_workers(abs, [1, 2], 2, os._exit, (3,)))
    with pytest.raises(BackendError, match="a worker process died"):
        list(map_in_workers(os._exit, [0, 1], 1, int))


def test_a_second_interrupt_while_the_items_in_hand_finish_stops_the_workers(monkeypatch):
    # a second Ctrl-C inside the pool's shutdown left the workers waiting for a stop message never sent, and the
    # interpreter's exit waited for them for ever (`avatar synth --jobs 2`, interrupted twice, hung)
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    real = ProcessPoolExecutor.shutdown

    def interrupted(self, wait=True, cancel_futures=False):
        monkeypatch.setattr(ProcessPoolExecutor, "shutdown", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(ProcessPoolExecutor, "shutdown", interrupted)
    before = set(multiprocessing.active_children())  # another test's pool may still be winding down
    t0 = time.monotonic()
    results = map_in_workers(time.sleep, [0.2, 30.0, 30.0, 30.0], 2, int)
    next(results)
    with pytest.raises(KeyboardInterrupt):
        results.throw(KeyboardInterrupt)  # the first Ctrl-C, while the next result is awaited
    left = [p.pid for p in set(multiprocessing.active_children()) - before]
    assert all(_ended(pid) for pid in left), "no worker of this pool left running"
    assert time.monotonic() - t0 < 20, "stopped at once, not after the 30 s items"


def _ended(pid: int) -> bool:
    """Whether the process is gone or a zombie, as the system sees it (the pool's own thread may have reaped a worker
    multiprocessing still lists as running)."""
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_when_a_worker_dies_the_others_stop_and_leave_no_temporaries(tmp_path):
    """A broken pool returns no more results, but its other workers ignore the SIGTERM it sends and went on through
    the items queued to them: `avatar build --jobs 2` wrote three more avatars, 16 s after the error, that its
    summary listed as unfinished (review). They are ended at once, and their temporaries removed."""
    import multiprocessing
    import time

    from worker_items import write_slowly_or_die

    before = set(multiprocessing.active_children())
    items = [("slow", str(tmp_path)), ("die", str(tmp_path)), ("slow", str(tmp_path)), ("slow", str(tmp_path))]
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="a worker process died"):
        list(map_in_workers(write_slowly_or_die, items, 2, int, outputs=tmp_path))
    assert time.monotonic() - t0 < 20, "stopped at once, not after the 30 s items"
    assert not list(tmp_path.iterdir()), "no temporary left behind"
    left = [p.pid for p in set(multiprocessing.active_children()) - before]
    assert all(_ended(pid) for pid in left), "no worker of this pool left running"


def test_a_stop_leaves_the_items_handed_out_but_not_begun_unbuilt():
    """Items are handed out ahead (two a worker); a stop (SIGTERM to the parent alone, a fault that ends the batch)
    let the queued ones start after it: `avatar build --jobs 2`, killed 8 s in, started a photo a second later and
    wrote it at 14 s. The items in hand finish; the rest come back unbuilt."""
    import time

    late: list = []
    t0 = time.monotonic()
    results = map_in_workers(time.sleep, [0.1, 3.0, 3.0, 3.0, 3.0, 3.0], 2, int, late=late)
    assert next(results) is None  # the first (0.1 s) item; both workers then hold a 3 s item, more are queued
    time.sleep(0.5)
    results.close()  # the run stops here
    assert late == [None, None], "the two items in hand finished and were kept"
    assert time.monotonic() - t0 < 9, "the queued 3 s items were not begun"


def test_a_long_item_gives_itself_up_between_its_steps_when_the_run_stops():
    """Review: `avatar synth --jobs 2` stopped 330 s after Ctrl-C, its workers finishing their 100-sample shards,
    which were then thrown away. A long item checks `stop_requested` between steps: the stop takes a step."""
    import time

    from worker_items import steps_until_stopped

    late: list = []
    results = map_in_workers(steps_until_stopped, [1, 60, 60], 2, int, late=late)
    assert next(results) == 1
    time.sleep(1.0)  # both workers are now in a 30 s item
    t0 = time.monotonic()
    results.close()
    assert time.monotonic() - t0 < 5.0, "the items in hand gave up at their next step"
    assert late == [], "an item given up leaves no result"
