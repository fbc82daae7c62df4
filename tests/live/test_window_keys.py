"""Hotkeys go by the letter the keyboard's layout prints on a key, not by the key's place on a US keyboard."""

from __future__ import annotations

import glfw

from avatar_engine.live.window import HOTKEYS, hotkey_action

BY_CODE = {getattr(glfw, f"KEY_{name}"): action for name, action in HOTKEYS.items()}


def test_a_us_keyboard_works_as_before():
    assert hotkey_action(glfw.KEY_M, "m", BY_CODE) == "mirror"
    assert hotkey_action(glfw.KEY_C, "c", BY_CODE) == "recalibrate"
    assert hotkey_action(glfw.KEY_S, "s", BY_CODE) == "stats"
    assert hotkey_action(glfw.KEY_ESCAPE, None, BY_CODE) == "quit"


def test_an_azerty_keyboard_gets_the_letters_it_shows():
    """On AZERTY the key marked A sits where US has Q (it quit the stream), and M where US has ';' (mirror never
    toggled)."""
    assert hotkey_action(glfw.KEY_Q, "a", BY_CODE) is None
    assert hotkey_action(glfw.KEY_SEMICOLON, "m", BY_CODE) == "mirror"
    assert hotkey_action(glfw.KEY_A, "q", BY_CODE) == "quit"


def test_keys_without_a_hotkey_do_nothing():
    assert hotkey_action(glfw.KEY_X, "x", BY_CODE) is None
    assert hotkey_action(glfw.KEY_F1, None, BY_CODE) is None
