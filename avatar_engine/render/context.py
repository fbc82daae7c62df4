"""OpenGL contexts: headless EGL (Mesa llvmpipe without a GPU, the GPU driver with one) or a GLFW window.

Both give a moderngl.Context of at least OpenGL 3.3 core; the renderer draws the same way into either.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import moderngl

from avatar_engine.errors import BackendError

EGL_HINT = "install the Mesa EGL libraries: apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri"


def headless_context() -> moderngl.Context:
    """A standalone EGL context (no display needed)."""
    try:
        return moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as exc:  # moderngl raises plain Exceptions from glcontext
        raise BackendError(f"cannot create a headless EGL OpenGL context ({exc}); {EGL_HINT}") from None


EGL_DRAW, EGL_READ = 0x3059, 0x305A


@lru_cache(maxsize=1)
def _egl():
    """libEGL through ctypes (the library glcontext's EGL backend loads), or None where there is none."""
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    for fn in ("eglGetCurrentContext", "eglGetCurrentDisplay", "eglGetCurrentSurface"):
        getattr(lib, fn).restype = ctypes.c_void_p
    lib.eglGetCurrentSurface.argtypes = [ctypes.c_int]
    lib.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    lib.eglMakeCurrent.restype = ctypes.c_uint
    return lib


def current_egl_context() -> int | None:
    """The calling thread's current EGL context handle, or None."""
    egl = _egl()
    return egl.eglGetCurrentContext() if egl is not None else None


@contextmanager
def current_context_kept(unless: int | None = None) -> Iterator[None]:
    """Gives the calling thread back its current EGL context on the way out. Making a context makes it current,
    and releasing the current one leaves none: either took the context from under whoever drew with it on this
    thread (another LiveAvatar, an application's own), whose draws then went nowhere, silently. `unless` : a
    context handle not to restore (one released inside)."""
    egl = _egl()
    saved = None
    if egl is not None and egl.eglGetCurrentContext():
        saved = (egl.eglGetCurrentDisplay(), egl.eglGetCurrentSurface(EGL_DRAW), egl.eglGetCurrentSurface(EGL_READ),
                 egl.eglGetCurrentContext())
    try:
        yield
    finally:
        if saved is not None and saved[3] != unless and egl.eglGetCurrentContext() != saved[3]:
            egl.eglMakeCurrent(*saved)


@contextmanager
def made_current(ctx: moderngl.Context, handle: int | None) -> Iterator[None]:
    """`ctx` current for the block, the thread's own current context back after it (moderngl's `with ctx` leaves
    none current on the way out). handle : ctx's EGL context (`current_egl_context()` just after making it)."""
    with current_context_kept():
        if handle is None or current_egl_context() != handle:
            ctx.__enter__()  # makes it current; the way out is current_context_kept's
        yield


class Window:
    """A GLFW window with an OpenGL 3.3 core context. Use as a context manager."""

    def __init__(self, size: tuple[int, int], title: str = "avatar-engine", visible: bool = True) -> None:
        import glfw

        self._glfw = glfw
        if not glfw.init():
            display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            if display:  # set, but no server answers there
                raise BackendError(f"cannot open a window: GLFW cannot reach the display {display!r} (is its X or "
                                   f"Wayland server running?); or use --headless")
            raise BackendError("cannot open a window: GLFW found no display (set DISPLAY, run under Xvfb, "
                               "or use --headless)")
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.VISIBLE, visible)
        self.handle = glfw.create_window(size[0], size[1], title, None, None)
        if not self.handle:
            glfw.terminate()
            raise BackendError("GLFW could not create an OpenGL 3.3 core window")
        glfw.make_context_current(self.handle)
        glfw.swap_interval(0)
        self.ctx = moderngl.create_context(require=330)

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        """The window's drawable size in pixels (differs from its size on a HiDPI screen, changes on a resize)."""
        return tuple(self._glfw.get_framebuffer_size(self.handle))

    @property
    def should_close(self) -> bool:
        return bool(self._glfw.window_should_close(self.handle))

    def swap(self) -> None:
        self._glfw.swap_buffers(self.handle)
        self._glfw.poll_events()

    def close(self) -> None:
        if self.handle:
            self.ctx.release()
            self._glfw.destroy_window(self.handle)
            self._glfw.terminate()
            self.handle = None

    def __enter__(self) -> "Window":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
