"""A photo as a user's camera or editor would hand it over: through a JPEG with its colour at half resolution."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


SUBSAMPLINGS = ("4:2:0", "4:2:2", "4:4:4")
"""Colour subsamplings a JPEG may have: half resolution both ways (phones, most editors), across only (many
DSLRs), none (editors at their highest quality)."""


def jpeg_round_trip(rgb: np.ndarray, quality: int, subsampling: str = "4:2:0") -> np.ndarray:
    """`rgb` (h, w, 3) uint8 saved as a JPEG of `quality` with the colour `subsampling` (4:2:0 by default, as
    cameras and most editors save), and decoded again: (h, w, 3) uint8."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))
