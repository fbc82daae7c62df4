"""The loop's thread-pool limits hold while it runs and are given back after; the GL wait is the same wait."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.pools import single_threaded_pools


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_pools_are_single_threaded_inside_and_restored_after():
    cv2 = pytest.importorskip("cv2")
    cv2_before, blas_before = cv2.getNumThreads(), _blas_threads()
    with single_threaded_pools():
        assert cv2.getNumThreads() == 1
        assert all(n == 1 for n in _blas_threads())
    assert cv2.getNumThreads() == cv2_before and _blas_threads() == blas_before


def test_pools_are_restored_when_the_block_raises():
    cv2 = pytest.importorskip("cv2")
    before = cv2.getNumThreads()
    with pytest.raises(RuntimeError):
        with single_threaded_pools():
            raise RuntimeError("loop failed")
    assert cv2.getNumThreads() == before


def test_gil_free_finish_gives_the_same_frame(ctx, template):
    from avatar_engine.live import LiveAvatar, LiveOptions
    from avatar_engine.head.arkit import ARKIT_INDEX
    from avatar_engine.live.glwait import gil_free_finish
    from avatar_engine.solve.frames import SolvedFrame

    finish = gil_free_finish()
    if finish is None:
        pytest.skip("no GL library found for ctypes on this system")
    solved = SolvedFrame.neutral()
    solved.weights[ARKIT_INDEX["jawOpen"]] = 0.8  # a frame unlike the warm-up's neutral face
    with LiveAvatar(template, LiveOptions(size=(96, 64), samples=0), ctx=ctx) as live:
        live._finish = finish
        live.draw(solved)
        ours = live.read()
        live.draw(SolvedFrame.neutral())
        live._finish = live.renderer.finish
        live.draw(solved)
        theirs = live.read()
    assert np.array_equal(ours, theirs) and ours[..., :3].std() > 5
