"""What the hair-style network sees: the hair mask resampled in the face's own frame, plus the head's turn.

The frame comes from MediaPipe's two iris centres: origin between them, x along the eye line, one unit the
inter-ocular distance (IOD), y down the face. The mask is sampled on a GRID over that frame, so the same
hairstyle gives the same features whatever the photo's size, framing or roll. Four landmark measures say how the
head is turned (a turned head shows more hair on one side). Pure numpy: the same code makes training and
inference features.
"""

from __future__ import annotations

import numpy as np

GRID = (24, 20)
"""Rows (down the face) and columns (along the eye line) of the mask samples."""
X_RANGE = (-3.4, 3.4)
Y_RANGE = (-3.8, 4.6)
"""Extent of the grid in IOD from the point between the irises (y negative above the eyes)."""
RIGHT_IRIS, LEFT_IRIS = 468, 473
NOSE_TIP, CHIN, RIGHT_CHEEK, LEFT_CHEEK = 1, 152, 234, 454
SHAPE_FEATURES = 4
FEATURES = GRID[0] * GRID[1] + SHAPE_FEATURES


def face_frame(points_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """points_px : (478, 2+) landmarks in pixels -> origin (2,), axes (2, 2) rows = x and y unit vectors times IOD."""
    a, b = points_px[RIGHT_IRIS, :2].astype(np.float64), points_px[LEFT_IRIS, :2].astype(np.float64)
    x = b - a
    iod = max(float(np.hypot(*x)), 1e-6)
    x_unit = x / iod
    y_unit = np.array([-x_unit[1], x_unit[0]])  # image y points down, so this points down the face
    return (a + b) / 2, np.stack([x_unit, y_unit]) * iod


def _sample(mask: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of (h, w) mask at (k, 2) pixel coordinates (centres at +0.5); 0 outside."""
    h, w = mask.shape
    padded = np.pad(mask.astype(np.float32), 1)
    x = np.clip(xy[:, 0] - 0.5 + 1, 0, w + 1 - 1e-4)
    y = np.clip(xy[:, 1] - 0.5 + 1, 0, h + 1 - 1e-4)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, w + 1), np.minimum(y0 + 1, h + 1)
    top = padded[y0, x0] * (1 - fx) + padded[y0, x1] * fx
    bottom = padded[y1, x0] * (1 - fx) + padded[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def grid_points() -> np.ndarray:
    """(rows * cols, 2) grid coordinates in the face frame (IOD units), row-major."""
    ys = np.linspace(*Y_RANGE, GRID[0])
    xs = np.linspace(*X_RANGE, GRID[1])
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], 1)


def hair_features(mask: np.ndarray, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(FEATURES,) float32 for one photo: mask : (h, w) bool hair; points : (478, 3) MediaPipe landmarks
    normalised to the image; size : (w, h) of the image the landmarks were found in (the mask may be smaller)."""
    h, w = mask.shape
    px = np.asarray(points, np.float64)[:, :2] * np.array([w, h])  # landmarks at the mask's resolution
    origin, axes = face_frame(px)
    samples = _sample(mask, origin + grid_points() @ axes)
    to_frame = np.linalg.inv(axes.T)

    def frame(i: int) -> np.ndarray:
        return to_frame @ (px[i] - origin)

    nose, chin, right, left = frame(NOSE_TIP), frame(CHIN), frame(RIGHT_CHEEK), frame(LEFT_CHEEK)
    middle = (right + left) / 2
    shape = [nose[0] - middle[0], nose[1], chin[1], left[0] - right[0]]  # turn, tilt, face length, face width
    return np.concatenate([samples, shape]).astype(np.float32)


def mirror_features(features: np.ndarray) -> np.ndarray:
    """(..., FEATURES) the features of the mirrored photo (the grid flipped along the eye line, the turn negated)."""
    grid = features[..., :GRID[0] * GRID[1]].reshape(*features.shape[:-1], *GRID)[..., ::-1]
    shape = features[..., GRID[0] * GRID[1]:].copy()
    shape[..., 0] = -shape[..., 0]
    return np.concatenate([grid.reshape(*features.shape[:-1], -1), shape], -1)
