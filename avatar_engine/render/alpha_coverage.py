"""Mip levels of alpha-tested textures (hair, lashes) that keep the strands' coverage.

An alpha test keeps a texel where alpha >= the cutoff. Averaging alpha down the mip chain blurs a thin strand into
a wider, fainter one that the test then drops: hair thins out and lashes vanish as they get smaller on screen. Each
level's alpha is scaled so that the same fraction of its texels passes the test as at level 0 (after Castaño,
"Computing alpha mipmaps", 2010). Colour is averaged weighted by alpha, so the transparent texels' colour does not
bleed into the strands. numpy only; the renderer uploads the levels.
"""

from __future__ import annotations

import numpy as np


def coverage(alpha: np.ndarray, cutoff: float) -> float:
    """Fraction of texels whose alpha (0-1) passes the test."""
    return float(np.mean(alpha >= cutoff))


def scaled_to_coverage(alpha: np.ndarray, target: float, cutoff: float) -> np.ndarray:
    """alpha (0-1) times the scale that lets `target` of the texels pass at `cutoff` (the scale that lifts the
    texel ranked there to the cutoff; never below 1: a level keeps at least the coverage plain averaging gives it),
    clipped to 1."""
    flat = alpha.ravel()
    keep = int(round(target * flat.size))
    if keep <= 0 or coverage(alpha, cutoff) >= target:
        return alpha
    ranked = float(np.partition(flat, flat.size - keep)[flat.size - keep])  # the keep-th largest alpha
    if ranked <= 0.0:  # fewer texels than that have any alpha: all of them pass
        return np.where(alpha > 0, 1.0, 0.0).astype(alpha.dtype)
    return np.minimum(alpha * (cutoff / ranked), 1.0)


def _halved(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 4) float 0-1 -> the next level, GL's size (each side halved, rounded down, at least 1): 2x2 boxes (an
    odd last row or column left out, a side of 1 kept), colour averaged by alpha, alpha averaged."""
    h, w = rgba.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        blocks = rgba.reshape(h // 2, 2, w // 2, 2, 4)
    else:
        rows = np.minimum(np.arange(max(1, h // 2))[:, None] * 2 + np.array([0, 1]), h - 1)  # (h2, 2)
        cols = np.minimum(np.arange(max(1, w // 2))[:, None] * 2 + np.array([0, 1]), w - 1)  # (w2, 2)
        blocks = rgba[rows[:, :, None, None], cols[None, None, :, :]]  # (h2, 2, w2, 2, 4)
    alpha = blocks[..., 3].sum((1, 3))
    color = (blocks[..., :3] * blocks[..., 3:]).sum((1, 3)) / np.maximum(alpha, 1e-6)[..., None]
    plain = blocks[..., :3].mean((1, 3))  # fully transparent blocks keep their plain average
    color = np.where(alpha[..., None] > 1e-6, color, plain)
    return np.concatenate([color, (alpha / 4.0)[..., None]], -1).astype(np.float32)


def mip_chain(image: np.ndarray, cutoff: float) -> list[np.ndarray]:
    """image : (h, w, 4) uint8 -> its full mip chain down to 1x1, (h_k, w_k, 4) uint8 each, level 0 the image
    itself; every level's alpha keeps level 0's coverage at `cutoff` (0-1) where averaging would lose it."""
    level = np.asarray(image, np.float32) / np.float32(255.0)
    target = coverage(level[..., 3], cutoff)
    levels = [np.asarray(image, np.uint8)]
    while level.shape[0] > 1 or level.shape[1] > 1:
        level = _halved(level)
        out = level.copy()
        out[..., 3] = scaled_to_coverage(level[..., 3], target, cutoff)
        levels.append(np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8))
    return levels
