"""The render pool: worker processes give the same pixels as the in-process renderer, in submission order, and a
failed worker is an error that names it, never a hang or a wrong frame."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from avatar_engine.errors import BackendError, InputError
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera
from avatar_engine.render import pool as pool_module
from avatar_engine.render.pool import RenderPool, render_sequence
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer, is_software

SIZE = (64, 48)
CAMERA = Camera(distance=0.6)
FRAMES = [
    (Expression(), CAMERA),
    (Expression.from_names({"jawOpen": 1.0}), CAMERA),
    (Expression.from_names({"mouthSmileLeft": 1.0, "eyeBlinkRight": 1.0}), Camera(distance=0.6, yaw_deg=30)),
    (Expression(rotations={"head": euler_rotation(20, 5)}), CAMERA),
    (Expression.from_names({"mouthPucker": 1.0}), Camera(distance=0.6, yaw_deg=-25)),
]
"""Five different frames: more than two workers x depth one, so slots are reused and order matters."""


def in_process(ctx, avatar, options: RenderOptions) -> list[np.ndarray]:
    with Renderer(ctx, options) as renderer:
        renderer.load(avatar)
        out = []
        for expression, camera in FRAMES:
            renderer.render(expression, camera)
            out.append(renderer.read())
        return out


@pytest.mark.parametrize("options", [
    RenderOptions(size=SIZE, background=STUDIO_BACKDROP),
    RenderOptions(size=SIZE, background=None, samples=4, shading="pixel"),  # premultiplied MSAA edges undone
], ids=["software_preset_studio", "msaa_transparent"])
def test_pool_frames_equal_the_in_process_renderer_in_order(ctx, template, options):
    expected = in_process(ctx, template, options)
    assert all(np.abs(a.astype(int) - b).max() > 0 for a, b in zip(expected, expected[1:])), "frames must differ"
    with RenderPool(template, options, workers=2, depth=1) as pool:
        got = list(pool.map(FRAMES))
        assert pool.pending == 0
    assert len(got) == len(FRAMES)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == (SIZE[1], SIZE[0], 4) and a.dtype == np.uint8
        assert np.array_equal(a, b), f"frame {i}: the pool's pixels differ from the renderer's"


def test_submit_beyond_capacity_keeps_every_frame_in_order(ctx, template):
    options = RenderOptions(size=SIZE, background=STUDIO_BACKDROP)
    expected = in_process(ctx, template, options)
    with RenderPool(template, options, workers=1, depth=2) as pool:
        for frame in FRAMES:  # 5 frames into room for 2: the oldest are collected into the queue, not dropped
            pool.submit(*frame)
        assert pool.pending == len(FRAMES)
        got = [pool.collect() for _ in FRAMES]
        assert pool.collect() is None
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_a_dead_worker_is_a_backend_error_naming_it(template):
    pool = RenderPool(template, RenderOptions(size=SIZE), workers=2, depth=1)
    try:
        pool._procs[1].kill()
        pool._procs[1].join(5)
        pool.submit(*FRAMES[0])
        with pytest.raises(BackendError, match="render worker 1 exited"):
            pool.submit(*FRAMES[1])  # goes to the dead worker
        assert pool.collect() is not None  # the live worker's frame still comes back
    finally:
        pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(*FRAMES[0])


class ExitingCamera(Camera):
    """A camera whose view matrix kills the process that asks for it: a worker dying in the middle of a frame."""

    def view(self):
        os._exit(7)


def test_a_worker_dying_mid_frame_is_a_backend_error_with_its_exit_code(template):
    with RenderPool(template, RenderOptions(size=SIZE), workers=1, depth=1) as pool:
        pool.submit(Expression(), ExitingCamera(distance=0.6))
        with pytest.raises(BackendError, match=r"render worker 0 exited \(code 7\) during a frame"):
            pool.collect()


def test_a_worker_that_cannot_render_reports_why(template):
    # more joints than the renderer takes: the worker's Renderer.load raises, the parent reports its message
    skeleton = dataclasses.replace(template.skeleton, names=template.skeleton.names * 2)
    with pytest.raises(BackendError, match="render worker 0 failed during start: ValueError: the renderer supports"):
        RenderPool(dataclasses.replace(template, skeleton=skeleton), RenderOptions(size=SIZE), workers=1)


def test_bad_pool_arguments_fail_at_construction(template):
    with pytest.raises(ValueError, match="workers >= 1"):
        RenderPool(template, RenderOptions(size=SIZE), workers=0)
    with pytest.raises(ValueError, match=r"size must be \(width, height\), two whole numbers of pixels above 0"):
        RenderPool(template, RenderOptions(size=(0, 10)))


@pytest.mark.parametrize("cores", [2, 1], ids=["pool", "in_process"])
def test_render_sequence_gives_the_renderers_frames_in_order_either_way(ctx, template, monkeypatch, cores):
    # the demo film's path: a pool of processes on a multi-core software rasteriser, one renderer otherwise
    monkeypatch.setattr(pool_module.os, "cpu_count", lambda: cores)
    options = RenderOptions(size=SIZE, background=STUDIO_BACKDROP, samples=4, shading="pixel")
    expected = in_process(ctx, template, options)
    spawned = []
    monkeypatch.setattr(pool_module, "RenderPool", lambda *a, **k: spawned.append(1) or RenderPool(*a, **k))
    got = list(render_sequence(template, options, FRAMES))
    assert len(spawned) == (1 if cores > 1 and is_software(ctx) else 0)
    assert len(got) == len(FRAMES)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected)), "render_sequence changed the pixels"


def test_a_bad_frame_is_an_error_and_the_pool_goes_on(template):
    # an unpicklable camera raised a raw AttributeError; a frame the renderer refuses killed its worker for good
    class LambdaCamera(Camera):
        pass

    unpicklable = LambdaCamera(distance=0.6)
    object.__setattr__(unpicklable, "hook", lambda: None)
    with RenderPool(template, RenderOptions(size=SIZE), workers=1, depth=1) as pool:
        with pytest.raises(BackendError, match="cannot be sent to a worker"):
            pool.submit(Expression(), unpicklable)
        # refused before it is sent (it was a worker's failure, a BackendError: "backend unavailable", exit 4)
        with pytest.raises(InputError, match=r"Expression.weights must be the 52 ARKit weights, got float32 of "
                                             r"shape \(3,\)"):
            pool.submit(Expression(np.zeros(3, np.float32)), CAMERA)
        with pytest.raises(InputError, match="the expression must be an avatar_engine.records.Expression"):
            pool.submit("jawOpen", CAMERA)
        assert pool.pending == 0
        pool.submit(*FRAMES[1])
        assert pool.collect().shape == (SIZE[1], SIZE[0], 4)  # the same worker renders the next frame


def test_a_map_stopped_early_leaves_nothing_for_the_next(ctx, template):
    """Review: a map abandoned with `break` (a cancelled export) left its frames in flight, and the next map
    yielded them first: 6 frames for 3 asked, the first 3 the earlier call's."""
    options = RenderOptions(size=SIZE, background=STUDIO_BACKDROP)
    expected = in_process(ctx, template, options)
    with RenderPool(template, options, workers=2, depth=1) as pool:
        for _ in pool.map(FRAMES[:1] * 5):
            break
        got = list(pool.map(FRAMES[1:4]))
        assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, expected[1:4]))
        with pytest.raises(InputError, match="each frame must be"):
            list(pool.map([FRAMES[0], FRAMES[0], (Expression(),)]))  # fails with two frames in flight
        assert pool.pending == 0
        got = list(pool.map(FRAMES[4:5]))
        assert len(got) == 1 and np.array_equal(got[0], expected[4])


def test_a_worker_gone_with_frames_unread_is_one_error():
    """A worker killed (the memory killer) with frame messages still in its pipe resets the connection rather than
    closing it: `avatar demo` died with a ConnectionResetError traceback, renamed after the film (review)."""
    from avatar_engine.errors import BackendError
    from avatar_engine.render.pool import RenderPool

    class Reset:
        def poll(self, timeout):
            return True

        def recv(self):
            raise ConnectionResetError(104, "Connection reset by peer")

    class Killed:
        exitcode = -9

        def join(self, timeout=None):
            pass

    pool = object.__new__(RenderPool)  # its pipes and processes only: no GL workers needed for this
    pool._conns, pool._procs = [Reset()], [Killed()]
    with pytest.raises(BackendError, match=r"render worker 0 exited \(code -9\) during a frame"):
        pool._receive(0, 1.0, "a frame")


def test_a_hung_worker_is_waited_for_once_and_the_pool_says_it_is_broken(template, monkeypatch):
    """Review: map's discarding of frames in flight waited for the hung worker a second time (2 x FRAME_TIMEOUT_S);
    the pool then took frames its worker would never answer."""
    import signal
    import time

    monkeypatch.setattr(pool_module, "FRAME_TIMEOUT_S", 2.0)
    with RenderPool(template, RenderOptions(size=SIZE), workers=1, depth=2) as pool:
        assert len(list(pool.map(FRAMES[:1]))) == 1
        os.kill(pool._procs[0].pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with pytest.raises(BackendError, match="did not answer within 2 s"):
                list(pool.map(FRAMES[:4]))
            assert time.monotonic() - t0 < 3.5, "waited for once, not again while discarding"
            with pytest.raises(BackendError, match="lost a worker"):
                pool.submit(*FRAMES[0])
        finally:
            os.kill(pool._procs[0].pid, signal.SIGCONT)
