"""A photo as a user's camera or editor would hand it over: through a JPEG with its colour at half resolution."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """`rgb` (h, w, 3) uint8 saved as a JPEG of `quality` with 4:2:0 colour subsampling (the default of cameras and
    most editors), and decoded again: (h, w, 3) uint8."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=quality, subsampling="4:2:0")
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))
