"""Small mesh-geometry helpers shared by the head asset script and the head model (numpy only)."""

from __future__ import annotations

import numpy as np


def vertex_normals(positions: np.ndarray, triangles: np.ndarray, vertex_count: int | None = None) -> np.ndarray:
    """Area-weighted unit vertex normals.

    positions : (n, 3) or (b, n, 3) float
    triangles : (m, 3) int
    returns : same shape as positions, float32
    """
    p = np.asarray(positions, np.float64)
    a, b, c = p[..., triangles[:, 0], :], p[..., triangles[:, 1], :], p[..., triangles[:, 2], :]
    face_normals = np.cross(b - a, c - a)
    n = p.shape[-2] if vertex_count is None else vertex_count
    flat = face_normals.reshape(-1, len(triangles), 3)
    normals = np.zeros((flat.shape[0], n, 3))
    for batch in range(flat.shape[0]):
        for k in range(3):
            for axis in range(3):
                normals[batch, :, axis] += np.bincount(triangles[:, k], flat[batch, :, axis], minlength=n)
    normals = normals.reshape(p.shape[:-2] + (n, 3))
    length = np.linalg.norm(normals, axis=-1, keepdims=True)
    return (normals / np.maximum(length, 1e-12)).astype(np.float32)


def similarity_fit(source: np.ndarray, target: np.ndarray, scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with target ~ s * R @ source + t (Umeyama 1991).

    source, target : (n, 3) float
    returns : scale, (3, 3) rotation, (3,) translation
    """
    mu_s, mu_t = source.mean(0), target.mean(0)
    xs, xt = source - mu_s, target - mu_t
    u, sig, vt = np.linalg.svd(xt.T @ xs / len(source))
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt))
    rotation = u @ d @ vt
    s = float(np.trace(np.diag(sig) @ d) / (xs**2).sum(1).mean()) if scale else 1.0
    return s, rotation, mu_t - s * rotation @ mu_s


def follow_rigidly(points: np.ndarray, anchors: np.ndarray, anchor_offsets: np.ndarray, scale: bool) -> np.ndarray:
    """Offsets that carry `points` along with the best similarity motion of `anchors`.

    points : (k, 3) rest positions to carry
    anchors : (a, 3) rest positions of the anchor vertices
    anchor_offsets : (b, a, 3) offsets of the anchors in each of b shapes
    returns : (b, k, 3) float32 offsets of the points
    """
    out = np.zeros((len(anchor_offsets), len(points), 3), np.float32)
    for i, offset in enumerate(anchor_offsets):
        if not np.any(offset):
            continue
        s, r, t = similarity_fit(anchors, anchors + offset, scale=scale)
        out[i] = (s * points @ r.T + t) - points
    return out
