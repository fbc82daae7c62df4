"""Shape changes that mimic the photo's expression are held to the population's face.

A smiling photo can be explained two ways: a smile on a neutral face, or a face whose mouth corners sit high
(`mouth-angles-up`, 0.91 on the astronaut) and mouth wide. The landmark-correction prior, learnt on faces with mild
expressions, reads a broad smile as the second, and the rest face then smiles. Each shape change whose landmark
motion falls where the photo's expression moves the face (its motion energy weighted by the expression's motion per
point, both with the mean translation removed: the camera takes that) has its prior pulled toward the mean face and
narrowed, in proportion to that overlap and to how strong the expression is.

Measured (benchmarks/build_expression.py, build_accuracy.py): the astronaut's rest face reads mouthSmile 0.49/0.53
to MediaPipe (0.68/0.71 without), driven-better 8 of 10 (7), synthetic face error median 1.64 mm (1.68) on seeds
1000-1019, reprojection within 3% 20/20 either way. Not enough to make her rest face read neutral: the smile
spreads over many mouth changes that the landmarks still pull on; `expression_lock` holds it in landmark space.
"""

from __future__ import annotations

import numpy as np

STRONG_EXPRESSION_MM = 60.0
"""Norm of the expression's landmark displacement (all 468 points together, mm at head size) held fully: about a
broad smile (the astronaut's reads 105 mm, Grace Hopper's squint 13 mm)."""
ALIGNMENT_FLOOR = 0.2
"""Overlaps below this are a change that mostly moves other parts of the face."""
HOLD = 0.9
"""At full strength a change's prior standard deviation shrinks by this fraction (and its mean goes to 0); at
strength s by (1 - HOLD) ** s: the landmarks outweigh a prior narrowed only linearly."""


def _centred(fields: np.ndarray) -> np.ndarray:
    """(..., 468 * 3) displacement fields with their mean translation removed."""
    points = fields.reshape(fields.shape[:-1] + (-1, 3))
    return (points - points.mean(-2, keepdims=True)).reshape(fields.shape)


def confound_strength(change_fields: np.ndarray, expression_fields: np.ndarray,
                      expression: np.ndarray) -> np.ndarray:
    """How much each shape change mimics the expression, in [0, 1].

    change_fields : (c, 468 * 3) landmark displacement of each change at +1 (metres)
    expression_fields : (52, 468 * 3) the same for each ARKit shape
    expression : (52,) the photo's expression weights
    returns : (c,)
    """
    motion = _centred(np.asarray(expression, np.float64) @ expression_fields)
    size = float(np.linalg.norm(motion))
    if size < 1e-9:
        return np.zeros(len(change_fields))
    moved = np.linalg.norm(motion.reshape(-1, 3), axis=1)
    where = moved / moved.max()  # (468,) 1 where the expression moves the face most
    energy = (_centred(change_fields).reshape(len(change_fields), -1, 3) ** 2).sum(-1)  # (c, 468)
    overlap = (energy * where).sum(1) / np.maximum(energy.sum(1), 1e-18)
    aligned = np.clip((overlap - ALIGNMENT_FLOOR) / (1 - ALIGNMENT_FLOOR), 0.0, 1.0)
    return aligned * min(1.0, size * 1000 / STRONG_EXPRESSION_MM)

def held_sigma(sigma: np.ndarray, strength: np.ndarray, hold: float = HOLD) -> np.ndarray:
    """The shape changes' prior standard deviations (c,) narrowed by `strength` (c,) in [0, 1]."""
    return sigma * (1.0 - hold) ** strength


def hold_confounded(mean: np.ndarray, sigma: np.ndarray, strength: np.ndarray,
                    hold: float = HOLD) -> tuple[np.ndarray, np.ndarray]:
    """The shape changes' prior (mean, sigma : (c,)) with each change pulled toward 0 and narrowed by `strength`
    (c,) in [0, 1]."""
    return mean * (1.0 - strength), held_sigma(sigma, strength, hold)
