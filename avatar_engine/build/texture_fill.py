"""Complete a partly observed albedo: mirror across the face's symmetry, then fill in the person's skin tone.

Everything smooth is solved on the mesh (welded vertices), not in UV space, so what is filled is continuous across
UV island borders: no seams by construction. Detail comes from the photo where it is seen and from the default
skin's structure (grain, lips, brows), recoloured to the person, where it is not.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_engine.build.texture_project import TexelMap, bilinear, box_blur

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "head"
MAPS_PATH = ASSET_DIR / "skin_texture_maps.npz"
FILL_BASE_PATH = ASSET_DIR / "skin_fill_base.png"


@functools.cache
def mirror_uv_image() -> np.ndarray:
    """(1024, 1024, 2) float32 UV of each texel's mirror point (made by `scripts/make_texture_maps.py`)."""
    with np.load(MAPS_PATH) as data:
        return data["mirror_uv"].astype(np.float32) / 65535.0


@functools.cache
def fill_base() -> np.ndarray:
    """(1024, 1024, 3) float32 sRGB in [0, 1]: the default skin without the painted scalp."""
    return np.asarray(Image.open(FILL_BASE_PATH).convert("RGB"), np.float32) / 255.0


def resize_nearest(image: np.ndarray, size: int) -> np.ndarray:
    h = image.shape[0]
    idx = ((np.arange(size) + 0.5) * h / size).astype(np.int64)
    return image[idx][:, idx]


def weld_ids(positions: np.ndarray) -> np.ndarray:
    """(n,) id shared by vertices at the same position (UV-seam copies), 0..k-1."""
    key = np.round(np.asarray(positions, np.float64) * 1e6).astype(np.int64)
    return np.unique(key, axis=0, return_inverse=True)[1].ravel()


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
        self._cover: np.ndarray | None = None

    def to_vertices(self, values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Texel values (t, k) with weights (t,) -> per welded vertex weighted mean (v, k) and weight (v,)."""
        if self._cover is None:
            self._cover = np.bincount(self.texel_vertex.ravel(), self.tmap.bary.ravel(), self.count)
        cover = self._cover
        used = np.flatnonzero(weights > 0)  # most texels are unseen: skip them
        wb = self.tmap.bary[used] * weights[used, None]  # (u, 3)
        ids = self.texel_vertex[used].ravel()
        total = np.bincount(ids, wb.ravel(), self.count)
        acc = np.stack([np.bincount(ids, (wb * values[used, k:k + 1]).ravel(), self.count)
                        for k in range(values.shape[1])], 1)
        return acc / np.maximum(total, 1e-12)[:, None], total / np.maximum(cover, 1e-12)

    def to_texels(self, values: np.ndarray) -> np.ndarray:
        """Per welded vertex (v, k) -> per covered texel (t, k)."""
        return np.einsum("tj,tjk->tk", self.tmap.bary, values[self.texel_vertex])

    def solve(self, data: np.ndarray, weight: np.ndarray, lam: float, prior: np.ndarray, eps: float = 1e-3,
              iterations: int = 400) -> np.ndarray:
        """data (v, k), weight (v,) -> smooth (v, k) that follows data where weighted, harmonic elsewhere."""
        diag = weight + lam * self.degree + eps

        def apply(x: np.ndarray) -> np.ndarray:
            nb = np.zeros_like(x)
            for k in range(x.shape[1]):
                nb[:, k] = np.bincount(self.i, x[self.j, k], self.count) + np.bincount(self.j, x[self.i, k], self.count)
            return diag[:, None] * x - lam * nb

        b = weight[:, None] * data + eps * prior[None, :]
        x = np.broadcast_to(prior, data.shape).copy()
        r = b - apply(x)
        z = r / diag[:, None]
        p = z.copy()
        rz = (r * z).sum(0)
        for _ in range(iterations):
            ap = apply(p)
            alpha = rz / np.maximum((p * ap).sum(0), 1e-30)
            x += alpha * p
            r -= alpha * ap
            if np.abs(r).max() < 1e-5:
                break
            z = r / diag[:, None]
            rz_new = (r * z).sum(0)
            p = z + (rz_new / np.maximum(rz, 1e-30)) * p
            rz = rz_new
        return x


def mirror_samples(image: np.ndarray, tmap: TexelMap) -> np.ndarray:
    """Sample image (size, size, k) at each covered texel's mirror point -> (t, k)."""
    uv = resize_nearest(mirror_uv_image(), tmap.size).reshape(-1, 2)[tmap.texels]
    return bilinear(image, uv * tmap.size)


def dilate(image: np.ndarray, filled: np.ndarray, smooth: bool = False) -> np.ndarray:
    """Fill empty texels (h, w) from the nearest filled ones by pull-push over an image pyramid, so bilinear
    filtering and mipmaps never pull in black. image : (h, w, k); filled texels are returned unchanged.
    smooth : blur each level's upsampling so the padding has no 2x2-block steps (for shipped textures)."""
    image = np.asarray(image, np.float32)
    weight = filled.astype(np.float32)
    levels = [(image * weight[..., None], weight)]
    while min(levels[-1][1].shape) > 1:
        c, w = levels[-1]
        h2, w2 = (c.shape[0] + 1) // 2 * 2, (c.shape[1] + 1) // 2 * 2
        c = np.pad(c, ((0, h2 - c.shape[0]), (0, w2 - c.shape[1]), (0, 0)))
        w = np.pad(w, ((0, h2 - w.shape[0]), (0, w2 - w.shape[1])))
        cs = c.reshape(h2 // 2, 2, w2 // 2, 2, -1).sum((1, 3))
        ws = w.reshape(h2 // 2, 2, w2 // 2, 2).sum((1, 3))
        norm = np.minimum(ws, 1.0) / np.maximum(ws, 1e-12)  # premultiplied colour, weight capped at 1
        levels.append((cs * norm[..., None], ws * norm))
    colour = levels[-1][0] / np.maximum(levels[-1][1], 1e-12)[..., None]
    for c, w in reversed(levels[:-1]):
        up = np.repeat(np.repeat(colour, 2, 0), 2, 1)[:c.shape[0], :c.shape[1]]
        if smooth and min(up.shape[:2]) > 2:  # soften the 2x2 blocks so the padding has no hard steps for mipmaps to pick up
            up = np.stack([box_blur(up[..., k], 1) for k in range(up.shape[2])], -1).astype(np.float32)
        colour = c + (1.0 - w)[..., None] * up  # premultiplied: fill what this level lacks from coarser
    return np.where(filled[..., None], image, colour)


def seam_steps(texture: np.ndarray, uvs: np.ndarray, triangles: np.ndarray, positions: np.ndarray,
               samples: int = 8) -> np.ndarray:
    """Mean absolute colour step (0-255 units) across each UV seam edge -> (e,).

    A seam edge joins the same two 3D points at two different UV places; the texture is sampled 1.5 texels inside
    each side's triangle at `samples` points along it and the two sides compared.
    texture : (h, w, 3+) uint8; uvs : (n, 2); triangles : (m, 3); positions : (n, 3)
    """
    weld = weld_ids(positions)
    tri = np.asarray(triangles, np.int64)
    uvs = np.asarray(uvs, np.float64)
    size = texture.shape[0]
    sides: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for t in tri:
        for a, b, c in ((t[0], t[1], t[2]), (t[1], t[2], t[0]), (t[2], t[0], t[1])):
            key = (min(weld[a], weld[b]), max(weld[a], weld[b]))
            sides.setdefault(key, []).append((a, b, c) if weld[a] < weld[b] else (b, a, c))
    s = (np.arange(samples) + 0.5) / samples
    img = np.asarray(texture[..., :3], np.float32)

    def along(a: int, b: int, c: int) -> np.ndarray:
        edge = uvs[a] + s[:, None] * (uvs[b] - uvs[a])
        inward = uvs[c] - (uvs[a] + uvs[b]) / 2
        return (edge + inward / max(np.linalg.norm(inward) * size, 1e-9) * 1.5) * size

    steps = []
    for pair in sides.values():
        if len(pair) != 2 or (pair[0][0] == pair[1][0] and pair[0][1] == pair[1][1]):
            continue  # a border of the mesh, or the same UVs on both sides: not a seam
        (a0, b0, c0), (a1, b1, c1) = pair
        steps.append(np.abs(bilinear(img, along(a0, b0, c0)) - bilinear(img, along(a1, b1, c1))).mean())
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
