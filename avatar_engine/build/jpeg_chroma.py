"""Colours of small, bright parts of a JPEG photo, undiluted by the dark pixels beside them.

Cameras and most editors save JPEGs with the colour (Cb, Cr) at half the lightness's resolution (4:2:0): one
colour per 2x2 pixels, blended back up by the decoder. Each pixel's colour is then an average over about 3x3
pixels, while its lightness is its own. The eye whites, a few pixels high between dark lashes and irises, take on
their neighbours' colour, and the colour of a dark pixel is small: so the whites read less coloured than they are,
and the white balance read from them undid only part of a cast (`benchmarks/build_light.py --jpeg 85`: skin
within Delta E 5 on 17 of 21 variants, against 21 of 21 from lossless photos; 19 of 21 read unmixed).

A colour of one chromaticity scales with its lightness (Cb = k Y). The decoder averages Cb and Y alike, so the
decoded Cb over the same average of the lightness, `blur(Y)`, is the neighbourhood's chromaticity weighted by
lightness: a dark neighbour barely counts. Whether a patch was subsampled at all, and on which phase of the 2x2
grid, is read from its colour: a subsampled patch's colour is (to rounding) the decoder's upsampling of a half-size
field, which a lossless photo's is not (pixels the decoder clipped left out).

Where the parts of a patch are known (an iris, its catchlight, the eye white, the lid skin), each part's
chromaticity is solved through the same blur (`part_chromaticities`): the decoded colour is the blur of each part's
lightness times its chromaticity, summed. An iris, a few pixels across between a white and a black pupil, gets its
own colour back (`texture._irises_unmixed`).
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache

import numpy as np

YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
"""JPEG's (JFIF, full range) RGB -> YCbCr, Cb and Cr centred on 0."""
RGB_FROM_YCBCR = np.linalg.inv(YCBCR)
SUBSAMPLED_RESIDUAL = 1.5
"""A patch whose colour lies within this rms (0-255 units) of the nearest upsampled half-size field was subsampled.
Eye patches of synthetic people (`benchmarks/build_light.py` subjects): 0.35-1.0 through JPEGs of quality 70-95,
and 0.55-0.94 when such a JPEG was also resized (512 -> 400); 2.5-3.1 lossless..."""
SUBSAMPLED_SHARE = 0.5
"""...and a quarter-size field explains its colour at least this much worse (residual ratio): a patch of little
colour lies near both. Eye patches: 0.24-0.41 through a JPEG of quality 85, 0.61-0.69 lossless; a near-grey
subject's lossless eyes (`build_iris.py` seed 7009) lay within 0.72-0.75 of the half-size field, 0.64-0.68 of the
quarter-size one's residual, and were taken for a JPEG's before this test."""
PHASE_CONTRAST = 0.8
"""...and its best phase of the 2x2 grid fits at most this share of the worst phase's residual: a subsampled
patch's colour lies on its own grid (a synthetic eye through a 4:2:0 JPEG 0.51-0.54, real subjects' eyes 0.22-0.44),
a full-resolution one fits every phase alike (0.89-0.98 through 4:4:4 and lossless), which the two tests above took
for subsampled (4:4:4 at quality 85: residual 1.29, share 0.46)."""
CLIPPED = (0.5, 254.5)
"""Pixels with a channel outside these (display units) were clipped by the decoder: their colour is not the
upsampled field's, and the test leaves them out."""
FILL_ROUNDS = 8
"""Rounds of filling the clipped pixels in (`_residual`): an olive-eyed subject's JPEG patches read 0.39 after 5,
0.33 after 20, 0.31 at the exact fit; lossless ones 3.6 whatever the rounds."""
MIN_SIDE = 6
"""Patches smaller than this (pixels a side) say nothing about their colour's resolution."""


@lru_cache(maxsize=32)  # per patch side: a batch meets many face sizes, and a projector is n x n
def _upsampler(n: int) -> np.ndarray:
    """(n, ceil(n / 2)) libjpeg's "fancy" upsampling along one axis: each pixel 3/4 its own sample, 1/4 the nearer
    neighbour's (edges repeated)."""
    low = (n + 1) // 2
    u = np.zeros((n, low))
    for i in range(low):
        for k, j in ((2 * i, i - 1), (2 * i + 1, i + 1)):
            if k < n:
                u[k, i] += 0.75
                u[k, min(max(j, 0), low - 1)] += 0.25
    return u


@lru_cache(maxsize=32)
def _projector(n: int, times: int = 1) -> np.ndarray:
    """(n, n) projection onto the fields `_upsampler(n)` makes (applied `times` over: 2 for a quarter-size field)."""
    u = _upsampler(n)
    for _ in range(times - 1):
        u = u @ _upsampler(u.shape[1])
    return u @ np.linalg.pinv(u)


def _residual(c: np.ndarray, times: int = 1, valid: np.ndarray | None = None) -> float:
    """rms distance of colour (h, w, 2) to the nearest field upsampled `times` over, the worse channel, over the
    pixels `valid` (h, w) (None: all). The others are filled in with the field's values, round after round
    (`FILL_ROUNDS`): the least-squares fit over the valid pixels alone, without its dense solve."""
    rows, cols = _projector(c.shape[0], times), _projector(c.shape[1], times)

    def project(field: np.ndarray) -> np.ndarray:  # two products per channel: one 3-operand einsum took 30 ms
        return np.stack([rows @ field[..., k] @ cols.T for k in range(field.shape[-1])], -1)

    filled = np.array(c, np.float64, copy=True)
    fitted = project(filled)
    if valid is None or valid.all():
        return float(np.sqrt(np.mean((fitted - c) ** 2, axis=(0, 1))).max())
    for _ in range(FILL_ROUNDS):
        filled[~valid] = fitted[~valid]
        fitted = project(filled)
    return float(np.sqrt(np.mean((fitted - c)[valid] ** 2, axis=0)).max())


def _blur(field: np.ndarray, phase: tuple[int, int]) -> np.ndarray:
    """What 4:2:0 subsampling on the grid of `phase` (x, y) does to a field (h, w): each 2x2 block averaged, then
    upsampled. The pixels before the phase's first block keep their own values."""
    px, py = phase
    out = np.array(field, np.float64, copy=True)
    part = out[py:, px:]
    h, w = part.shape
    padded = np.pad(part, ((0, h % 2), (0, w % 2)), mode="edge")
    low = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean((1, 3))
    out[py:, px:] = _upsampler(h) @ low @ _upsampler(w).T
    return out


def _unclipped(ycc: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels the decoder did not clip (black lashes and pupils, blown catchlights lose part of their
    colour there). ycc : (h, w, 3)."""
    rgb = ycc @ RGB_FROM_YCBCR.T
    return ~((rgb < CLIPPED[0]) | (rgb > CLIPPED[1])).any(-1)


def subsampled_phase(ycc: np.ndarray) -> tuple[int, int] | None:
    """The phase (x, y) of the 2x2 grid on which the patch's colour was subsampled, or None when its colour has
    full resolution (or the patch is too small to tell). ycc : (h, w, 3) from `YCBCR`. A build reads each eye's
    patch several times (white balance, exposure, iris, warnings): the answer is kept for the last few patches."""
    ycc = np.ascontiguousarray(ycc, np.float64)
    key = (ycc.shape, hashlib.blake2b(ycc.tobytes(), digest_size=16).digest())
    with _PHASES_LOCK:  # the texture stage's worker thread and the hair stage both read the eyes
        if key in _PHASES:
            return _PHASES[key]
    phase = _subsampled_phase(ycc)
    with _PHASES_LOCK:
        while len(_PHASES) >= 16:
            _PHASES.pop(next(iter(_PHASES)))
        _PHASES[key] = phase
    return phase


_PHASES: dict = {}
"""`subsampled_phase`'s answers by patch (shape and digest), oldest first."""
_PHASES_LOCK = threading.Lock()


def _subsampled_phase(ycc: np.ndarray) -> tuple[int, int] | None:
    h, w = ycc.shape[:2]
    if min(h, w) < MIN_SIDE + 1:
        return None
    valid = _unclipped(ycc)
    if np.count_nonzero(valid) < valid.size // 2:
        return None
    phases = [(px, py) for py in range(2) for px in range(2)]
    residuals = [_residual(ycc[py:, px:, 1:], valid=valid[py:, px:]) for px, py in phases]
    best = int(np.argmin(residuals))
    residual = residuals[best]
    if (residual > SUBSAMPLED_RESIDUAL or residual > PHASE_CONTRAST * max(residuals)
            or residual > SUBSAMPLED_SHARE * _residual(ycc[..., 1:], times=2, valid=valid)):
        return None
    return phases[best]


def unmixed_colours(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """The patch's display colours (h, w, 3) float with each pixel's chromaticity its neighbourhood's weighted by
    lightness, as the JPEG mixed them, rather than by the pixel's own lightness, and whether it was so mixed; the
    patch as it is when its colour has full resolution. rgb : (h, w, 3) display values 0-255."""
    ycc = np.asarray(rgb, np.float64) @ YCBCR.T
    phase = subsampled_phase(ycc)
    if phase is None:
        return np.asarray(rgb, np.float64), False
    luma = ycc[..., 0]
    chromaticity = ycc[..., 1:] / np.maximum(_blur(luma, phase), 1.0)[..., None]
    return np.concatenate([luma[..., None], chromaticity * luma[..., None]], -1) @ RGB_FROM_YCBCR.T, True


def part_chromaticities(rgb: np.ndarray, parts: list[np.ndarray]) -> np.ndarray | None:
    """(p, 2) each part's chromaticity (Cb / Y, Cr / Y) solved through the subsampling's blur: the decoded colour
    of a 4:2:0 patch is, to rounding, the blur of each part's lightness times its chromaticity, summed. None when
    the patch's colour has full resolution. rgb : (h, w, 3) display values 0-255; parts : p (h, w) bool masks that
    cover the patch. A part too small to be seen through the blur gets chromaticity 0."""
    ycc = np.asarray(rgb, np.float64) @ YCBCR.T
    phase = subsampled_phase(ycc)
    if phase is None:
        return None
    px, py = phase
    luma = ycc[..., 0]
    valid = _unclipped(ycc)[py:, px:].ravel()  # a clipped pixel's colour is not the blur's
    design = np.stack([_blur(luma * p, phase)[py:, px:].ravel() for p in parts], 1)[valid]
    observed = ycc[py:, px:, 1:].reshape(-1, 2)[valid]
    usable = np.linalg.norm(design, axis=0) > 1e-6 * max(float(np.linalg.norm(design)), 1e-9)
    k = np.zeros((len(parts), 2))
    k[usable] = np.linalg.lstsq(design[:, usable], observed, rcond=None)[0]
    return k


def with_chromaticity(rgb: np.ndarray, where: np.ndarray, k: np.ndarray) -> np.ndarray:
    """rgb (h, w, 3) display values with the pixels `where` (h, w) given chromaticity k (2,) at their own
    lightness: (h, w, 3) float."""
    ycc = np.asarray(rgb, np.float64) @ YCBCR.T
    ycc[where, 1:] = ycc[where, :1] * k
    return ycc @ RGB_FROM_YCBCR.T
