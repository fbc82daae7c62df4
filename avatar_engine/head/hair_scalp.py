"""The skin as seen from inside the skull: a radius table the hair generator grows its sheets on.

The skin is resampled once into a table of its outermost radius per direction from a centre inside the skull
(azimuth x polar angle, 2 degree cells), so the hair surface is as smooth and dense as the generator asks,
whatever the density of the skin mesh under it. Built once per head; the hair fit grows many styles on one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELL_DEG = 2.0
"""Angular size of one table cell."""
SAMPLES_PER_EDGE = 8
"""Barycentric samples along each triangle edge when splatting the skin into the table."""
FOLLOW_DISTANCE = (0.012, 0.03)
"""Hair closer to the skin than the first distance (metres) follows its expressions fully, beyond the second not."""


def scalp_centre(joint_positions: dict[str, np.ndarray]) -> np.ndarray:
    """(3,) a point inside the skull level with the temples, behind the eyes."""
    eyes = (np.asarray(joint_positions["eye_L"]) + np.asarray(joint_positions["eye_R"])) / 2
    return (eyes + np.array([0.0, 0.018, -0.085])).astype(np.float64)


def direction_angles(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d : (..., 3) directions -> azimuth (0 toward the face +Z, +pi/2 toward +X) and polar angle from +Y."""
    azimuth = np.arctan2(d[..., 0], d[..., 2])
    polar = np.arctan2(np.hypot(d[..., 0], d[..., 2]), d[..., 1])
    return azimuth, polar


def angles_direction(azimuth: np.ndarray, polar: np.ndarray) -> np.ndarray:
    """Inverse of `direction_angles`: (..., 3) unit directions."""
    s = np.sin(polar)
    return np.stack([s * np.sin(azimuth), np.cos(polar), s * np.cos(azimuth)], -1)


@dataclass(frozen=True)
class Scalp:
    """A head's skin as a radius table around `centre`, with what hair needs to follow it."""

    centre: np.ndarray
    """centre : (3,) float64 inside the skull."""
    radius: np.ndarray
    """radius : (polar cells, azimuth cells) float32 outermost skin distance per direction; 0 where no skin."""
    positions: np.ndarray
    """positions : (n, 3) float32 skin vertices (for nearest-vertex skinning and expression following)."""
    joints: np.ndarray
    """joints : (n, 4) skin joint indices."""
    weights: np.ndarray
    """weights : (n, 4) skin weights."""
    morph_positions: np.ndarray
    """morph_positions : (52, n, 3) skin expression offsets."""
    head_joint: int
    """Index of the skull's joint: hair far from the skin is rigid on it."""

    @staticmethod
    def from_skin(positions: np.ndarray, triangles: np.ndarray, joints: np.ndarray, weights: np.ndarray,
                  joint_positions: dict[str, np.ndarray], morph_positions: np.ndarray) -> "Scalp":
        """positions : (n, 3) skin at rest; triangles : (m, 3); joints, weights : (n, 4); morph_positions : (52, n, 3).

        `joint_positions` maps joint names to rest positions in skeleton order (the head joint's index is taken
        from that order)."""
        centre = scalp_centre(joint_positions)
        k = SAMPLES_PER_EDGE
        i, j = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij")
        keep = i + j <= k
        bary = np.stack([i[keep], j[keep], k - i[keep] - j[keep]], 1) / k  # (s, 3)
        tri = positions[triangles].astype(np.float64)  # (m, 3, 3)
        samples = (bary[None] @ tri).reshape(-1, 3) - centre  # (m, s, 3); matmul is 7x faster than einsum here
        azimuth, polar = direction_angles(samples)
        rho = np.linalg.norm(samples, axis=1)
        cell = np.radians(CELL_DEG)
        rows, cols = int(round(np.pi / cell)), int(round(2 * np.pi / cell))
        r = np.clip((polar / cell).astype(int), 0, rows - 1)
        c = ((azimuth + np.pi) / cell).astype(int) % cols
        table = np.zeros(rows * cols, np.float64)
        np.maximum.at(table, r * cols + c, rho)
        table = table.reshape(rows, cols)
        # splats leave holes where cells are small (near the pole) or triangles large: above the neck the skin goes
        # all round, so a row's empty cells are filled circularly from its neighbours along the azimuth
        for row in range(rows):
            full = table[row] > 0
            if full.all() or full.sum() < 2 or row * CELL_DEG > 120:
                continue
            known = np.flatnonzero(full)
            table[row] = np.interp(np.arange(cols), known, table[row, known], period=cols)
        names = list(joint_positions)
        return Scalp(centre=centre, radius=table.astype(np.float32), positions=np.asarray(positions, np.float32),
                     joints=np.asarray(joints), weights=np.asarray(weights, np.float32),
                     morph_positions=np.asarray(morph_positions, np.float32), head_joint=names.index("head"))

    def skin_radius(self, d: np.ndarray) -> np.ndarray:
        """d : (..., 3) unit directions -> (...,) skin distance from the centre, bilinear in the table."""
        azimuth, polar = direction_angles(d)
        cell = np.radians(CELL_DEG)
        rows, cols = self.radius.shape
        y = np.clip(polar / cell - 0.5, 0, rows - 1.001)
        x = (azimuth + np.pi) / cell - 0.5
        y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
        fy, fx = y - y0, x - x0
        x0 %= cols
        x1 = (x0 + 1) % cols
        t = self.radius
        top = t[y0, x0] * (1 - fx) + t[y0, x1] * fx
        bottom = t[y0 + 1, x0] * (1 - fx) + t[y0 + 1, x1] * fx
        return top * (1 - fy) + bottom * fy

    def attach(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """How hair vertices move: points : (h, 3) -> joints (h, 4), weights (h, 4), morph offsets (52, h, 3).

        Near the skin a vertex copies its nearest skin vertex (brows lift the hairline); far from it, it is rigid
        on the head joint."""
        nearest = np.empty(len(points), int)
        distance = np.empty(len(points), np.float32)
        skin = self.positions
        skin2 = (skin ** 2).sum(1)
        for start in range(0, len(points), 1024):
            chunk = np.asarray(points[start:start + 1024], np.float32)
            d2 = skin2[None] - 2 * chunk @ skin.T + (chunk ** 2).sum(1)[:, None]
            nearest[start:start + 1024] = d2.argmin(1)
            distance[start:start + 1024] = np.sqrt(np.maximum(d2.min(1), 0))
        near, far = FOLLOW_DISTANCE
        follow = np.clip((far - distance) / (far - near), 0.0, 1.0)
        rigid = follow < 1.0
        joints = self.joints[nearest].copy()
        weights = self.weights[nearest].copy()
        joints[rigid] = (self.head_joint, 0, 0, 0)
        weights[rigid] = (1.0, 0.0, 0.0, 0.0)
        morphs = self.morph_positions[:, nearest] * follow[None, :, None]
        return joints, weights.astype(np.float32), morphs.astype(np.float32)
