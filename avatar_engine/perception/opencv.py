"""OpenCV, imported where it is used: it comes with MediaPipe (the `[track]` extra), so a machine with only the
`[infer]` extra lacks it, and that must be a one-line error naming the extra, not a traceback."""

from __future__ import annotations

import os

from avatar_engine.errors import BackendError


def import_cv2(needed_for: str):
    """The cv2 module, its logging silenced; BackendError saying what needs it when it is not installed."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # its probing warnings are not the user's business
    try:
        import cv2
    except ImportError as exc:
        raise BackendError(f"{needed_for} need OpenCV ({exc}); pip install 'avatar-engine[track]'") from None
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:
        pass
    return cv2
