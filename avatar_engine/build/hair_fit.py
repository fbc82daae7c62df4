"""Stage 4, hair (after Hu et al. 2017): find the hair in the photo, its colour, and the HairStyle whose rendered
silhouette covers it.

The hair region is the person minus the face skin, the neck and the clothes: candidates are the person's pixels
outside the face oval (plus the forehead above the brows, where a fringe lies) down to a little below the chin;
each is labelled hair, skin or clothes by its colour (CIELAB), with skin sampled on the cheeks and clothes below
the chin, and hair re-estimated from what is left. The fit grows candidate styles on the avatar's scalp, draws
their visible silhouette through the photo's camera (a small painter's-algorithm rasteriser: skin occludes hair)
and keeps the style with the best intersection-over-union; numpy and PIL only, no MediaPipe types.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from avatar_engine.build.records import PhotoView
from avatar_engine.head.hair import HAIR_PRESETS, HairStyle, hair_sheets
from avatar_engine.head.hair_scalp import Scalp
from avatar_engine.records import Avatar

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
"""MediaPipe face-mesh indices round the face oval, in order."""
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
"""Upper eyebrow points: above them, inside the oval, a fringe may cover the forehead."""
CHEEKS = (50, 280, 101, 330, 205, 425)
"""Points in the middle of the cheeks, where the skin colour is sampled."""
CHIN, FOREHEAD = 152, 10
SKIN_SAMPLE_RADIUS = 0.05
"""Radius (fraction of the face height) of the skin sample round each cheek point."""
BELOW_CHIN = 0.0
"""Hair is looked for down to this many face heights below the chin: lower, collars and shoulders look like hair."""
BESIDE_FACE = 0.85
"""Hair is looked for at most this many face heights left or right of the face's middle."""
CLOTHES_BELOW_CHIN = 0.45
"""Person pixels this many face heights below the chin are clothes (or neck) samples."""
CLOTHES_MIN_FRACTION = 0.5
"""Clothes are sampled only where the person below the chin covers at least this fraction of the face's area."""
COLOR_MARGIN = 14.0
"""CIELAB distance: a pixel within this (plus the class's own spread) of skin or clothes is not hair."""
BALD_FRACTION = 0.04
"""A hair region smaller than this fraction of the face oval's area means no hair worth growing: bald."""
SILHOUETTE_TIP = 0.97
"""Fraction of each strand drawn in a silhouette: the strand texture's clumps taper away over the rest."""
SILHOUETTE_LIFT = 0.85
"""Fraction of the style's volume where the silhouette's sheet lies (the outer layers are sparse)."""
DEPTH_TOLERANCE = 0.012
"""Hair within this distance (metres) behind the skin's per-triangle depth still shows: it lies on the skin."""
FIT_SIZE = 160
"""Longest side (pixels) of the silhouettes compared while fitting."""


@dataclass(frozen=True)
class HairRegion:
    """Where the hair is in the photo and what colour it is."""

    mask: np.ndarray
    """mask : (h, w) bool hair pixels."""
    color: tuple[int, int, int]
    """Median sRGB colour of the hair pixels (the skin's colour when there is no hair)."""
    face: np.ndarray
    """face : (h, w) bool inside the face oval."""

    @property
    def bald(self) -> bool:
        return self.mask.sum() < BALD_FRACTION * max(self.face.sum(), 1)


@dataclass(frozen=True)
class HairFit:
    """The fitted style and how well its silhouette covers the photo's hair."""

    style: HairStyle
    iou: float
    """Intersection over union of the style's visible silhouette and the hair region (1 when both are empty)."""
    evaluations: int
    """Styles rendered while fitting."""


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """rgb : (..., 3) uint8 sRGB -> (..., 3) float32 CIELAB (D65)."""
    c = np.asarray(rgb, np.float32) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
                    -1).astype(np.float32)


def polygon_mask(size: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """size : (w, h); points : (n, 2) pixels -> (h, w) bool inside the polygon."""
    image = Image.new("1", size, 0)
    ImageDraw.Draw(image).polygon([tuple(p) for p in np.asarray(points, float)], fill=1)
    return np.asarray(image, bool)


def _colour_class(lab: np.ndarray) -> tuple[np.ndarray, float]:
    """lab : (n, 3) samples -> their median and a robust spread (CIELAB units)."""
    centre = np.median(lab, 0)
    spread = float(np.percentile(np.linalg.norm(lab - centre, axis=1), 80)) if len(lab) else 0.0
    return centre, spread


def hair_region(rgb: np.ndarray, person: np.ndarray, landmarks_px: np.ndarray) -> HairRegion:
    """rgb : (h, w, 3) uint8; person : (h, w) float person probability (the segmenter's);
    landmarks_px : (478, 2) MediaPipe landmarks in pixels -> the hair region and its colour."""
    h, w = person.shape
    lm = np.asarray(landmarks_px, np.float64)
    face = polygon_mask((w, h), lm[list(FACE_OVAL)])
    face_h = float(lm[CHIN, 1] - lm[FOREHEAD, 1])
    ys, xs = np.mgrid[0:h, 0:w]
    lab = srgb_to_lab(rgb)
    # skin: discs on the cheeks
    skin_pick = np.zeros((h, w), bool)
    for i in CHEEKS:
        skin_pick |= (xs - lm[i, 0]) ** 2 + (ys - lm[i, 1]) ** 2 < (SKIN_SAMPLE_RADIUS * face_h) ** 2
    skin_c, skin_s = _colour_class(lab[skin_pick & face])
    is_person = person > 0.5
    clothes_pick = is_person & (ys > lm[CHIN, 1] + CLOTHES_BELOW_CHIN * face_h)
    brow_y = float(lm[list(BROWS), 1].min())
    forehead = face & (ys < brow_y)
    middle = float(lm[list(FACE_OVAL), 0].mean())
    candidate = (is_person & (~face | forehead) & (ys < lm[CHIN, 1] + BELOW_CHIN * face_h)
                 & (np.abs(xs - middle) < BESIDE_FACE * face_h))
    not_skin = np.linalg.norm(lab - skin_c, axis=-1) > skin_s + COLOR_MARGIN
    hair = candidate & not_skin
    if clothes_pick.sum() > CLOTHES_MIN_FRACTION * face.sum():  # a sliver of neck or background is no sample
        clothes_c, clothes_s = _colour_class(lab[clothes_pick])
        hair &= np.linalg.norm(lab - clothes_c, axis=-1) > clothes_s + COLOR_MARGIN
    if hair.sum() > 20:
        # refine by colour: a candidate pixel next to the first guess is hair if nearer the hair's colour than skin's
        hair_c, hair_s = _colour_class(lab[hair])
        d_hair = np.linalg.norm(lab - hair_c, axis=-1)
        nearer = d_hair < np.linalg.norm(lab - skin_c, axis=-1)
        hair = candidate & nearer & (d_hair < hair_s + COLOR_MARGIN) & _dilate(hair, 3)
    hair = _open_close(hair, max(1, int(round(face_h * 0.01))))
    hair = _grown_from(hair, hair & (ys < brow_y))  # hair grows from the scalp: drop patches beside the jaw
    color = np.median(rgb[hair], 0) if hair.any() else np.median(rgb[skin_pick & face], 0)
    return HairRegion(mask=hair, color=tuple(int(c) for c in color), face=face)


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Square dilation by r pixels (summed-area table)."""
    m = np.pad(mask.astype(np.int32), r + 1)
    s = m.cumsum(0).cumsum(1)
    k = 2 * r + 1
    box = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
    return box[:mask.shape[0], :mask.shape[1]] > 0


def _open_close(mask: np.ndarray, r: int) -> np.ndarray:
    """Remove specks, then fill pinholes (square structuring element of radius r)."""
    opened = _dilate(~_dilate(~mask, r), r)
    return ~_dilate(~_dilate(opened, r), r)


def _grown_from(mask: np.ndarray, seed: np.ndarray, step: int = 3) -> np.ndarray:
    """The parts of `mask` connected (through gaps under `step` pixels) to `seed`: morphological reconstruction."""
    grown = seed & mask
    while True:
        more = _dilate(grown, step) & mask
        if more.sum() == grown.sum():
            return grown
        grown = more


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (h, w) bool masks; 1 when both are empty."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


class HairSilhouette:
    """Draws the visible silhouette of a style's hair on one avatar through one camera, at a working size."""

    def __init__(self, avatar: Avatar, view: PhotoView, size: int = FIT_SIZE) -> None:
        skin = avatar.part("skin")
        joints = dict(zip(avatar.skeleton.names, avatar.skeleton.rest_positions))
        self.scalp = Scalp.from_skin(skin.positions, skin.indices, skin.joints, skin.weights, joints,
                                     skin.morph_positions)
        w, h = view.size
        self.scale = size / max(w, h)
        self.size = (max(1, int(round(w * self.scale))), max(1, int(round(h * self.scale))))
        self.view = replace(view, size=self.size, focal_px=view.focal_px * self.scale)
        tris = skin.positions[skin.indices]
        self._skin_depth = self._depth(tris, cull=True)

    def _depth(self, tris: np.ndarray, cull: bool) -> np.ndarray:
        """tris : (m, 3, 3) model space -> (h, w) float32 nearest depth (inf where empty), painter's algorithm."""
        flat = tris.reshape(-1, 3)
        px = self.view.project(flat).reshape(-1, 3, 2)
        depth = self.view.depth(flat).reshape(-1, 3).mean(1)
        keep = (self.view.depth(flat).reshape(-1, 3) > self.view.near).all(1)
        if cull:  # image y points down: counter-clockwise in the model is clockwise on screen
            e1, e2 = px[:, 1] - px[:, 0], px[:, 2] - px[:, 0]
            keep &= (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) < 0
        order = np.flatnonzero(keep)[np.argsort(-depth[keep])]
        corners = px[order].reshape(-1, 6).tolist()
        fills = depth[order].tolist()
        image = Image.new("F", self.size, float("inf"))
        draw = ImageDraw.Draw(image)
        for xy, fill in zip(corners, fills):
            draw.polygon(xy, fill=fill)
        return np.asarray(image, np.float32)

    def mask(self, style: HairStyle) -> np.ndarray:
        """(h, w) bool where the style's hair is the nearest surface (at the working size)."""
        # one sheet where the layers' alpha adds up to a solid edge: the outermost layer alone is sparse
        style = style.clamped()
        sheets = hair_sheets(self.scalp, replace(style, layers=1, volume=SILHOUETTE_LIFT * style.volume),
                             tip=SILHOUETTE_TIP)
        if sheets is None:
            return np.zeros(self.size[::-1], bool)
        tris = sheets["positions"][sheets["indices"]]
        hair = self._depth(tris, cull=False)
        return hair < self._skin_depth + DEPTH_TOLERANCE

    def resize(self, mask: np.ndarray) -> np.ndarray:
        """A full-size (h, w) bool mask brought to the working size."""
        return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(self.size, Image.BILINEAR)) > 127


def fit_hair(region: HairRegion, avatar: Avatar, view: PhotoView, size: int = FIT_SIZE) -> HairFit:
    """The HairStyle (its colour the region's) whose silhouette through `view` best covers `region.mask`."""
    if region.bald:
        return HairFit(HAIR_PRESETS["bald"], iou=1.0 if not region.mask.any() else 0.0, evaluations=0)
    sil = HairSilhouette(avatar, view, size)
    target = sil.resize(region.mask)
    count = 0
    cache: dict[tuple, float] = {}

    def score(style: HairStyle) -> float:
        nonlocal count
        key = (round(style.length, 4), round(style.volume, 4), round(style.fringe, 4), round(style.baldness, 3))
        if key not in cache:
            cache[key] = iou(sil.mask(style), target)
            count += 1
        return cache[key]

    base = HairStyle(color=region.color)
    # coarse: length and fringe on a grid, then each parameter refined in turn with shrinking steps
    best = max((replace(base, length=L, fringe=f) for L in (0.0, 0.12, 0.2, 0.28, 0.36) for f in (0.0, 0.03, 0.055)),
               key=score)
    steps = {"length": 0.04, "volume": 0.006, "fringe": 0.015, "baldness": 0.25}
    for _ in range(3):
        for name, step in steps.items():
            for delta in (-step, step):
                trial = replace(best, **{name: getattr(best, name) + delta}).clamped()
                if trial.bald:
                    continue
                if score(trial) > score(best) + 1e-4:
                    best = trial
        steps = {k: v / 2 for k, v in steps.items()}
    return HairFit(style=best.clamped(), iou=score(best), evaluations=count)
