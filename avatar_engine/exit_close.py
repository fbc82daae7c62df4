"""Closing, as the interpreter shuts down, the MediaPipe holders a caller never closed (a LiveAvatar's tracker, a
Builder). MediaPipe's own finalisers, run on a half torn-down interpreter, printed a traceback each, and closing
from `atexit` came after its dispatcher's thread pool had shut down. Hooks registered with threading's exit run
before the pools', latest first; this one is registered once, after MediaPipe made its pool."""

from __future__ import annotations

import atexit
import threading
import weakref

_OPEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Objects not closed yet -> the thread that used one last (None: none recorded)."""
_HOOK: list[bool] = []
_HOOK_LOCK = threading.Lock()


def _close_open() -> None:
    # the hook runs as the main thread ends, before the other threads are waited for: an object another thread
    # still uses is left to it (closed under it, its next call failed)
    main = threading.main_thread()
    for obj, user in list(_OPEN.items()):
        if user is not None and user is not main and user.is_alive() and not user.daemon:
            continue
        try:
            obj.close()
        except Exception:  # shutting down: nothing more to do about it
            pass


def close_at_exit(obj) -> None:
    """Close `obj` (anything with `close()`) at exit unless `forget(obj)` comes first."""
    _OPEN[obj] = None
    with _HOOK_LOCK:
        if _HOOK:
            return
        register = getattr(threading, "_register_atexit", None)  # CPython 3.9+; else the later atexit
        try:
            (register or atexit.register)(_close_open)
        except RuntimeError:  # already shutting down
            return
        _HOOK.append(True)


def used_here(obj) -> None:
    """Record that the current thread uses `obj` (if it waits to be closed at exit)."""
    if obj in _OPEN:
        _OPEN[obj] = threading.current_thread()


def forget(obj) -> None:
    """`obj` was closed by its owner: nothing to do at exit."""
    _OPEN.pop(obj, None)


def waiting(obj) -> bool:
    """Whether `obj` would be closed at exit."""
    return obj in _OPEN
