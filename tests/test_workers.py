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
