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


def weld_ids(positions: np.ndarray) -> np.ndarray:
    """(n,) id shared by vertices at the same position (UV-seam copies, a pole's fan), 0..k-1."""
    key = np.round(np.asarray(positions, np.float64) * 1e6).astype(np.int64)
    return np.unique(key, axis=0, return_inverse=True)[1].ravel()


def triangle_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(m,) area of each triangle of `points` (n, 3) or texture coordinates (n, 2): a surface and a UV area's ratio
    is a texel density."""
    p = np.asarray(points, np.float64)
    if p.shape[-1] == 2:
        p = np.concatenate([p, np.zeros((len(p), 1))], axis=1)
    t = p[np.asarray(triangles, np.int64)]
    return np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1) / 2


def triangle_islands(triangles: np.ndarray, vertex_count: int | None = None) -> np.ndarray:
    """(m,) label 0..k-1 of the connected piece each triangle is on (triangles sharing a vertex id are connected;
    render vertices are split at UV seams, so these are the UV islands). Labels spread by repeated minimum over
    each triangle's corners, vectorised."""
    tris = np.asarray(triangles, np.int64)
    n = int(tris.max()) + 1 if vertex_count is None else vertex_count
    label = np.arange(n)
    while True:
        corner = label[tris].min(axis=1)
        updated = label.copy()
        for k in range(3):
            np.minimum.at(updated, tris[:, k], corner)
        updated = updated[updated]  # jump along chains of labels: far fewer rounds on long islands
        if np.array_equal(updated, label):
            break
        label = updated
    return np.unique(label[tris[:, 0]], return_inverse=True)[1].ravel()


def similarity_fit(source: np.ndarray, target: np.ndarray, scale: bool = True,
                   weights: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with target ~ s * R @ source + t (Umeyama 1991), each point weighted by `weights`.

    source, target : (n, 3) float; weights : (n,) >= 0, None for equal weights
    returns : scale, (3, 3) rotation, (3,) translation
    """
    w = np.full(len(source), 1.0 / len(source)) if weights is None else np.asarray(weights) / np.sum(weights)
    mu_s, mu_t = w @ source, w @ target
    xs, xt = source - mu_s, target - mu_t
    u, sig, vt = np.linalg.svd((xt * w[:, None]).T @ xs)
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt))
    rotation = u @ d @ vt
    s = float(np.trace(np.diag(sig) @ d) / (w @ (xs**2).sum(1))) if scale else 1.0
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


def crease_groups(positions: np.ndarray, triangles: np.ndarray, max_angle_deg: float,
                  reference: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices split where the surface creases: each triangle corner takes the area-weighted normal of the faces
    round its vertex that turn less than `max_angle_deg` from its own face; corners of one vertex that take the same
    faces share a new vertex, numbered in the order the triangles first use them.

    Which faces a corner takes is judged on `reference` (n, 3) positions (default: `positions`), so that surfaces of
    one topology in different shapes (the teeth of every head) split alike, into the same vertices and triangles;
    the normals are always those of `positions`.

    positions : (n, 3) float; triangles : (m, 3) int
    returns : source (k,) the original vertex of each new vertex, normals (k, 3) float32 unit, triangles (m, 3)
    into the new vertices."""
    p = np.asarray(positions, np.float64)
    tri = np.asarray(triangles, np.int64)
    face = np.cross(p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]])  # length = 2 x area
    r = p if reference is None else np.asarray(reference, np.float64)
    judged = np.cross(r[tri[:, 1]] - r[tri[:, 0]], r[tri[:, 2]] - r[tri[:, 0]])
    unit = judged / np.maximum(np.linalg.norm(judged, axis=1, keepdims=True), 1e-30)
    cos_limit = np.cos(np.radians(max_angle_deg))
    faces_of: list[list[int]] = [[] for _ in range(len(p))]
    for f, t in enumerate(tri):
        for v in t:
            faces_of[v].append(f)
    ids: dict[tuple[int, tuple[int, ...]], int] = {}
    new_triangles = np.zeros_like(tri)
    groups: list[tuple[int, ...]] = []
    for f, t in enumerate(tri):
        for k, v in enumerate(t):
            near = tuple(g for g in faces_of[v] if unit[g] @ unit[f] >= cos_limit)
            key = (int(v), near)
            if key not in ids:
                ids[key] = len(groups)
                groups.append(near)
            new_triangles[f, k] = ids[key]
    source = np.array([v for v, _ in ids], np.int64)
    normals = np.array([face[list(near)].sum(axis=0) for near in groups])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
    return source, normals.astype(np.float32), new_triangles


def boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """The mesh's open edges (used by one triangle) walked into loops of vertex indices, in order along each.
    triangles : (m, 3) int; vertices at one place must share an index (weld first) or every UV seam is open."""
    tri = np.asarray(triangles, np.int64)
    edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    neighbours: dict[int, list[int]] = {}
    for a, b in unique[counts == 1]:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    loops, seen = [], set()
    for start in neighbours:
        if start in seen:
            continue
        loop, previous, current = [start], -1, start
        seen.add(start)
        while True:
            following = next((v for v in neighbours[current] if v != previous and v not in seen), None)
            if following is None:
                break
            loop.append(following)
            seen.add(following)
            previous, current = current, following
        loops.append(np.array(loop, np.int64))
    return loops


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """Real spherical harmonics up to order 2: normals (t, 3) unit -> (t, 9), in the order shaders/avatar.glsl's
    `socket_occlusion` evaluates them (the texture stage's lighting, the renderer's eye occlusion)."""
    normals = np.asarray(normals)
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    return np.stack([
        np.full_like(x, 0.282095),
        0.488603 * y, 0.488603 * z, 0.488603 * x,
        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z,
        0.546274 * (x * x - y * y)], 1)


def smoothstep(e0: float, e1: float, x):
    """GLSL's smoothstep, as the shaders use it: 0 below e0, 1 above e1, a cubic between (x : float or array)."""
    t = np.clip((np.asarray(x) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)
