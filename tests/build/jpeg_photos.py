"""Photos as cameras and editors save them: through a JPEG (shared by the texture and jpeg_chroma tests)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def jpeg(rgb: np.ndarray, quality: int, subsampling: str = "4:2:0") -> np.ndarray:
    """`rgb` (h, w, 3) uint8 saved as a JPEG and decoded again."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    return np.asarray(Image.open(buffer).convert("RGB"))
