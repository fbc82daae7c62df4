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


IRIS, PUPIL_RADIUS, IRIS_RADIUS = (120, 112, 48), 2.5, 6.0
"""An olive iris (display colour at its mean lightness) round a black pupil, as large as in a 512-pixel portrait."""
RESTORED_IRIS_DELTA_E_MAX = 3.5
"""The iris ring's median colour, restored from a quality-85 4:2:0 JPEG, within this CIE76 Delta E of the lossless
photo's at each of four placements on the 2x2 grid (1.9-3.2)..."""
DECODED_IRIS_DELTA_E_MIN = 4.5
"""...where the decoded ring is this far off on average (5.8; 3.3-7.9 each): greyed by the white and the pupil..."""
RESTORED_SHARE_MAX = 0.5
"""...and the restored ring's mean distance at most this share of the decoded ring's (0.39)."""


def eye_photo(shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(40, 56, 3) uint8 eye (lid skin, the white in an almond opening, a fibred iris with a black pupil and a
    clipped catchlight) moved `shift` pixels down and right, and (478, 2) landmarks placing its opening and iris
    where MediaPipe's would (the other eye's left at the origin, outside the photo's eyes)."""
    h, w = 40, 56
    cx, cy = 27.3 + shift, 19.6 + shift
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    rgb = np.empty((h, w, 3), np.float64)
    rgb[:] = SKIN
    opening = ((xx - cx) / 20.0) ** 2 + ((yy - cy) / 8.5) ** 2 < 1
    rgb[opening] = WHITE
    r, angle = np.hypot(xx - cx, yy - cy), np.arctan2(yy - cy, xx - cx)
    fibres = 1.0 + 0.25 * np.sin(9 * angle) * np.cos(3 * angle + 1.0)  # lighter and darker strands
    iris = opening & (r < IRIS_RADIUS)
    rgb[iris] = np.array(IRIS) * fibres[iris, None]
    rgb[opening & (r < PUPIL_RADIUS)] = 0
    rgb[(np.abs(xx - cx - 2.5) < 1) & (np.abs(yy - cy + 2.5) < 1)] = 255
    landmarks = np.zeros((478, 2))
    from avatar_engine.build.delight import EYE_CONTOURS, IRISES

    t = np.linspace(0, 2 * np.pi, len(EYE_CONTOURS[0]), endpoint=False)
    landmarks[list(EYE_CONTOURS[0])] = np.column_stack([cx - 20.0 * np.cos(t), cy + 8.5 * np.sin(t)])
    landmarks[IRISES[0][0]] = cx, cy
    landmarks[list(IRISES[0][1:])] = [(cx + IRIS_RADIUS, cy), (cx, cy - IRIS_RADIUS), (cx - IRIS_RADIUS, cy),
                                      (cx, cy + IRIS_RADIUS)]
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8), landmarks


def ring_colour(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The iris ring's median display colour, read as the texture stage reads it (`texture._iris_ring`)."""
    from avatar_engine.build import delight, texture

    linear = delight.display_to_linear(np.asarray(rgb, np.float64) / 255.0)
    return delight.linear_to_display(texture._iris_ring(linear, landmarks)) * 255.0


def delta_e(a: np.ndarray, b: np.ndarray) -> float:
    from avatar_engine.build.hair_region import srgb_to_lab

    lab = srgb_to_lab(np.clip(np.round([a, b]), 0, 255).astype(np.uint8))
    return float(np.linalg.norm(lab[0] - lab[1]))


def test_an_iris_colour_is_solved_through_the_jpeg_blur():
    """A JPEG blends the iris's colour with the white's and the black pupil's, and the ring reads greyer; solved
    as the blur of each part's lightness times its chromaticity, the iris gets its own colour back. Black pupils
    and lashes, clipped by the decoder, must not hide that the photo is a JPEG's."""
    from avatar_engine.build import texture

    greys, solveds = [], []
    for shift in range(4):
        photo, landmarks = eye_photo(shift)
        truth = ring_colour(photo, landmarks)
        assert texture._irises_unmixed(photo, landmarks) is None, "a lossless eye is read as it is"
        decoded = jpeg(photo, 85)
        restored = texture._irises_unmixed(decoded, landmarks)
        assert restored is not None, "the 4:2:0 JPEG was not recognised"
        greys.append(delta_e(ring_colour(decoded, landmarks), truth))
        solveds.append(delta_e(ring_colour(restored, landmarks), truth))
    assert max(solveds) < RESTORED_IRIS_DELTA_E_MAX, solveds
    assert np.mean(greys) > DECODED_IRIS_DELTA_E_MIN, greys
    assert np.mean(solveds) < RESTORED_SHARE_MAX * np.mean(greys), (solveds, greys)


def test_an_eye_in_full_colour_resolution_is_read_as_it_is():
    """A JPEG that keeps its colour at full resolution (4:4:4, as editors save at their highest quality) has no
    colour blur to undo: its eye fits every phase of a 2x2 grid alike, and solving it as subsampled greyed it."""
    from avatar_engine.build import texture

    for shift in range(4):
        photo, landmarks = eye_photo(shift)
        assert texture._irises_unmixed(jpeg(photo, 85, "4:4:4"), landmarks) is None, shift
