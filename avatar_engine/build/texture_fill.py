"""Complete a partly observed albedo: mirror across the face's symmetry, then fill in the person's skin tone.

Everything smooth is solved on the mesh (welded vertices), not in UV space, so what is filled is continuous across
UV island borders: no seams by construction. Detail comes from the photo where it is seen and from the default
skin's structure (grain, lips, brows), recoloured to the person, where it is not.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from avatar_engine.build.texture_project import TexelMap, bilinear
from avatar_engine.data_files import asset_path
from avatar_engine.head.geometry import weld_ids

ASSET_DIR = asset_path("head")
MAPS_PATH = ASSET_DIR / "skin_texture_maps.npz"
FILL_BASE_PATH = ASSET_DIR / "skin_fill_base.png"


@functools.cache
def mirror_uv_image() -> np.ndarray:
    """(1024, 1024, 2) float32 UV of each texel's mirror point (made by `scripts/make_texture_maps.py`)."""
    with np.load(MAPS_PATH) as data:
        uv = data["mirror_uv"].astype(np.float32) / 65535.0
    uv.setflags(write=False)  # cached for the process: callers get the same array
    return uv


@functools.cache
def fill_base() -> np.ndarray:
    """(1024, 1024, 3) float32 sRGB in [0, 1]: the default skin without the painted scalp."""
    base = np.asarray(Image.open(FILL_BASE_PATH).convert("RGB"), np.float32) / 255.0
    base.setflags(write=False)  # cached for the process: callers get the same array
    return base


def resize_nearest(image: np.ndarray, size: int) -> np.ndarray:
    h = image.shape[0]
    idx = ((np.arange(size) + 0.5) * h / size).astype(np.int64)
    return image[idx][:, idx]


class MeshSmoother:
    """Weighted harmonic smoothing on the welded mesh: (W + lam L + eps I) x = W data + eps prior, by CG."""

    def __init__(self, positions: np.ndarray, triangles: np.ndarray, tmap: TexelMap) -> None:
        self.weld = weld_ids(positions)
        self.count = int(self.weld.max()) + 1
        tri = self.weld[np.asarray(triangles, np.int64)]
        edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
        edges = np.unique(np.sort(edges, 1), axis=0)
        self.i, self.j = edges[:, 0], edges[:, 1]
        self.degree = np.bincount(self.i, minlength=self.count) + np.bincount(self.j, minlength=self.count)
        self.tmap = tmap
        self.texel_vertex = self.weld[np.asarray(triangles, np.int64)[tmap.face]]  # (t, 3)
        self._cover = np.bincount(self.texel_vertex.ravel(), tmap.bary.ravel(), self.count)
        self._gather: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def to_vertices(self, values: np.ndarray, weights: np.ndarray,
                    subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Texel values (t, k) with weights (t,) -> per welded vertex weighted mean (v, k) and weight (v,).
        With `subset` (s,) texel ids, values and weights are (s, k) and (s,) for those texels only."""
        ids_all = np.arange(len(self.texel_vertex)) if subset is None else np.asarray(subset)
        used = np.flatnonzero(weights > 0)  # most texels are unseen: skip them
        wb = self.tmap.bary[ids_all[used]] * weights[used, None]  # (u, 3)
        ids = self.texel_vertex[ids_all[used]].ravel()
        total = np.bincount(ids, wb.ravel(), self.count)
        acc = np.stack([np.bincount(ids, (wb * values[used, k:k + 1]).ravel(), self.count)
                        for k in range(values.shape[1])], 1)
        return acc / np.maximum(total, 1e-12)[:, None], total / np.maximum(self._cover, 1e-12)

    def to_texels(self, values: np.ndarray, subset: np.ndarray | None = None) -> np.ndarray:
        """Per welded vertex (v, k) -> per covered texel (t, k), or (s, k) for the texel ids in `subset`."""
        tv = self.texel_vertex if subset is None else self.texel_vertex[subset]
        bary = self.tmap.bary if subset is None else self.tmap.bary[subset]
        out = values[tv[:, 0]] * bary[:, 0:1]
        out += values[tv[:, 1]] * bary[:, 1:2]
        out += values[tv[:, 2]] * bary[:, 2:3]
        return out

    def _neighbour_sum(self, x: np.ndarray) -> np.ndarray:
        """(k, v) -> (k, v) sum over each vertex's neighbours, all channels in one gather and one bincount."""
        k = x.shape[0]
        if k not in self._gather:
            offset = (np.arange(k) * self.count)[:, None]
            dst = (np.concatenate([self.i, self.j])[None] + offset).ravel()
            src = (np.concatenate([self.j, self.i])[None] + offset).ravel()
            self._gather[k] = dst, src
        dst, src = self._gather[k]
        return np.bincount(dst, x.ravel()[src], self.count * k).reshape(k, -1)

    def solve(self, data: np.ndarray, weight: np.ndarray, lam: float, prior: np.ndarray, eps: float = 1e-3,
              iterations: int = 400, tolerance: float = 1e-5, start: np.ndarray | None = None) -> np.ndarray:
        """data (v, k), weight (v,) -> smooth (v, k) that follows data where weighted, harmonic elsewhere.
        start : (v, k) optional first guess (a nearby solution converges in fewer iterations); tolerance : stop
        when the largest residual is below it."""
        diag = weight + lam * self.degree + eps
        inv_diag = 1.0 / diag

        def apply(x: np.ndarray) -> np.ndarray:
            return diag * x - lam * self._neighbour_sum(x)

        # channels as rows: every reduction below runs over contiguous memory
        b = (weight[:, None] * data + eps * prior[None, :]).T.copy()
        x = np.repeat(np.asarray(prior, np.float64)[:, None], self.count, 1) if start is None else np.array(start.T)
        r = b - apply(x)
        z = r * inv_diag
        p = z.copy()
        rz = np.einsum("kv,kv->k", r, z)
        for _ in range(iterations):
            if np.abs(r).max() < tolerance:
                break
            ap = apply(p)
            alpha = rz / np.maximum(np.einsum("kv,kv->k", p, ap), 1e-30)
            x += alpha[:, None] * p
            r -= alpha[:, None] * ap
            z = r * inv_diag
            rz_new = np.einsum("kv,kv->k", r, z)
            p = z + (rz_new / np.maximum(rz, 1e-30))[:, None] * p
            rz = rz_new
        return x.T


_MIRRORS: dict[tuple, np.ndarray] = {}


def mirror_points(tmap: TexelMap) -> np.ndarray:
    """(t, 2) float32 texel coordinates (x right, y down, centres at +0.5) of each covered texel's mirror point."""
    if tmap.key not in _MIRRORS or not tmap.key:
        uv = resize_nearest(mirror_uv_image(), tmap.size).reshape(-1, 2)[tmap.texels] * tmap.size
        uv.setflags(write=False)
        if not tmap.key:
            return uv
        _MIRRORS[tmap.key] = uv
    return _MIRRORS[tmap.key]


def mirror_samples(image: np.ndarray, tmap: TexelMap, subset: np.ndarray | None = None) -> np.ndarray:
    """Sample image (size, size, k) at each covered texel's mirror point -> (t, k) (or (s, k) for `subset`)."""
    points = mirror_points(tmap)
    return bilinear(image, points if subset is None else points[subset])


def dilate(image: np.ndarray, filled: np.ndarray, smooth: bool = False) -> np.ndarray:
    """Fill empty texels (h, w) from the nearest filled ones by pull-push over an image pyramid, so bilinear
    filtering and mipmaps never pull in black. image : (h, w, k); filled texels are returned unchanged.
    smooth : blur each level's upsampling so the padding has no 2x2-block steps (for shipped textures)."""
    image = np.asarray(image, np.float32)
    weight = filled.astype(np.float32)
    levels = [(np.where(filled[..., None], image, np.float32(0)), weight)]
    while min(levels[-1][1].shape) > 1:
        c, w = levels[-1]
        h2, w2 = (c.shape[0] + 1) // 2 * 2, (c.shape[1] + 1) // 2 * 2
        if (h2, w2) != w.shape:
            c = np.pad(c, ((0, h2 - c.shape[0]), (0, w2 - c.shape[1]), (0, 0)))
            w = np.pad(w, ((0, h2 - w.shape[0]), (0, w2 - w.shape[1])))
        # 2x2 block sums as three adds of strided views: 3x faster than a reduction over two axes of a 5-D view
        cs = (c[0::2, 0::2] + c[1::2, 0::2]) + (c[0::2, 1::2] + c[1::2, 1::2])
        ws = (w[0::2, 0::2] + w[1::2, 0::2]) + (w[0::2, 1::2] + w[1::2, 1::2])
        norm = np.minimum(ws, 1.0) / np.maximum(ws, 1e-12)  # premultiplied colour, weight capped at 1
        levels.append((cs * norm[..., None], ws * norm))
    colour = levels[-1][0] / np.maximum(levels[-1][1], 1e-12)[..., None]
    for level, (c, w) in reversed(list(enumerate(levels[:-1]))):
        rows, cols = colour.shape[:2]  # each texel to a 2x2 block, in one copy
        up = np.broadcast_to(colour[:, None, :, None], (rows, 2, cols, 2, colour.shape[2]))
        up = up.reshape(2 * rows, 2 * cols, -1)[:c.shape[0], :c.shape[1]]
        # soften the 2x2 blocks so the padding has no hard steps for mipmaps to pick up; at the finest level the
        # blocks are single texel pairs of already smooth values, not worth a full-size pass
        if smooth and level > 0 and min(up.shape[:2]) > 2:
            up = _blur3(up)
        colour = c + (1.0 - w)[..., None] * up  # premultiplied: fill what this level lacks from coarser
    return np.where(filled[..., None], image, colour)


def _blur3(image: np.ndarray) -> np.ndarray:
    """3x3 box filter with edge clamping, all channels at once: image (h, w, k) float32 -> (h, w, k)."""
    p = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = p[:-2] + p[1:-1] + p[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) * np.float32(1 / 9)


def seam_edges(triangles: np.ndarray, weld: np.ndarray) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """The UV seams: each edge that joins the same two 3D points (`weld` ids) in two triangles with different UVs,
    as its two sides (a, b, c): the edge's ends in one order on both sides, and the third corner, which says which
    way is inside. Borders of the mesh and edges with the same UVs on both sides are left out."""
    sides: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for t in np.asarray(triangles, np.int64):
        for a, b, c in ((t[0], t[1], t[2]), (t[1], t[2], t[0]), (t[2], t[0], t[1])):
            key = (min(weld[a], weld[b]), max(weld[a], weld[b]))
            sides.setdefault(key, []).append((a, b, c) if weld[a] < weld[b] else (b, a, c))
    return [(pair[0], pair[1]) for pair in sides.values()
            if len(pair) == 2 and not (pair[0][0] == pair[1][0] and pair[0][1] == pair[1][1])]


def seam_side_points(uvs: np.ndarray, side: tuple[int, int, int], along: np.ndarray, size: int,
                     inset: float) -> np.ndarray:
    """(k, 2) texel coordinates at fractions `along` (k,) of a seam side's edge, `inset` texels inside its
    triangle, in a size x size texture."""
    a, b, c = side
    edge = uvs[a] + along[:, None] * (uvs[b] - uvs[a])
    inward = uvs[c] - (uvs[a] + uvs[b]) / 2
    return (edge + inward / max(np.linalg.norm(inward) * size, 1e-9) * inset) * size


def seam_steps(texture: np.ndarray, uvs: np.ndarray, triangles: np.ndarray, positions: np.ndarray,
               samples: int = 8) -> np.ndarray:
    """Mean absolute colour step (0-255 units) across each UV seam edge -> (e,).

    A seam edge joins the same two 3D points at two different UV places; the texture is sampled 1.5 texels inside
    each side's triangle at `samples` points along it and the two sides compared.
    texture : (h, w, 3+) uint8; uvs : (n, 2); triangles : (m, 3); positions : (n, 3)
    """
    uvs = np.asarray(uvs, np.float64)
    size = texture.shape[0]
    along = (np.arange(samples) + 0.5) / samples
    img = np.asarray(texture[..., :3], np.float32)
    steps = [np.abs(bilinear(img, seam_side_points(uvs, first, along, size, 1.5))
                    - bilinear(img, seam_side_points(uvs, second, along, size, 1.5))).mean()
             for first, second in seam_edges(triangles, weld_ids(positions))]
    return np.array(steps)


def seam_error(texture: np.ndarray, uvs: np.ndarray, triangles: np.ndarray, positions: np.ndarray,
               reference: np.ndarray | None = None) -> float:
    """Colour step across UV seams (0-255 units): the median over seam edges; with a `reference` texture, the
    mean step beyond the reference's own on the same edge (the shipped skin has real steps: lips to mouth)."""
    steps = seam_steps(texture, uvs, triangles, positions)
    if reference is None:
        return float(np.median(steps)) if len(steps) else 0.0
    base = seam_steps(reference, uvs, triangles, positions)
    return float(np.maximum(steps - base, 0).mean()) if len(steps) else 0.0
