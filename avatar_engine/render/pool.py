"""Frames rendered by worker processes, each with its own headless GL context, handed back in order.

    with RenderPool(avatar, RenderOptions(size=(1280, 720)), workers=2) as pool:   # in a script: under
        for rgba in pool.map((expression, camera) for expression in performance):  # if __name__ == "__main__"
            video.write(rgba)                    # (720, 1280, 4) uint8, the same pixels Renderer.read gives

Why processes: on a software rasteriser (Mesa llvmpipe) a context never overlaps its two halves of a frame. The
calling thread runs the vertex stage and bins the triangles while the rasteriser threads wait; then Mesa queues
the scene and waits for the rasteriser threads to shade it. On 2 cores that leaves one core idle for the
calling thread's share of every frame (4 of 10 ms for the default head). Two contexts in one process share the
rasteriser and the GIL and serialise (measured: 91 fps with one, 91 with two); two processes fill each other's
gaps (128 fps). On a GPU the driver already overlaps the two, and one in-process `Renderer` is the better choice.

Each worker renders frame k of its share and reads it back into shared memory (bottom row first, as GL gives
it); the parent flips it into a fresh array when it is collected. Frame k goes to worker k % workers, so frames
come back in submission order. `render_sequence` picks a pool or one in-process renderer for a film of frames.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import time
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from avatar_engine.errors import BackendError, InputError
from avatar_engine.records import Avatar, Expression

START_TIMEOUT_S = 120.0
"""A worker that is not ready (imported, context made, avatar loaded, shaders compiled) by then has failed."""
FRAME_TIMEOUT_S = 60.0
"""A frame not back by then means its worker hangs."""
POLL_S = 0.25
"""How often a wait checks that the worker it waits on is still alive."""


def _serve(conn, shm_name: str, depth: int, options, read: bool) -> None:
    """A worker's main: load the avatar sent first, then render ("frame", slot, expression, camera, model) messages
    into shared-memory slot `slot` (with `read`; else only wait for the frame) and answer ("done", slot, render_ms,
    read_ms) until ("stop",) or the parent goes."""
    shm = None
    try:
        from avatar_engine.pools import single_threaded_pools
        from avatar_engine.render.camera import Camera
        from avatar_engine.render.context import headless_context
        from avatar_engine.render.renderer import Renderer

        avatar = conn.recv()
        with single_threaded_pools():  # BLAS's idle spinning would steal the rasteriser's cores
            ctx = headless_context()
            with Renderer(ctx, options) as renderer:
                renderer.load(avatar)
                renderer.render(Expression(), Camera())  # compile the shaders now, not on the first frame
                renderer.finish()
                w, h = renderer.options.size
                shm = SharedMemory(name=shm_name)
                slots = np.ndarray((depth, h, w, 4), np.uint8, buffer=shm.buf)
                conn.send(("ready", str(ctx.info["GL_RENDERER"]), renderer.options))
                while True:
                    message = conn.recv()
                    if message[0] == "stop":
                        break
                    _, slot, expression, camera, model = message
                    t0 = time.perf_counter()
                    try:
                        renderer.render(expression, camera, model)
                    except Exception as exc:  # this frame's fault (bad weights, a camera that raises): not the worker's
                        conn.send(("frame_error", slot, f"{type(exc).__name__}: {exc}"))
                        continue
                    renderer.finish()
                    t1 = time.perf_counter()
                    if read:
                        renderer.fbo.read_into(slots[slot], components=4, alignment=1)
                    conn.send(("done", slot, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3))
                del slots
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the parent went away or is stopping: nothing to report to
    except BaseException as exc:  # reported to the parent, which raises it as a BackendError
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except (OSError, ValueError):
            pass
    finally:
        if shm is not None:
            shm.close()


class RenderPool:
    """`workers` processes rendering one avatar. A context manager; `close()` stops the workers.

    `submit` frames, `collect` them back in the same order (each an (h, w, 4) uint8 RGBA array of its own, top row
    first, as `Renderer.read` gives). Up to `workers * depth` frames are in flight; submitting more first collects
    the oldest into an internal queue, which `collect` empties before waiting on a worker. `map` does both.
    With `read=False` the workers render each frame and wait for it without reading it back, and `collect` gives
    None: the renderer alone, as benchmarks/render_fps.py measures it.
    """

    def __init__(self, avatar: Avatar, options=None, workers: int = 2, depth: int = 2, read: bool = True) -> None:
        from avatar_engine.render.renderer import RenderOptions

        if workers < 1 or depth < 1:
            raise ValueError(f"a render pool needs workers >= 1 and depth >= 1, got {workers} and {depth}")
        self.options = options or RenderOptions()
        self.options.resolve(software=True)  # an option no renderer takes fails here, not in a worker
        w, h = self.options.size
        self.workers, self.depth, self.read = workers, depth, read
        spawn = mp.get_context("spawn")  # never fork a process that may hold a GL context or threads
        self._shm: list[SharedMemory] = []
        self._procs: list = []
        self._conns: list = []
        self._slots: list[np.ndarray] = []
        self._pending: deque[tuple[int, int]] = deque()
        """(worker, slot) of every submitted, not yet collected frame, oldest first."""
        self._ready: deque[np.ndarray] = deque()
        self._submitted = 0
        self._broken = False
        """A worker exited or hung: nothing more is sent or waited for."""
        self.render_ms: deque[float] = deque(maxlen=256)
        """The workers' own times to render recent frames (to glFinish), milliseconds."""
        self.read_ms: deque[float] = deque(maxlen=256)
        """And to read them back into shared memory."""
        try:
            for i in range(workers):
                shm = SharedMemory(create=True, size=depth * w * h * 4)
                self._shm.append(shm)
                self._slots.append(np.ndarray((depth, h, w, 4), np.uint8, buffer=shm.buf))
                parent, child = spawn.Pipe()
                proc = spawn.Process(target=_serve, args=(child, shm.name, depth, self.options, read),
                                     name=f"avatar-render-{i}", daemon=True)
                proc.start()
                child.close()
                self._procs.append(proc)
                self._conns.append(parent)
                try:
                    parent.send(avatar)
                except (BrokenPipeError, EOFError):  # the worker died while importing the caller's script
                    proc.join(timeout=5.0)
                    raise BackendError(
                        f"render worker {i} exited (code {proc.exitcode}) as it started: a script that makes a "
                        "RenderPool must do so under `if __name__ == \"__main__\":` (the workers are spawned and "
                        "import the script)") from None
            infos = [self._receive(i, START_TIMEOUT_S, "start") for i in range(workers)]
        except BaseException:
            self.close()
            raise
        self.gl_renderer = infos[0][1]
        """The workers' GL_RENDERER string."""
        self.options = infos[0][2]
        """The options as the workers resolved them for their GL driver."""

    @property
    def capacity(self) -> int:
        return self.workers * self.depth

    @property
    def pending(self) -> int:
        """Frames submitted and not yet collected."""
        return len(self._pending) + len(self._ready)

    def _receive(self, worker: int, timeout_s: float, doing: str):
        try:
            return self._answer(worker, timeout_s, doing)
        except BackendError:
            self._broken = True  # a worker gone or hung: its answers will not come, or not in order
            raise

    def _answer(self, worker: int, timeout_s: float, doing: str):
        conn, proc = self._conns[worker], self._procs[worker]
        deadline = time.monotonic() + timeout_s
        while not conn.poll(POLL_S):
            if not proc.is_alive():
                raise BackendError(f"render worker {worker} exited (code {proc.exitcode}) during {doing}")
            if time.monotonic() > deadline:
                raise BackendError(f"render worker {worker} did not answer within {timeout_s:.0f} s during {doing}")
        try:
            message = conn.recv()
        except (EOFError, OSError):  # its end of the pipe closed (or was reset, frames unread): it is exiting
            proc.join(timeout=2.0)
            raise BackendError(f"render worker {worker} exited (code {proc.exitcode}) during {doing}") from None
        if message[0] == "error":
            raise BackendError(f"render worker {worker} failed during {doing}: {message[1]}")
        return message

    def submit(self, expression: Expression, camera, model: np.ndarray | None = None) -> None:
        """Queue one frame (the arguments of `Renderer.render`); InputError for arguments no renderer takes."""
        from avatar_engine.render.renderer import check_frame

        if not self._procs:
            raise RuntimeError("the render pool is closed")
        if self._broken:
            raise BackendError("this render pool lost a worker (it exited or hung): make a new one")
        check_frame(expression, camera, model)
        if len(self._pending) >= self.capacity:
            self._ready.append(self._take_oldest())
        worker = self._submitted % self.workers
        slot = (self._submitted // self.workers) % self.depth
        try:
            self._conns[worker].send(("frame", slot, expression, camera, model))
        except (pickle.PicklingError, AttributeError, TypeError) as exc:  # nothing was sent: the pool is as it was
            raise BackendError(f"render pool: this frame cannot be sent to a worker process ({exc})") from None
        except OSError:  # a broken pipe: the worker is gone
            self._procs[worker].join(timeout=1.0)
            raise BackendError(f"render worker {worker} exited (code {self._procs[worker].exitcode}) "
                               "before taking a frame") from None
        self._pending.append((worker, slot))
        self._submitted += 1

    def _take_oldest(self) -> np.ndarray | None:
        worker, slot = self._pending[0]
        message = self._receive(worker, FRAME_TIMEOUT_S, "a frame")
        if message[0] == "frame_error":
            self._pending.popleft()
            raise BackendError(f"render worker {worker} could not render a frame: {message[2]}")
        _, done_slot, render_ms, read_ms = message
        if done_slot != slot:
            self._broken = True
            raise BackendError(f"render worker {worker} answered slot {done_slot}, expected {slot}")
        self._pending.popleft()
        self.render_ms.append(render_ms)
        self.read_ms.append(read_ms)
        if not self.read:
            return None
        from avatar_engine.render.renderer import top_down_rgba

        return top_down_rgba(self._slots[worker][slot], self.options)

    def collect(self) -> np.ndarray | None:
        """The oldest submitted frame (waiting for it), or None when nothing is pending."""
        if self._ready:
            return self._ready.popleft()
        if not self._pending:
            return None
        return self._take_oldest()

    def map(self, frames: Iterable[tuple]) -> Iterator[np.ndarray | None]:
        """Render every (expression, camera[, model]) of `frames`, yielding the images in order, all workers busy.

        A map that ends early (the caller stops iterating, or a frame fails) discards the frames it left in flight:
        the next map's images are its own (they came after the abandoned ones, in order)."""
        try:
            for frame in frames:
                if not isinstance(frame, (tuple, list)) or not 2 <= len(frame) <= 3:
                    raise InputError(f"render pool: each frame must be (expression, camera) or (expression, camera, "
                                     f"model), got {type(frame).__name__}"
                                     + (f" of {len(frame)}" if isinstance(frame, (tuple, list)) else ""))
                self.submit(*frame)
                while self.pending >= self.capacity:
                    yield self.collect()
            while self.pending:
                yield self.collect()
        finally:
            self._discard_pending()

    def _discard_pending(self) -> None:
        """Drop the frames in flight, waiting for each so that its slot is free again; a frame that fails is dropped
        too, and a worker that is gone leaves nothing to wait for."""
        self._ready.clear()
        while self._pending and not self._broken:  # broken, a hung worker was waited for once already
            try:
                self._take_oldest()
            except BackendError:
                pass  # that frame failed (dropped), or its worker is gone (broken: the loop ends)
        self._pending.clear()

    def close(self) -> None:
        """Stop the workers (a few seconds at most) and free the shared memory; frames not collected are lost."""
        for conn in self._conns:
            try:
                conn.send(("stop",))
            except (OSError, ValueError):
                pass
        for proc in self._procs:
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2.0)
        for conn in self._conns:
            conn.close()
        self._slots = []
        for shm in self._shm:
            shm.close()
            shm.unlink()
        self._procs, self._conns, self._shm = [], [], []
        self._pending.clear()
        self._ready.clear()

    def __enter__(self) -> "RenderPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


SEQUENCE_WORKERS = 2
"""Processes `render_sequence` renders with on a software rasteriser: a third adds nothing on 2 cores
(benchmarks/render_fps.py)."""


def render_sequence(avatar: Avatar, options, frames: Iterable[tuple]) -> Iterator[np.ndarray]:
    """Every (expression, camera[, model]) of `frames` rendered and read back, in order, as `Renderer.read` gives them
    (the same pixels either way). On a software rasteriser with more than one core a `RenderPool` fills the core a
    single context leaves idle while it bins each frame (the demo film at 960x540 with 4x MSAA, 345 frames on 2
    cores: 24.2 -> 28.8 frames a second); on a GPU one renderer in this process is the faster."""
    from avatar_engine.render.context import headless_context
    from avatar_engine.render.renderer import Renderer, is_software

    ctx = headless_context()
    if is_software(ctx) and (os.cpu_count() or 1) > 1:
        ctx.release()  # the workers make their own
        with RenderPool(avatar, options, workers=SEQUENCE_WORKERS) as pool:
            yield from pool.map(frames)
        return
    try:
        with Renderer(ctx, options) as renderer:
            renderer.load(avatar)
            for frame in frames:
                renderer.render(*frame)
                yield renderer.read()
    finally:
        ctx.release()
