"""Stage 4, hair (after Hu et al. 2017): find the hair in the photo, its colour, and the HairStyle whose rendered
silhouette covers it.

The hair region (hair_region.py) is the person minus the face skin, the neck and the clothes, refined by colour,
with headwear marked occluded. The fit grows candidate styles on the avatar's scalp, draws their visible silhouette
through the photo's camera (a small painter's-algorithm rasteriser: skin occludes hair) and keeps the style with the
best intersection-over-union, counted where nothing hides the head; numpy and PIL only, no MediaPipe types.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw

from avatar_engine.build.hair_region import (BROWS, CHEEKS, FACE_OVAL, HairRegion, hair_region, polygon_mask,
                                             srgb_to_lab)
from avatar_engine.build.records import PhotoView
from avatar_engine.head.hair import HAIR_PRESETS, HairStyle, hair_sheets
from avatar_engine.head.hair_scalp import Scalp
from avatar_engine.head.model import HeadModel
from avatar_engine.records import Avatar

SILHOUETTE_TIP = 0.97
"""Fraction of each strand drawn in a silhouette: the strand texture's clumps taper away over the rest."""
SILHOUETTE_LIFT = 0.85
"""Fraction of the style's volume where the silhouette's sheet lies (the outer layers are sparse)."""
HANG_SAMPLES = 40
"""Steps of the combing march below the widest point of the head in a silhouette (the rendered hair takes 120):
7 mm steps, a pixel or two at the fit's size, a third of the time."""
DEPTH_TOLERANCE = 0.012
"""Hair within this distance (metres) behind the skin's per-triangle depth still shows: it lies on the skin."""
FRINGE_SLACK_PX = 1.5
"""A fitted fringe may come this many working-size pixels below the photo's hair over the forehead."""
FRINGE_PENALTY = 0.2
"""Subtracted from the IoU of a style whose fringe hangs lower than that: it would cover the bare forehead."""
FIT_SHEETS = 2
"""Sheets of every fitted style. A third filled the gap between the dense inner and the sparse outer sheet while the
strand texture was sparse; with full clumps it looks the same on the astronaut's 4 cm bob (front, three-quarter and
back renders) and cost 30% more of a 1280x720 llvmpipe frame (38 against 29 ms, same process, loaded host): every
sheet is a pass of alpha-tested fill."""
MIN_VOLUME = 0.0015
"""The flattest hair the fit grows (the "buzz" preset's): at zero volume both sheets coincide and render sparse."""
COARSE_VOLUMES = (0.005, 0.02, 0.028, 0.036)
"""Volumes tried at the best coarse length and fringe (the style's default is 0.012)."""
REFINE_ROUNDS = 2
"""Rounds of per-parameter refinement after the coarse grid (a third round gained under 0.01 IoU)."""
HIDDEN_MARGIN = 0.01
"""Extra depth (metres) behind the skin before a hair polygon whose corners are all hidden is skipped unseen."""
FIT_SIZE = 160
"""Longest side (pixels) of the silhouettes compared while fitting."""


@dataclass(frozen=True)
class HairFit:
    """The fitted style and how well its silhouette covers the photo's hair."""

    style: HairStyle
    iou: float
    """Intersection over union of the style's visible silhouette and the hair region (1 when both are empty)."""
    evaluations: int
    """Styles rendered while fitting."""


def iou(a: np.ndarray, b: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Intersection over union of two (h, w) bool masks, leaving out pixels where `ignore`; 1 when both are empty."""
    union = np.logical_or(a, b)
    both = np.logical_and(a, b)
    if ignore is not None:
        union &= ~ignore
        both &= ~ignore
    n = union.sum()
    return 1.0 if n == 0 else float(both.sum() / n)


class HairSilhouette:
    """Draws the visible silhouette of a style's hair on one head through one camera, at a working size."""

    def __init__(self, avatar: Avatar, view: PhotoView, size: int = FIT_SIZE) -> None:
        """The head is `avatar`'s skin (its hair, if any, is ignored); see `from_skin` for a bare mesh."""
        skin = avatar.part("skin")
        joints = dict(zip(avatar.skeleton.names, avatar.skeleton.rest_positions))
        self._setup(Scalp.from_skin(skin.positions, skin.indices, skin.joints, skin.weights, joints,
                                    skin.morph_positions), skin.positions[skin.indices], view, size)

    @classmethod
    def from_skin(cls, positions: np.ndarray, triangles: np.ndarray, joint_positions: dict[str, np.ndarray],
                  view: PhotoView, size: int = FIT_SIZE) -> "HairSilhouette":
        """A bare skin mesh: positions : (n, 3) at rest; triangles : (m, 3); joint_positions: name -> (3,) in
        skeleton order. Skips rigging a whole avatar (its expressions and normals) only to draw its outline."""
        n = len(positions)
        # the silhouette never attaches hair to the skin, so skinning and expressions stay empty (zero, no copies)
        scalp = Scalp.from_skin(positions, triangles, np.zeros((n, 4), np.uint16), np.zeros((n, 4), np.float32),
                                joint_positions, np.broadcast_to(np.zeros((1, 1, 3), np.float32), (52, n, 3)))
        self = cls.__new__(cls)
        self._setup(scalp, np.asarray(positions)[np.asarray(triangles)], view, size)
        return self

    def _setup(self, scalp: Scalp, skin_triangles: np.ndarray, view: PhotoView, size: int) -> None:
        self.scalp = scalp
        w, h = view.size
        self.scale = size / max(w, h)
        self.size = (max(1, int(round(w * self.scale))), max(1, int(round(h * self.scale))))
        self.view = replace(view, size=self.size, focal_px=view.focal_px * self.scale)
        self._combs: dict = {}
        self._skin_depth = self._depth(skin_triangles, cull=True)

    def _depth(self, polys: np.ndarray, cull: bool) -> np.ndarray:
        """polys : (m, k, 3) model-space polygons (k = 3 or 4 corners) -> (h, w) float32 nearest depth (inf where
        empty), by the painter's algorithm."""
        m, k = polys.shape[:2]
        flat = polys.reshape(-1, 3)
        px = self.view.project(flat).reshape(m, k, 2)
        z = self.view.depth(flat).reshape(m, k)
        depth = z.mean(1)
        keep = (z > self.view.near).all(1)
        if cull:  # image y points down: counter-clockwise in the model is clockwise on screen
            e1, e2 = px[:, 1] - px[:, 0], px[:, 2] - px[:, 0]
            keep &= (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) < 0
        # off-screen polygons cost a call each and draw nothing
        w, h = self.size
        keep &= (px[..., 0].max(1) >= 0) & (px[..., 0].min(1) < w) & (px[..., 1].max(1) >= 0) & (px[..., 1].min(1) < h)
        order = np.flatnonzero(keep)[np.argsort(-depth[keep])]
        corners = px[order].reshape(-1, 2 * k).tolist()
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
                             tip=SILHOUETTE_TIP, combs=self._combs, hang_samples=HANG_SAMPLES)
        if sheets is None:
            return np.zeros(self.size[::-1], bool)
        quads = sheets["positions"][sheets["quads"]]
        hair = self._depth(quads[~self._hidden(quads)], cull=False)
        return hair < self._skin_depth + DEPTH_TOLERANCE

    def _hidden(self, polys: np.ndarray) -> np.ndarray:
        """polys : (m, k, 3) -> (m,) bool: every corner lies well behind the skin (the back of the head seen from
        the front), so the polygon cannot show; drawing it would only cost time."""
        m, k = polys.shape[:2]
        flat = polys.reshape(-1, 3)
        px = np.floor(self.view.project(flat)).astype(int)
        w, h = self.size
        inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
        skin = np.full(len(flat), np.inf, np.float32)
        skin[inside] = self._skin_depth[px[inside, 1], px[inside, 0]]
        behind = self.view.depth(flat) > skin + DEPTH_TOLERANCE + HIDDEN_MARGIN
        return behind.reshape(m, k).all(1)

    def resize(self, mask: np.ndarray) -> np.ndarray:
        """A full-size (h, w) bool mask brought to the working size."""
        return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(self.size, Image.BILINEAR)) > 127


def head_silhouette(model: HeadModel, identity: Mapping[str, float], neutral_positions: np.ndarray,
                    view: PhotoView, size: int = FIT_SIZE) -> HairSilhouette:
    """The fitted person's bare head for the hair fit: neutral_positions : (n, 3) all model vertices at rest (the
    fit's), the skeleton fitted as the rig stage fits it."""
    from avatar_engine.build.rig import fitted_skeleton

    vs, ts = model.part_slices("skin")
    skeleton = fitted_skeleton(model, identity, np.asarray(neutral_positions, np.float64))
    return HairSilhouette.from_skin(np.asarray(neutral_positions, np.float32)[vs], model.triangles[ts] - vs.start,
                                    dict(zip(skeleton.names, skeleton.rest_positions)), view, size)


def fit_hair(region: HairRegion, head: Avatar | HairSilhouette, view: PhotoView | None = None,
             size: int = FIT_SIZE, start: HairStyle | None = None, wave: float = 0.0) -> HairFit:
    """The HairStyle (its colour the region's) whose silhouette through `view` best covers `region.mask` where
    nothing hides the head. Under headwear with too little hair showing to fit, short hair is the likelier guess
    than a bald head (the hat shows nothing either way). `head` is the bald avatar seen through `view` at `size`,
    or a ready HairSilhouette (then `view` and `size` are its own). `start` (a guess, e.g. the hair-style
    network's) replaces the coarse length and fringe grid; the volume search and the refinement run from it.
    `wave` (read from the photo by hair_curl) is held fixed: every candidate grows with it, so the fitted volume
    leaves room for the ripple and the fuller outline curls add."""
    if region.bald:
        if region.headwear:
            color = region.color if region.mask.any() else HairStyle().color
            return HairFit(replace(HAIR_PRESETS["short"], color=color), iou=0.0, evaluations=0)
        return HairFit(HAIR_PRESETS["bald"], iou=1.0 if not region.mask.any() else 0.0, evaluations=0)
    sil = head if isinstance(head, HairSilhouette) else HairSilhouette(head, view, size)
    target = sil.resize(region.mask)
    hidden = sil.resize(region.occluded) if region.occluded is not None else None
    count = 0
    cache: dict[tuple, float] = {}

    def score(style: HairStyle) -> float:
        nonlocal count
        key = (round(style.length, 4), round(style.volume, 4), round(style.fringe, 4), round(style.baldness, 3),
               round(style.parting, 3))
        if key not in cache:
            mask = sil.mask(style)
            cache[key] = iou(mask, target, hidden) - (FRINGE_PENALTY if too_low(mask, style) else 0.0)
            count += 1
        return cache[key]

    base = HairStyle(color=region.color, wave=wave)

    def too_low(mask: np.ndarray, style: HairStyle) -> bool:
        """The style's fringe hangs lower over the forehead than the photo's hair does."""
        if style.fringe <= 0.0 or region.forehead is None:
            return False
        left, right, y = (v * sil.scale for v in region.forehead)
        cols = mask[:, int(np.floor(left)):int(np.ceil(right)) + 1]
        if not cols.any():
            return False
        rows = np.arange(cols.shape[0])[:, None]
        lowest = np.where(cols, rows, -1).max(0)
        return float(np.median(lowest)) > y + FRINGE_SLACK_PX
    # a fringe only as low as the photo's hair comes over the forehead: in outline, hair standing up above the
    # forehead and a fringe hanging over it look alike, but the bare forehead under the hair tells them apart
    fringed = region.forehead is None or region.forehead[2] > float("-inf")
    fringes = (0.0, 0.03, 0.055) if fringed else (0.0,)
    steps = {"length": 0.04, "volume": 0.006, "fringe": 0.015, "baldness": 0.25}
    if start is not None and not start.clamped().bald:
        guess = start.clamped()
        best = replace(base, length=guess.length, volume=max(guess.volume, MIN_VOLUME),
                       fringe=guess.fringe if fringed else 0.0, baldness=guess.baldness)
        # the guess stands in for the length and fringe grid; volume keeps its own coarse search
        best = max([best] + [replace(best, volume=v) for v in COARSE_VOLUMES], key=score)
    else:
        # coarse: length and fringe on a grid, then each parameter refined in turn with shrinking steps
        best = max((replace(base, length=L, fringe=f) for L in (0.0, 0.12, 0.2, 0.28, 0.36) for f in fringes),
                   key=score)
        # big hair (a bob, curls) stands far off the scalp: volume gets its own coarse search before refining
        best = max([best] + [replace(best, volume=v) for v in COARSE_VOLUMES], key=score)
    if not fringed:
        del steps["fringe"]
    for _ in range(REFINE_ROUNDS):
        for name, step in steps.items():
            for delta in (-step, step):
                trial = replace(best, **{name: getattr(best, name) + delta}).clamped()
                trial = replace(trial, volume=max(trial.volume, MIN_VOLUME))
                if trial.bald:
                    continue
                if score(trial) > score(best) + 1e-4:
                    best = trial
        steps = {k: v / 2 for k, v in steps.items()}
    style = replace(best, layers=FIT_SHEETS)
    return HairFit(style=style.clamped(), iou=score(best), evaluations=count)

