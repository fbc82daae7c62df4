"""Waiting for the GL driver without holding Python's GIL.

moderngl never releases the GIL, so `ctx.finish()` holds it for the whole wait: on llvmpipe that is the
rasteriser's 10-40 ms a frame, during which the tracker thread (MediaPipe's Python call dispatcher and its
result conversion) and the capture thread cannot run a line of Python, and the live loop's stages serialise
instead of overlapping. ctypes releases the GIL around every foreign call, so `glFinish` called through ctypes
waits the same but lets the other threads run.

`glFinish` acts on the calling thread's current context; moderngl keeps its context current on the thread that
made it (the loop's main thread), and libglvnd's `libOpenGL` (or Mesa's `libGL`) dispatches to it, EGL or GLX.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

LIBRARIES = ("libOpenGL.so.0", "libGL.so.1", "OpenGL", "opengl32")
"""Where glFinish is looked up, in order: glvnd's GL dispatch library, Mesa's libGL, macOS, Windows."""


def gil_free_finish() -> Callable[[], None] | None:
    """glFinish through ctypes (the GIL released while it waits), or None where no GL library is found."""
    for name in LIBRARIES:
        path = name if name.startswith("lib") else ctypes.util.find_library(name)
        if not path:
            continue
        try:
            lib = ctypes.CDLL(path)
            finish = lib.glFinish
        except (OSError, AttributeError):
            continue
        finish.argtypes, finish.restype = [], None
        return finish
    return None
