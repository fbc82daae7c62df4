"""The window path: the same renderer blitted into a real GLFW window shows the offscreen image exactly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WINDOW_TOLERANCE = 0.5
"""Mean absolute difference (0-255 levels) between the window's pixels and the offscreen frame."""
RESIZED_TOLERANCE = 6.0
"""The same, for a window resized to twice the frame (bilinear upscaling, averaged back down: soft edges)."""


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (scripts/setup.sh --test)")
def test_window_shows_the_rendered_frame():
    script = Path(__file__).with_name("window_check.py")
    proc = subprocess.run(["xvfb-run", "-a", sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("MEAN_DIFF"))
    assert float(line.split()[1]) <= WINDOW_TOLERANCE
    resized = next(l for l in proc.stdout.splitlines() if l.startswith("RESIZED")).split()
    assert (int(resized[1]), int(resized[2])) == (640, 480), "the window did not resize under Xvfb"
    assert float(resized[4]) <= RESIZED_TOLERANCE, "a resized window shows the whole frame, scaled"
