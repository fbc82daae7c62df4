"""The live window: GLFW, the renderer's frame blitted to the screen, and hotkeys.

Hotkeys: C recalibrate (look ahead, relaxed, for a second), M mirror on/off, S stats overlay on/off (shown in
the title bar: fps, latency, tracking state), Esc or Q quit (the recording, if any, is finalised).
"""

from __future__ import annotations

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
