"""Eye-white colours read from JPEG photos, whose colour is kept at half resolution (`build/jpeg_chroma.py`)."""

from __future__ import annotations

import numpy as np
from jpeg_photos import jpeg

from avatar_engine.build import jpeg_chroma

QUALITY = 95
SKIN, LASH, WHITE = (200, 150, 120), (35, 28, 25), (233, 211, 173)
"""A warm-cast eye: lid skin, dark lashes, the white between them."""
UNMIXED_BLUE_ERROR_MAX = 1.5
"""The white's blue over its red, read from the unmixed colours, within this many percent of the truth (0.3-0.6)."""
DILUTED_BLUE_ERROR_MIN = 2.5
"""...where the decoded colours are this far off or more (2.9-7.1): the JPEG's mixing the test is about."""


def eye_strip() -> np.ndarray:
    """(24, 32, 3) uint8: lid skin, a lash line, a white 4 pixels high, a lash line, lid skin."""
    rows = [SKIN] * 8 + [LASH] * 3 + [WHITE] * 4 + [LASH] * 2 + [SKIN] * 7
    return np.repeat(np.array(rows, np.uint8)[:, None], 32, axis=1)


def blue_over_red(colours: np.ndarray) -> float:
    white = colours[11:15, 4:-4].reshape(-1, 3)
    return float(np.median(white[:, 2] / white[:, 0]))


def test_a_lossless_patch_is_left_as_it_is():
    patch = eye_strip()
    colours, mixed = jpeg_chroma.unmixed_colours(patch)
    assert not mixed and np.array_equal(colours, patch)
    _, mixed = jpeg_chroma.unmixed_colours(jpeg(patch, QUALITY, "4:4:4"))
    assert not mixed, "a JPEG that keeps its colour at full resolution has nothing mixed"


def test_the_white_between_lashes_is_read_undiluted():
    """Decoded, the white's colour is averaged with the lashes' small one and reads less cast; unmixed, each
    pixel's chromaticity is its neighbourhood's weighted by lightness, where the dark lashes barely count."""
    truth = WHITE[2] / WHITE[0]
    for shift in (0, 1):  # either phase of the 2x2 grid
        decoded = jpeg(np.roll(eye_strip(), shift, axis=0), QUALITY)[shift:]
        colours, mixed = jpeg_chroma.unmixed_colours(decoded)
        assert mixed
        diluted = abs(blue_over_red(decoded) / truth - 1) * 100
        unmixed = abs(blue_over_red(colours) / truth - 1) * 100
        assert unmixed < UNMIXED_BLUE_ERROR_MAX and diluted > DILUTED_BLUE_ERROR_MIN, (shift, unmixed, diluted)
