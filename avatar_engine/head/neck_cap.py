"""A cap over the cut at the bottom of the neck.

The head model's skin is open there (its only open edge). Seen from below or from behind and under, the camera
looked into the head: the inside of the face, the backs of the teeth. The cap closes that loop with a fan of
triangles in the skin's material, carried by the skin it closes (same joints, weights and shape offsets).
"""

from __future__ import annotations

import numpy as np

from avatar_engine.head.geometry import boundary_loops
from avatar_engine.records import Part

MIN_LOOP = 8
"""An open loop of fewer skin vertices than this is no neck cut (a mesh fault): it gets no cap."""


def open_loops(positions: np.ndarray, triangles: np.ndarray) -> list[np.ndarray]:
    """The surface's open edges as closed loops of vertex indices in order (one vertex per position: the parts
    are split at UV seams, where two vertices share a place). positions : (n, 3); triangles : (m, 3)."""
    _, first_of, weld = np.unique(np.round(np.asarray(positions, np.float64), 7), axis=0, return_index=True,
                                  return_inverse=True)
    return [first_of[loop] for loop in boundary_loops(weld.reshape(-1)[np.asarray(triangles, np.int64)])]


def in_fixed_order(loop: np.ndarray) -> np.ndarray:
    """A closed loop of vertex indices from its lowest index, toward the lower-indexed of that one's neighbours: one
    order for every head of one topology. Where `open_loops` starts a loop, and which way it runs, follow each
    head's positions: game teams sharing one index buffer across heads found the cap's vertices shuffled, and its
    winding reversed, from head to head."""
    loop = np.roll(np.asarray(loop), -int(np.argmin(loop)))
    return np.concatenate([loop[:1], loop[:0:-1]]) if len(loop) > 2 and loop[-1] < loop[1] else loop


def neck_cap(skin: Part) -> Part | None:
    """The cap over the lowest open loop of `skin` (None when it has none of `MIN_LOOP` vertices), facing out of the
    head: the rim, a ring halfway in and the middle. Its normals run from the neck's own at the rim to the cap's in
    the middle, so it shades as the neck rounding off under the cut (one flat normal drew a uniform dark disc with a
    hard edge, plain to see in a turntable's back view; rim to middle in one step drew a star). One texel for the
    whole cap, the throat's; each vertex the skinning and shape offsets of the rim vertex it lies in from, the
    middle their mean (its skinning the rim vertex nearest it)."""
    loops = [loop for loop in open_loops(skin.positions, skin.indices) if len(loop) >= MIN_LOOP]
    if not loops:
        return None
    rim = in_fixed_order(min(loops, key=lambda loop: float(skin.positions[loop, 1].mean())))
    ring = skin.positions[rim].astype(np.float64)
    middle = ring.mean(axis=0)
    n = len(rim)
    inner = 0.5 * (ring + middle)
    points = np.vstack([ring, inner, middle])
    nxt = (np.arange(n) + 1) % n
    triangles = np.concatenate([
        np.stack([np.arange(n), nxt, n + nxt], 1), np.stack([np.arange(n), n + nxt, n + np.arange(n)], 1),
        np.stack([np.full(n, 2 * n), n + np.arange(n), n + nxt], 1)]).astype(np.int64)
    # out of the head: away from the skin's centre, which lies above the neck
    normal = np.cross(points[triangles[:, 1]] - points[triangles[:, 0]],
                      points[triangles[:, 2]] - points[triangles[:, 0]]).sum(axis=0)
    if normal @ (middle - skin.positions.mean(axis=0)) < 0:
        triangles = triangles[:, ::-1]
        normal = -normal
    normal /= max(float(np.linalg.norm(normal)), 1e-12)
    halfway = skin.normals[rim] + normal
    halfway /= np.maximum(np.linalg.norm(halfway, axis=1, keepdims=True), 1e-12)
    nearest = rim[int(np.argmin(np.linalg.norm(ring - middle, axis=1)))]
    take = np.concatenate([rim, rim, [nearest]])
    # the rim's UVs run round islands of the skin's layout: a fan between them painted hair and lips across the cut
    throat = rim[int(np.argmax(ring[:, 2]))]
    morphs = skin.morph_positions[:, rim]
    mean = morphs.mean(axis=1, keepdims=True)
    return Part(
        name="neck_cap", material=skin.material, positions=points.astype(np.float32),
        normals=np.vstack([skin.normals[rim], halfway, normal[None]]).astype(np.float32),
        uvs=np.tile(skin.uvs[throat].astype(np.float32), (2 * n + 1, 1)),
        indices=triangles.astype(np.uint32), joints=skin.joints[take], weights=skin.weights[take],
        morph_positions=np.concatenate([morphs, 0.5 * (morphs + mean), mean], axis=1).astype(np.float32),
        morph_normals=np.zeros((len(skin.morph_positions), 2 * n + 1, 3), np.float32))
