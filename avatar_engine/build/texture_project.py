"""Photo -> texels: which triangle each texel lies on, where it lands in the photo, and how much to trust it.

Pure numpy. Triangles are rasterised in batches (bucketed by bounding-box size), both in UV space (once per
layout, cached) and in the photo (a z-buffer for the visibility test).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from avatar_engine.build.records import PhotoView

_MAX_BATCH_CELLS = 3_000_000
"""Bound on triangles x bounding-box cells evaluated at once (memory of one raster batch)."""
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
"""MediaPipe face-mesh inner-lip contour, in order around the mouth opening (indices into the 478 landmarks)."""
MOUTH_CORNERS = (78, 308)
MOUTH_OPEN_MIN = 0.025
"""The lips part when the opening's area over the squared corner distance exceeds this (grace_hopper's closed
mouth: 0.003, the astronaut's open smile: 0.12): a closed mouth's contour encloses only the lip line, left seen."""
EYE_CONTOURS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
)
"""MediaPipe face-mesh outlines of the eye openings (its left eye in the image first), in order."""
EYE_MARGIN = 0.1
"""The eye openings are widened by this fraction of the eye's width: lashes and liner lie along the lids' edges."""
MOUTH_MARGIN = 0.03
"""The opening is widened by this fraction of the corner distance (at least a pixel): the contour sits a pixel
or two off the lip edge, and a lip texel there would take the teeth's colour."""


def rasterize(xy: np.ndarray, triangles: np.ndarray, size: tuple[int, int],
              depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which triangle covers each pixel centre, and where in it.

    xy : (n, 2) float vertex positions in pixels (x right, y down, pixel centres at +0.5)
    triangles : (m, 3) int vertex indices
    size : (width, height)
    depth : (n,) float per-vertex depth; where triangles overlap the nearest wins (else an arbitrary one)
    returns : face (h, w) int32 triangle index or -1, bary (h, w, 3) float32 barycentric weights
    """
    w, h = size
    tri = np.asarray(triangles, np.int64)
    p = np.asarray(xy, np.float64)[tri]  # (m, 3, 2)
    lo = np.clip(np.floor(p.min(1) - 0.5).astype(np.int64), 0, [w, h])
    hi = np.clip(np.ceil(p.max(1) - 0.5).astype(np.int64) + 1, 0, [w, h])
    extent = hi - lo
    keep = np.flatnonzero((extent > 0).all(1))
    frags_pix, frags_face, frags_bary, frags_depth = [], [], [], []
    # bucket by the bounding box rounded up to a power of two so one batch shares one grid shape
    bucket = np.ceil(np.log2(np.maximum(extent[keep], 1))).astype(np.int64)
    key = bucket[:, 0] * 64 + bucket[:, 1]
    for k in np.unique(key):
        ids = keep[key == k]
        bw, bh = 1 << int(k // 64), 1 << int(k % 64)
        step = max(1, _MAX_BATCH_CELLS // (bw * bh))
        gy, gx = np.mgrid[0:bh, 0:bw]
        for s in range(0, len(ids), step):
            f = ids[s:s + step]
            px = lo[f, 0, None, None] + gx + 0.5
            py = lo[f, 1, None, None] + gy + 0.5
            a, b, c = p[f, 0], p[f, 1], p[f, 2]
            area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
            ok = np.abs(area) > 1e-12
            inv = np.where(ok, 1.0 / np.where(ok, area, 1.0), 0.0)[:, None, None]
            w0 = ((b[:, 0, None, None] - px) * (c[:, 1, None, None] - py)
                  - (b[:, 1, None, None] - py) * (c[:, 0, None, None] - px)) * inv
            w1 = ((c[:, 0, None, None] - px) * (a[:, 1, None, None] - py)
                  - (c[:, 1, None, None] - py) * (a[:, 0, None, None] - px)) * inv
            w2 = 1.0 - w0 - w1
            inside = (w0 >= -1e-7) & (w1 >= -1e-7) & (w2 >= -1e-7) & ok[:, None, None]
            inside &= (px < w) & (py < h)
            t, yy, xx = np.nonzero(inside)
            ix = (lo[f[t], 1] + yy) * w + lo[f[t], 0] + xx
            bary = np.stack([w0[t, yy, xx], w1[t, yy, xx], w2[t, yy, xx]], 1)
            frags_pix.append(ix)
            frags_face.append(f[t])
            frags_bary.append(bary)
            if depth is not None:
                frags_depth.append((np.asarray(depth, np.float64)[tri[f[t]]] * bary).sum(1))
    face = np.full(w * h, -1, np.int32)
    bary_out = np.zeros((w * h, 3), np.float32)
    if frags_pix:
        pix = np.concatenate(frags_pix)
        faces = np.concatenate(frags_face)
        barys = np.concatenate(frags_bary)
        order = np.lexsort((np.concatenate(frags_depth), pix)) if depth is not None else np.argsort(pix, kind="stable")
        pix, first = np.unique(pix[order], return_index=True)
        face[pix] = faces[order][first]
        bary_out[pix] = barys[order][first]
    return face.reshape(h, w), bary_out.reshape(h, w, 3)


@dataclass(frozen=True, eq=False)
class TexelMap:
    """The covered texels of a UV layout and where each sits on the mesh."""

    size: int
    texels: np.ndarray
    """texels : (t,) int64 flat indices (row * size + col, top row first) of covered texels."""
    face: np.ndarray
    """face : (t,) int64 triangle of each covered texel."""
    bary: np.ndarray
    """bary : (t, 3) float32 barycentric weights of each covered texel in its triangle."""
    key: tuple = ()
    """(layout digest, size): names the layout for caches of what derives from it alone."""

    def interpolate(self, values: np.ndarray, triangles: np.ndarray, subset: np.ndarray | None = None) -> np.ndarray:
        """values : (n, k) per vertex -> (t, k) per covered texel, or (s, k) for the texel ids in `subset`."""
        face, bary = (self.face, self.bary) if subset is None else (self.face[subset], self.bary[subset])
        corners = np.asarray(triangles)[face]  # (s, 3)
        values = np.asarray(values)
        out = values[corners[:, 0]] * bary[:, 0:1]  # three gathers: much faster than einsum over (s, 3, k)
        out += values[corners[:, 1]] * bary[:, 1:2]
        out += values[corners[:, 2]] * bary[:, 2:3]
        return out

    def image(self, values: np.ndarray, fill: float = 0.0, subset: np.ndarray | None = None) -> np.ndarray:
        """values : (t, k) per covered texel (or (s, k) for the texel ids in `subset`) -> (size, size, k) float32."""
        out = np.full((self.size * self.size, values.shape[1]), fill, np.float32)
        out[self.texels if subset is None else self.texels[subset]] = values
        return out.reshape(self.size, self.size, -1)


_TEXEL_MAPS: dict[tuple, TexelMap] = {}


def texel_map(uvs: np.ndarray, triangles: np.ndarray, size: int) -> TexelMap:
    """Rasterise the UV layout at `size` x `size` (cached per layout: it does not change with the person).

    uvs : (n, 2) float glTF convention (v down from the image top); triangles : (m, 3) int
    """
    digest = hashlib.sha1(np.ascontiguousarray(uvs, np.float32).tobytes()
                          + np.ascontiguousarray(triangles, np.int64).tobytes()).hexdigest()
    key = (digest, size)
    if key not in _TEXEL_MAPS:
        face, bary = rasterize(np.asarray(uvs, np.float64) * size, triangles, (size, size))
        texels = np.flatnonzero(face.ravel() >= 0)
        tmap = TexelMap(size, texels, face.ravel()[texels].astype(np.int64), bary.reshape(-1, 3)[texels], key)
        for array in (tmap.texels, tmap.face, tmap.bary):
            array.setflags(write=False)  # shared by every build in the process: nobody may change it
        _TEXEL_MAPS[key] = tmap
    return _TEXEL_MAPS[key]


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample image (h, w, c) at xy (t, 2) pixel coordinates (centres at +0.5), clamped at the border -> (t, c)."""
    h, w = image.shape[:2]
    x = np.clip(xy[:, 0] - 0.5, 0, w - 1)
    y = np.clip(xy[:, 1] - 0.5, 0, h - 1)
    x0, y0 = np.minimum(x.astype(np.int64), w - 2), np.minimum(y.astype(np.int64), h - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Separable box filter of half-width `radius` with edge clamping over the first two axes; image (h, w) or
    (h, w, k) float, each of the k channels on its own."""
    out = np.asarray(image, np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
        n = out.shape[axis]
        out = (np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis)
               - np.take(c, np.arange(0, n), axis)) / (2 * radius + 1)
    return out


def mouth_opening(landmarks_px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: the photo's pixels inside the parted lips (teeth, tongue, the dark mouth), slightly widened.

    landmarks_px : (478, 2) MediaPipe landmarks in pixels; size : (width, height). All False when the lips touch.
    Lip texels that land here show the mouth's inside, not the lip (the fitted lips never part exactly as much).
    """
    w, h = size
    poly = np.asarray(landmarks_px, np.float64)[list(INNER_LIPS)]
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    width = float(np.linalg.norm(np.subtract(*np.asarray(landmarks_px, np.float64)[list(MOUTH_CORNERS)])))
    if width < 1.0 or area < MOUTH_OPEN_MIN * width ** 2:
        return np.zeros((h, w), bool)
    return _widened_polygon(poly, max(1, int(round(MOUTH_MARGIN * width))), size)


def eye_openings(landmarks_px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: the photo's pixels inside either eye's outline (`EYE_CONTOURS`), widened by `EYE_MARGIN`.

    landmarks_px : (478, 2) MediaPipe landmarks in pixels; size : (width, height). The fitted lids never meet the
    photo's exactly: lid texels that land here take the lashes', the liner's or the eye's own colour, and a blink
    spreads that over the closed lid; left unseen, the lid's texels take the skin round them."""
    lm = np.asarray(landmarks_px, np.float64)
    out = np.zeros((size[1], size[0]), bool)
    for contour in EYE_CONTOURS:
        poly = lm[list(contour)]
        width = float(np.ptp(poly[:, 0]))
        if width >= 1.0:
            out |= _widened_polygon(poly, max(1, int(round(EYE_MARGIN * width))), size)
    return out


def _widened_polygon(poly: np.ndarray, margin: int, size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: pixels inside the polygon (m, 2) or within `margin` pixels (a square) of it."""
    w, h = size
    out = np.zeros((h, w), bool)
    x0, y0 = np.clip(np.floor(poly.min(0)).astype(int) - margin, 0, [w, h])
    x1, y1 = np.clip(np.ceil(poly.max(0)).astype(int) + margin + 1, 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return out
    px, py = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
    inside = point_in_polygon(px.ravel(), py.ravel(), poly).reshape(px.shape)
    out[y0:y1, x0:x1] = box_blur(inside.astype(np.float64), margin) > 1e-6
    return out


def point_in_polygon(x: np.ndarray, y: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """x, y : (k,) points; poly : (m, 2) vertices in order -> (k,) bool inside (even-odd rule, one edge at a time)."""
    inside = np.zeros(len(x), bool)
    px, py = poly[:, 0], poly[:, 1]
    qx, qy = np.roll(px, -1), np.roll(py, -1)
    for ax, ay, bx, by in zip(px, py, qx, qy):
        crosses = (ay > y) != (by > y)
        xint = ax + (y - ay) * (bx - ax) / np.where(by != ay, by - ay, 1e-12)
        inside ^= crosses & (x < xint)
    return inside


@dataclass(frozen=True)
class Projection:
    """The photo seen from each covered texel."""

    xy: np.ndarray
    """xy : (t, 2) float64 photo pixel each texel projects to."""
    visible: np.ndarray
    """visible : (t,) bool in the image, in front of the camera and not hidden by the mesh itself."""
    cos_view: np.ndarray
    """cos_view : (t,) float32 cosine between the surface normal and the direction to the camera."""
    weight: np.ndarray
    """weight : (t,) float32 in [0, 1]: visibility x view-angle x mask (eroded) confidence."""


def project_texels(view: PhotoView, positions: np.ndarray, normals: np.ndarray, triangles: np.ndarray,
                   tmap: TexelMap, mask: np.ndarray | None = None, cos_range: tuple[float, float] = (0.2, 0.55),
                   depth_tolerance: float = 0.004, max_raster: int = 320,
                   hidden: np.ndarray | None = None) -> Projection:
    """Project every covered texel into the photo with a z-buffer visibility test and view-angle weights.

    positions, normals : (n, 3) posed skin vertices in model space; triangles : (m, 3)
    mask : (h, w) float or bool, 1 where the photo shows skin (eroded inside so misfit edges do not bleed)
    hidden : (h, w) bool, True where the photo shows something else in the skin's place, exactly (not eroded:
    `mouth_opening`, whose outline is tight); texels landing there get weight 0
    Texels on triangles that face away from the camera at all three corners (most of the head: the back, the scalp)
    are not interpolated: they get weight 0, xy 0 and the corners' mean cosine.
    """
    w, h = view.size
    triangles = np.asarray(triangles, np.int64)
    positions = np.asarray(positions, np.float64)
    vertex_cos = _cos_to_camera(view, positions, np.asarray(normals, np.float64))
    # the view weight is 0 below cos_range[0]; an interpolated normal is at most ~1.4x a corner's cosine
    facing = vertex_cos[triangles].max(1) > 0.5 * cos_range[0]
    active = np.flatnonzero(facing[tmap.face])
    p_tex = tmap.interpolate(positions, triangles, active)
    n_tex = tmap.interpolate(normals, triangles, active)
    n_tex /= np.maximum(np.linalg.norm(n_tex, axis=1, keepdims=True), 1e-9)
    xy_a = view.project(p_tex)
    z = view.depth(p_tex)
    cos_a = _cos_to_camera(view, p_tex, n_tex)

    # z-buffer at a capped resolution: visibility needs depth, not the photo's full detail
    vxy = view.project(positions)
    scale = min(1.0, max_raster / max(w, h))
    rw, rh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    vdepth = view.depth(positions)
    face, bary = rasterize(vxy * scale, triangles, (rw, rh), depth=vdepth)
    zbuf = np.where(face >= 0, (bary * vdepth[triangles[np.maximum(face, 0)]]).sum(-1), np.inf)
    ix = np.clip((xy_a[:, 0] * scale).astype(np.int64), 0, rw - 1)
    iy = np.clip((xy_a[:, 1] * scale).astype(np.int64), 0, rh - 1)
    inside = (xy_a[:, 0] >= 0) & (xy_a[:, 0] < w) & (xy_a[:, 1] >= 0) & (xy_a[:, 1] < h) & (z > view.near)
    visible_a = inside & (z <= zbuf[iy, ix] + depth_tolerance) & (cos_a > 0)

    lo, hi = cos_range
    t = np.clip((cos_a - lo) / (hi - lo), 0, 1)
    weight_a = t * t * (3 - 2 * t) * visible_a
    if mask is not None:
        m = np.asarray(mask, np.float64)
        if m.shape != (h, w):
            raise ValueError(f"mask is {m.shape[1]}x{m.shape[0]}, the photo is {w}x{h}")
        radius = max(1, int(round(0.006 * max(w, h))))
        eroded = np.clip((box_blur((m > 0.5).astype(np.float64), radius) - 0.75) * 4, 0, 1)
        weight_a = weight_a * bilinear(eroded[..., None], xy_a)[:, 0]
    if hidden is not None:
        if hidden.shape != (h, w):
            raise ValueError(f"hidden is {hidden.shape[1]}x{hidden.shape[0]}, the photo is {w}x{h}")
        weight_a = weight_a * (1 - bilinear(np.asarray(hidden, np.float32)[..., None], xy_a)[:, 0])
    n = len(tmap.texels)
    xy, visible = np.zeros((n, 2)), np.zeros(n, bool)
    cos_view = vertex_cos[triangles].mean(1).astype(np.float32)[tmap.face]
    weight = np.zeros(n, np.float32)
    xy[active], visible[active], cos_view[active], weight[active] = xy_a, visible_a, cos_a, weight_a
    return Projection(xy, visible, cos_view, weight)


def _cos_to_camera(view: PhotoView, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(n,) cosine between each unit normal (n, 3) and the direction from its point (n, 3) to the camera."""
    to_cam = view.position[None] - points
    return np.einsum("tk,tk->t", normals, to_cam) / np.maximum(np.linalg.norm(to_cam, axis=1), 1e-9)
