"""A strong expression the photo shows is kept out of the rest face: the identity may not move the landmarks
the way that expression does, and the per-vertex residual does not follow them there.

Why the rest face smiled (scikit-image's astronaut, a broad smile; benchmarks/build_expression.py): the texture is
not it (her rest geometry reads mouthSmile 0.37/0.40 to MediaPipe with the default skin, 0.36/0.39 with her own; the
template's geometry with her texture reads 0.00). The geometry is: the landmark correction's identity prior, a
linear map learnt on faces with mild expressions (weights up to `TRAINED_EXPRESSION_MAX`), reads a broad smile as a
face shape (its prior mean alone reads 0.82/0.80); the per-change hold (`confound`) takes that to 0.53/0.51, the
narrowed prior keeps the fit there (0.53/0.55), and the residual, fitted where the under-read expression leaves the
mouth corners short of the photo, keeps a smile too. No single shape change carries it: it is spread over many.

So, in landmark space: once the fit has read the expression, every shape that both MediaPipe and the fit see
beyond the trained range (the excess, `expression_excess`) gets a prior row that holds the identity's landmark
motion along that shape's own motion near zero (`lock_rows`), and the fit runs again; the expression takes over
what the identity gives up. The residual then ignores each landmark in proportion to how far the excess moves it
(`residual_trust`). Mild expressions (the correction's training range, and MediaPipe's misreads on renders, which
the fit does not confirm) change nothing.

Measured: the astronaut's rest face reads mouthSmile 0.13/0.16 (0.37/0.40 before; fitted smile 0.81/0.72, was
0.61/0.47); benchmarks/build_expression.py: rest reads neutral 10 of 10 (9), driven better 8 of 10 (7);
build_accuracy's mild-expression seeds 1000-1019: median face error 1.50 mm either way (mean 1.60 -> 1.61: one
subject whose brows MediaPipe and the fit both read raised). On ten known-truth broad smiles (random identities,
smile 0.6-1.0, not a benchmark) the rest face reads smile above 0.3 in 1 (was 7), at a cost in face error (median
1.98 -> 2.14 mm): a face whose mouth corners really sit high, photographed smiling, loses some of that (one of the
ten reads 0.5 at rest in truth; its rebuilt rest face now reads 0.0).
"""

from __future__ import annotations

import numpy as np

TRAINED_EXPRESSION_MAX = 0.35
"""The landmark correction learnt from subjects whose expression weights reach this (`synthetic.MILD_MAX`); within
it, its identity prior already sees through the expression."""
LOCK_SIGMA_M = 0.0002
"""At full excess, the prior standard deviation of the identity's landmark motion along an excess shape's motion
(metres, its projection on that motion's unit direction). The population spreads 20-70 mm there, so this holds it
firmly; 0.5 mm left the astronaut at mouthSmile 0.24/0.28 and 3 of the ten broad smiles above 0.3."""
MIN_EXCESS = 1e-3


def _centred(fields: np.ndarray) -> np.ndarray:
    """(k, 468 * 3) displacement fields with each one's mean translation removed (the camera takes that)."""
    points = fields.reshape(len(fields), -1, 3)
    return (points - points.mean(1, keepdims=True)).reshape(len(fields), -1)


def expression_excess(seen: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """How far beyond the trained range each shape is, where MediaPipe and the fit agree: (52,) in [0, 1].

    seen : (52,) MediaPipe's de-biased scores; fitted : (52,) the fit's weights (read with the identity free).
    The smaller of the two: MediaPipe misreads our renders (mouthPucker 0.8 on faces without it) and the fit
    rejects those; the fit under-reads a real broad smile (the identity takes part of it) and MediaPipe does not.
    """
    confirmed = np.minimum(np.asarray(seen, np.float64), np.asarray(fitted, np.float64))
    return np.clip((confirmed - TRAINED_EXPRESSION_MAX) / (1 - TRAINED_EXPRESSION_MAX), 0.0, 1.0)


def lock_rows(expression_fields: np.ndarray, excess: np.ndarray, sigma_m: float = LOCK_SIGMA_M) -> np.ndarray:
    """Prior rows on the identity's landmark motion d (468 * 3,): row @ d is a standard-normal residual.

    expression_fields : (52, 468 * 3) each ARKit shape's landmark motion at 1 (metres)
    excess : (52,) from `expression_excess`
    returns : (k, 468 * 3), one row per shape with excess (k may be 0)
    """
    fields = _centred(np.asarray(expression_fields, np.float64))
    norms = np.linalg.norm(fields, axis=1)
    keep = (np.asarray(excess) > MIN_EXCESS) & (norms > 0)
    return excess[keep, None] * fields[keep] / (norms[keep, None] * sigma_m)


def residual_trust(expression_fields: np.ndarray, excess: np.ndarray, reach_m: float) -> np.ndarray:
    """(468,) in [0, 1]: how much the residual may follow each landmark; 0 where the excess moves it by reach_m
    (the residual's own limit) or more, where the photo's misfit is as likely unread expression as shape."""
    motion = np.linalg.norm((np.asarray(excess, np.float64) @ expression_fields).reshape(-1, 3), axis=1)
    return 1.0 - np.clip(motion / reach_m, 0.0, 1.0)
