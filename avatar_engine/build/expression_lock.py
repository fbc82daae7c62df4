"""A strong expression the photo shows is kept out of the rest face: the identity may not move the landmarks
the way that expression does, and the per-vertex residual does not follow them there.

Why the rest face smiled (scikit-image's astronaut, a broad smile; benchmarks/build_expression.py): the texture is
not it (her rest geometry reads mouthSmile 0.37/0.40 to MediaPipe with the default skin, 0.36/0.39 with her own; the
template's geometry with her texture reads 0.00). The geometry is: the landmark correction's identity prior, a
linear map then learnt on faces with mild expressions only, read a broad smile as a face shape (its prior mean
alone reads 0.82/0.80); the per-change hold (`confound`) took that to 0.53/0.51, the narrowed prior kept the fit
there (0.53/0.55), and the residual, fitted where the under-read expression leaves the mouth corners short of the
photo, kept a smile too. No single shape change carries it: it is spread over many.

So, in landmark space: once the fit has read the expression, every shape that both MediaPipe and the fit see
beyond the mild range (the excess over `LOCK_FROM`, `expression_excess`) gets a prior row that holds the
identity's landmark motion along that shape's own motion near zero (`lock_rows`), and the fit runs again; the
expression takes over what the identity gives up. The residual then ignores each landmark in proportion to how far
the excess moves it (`residual_trust`). Mild expressions, and MediaPipe's misreads on renders, which the fit does
not confirm, change nothing.

The correction is now also learnt on broad expressions (`scripts/make_landmark_correction.py`), which reads more of
a clear expression as expression in the first place; the lock, looser now (`LOCK_SIGMA_M`), still decides the
hardest cases: without it 3 of build_expression's 8 clear-expression subjects rest with part of their expression
(a 0.7 smile at 0.46/0.43), with it 1 (a funnel whose rest face reads eyeLookDown 0.34).
"""

from __future__ import annotations

import numpy as np

LOCK_FROM = 0.35
"""The lock holds only what MediaPipe and the fit both read above this weight: the mild range
(`synthetic.MILD_MAX`), where the identity prior sees through the expression by itself and MediaPipe's misreads of
our renders lie."""
LOCK_SIGMA_M = 0.001
"""At full excess, the prior standard deviation of the identity's landmark motion along an excess shape's motion
(metres, its projection on that motion's unit direction). The population spreads 20-70 mm there, so this holds it
firmly. With the correction learnt on mild expressions alone 0.2 mm was needed (0.5 mm left the astronaut at
mouthSmile 0.24/0.28); learnt on broad ones too, 0.2 mm over-reads her smile (1.0) and the rest face purses its
lips to make up for it (mouthPucker 0.91 at rest), and 1 mm keeps build_expression's clear set as neutral at rest
(7 of 8) with her rest mouth relaxed."""
MIN_EXCESS = 1e-3


def _centred(fields: np.ndarray) -> np.ndarray:
    """(k, 468 * 3) displacement fields with each one's mean translation removed (the camera takes that)."""
    points = fields.reshape(len(fields), -1, 3)
    return (points - points.mean(1, keepdims=True)).reshape(len(fields), -1)


def expression_excess(seen: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """How far beyond the mild range each shape is, where MediaPipe and the fit agree: (52,) in [0, 1].

    seen : (52,) MediaPipe's de-biased scores; fitted : (52,) the fit's weights (read with the identity free).
    The smaller of the two: MediaPipe misreads our renders (mouthPucker 0.8 on faces without it) and the fit
    rejects those; the fit under-reads a real broad smile (the identity takes part of it) and MediaPipe does not.
    """
    confirmed = np.minimum(np.asarray(seen, np.float64), np.asarray(fitted, np.float64))
    return np.clip((confirmed - LOCK_FROM) / (1 - LOCK_FROM), 0.0, 1.0)


def _without_similarity(fields: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(k, n * 3) centred displacement fields less their part along a uniform scaling and the three rotations of
    `face` (n, 3) about its centre: motions a head's size and the camera take, not an expression's."""
    points = face - face.mean(axis=0)
    basis = [points] + [np.cross(axis, points) for axis in np.eye(3)]
    q, _ = np.linalg.qr(np.stack([b.ravel() for b in basis], axis=1))
    return fields - (fields @ q) @ q.T


def lock_rows(expression_fields: np.ndarray, excess: np.ndarray, sigma_m: float = LOCK_SIGMA_M,
              face: np.ndarray | None = None) -> np.ndarray:
    """Prior rows on the identity's landmark motion d (468 * 3,): row @ d is a standard-normal residual.

    expression_fields : (52, 468 * 3) each ARKit shape's landmark motion at 1 (metres)
    excess : (52,) from `expression_excess`
    face : (468, 3) the landmarks of the face the motion is measured from: when given, the rows ignore motion along
        its uniform scaling and rotations. A smile widens the mouth, which a larger head does too; without this a
        head smaller than the mean face counted as mimicking the smile, and the fit moved a size phenotype by
        7 prior sigmas to undo it (the astronaut: height 0.25 -> 0.59, or not, as a re-saved JPEG tipped it).
    returns : (k, 468 * 3), one row per shape with excess (k may be 0)
    """
    fields = _centred(np.asarray(expression_fields, np.float64))
    if face is not None:
        fields = _without_similarity(fields, np.asarray(face, np.float64).reshape(-1, 3))
    norms = np.linalg.norm(fields, axis=1)
    keep = (np.asarray(excess) > MIN_EXCESS) & (norms > 0)
    return excess[keep, None] * fields[keep] / (norms[keep, None] * sigma_m)


def residual_trust(expression_fields: np.ndarray, excess: np.ndarray, reach_m: float) -> np.ndarray:
    """(468,) in [0, 1]: how much the residual may follow each landmark; 0 where the excess moves it by reach_m
    (the residual's own limit) or more, where the photo's misfit is as likely unread expression as shape."""
    motion = np.linalg.norm((np.asarray(excess, np.float64) @ expression_fields).reshape(-1, 3), axis=1)
    return 1.0 - np.clip(motion / reach_m, 0.0, 1.0)
