"""The live window: GLFW, the renderer's frame blitted to the screen, and hotkeys.

Hotkeys: C recalibrate (look ahead, relaxed, for a second), M mirror on/off, S stats overlay on/off (shown in
the title bar: fps, latency, tracking state), Esc or Q quit (the recording, if any, is finalised).
"""

from __future__ import annotations

import os
import sys
import time

from avatar_engine.live.outputs import LiveFrame, Output

HOTKEYS = {"C": "recalibrate", "M": "mirror", "S": "stats", "ESCAPE": "quit", "Q": "quit"}


def hotkey_action(key: int, printed: str | None, by_code: dict[int, str]) -> str | None:
    """The action of a key press: by the letter the keyboard's layout prints on the key when it has one (GLFW's
    key codes are the keys' places on a US keyboard: on AZERTY the key marked A quit and M toggled nothing), else by
    the key's code (Escape). `by_code`: GLFW key code -> action."""
    if printed and len(printed) == 1 and printed.isalpha():
        return HOTKEYS.get(printed.upper())
    return by_code.get(key)


DISPLAY_LOST_EXIT = 4
"""Exit code when the window's X server goes away: a backend (the display) failed, as `BackendError`'s."""


def _on_x_display_lost(glfw, callback):
    """On X11, an Xlib I/O error handler that runs `callback` and ends the process with `DISPLAY_LOST_EXIT`. Xlib's
    own handler printed two lines and called exit(1): no Python clean-up ran, and a recording stayed unfinished
    under its temporary name, its encoder orphaned. Returns the handler (to keep alive), or None elsewhere."""
    import ctypes
    import ctypes.util

    try:
        if glfw.get_platform() != glfw.PLATFORM_X11:
            return None
    except (AttributeError, TypeError):  # a GLFW without platforms: X11 on Linux
        if not sys.platform.startswith("linux"):
            return None
    library = ctypes.util.find_library("X11")
    if library is None:
        return None
    x11 = ctypes.CDLL(library)  # the library GLFW loaded: one Xlib, one handler
    handler_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)

    def lost(display) -> int:
        try:
            callback()
        finally:
            os._exit(DISPLAY_LOST_EXIT)  # Xlib must not return to the dead connection; nothing else runs after

    handler = handler_type(lost)
    x11.XSetIOErrorHandler.argtypes = [handler_type]
    x11.XSetIOErrorHandler.restype = ctypes.c_void_p
    x11.XSetIOErrorHandler(handler)
    return handler


TITLE = "avatar-engine live"
OVERLAY_PERIOD_S = 0.5
"""How often the stats overlay refreshes."""


class WindowOutput(Output):
    """Opens the window at construction so the renderer can be made on its GL context (`self.ctx`)."""

    needs_pixels = False

    def __init__(self, size: tuple[int, int], visible: bool = True) -> None:
        import warnings

        from avatar_engine.render.context import Window

        with warnings.catch_warnings():  # GLFW warns before the BackendError that says the same in one line
            warnings.simplefilter("ignore")
            self.window = Window(size, TITLE, visible=visible)
        self.ctx = self.window.ctx
        self.pipeline = None
        self.overlay = False
        self._overlay_at = 0.0
        self.actions: list[str] = []
        """Every hotkey action taken, in order (for the log and tests)."""
        glfw = self.window._glfw
        self._keys = {getattr(glfw, f"KEY_{name}"): action for name, action in HOTKEYS.items()}
        self._press = glfw.PRESS
        glfw.set_key_callback(self.window.handle, self.on_key)
        self._x_handler = _on_x_display_lost(glfw, self._display_lost)
        """The installed Xlib handler (kept: ctypes would free it), or None off X11."""

    def _display_lost(self) -> None:
        """The X server went away under the window (a closed session, a crash): Xlib ends the process from here,
        so the other outputs are closed now (a recording finalised, playable) and the reason said in one line."""
        others = [out for out in (self.pipeline.outputs if self.pipeline is not None else []) if out is not self]
        for out in others:
            try:
                out.close()
            except BaseException:  # a recording that cannot be finished leaves no file: keep closing the rest
                pass
        print("avatar live: error: the window's display went away (its X server closed)"
              + ("; the outputs were closed" if others else ""), file=sys.stderr, flush=True)

    def attach(self, pipeline) -> None:
        """The pipeline whose animator the hotkeys drive and which the window stops."""
        self.pipeline = pipeline

    def on_key(self, handle, key, scancode, action, mods) -> None:
        """GLFW key callback."""
        if action != self._press:
            return
        try:
            printed = self.window._glfw.get_key_name(key, scancode)
        except Exception:  # no name for this key on this system: go by its code
            printed = None
        name = hotkey_action(key, printed, self._keys)
        if name is None:
            return
        self.actions.append(name)
        live = self.pipeline.live if self.pipeline is not None else None
        if name == "recalibrate" and live is not None:
            live.recalibrate()
        elif name == "mirror" and live is not None:
            live.mirror = not live.mirror
        elif name == "stats":
            self.overlay = not self.overlay
            if not self.overlay:
                self.window._glfw.set_window_title(self.window.handle, TITLE)
        elif name == "quit":
            self.window._glfw.set_window_should_close(self.window.handle, True)

    def write(self, frame: LiveFrame) -> None:
        live = self.pipeline.live
        live.renderer.blit_to_screen(self.window.framebuffer_size)
        self.window.swap()  # also polls events: hotkeys run here, on the GL thread
        if self.overlay and time.monotonic() >= self._overlay_at:
            self._overlay_at = time.monotonic() + OVERLAY_PERIOD_S
            s = self.pipeline.stats.brief()
            lat = s["latency_ms"]
            self.window._glfw.set_window_title(
                self.window.handle, f"{TITLE} | {s['fps']:.1f} fps | latency p50 {lat.get('p50', 0):.0f} ms "
                f"p95 {lat.get('p95', 0):.0f} ms | {frame.state}{' | mirror' if live.mirror else ''}")
        if self.window.should_close and self.pipeline is not None:
            self.pipeline.stop()

    def close(self) -> None:
        """Nothing: the renderer still lives on this window's context. Call `destroy()` after releasing it."""

    def destroy(self) -> None:
        self.window.close()
