"""How wavy the hair is (`HairStyle.wave`), read from the photo's texture.

Straight hair is a field of parallel strands: locally, the gradients of its fine detail all point one way. Waves
and curls turn the strands every few millimetres, so nearby gradients disagree. Inside the hair (the mask eroded,
so the hair's outline does not count), the photo is brought to a fixed scale (the inter-ocular distance IOD_PX
pixels, so a phone photo and a small one read alike), the luminance band-passed, and the structure tensor of its
gradients box-averaged over a small window; its coherence (0: no dominant direction, 1: all parallel), averaged
with the gradients' energy as weights, falls as the hair curls. COHERENCE_TO_WAVE maps it to the generator's wave.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from avatar_engine.build.hair_region import dilate
from avatar_engine.build.texture_project import box_blur

EYES = (468, 473)
"""MediaPipe's iris centres."""
IOD_PX = 40
"""The hair is read with the eyes this many pixels apart (the astronaut photo's own scale)."""
DETAIL_IOD = 0.12
"""Luminance detail finer than this (box high-pass, inter-ocular distances) carries the strands."""
WINDOW_IOD = 0.15
"""Half-width of the window the structure tensor is averaged over: a few millimetres of hair, under one curl."""
EROSION_IOD = 0.06
"""The hair mask is eroded this much first: the hair's outline against the background is not a strand."""
SMOOTH_PX = 1
"""Box blur (half-width, pixels at the reading scale) before the high-pass: single-pixel noise (a photo's grain, a
render's aliased strand edges) points every way and read straight hair as curly (0.67 against 0.82 on an aliased
render of the "medium" preset)."""
MIN_LUMA = 0.22
"""Hair darker than this (median luma in [0, 1]) shows too little of its strands to read: it reads straight. Dark
straight renders (the "buzz" and "fringe" presets) read as curly otherwise."""
MIN_PIXELS = 300
"""Fewer eroded hair pixels than this (at the reading scale): too little hair to read (headwear, a bald head)."""
COHERENCE_TO_WAVE = ((0.71, 0.739, 0.782, 0.787, 0.792), (1.0, 0.75, 0.5, 0.25, 0.0))
"""Coherence read on renders of the generator's hair at known waves -> wave (scripts/calibrate_hair_wave.py: the
template's style 0.933 0.921 0.861 0.812 0.765 at waves 0 .. 1 by quarters, "medium" 0.858 0.830 0.732 0.674
0.672, the astronaut's bob 0.792 0.791 0.758 0.730 0.693; the mean per wave, the straight point the lowest
straight style's, kept decreasing). Above the straight point reads 0, below the wave-1 point 1. The styles disagree
by up to 0.1 at one wave, more than a wave step: light hair with slight waves reads straight (the template's wave
0.5 reads 0), and a read is a coarse straight / wavy / curly."""


PHOTO_WAVE_MAX = 0.5
"""The most a photo reads: soft waves. Photos read less coherent than any render of the generator's hair (the
astronaut's soft-wave bob 0.63, the generator's tightest curls 0.71 on average): at the reading scale a photo's
strands are finer than a pixel and its detail is mostly shading, which points every way. So a read past the
table's soft-wave point cannot tell soft waves from tight curls, and the generator's tight curls (wave above about
0.6) on a fitted bob grow apart into ribbons with the scalp showing between them: on the astronaut, a lattice of
curls over the forehead where the photo shows a soft swept fringe. Tighter curls are a style the user can ask for
(`avatar template --wave`)."""


@dataclass(frozen=True)
class CurlRead:
    """What the hair's texture says about its waves."""

    coherence: float
    """Energy-weighted mean local coherence of the detail's gradients in [0, 1] (1: parallel strands)."""
    pixels: int
    """Eroded hair pixels read, at the reading scale."""


def curl_read(rgb: np.ndarray, hair: np.ndarray, landmarks_px: np.ndarray) -> CurlRead | None:
    """The local coherence of the strands inside the hair, or None when too little hair shows or it is too dark.

    rgb : (h, w, 3) uint8; hair : (h, w) bool; landmarks_px : (478, 2) MediaPipe's points in pixels."""
    eye_a, eye_b = np.asarray(landmarks_px, np.float64)[list(EYES)]
    iod = float(np.linalg.norm(eye_b - eye_a))
    if iod < 4 or not hair.any():
        return None
    ys, xs = np.nonzero(hair)
    pad = int(np.ceil(iod * (DETAIL_IOD + WINDOW_IOD))) + 2
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, hair.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, hair.shape[1])
    scale = IOD_PX / iod
    size = (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale)))
    crop = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    luminance = np.asarray(crop.convert("L").resize(size, Image.LANCZOS), np.float64) / 255.0
    mask = np.asarray(Image.fromarray(hair[y0:y1, x0:x1].astype(np.uint8) * 255).resize(size, Image.BILINEAR)) > 127
    inside = ~dilate(~mask, max(1, round(EROSION_IOD * IOD_PX)))
    if inside.sum() < MIN_PIXELS or np.median(luminance[inside]) < MIN_LUMA:
        return None
    if SMOOTH_PX:
        luminance = box_blur(luminance, SMOOTH_PX)
    detail = luminance - box_blur(luminance, max(1, round(DETAIL_IOD * IOD_PX)))
    gy, gx = np.gradient(detail)
    r = max(1, round(WINDOW_IOD * IOD_PX))
    jxx, jyy, jxy = (box_blur(g, r)[inside] for g in (gx * gx, gy * gy, gx * gy))
    energy = jxx + jyy
    if energy.sum() <= 0:
        return None
    coherence = np.hypot(jxx - jyy, 2 * jxy) / np.maximum(energy, 1e-12)
    return CurlRead(coherence=float((coherence * energy).sum() / energy.sum()), pixels=int(inside.sum()))


def hair_wave(rgb: np.ndarray, hair: np.ndarray, landmarks_px: np.ndarray) -> float:
    """`HairStyle.wave` read from the photo (0 straight .. PHOTO_WAVE_MAX soft waves); 0 when too little hair shows or
    it is too dark to read."""
    read = curl_read(rgb, hair, landmarks_px)
    if read is None:
        return 0.0
    coherence, wave = COHERENCE_TO_WAVE
    return float(min(np.interp(read.coherence, coherence, wave), PHOTO_WAVE_MAX))
