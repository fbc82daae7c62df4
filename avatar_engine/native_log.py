"""Quieting native libraries' own logging, which writes straight to file descriptor 2.

MediaPipe's C++ (absl) logs INFO and WARNING lines when its graphs start and first run, and FFmpeg (inside
OpenCV) logs a line when it cannot parse a file; Python's `sys.stderr` does not see either. Around those calls
the descriptor points at /dev/null, so the CLI's one-line messages are all a user reads.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_FD2 = threading.RLock()
"""Held while file descriptor 2 points elsewhere: two threads that saved and restored it in turn (a video opening
on the tracker's thread while the recorder started FFmpeg) left it on /dev/null for the rest of the run."""


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (Python's own stderr writes are flushed first)."""
    with open(os.devnull, "wb") as null, native_stderr_to(null):
        yield


@contextmanager
def native_stderr_to(log) -> Iterator[None]:
    """Point file descriptor 2 at `log` (an open binary file) for the duration: a child process started inside
    keeps it as its stderr after the block (FFmpeg's messages kept for an error line, not shown as they come)."""
    with _FD2:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(log.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
