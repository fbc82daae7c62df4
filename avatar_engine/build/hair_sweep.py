"""Which way the fringe is combed: the strands' slant over the forehead, read from the photo's texture.

A fringe swept to one side and one combed straight down have nearly the same outline, so the silhouette fit cannot
tell them apart; the strands can. Inside the hair over the forehead (the mask eroded, so the hair's own edges do not
count), the structure tensor of the high-passed luminance gives the dominant gradient direction; strands run
across it. Their slant from the face's vertical (the eye line's roll taken out) becomes `HairStyle.sweep`.
"""

from __future__ import annotations

import numpy as np

from avatar_engine.build.hair_region import dilate
from avatar_engine.build.texture_project import box_blur

EYES = (468, 473)
"""MediaPipe's iris centres (right eye, left eye in the image's left-to-right order for a frontal face)."""
BAND_IOD = (1.6, 0.15)
"""The fringe band: from this many inter-ocular distances above the eyes down to this many above them."""
WIDTH_IOD = 0.85
"""Half-width of the band about the eyes' midpoint, inter-ocular distances."""
EROSION_IOD = 0.06
"""The hair mask is eroded this much first: the fringe's edge against the forehead is not a strand."""
DETAIL_IOD = 0.12
"""Luminance detail finer than this (box high-pass) carries the strands; coarser is shading."""
MIN_PIXELS_IOD2 = 0.08
"""Fewer eroded hair pixels in the band than this many square inter-ocular distances: no fringe to read."""
MIN_COHERENCE = 0.15
"""Below this (0: no dominant direction, 1: all gradients parallel) the strands have no slant worth reading."""
SLANT_TO_SWEEP = ((0.0, 18.7, 30.8, 37.4, 39.3, 41.7), (0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
"""Slant (degrees) read on renders of the generator's fringes (5 cm, "fringe" and "long" presets, averaged) against
the sweep they were grown with (tests/build/test_hair_sweep.py renders them; remeasured when the sweep began to lift
the fringe off the forehead on the side it is combed from). The read saturates as the tips turn, so the table
inverts it piecewise; steeper slants are a full sweep."""


def fringe_slant(rgb: np.ndarray, hair: np.ndarray, landmarks_px: np.ndarray) -> tuple[float, float] | None:
    """(slant in degrees, + tips toward the image's right; coherence in [0, 1]) of the strands over the forehead,
    or None when too little hair lies there.

    rgb : (h, w, 3) uint8; hair : (h, w) bool; landmarks_px : (478, 2) MediaPipe's points in pixels.
    """
    eye_a, eye_b = np.asarray(landmarks_px, np.float64)[list(EYES)]
    if eye_a[0] > eye_b[0]:
        eye_a, eye_b = eye_b, eye_a
    iod = float(np.linalg.norm(eye_b - eye_a))
    if iod < 4:
        return None
    roll = float(np.arctan2(eye_b[1] - eye_a[1], eye_b[0] - eye_a[0]))
    mid = (eye_a + eye_b) / 2
    h, w = hair.shape
    pad = int(np.ceil(iod * (DETAIL_IOD + EROSION_IOD))) + 2
    x0, x1 = int(max(mid[0] - WIDTH_IOD * iod - pad, 0)), int(min(mid[0] + WIDTH_IOD * iod + pad, w))
    y0, y1 = int(max(mid[1] - BAND_IOD[0] * iod - pad, 0)), int(min(mid[1] - BAND_IOD[1] * iod + pad, h))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    rgb_box = np.asarray(rgb, np.float64)[y0:y1, x0:x1] / 255.0
    luminance = rgb_box @ np.array([0.2126, 0.7152, 0.0722])
    detail = luminance - box_blur(luminance, max(1, int(round(DETAIL_IOD * iod))))
    gy, gx = np.gradient(detail)
    # in the face's frame: the head's roll turned back
    c, s = np.cos(-roll), np.sin(-roll)
    gx, gy = c * gx - s * gy, s * gx + c * gy
    ys, xs = np.mgrid[y0:y1, x0:x1]
    # (the band is in the face's frame too)
    u = c * (xs - mid[0]) - s * (ys - mid[1])
    v = s * (xs - mid[0]) + c * (ys - mid[1])
    band = (np.abs(u) <= WIDTH_IOD * iod) & (v >= -BAND_IOD[0] * iod) & (v <= -BAND_IOD[1] * iod)
    inside = ~dilate(~hair[y0:y1, x0:x1], max(1, int(round(EROSION_IOD * iod)))) & band
    if inside.sum() < MIN_PIXELS_IOD2 * iod ** 2:
        return None
    jxx, jyy, jxy = (gx[inside] ** 2).sum(), (gy[inside] ** 2).sum(), (gx[inside] * gy[inside]).sum()
    total = jxx + jyy
    if total <= 0:
        return None
    coherence = float(np.hypot(jxx - jyy, 2 * jxy) / total)
    gradient = 0.5 * np.arctan2(2 * jxy, jxx - jyy)  # dominant gradient direction, image axes (y down)
    strand = gradient + np.pi / 2
    dx, dy = np.cos(strand), np.sin(strand)
    if dy < 0:  # point the strand down the face
        dx, dy = -dx, -dy
    return float(np.degrees(np.arctan2(dx, dy))), coherence


def fringe_sweep(rgb: np.ndarray, hair: np.ndarray, landmarks_px: np.ndarray) -> float:
    """`HairStyle.sweep` read from the photo: the strands' slant over the forehead scaled to the generator's (+ toward
    the avatar's left, which faces the image's right); 0 when no fringe can be read."""
    read = fringe_slant(rgb, hair, landmarks_px)
    if read is None or read[1] < MIN_COHERENCE:
        return 0.0
    return float(np.sign(read[0]) * np.interp(abs(read[0]), *SLANT_TO_SWEEP))
