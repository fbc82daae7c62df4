"""Where the hair is in a photo: the person minus the face skin, the neck and the clothes, refined by colour, with
headwear told apart from hair.

Candidates are the person's pixels outside the face oval (plus the forehead above the brows, where a fringe lies)
down to the chin. A candidate is not skin when its colour is far from the cheeks' (`SkinColour`, lightness counted
little: shading) or when no shade of the face's skin has its chromaticity (`SkinChroma`: dark hair on dark skin,
blond on fair); colours of skin facing the light are skin unless they carry strands (`strand_texture`: grey hair). Colours are compared in CIELAB as smoothed 3-D histograms, so a class may have several colours
(a striped shirt, a suit with a black collar): skin is sampled on the cheeks, clothes below the chin, hair from the
candidates that are not skin in two places, the crown (above the face) and the temples (beside the face, between
the brows and the nose). When the crown's colours are mostly absent from the temples' hair, the crown is headwear
(a cap, a hat): its pixels are marked occluded, neither hair nor bald, and the hair is what matches the temples.
`not_skin_mask` is the first step alone, without the person mask: where the texture stage must not read skin.
numpy and PIL (OpenCV's connected components where installed: `_grown_from`); no MediaPipe types.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw

from avatar_engine.build.image import linear_rgb
from avatar_engine.build.texture_project import box_blur

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
"""MediaPipe face-mesh indices round the face oval, in order."""
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
"""Upper eyebrow points: above them, inside the oval, a fringe may cover the forehead."""
CHEEKS = (50, 280, 101, 330, 205, 425)
"""Points in the middle of the cheeks, where the skin colour is sampled."""
CHIN, FOREHEAD, NOSE_TIP = 152, 10, 1
SKIN_SAMPLE_RADIUS = 0.05
"""Radius (fraction of the face height) of the skin sample round each cheek point."""
BESIDE_FACE = 0.85
"""Hair is looked for at most this many face heights left or right of the face's middle."""
CLOTHES_BELOW_CHIN = 0.45
"""Person pixels this many face heights below the chin are clothes (or neck) samples."""
CLOTHES_MIN_FRACTION = 0.5
"""Clothes are sampled only where the person below the chin covers at least this fraction of the face's area."""
SKIN_MARGIN = 10.0
"""CIELAB distance: a pixel within this (plus the skin's own spread) of the skin colour is skin."""
SHADE_WEIGHT = 0.6
"""Weight of lightness against chroma in the skin distance: shading over the dome of a bald head darkens skin."""
CROWN_SKIN_MARGIN = 4.0
"""The same margin above the face oval, where hair is likelier than skin: blond highlights come close to skin."""
WHITE_HAIR_THICKNESS = 0.03
"""Near-white regions thinner than this fraction of the face height (an opening's radius) are highlights."""
STRAND_GAP = 0.015
"""Gaps between near-white strands up to this fraction of the face height (a closing's radius) are filled before
the thickness is judged."""
OUTLINE_PX_PER_FACE = 0.02
"""How near the person's outline (fraction of the face height) near-white hair must come."""
SHINE = (10.0, 88.0, 12.0)
"""(lightness above the skin's, least lightness, most chroma): a near-white pixel this much brighter than the skin is
a highlight on skin (a bald scalp's shine), not hair; white hair is rarely this bright."""
BINS = (8.0, 5.0, 5.0)
"""Histogram cell (L, a, b) in CIELAB units."""
SEEN = 0.08
"""A colour belongs to a class when its smoothed density is at least this fraction of the class's typical density."""
SIDE_MIN_FRACTION = 0.015
"""Temples' hair samples below this fraction of the face oval's area are too few to judge headwear by."""
HAT_MATCH = 0.55
"""The crown is headwear when fewer than this fraction of its non-skin pixels have colours of the temples' hair
(their shades: `HAT_SHADE_BINS`). Halfway between a cap and hair: grace_hopper.jpg's navy cap 0.43-0.46 at scales
0.6-2x (at 0.45 her 1.6x photo took the cap for hair and built her bald); the astronaut's hair 0.64; hatless
synthetic people whose crown is covered (`HAT_COVER`) 0.66 at least, 0.80 for all but one (seed 102, 27 people)."""
MOSTLY_MATCHED = (0.9, 0.5)
"""The crown is headwear too when fewer than the first of its pixels have colours of the temples' (as `HAT_MATCH`
counts) and fewer than the second of the temples' have colours of the crown's: a black cap's colours are among
the temples' where the glasses' arms and the shadows at the brim are near-black too (grace_hopper.jpg cut to head
and shoulders, no navy uniform below to take them out: 0.84 and 0.34), while hair comes down the temples in the
crown's colours (the astronaut: 0.64 and 0.99; hatless synthetic people where the first is under 0.9: the second
0.75 at least on 30 of seed 102 and, held out, 0.75 on 31 of seed 103, where benchmarks/hair_region.py finds no
false headwear either way)."""
CROWN_HAIR_AT_SIDES = 0.7
"""Whatever `HAT_MATCH` says, the crown is hair when at least this fraction of the temples' hair has its colours:
hair comes down the temples in the crown's colours, a hat's colours stop at its brim. The astronaut saved as a
256-colour GIF (dithered: fewer of the crown's colours recur at the temples) scores 0.535 against HAT_MATCH but
0.967 here and lost all her hair to a "hat"; grace_hopper.jpg's cap scores 0.17-0.42 (scales 0.6-2x, a GIF, cut to
her head)."""
LIT_SKIN = (3.0, 20.0, (0.3, 1.15))
"""(lightness above the skin's, most hue turn in degrees, (least, most) chroma as fractions of the skin's): skin
facing the light (`SkinColour.lit`)."""
SKIN_HIGHLIGHT = (20.0, 28.0, LIT_SKIN[2])
"""`LIT_SKIN` for skin in a hard key light (`SkinColour.highlight`): at least 20 lightness units above the cheeks, the
hue turned up to 28 degrees. Counted as skin only where it is as smooth as the face and above the brows: a
synthetic head lit from above and behind (build review, seed 5106) had its forehead 25-36 units above its shaded
cheeks, turned 16-25 degrees toward yellow (its red channel near 255), and that forehead came out as
orange-blonde hair over the dark hairline; its hair is now the hairline's dark brown. Pale blond hair 9 units above
the skin, as smooth, stays hair. benchmarks/hair_region.py on 80 synthetic people (seed 102): IoU median 0.855 ->
0.861, mean and p10 unchanged, bald heads left bald unchanged; build_hair.py unchanged."""
HAT_COVER = 0.6
"""Headwear covers the crown: it is considered only when at least this fraction of the person above the face oval
is not skin (grace_hopper.jpg's cap: 0.88). A bald scalp's highlights (0.09-0.12 on synthetic people) or hair
parted over a high forehead (0.24-0.57) are not a hat."""
HAT_SHADE_BINS = 1
"""Crown colours count as the sides' hair lit brighter or darker by up to this many lightness cells (x BINS[0]):
the crown faces the light and the sides turn away, and grey hair read as a hat over its own shade. Two cells
already take grace_hopper.jpg's navy cap for her hair's shade."""
HAIR_REACH = 0.1
"""Hair over the face reaches at least this many face heights beyond the face oval (it grows from the crown or the
temples); a patch of another colour than the skin's that does not is on the skin (a highlight across the oval's top)."""
HAIR_FACE_PX = 400
"""`hair_region` reads faces taller than this many pixels from a photo reduced to about this face height (the
shipped photos' faces are about 200 tall, synthetic sets' 100-250)."""
NOT_SKIN_FACE_PX = 120
"""`not_skin_mask` reads the photo in blocks of about this many to the face height (whole pixels below twice it)."""
BALD_FRACTION = 0.04
"""A hair region smaller than this fraction of the face oval's area means no hair worth growing: bald."""
SPECK = 0.01
"""Radius (fraction of the face height) of the opening that removes specks from the hair and of the closing that
joins its strands. Closing first kept hanging strands (hair_region benchmark, held-out seeds 102 / 103: mean IoU
0.735 / 0.763 -> 0.769 / 0.784, p10 0.31 / 0.37 -> 0.45 / 0.45); a bald head's specks are judged before it."""
NOT_FACE_SKIN = ((33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
                 (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249),
                 (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146),
                 (70, 63, 105, 66, 107, 55, 65, 52, 53, 46), (300, 293, 334, 296, 336, 285, 295, 282, 283, 276))
"""Face-mesh outlines of the eyes, the lips and the brows: inside the face oval, what is not skin."""
FEATURE_MARGIN = 0.02
"""Those outlines are widened by this fraction of the face height (lashes, the lips' edge, stray brow hairs)."""
CHROMA_BINS = 48
"""Cells per axis of the skin's chromaticity histogram, over r in [0.2, 0.8] and g in [0.1, 0.5]."""
CHROMA_SEEN = 0.1
"""A chromaticity is the skin's when its smoothed density is at least this fraction of the face skin's median."""
STRAND_SCALE = 1 / 130
"""Radius (fraction of the face height) of the blur whose residual measures strand texture; the residual is
averaged over twice that."""
STRANDS = 2.5
"""Colours of lit skin (`SkinColour.lit`) are hair where their lightness varies this many times as much as the face
skin's does (`strand_texture`): grey and white hair on fair skin has its hue, but strands; a scalp facing the light
is as smooth as the face (synthetic sets: lit hair 2.6-24 times, lit bald scalps 0.4-2.4)."""
SOFT_PERSON = 0.1
"""Hair may lie where the person segmenter gives at least this probability, below its 0.5 cut, if it has the
colours of the hair found inside the mask and connects to it (synthetic sets: light and thin hair against the
backdrop scores 0.01-0.47)."""
BACKGROUND_PERSON = 0.05
"""Pixels the segmenter gives less than this are the backdrop, whose colours soft candidates must not be more of."""
CHROMA_LUMINANCE = (0.5, 1.4)
"""Skin spans its face's 5th to 95th percentile luminance times these: shade darker, light brighter than that is
not the face's skin under this light."""


@dataclass(frozen=True)
class HairRegion:
    """Where the hair is in the photo and what colour it is."""

    mask: np.ndarray
    """mask : (h, w) bool hair pixels."""
    color: tuple[int, int, int]
    """Median sRGB colour of the hair pixels (the skin's colour when there is no hair)."""
    face: np.ndarray
    """face : (h, w) bool inside the face oval."""
    occluded: np.ndarray | None = None
    """occluded : (h, w) bool headwear: hair may or may not lie under it (None: nothing hides the head)."""
    forehead: tuple[float, float, float] | None = None
    """(left x, right x, y) in pixels: between the inner ends of the brows the hair comes down to y (the median of
    the columns' lowest hair above the brows; -inf where the forehead is bare). A fringe may hang no lower.
    None: not known (a region made without landmarks), any fringe may be tried."""

    @property
    def bald(self) -> bool:
        return bool(self.mask.sum() < BALD_FRACTION * max(self.face.sum(), 1))

    @property
    def headwear(self) -> bool:
        return self.occluded is not None and bool(self.occluded.any())


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """rgb : (..., 3) uint8 sRGB -> (..., 3) float32 CIELAB (D65)."""
    xyz = linear_rgb(rgb) @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
                       np.float32).T
    xyz /= np.array([0.9505, 1.0, 1.089], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
                    -1).astype(np.float32)


def polygon_mask(size: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """size : (w, h); points : (n, 2) pixels -> (h, w) bool inside the polygon."""
    image = Image.new("1", size, 0)
    ImageDraw.Draw(image).polygon([tuple(p) for p in np.asarray(points, float)], fill=1)
    return np.asarray(image, bool)


class ColourModel:
    """A class's colours as a smoothed CIELAB histogram: `density(cells)` is high for colours seen in its samples."""

    SHAPE = (14, 52, 52)

    def __init__(self, cells: np.ndarray) -> None:
        """cells : (n,) flat histogram cell indices of the samples (see `cells`)."""
        hist = np.bincount(cells, minlength=int(np.prod(self.SHAPE))).reshape(self.SHAPE).astype(np.float32)
        for axis in range(3):  # [1 2 1] smoothing: neighbouring shades count as seen
            hist = 2 * hist + np.roll(hist, 1, axis) + np.roll(hist, -1, axis)
        self.table = hist.ravel() / max(hist.sum(), 1.0)
        own = self.table[cells]
        self.typical = float(np.median(own)) if len(own) else 1.0
        self.count = len(cells)

    def seen(self, cells: np.ndarray) -> np.ndarray:
        """(...,) bool: these cells' colours are among the class's own."""
        return self.table[cells] >= SEEN * self.typical

    def seen_in_other_light(self, cells: np.ndarray, bins: int) -> np.ndarray:
        """(...,) bool: these cells' colours are the class's own, lit up to `bins` lightness cells brighter or darker."""
        table = self.table.reshape(self.SHAPE)
        lit = table.copy()
        for shift in range(1, bins + 1):
            lit[shift:] = np.maximum(lit[shift:], table[:-shift])
            lit[:-shift] = np.maximum(lit[:-shift], table[shift:])
        return lit.ravel()[cells] >= SEEN * self.typical


def cells(lab: np.ndarray) -> np.ndarray:
    """lab : (..., 3) -> (...,) int flat ColourModel cell index."""
    q = np.floor((lab + np.array([0.0, 128.0, 128.0], np.float32)) / np.array(BINS, np.float32)).astype(np.int32)
    q = np.clip(q, 0, np.array(ColourModel.SHAPE) - 1)
    return (q[..., 0] * ColourModel.SHAPE[1] + q[..., 1]) * ColourModel.SHAPE[2] + q[..., 2]


def _skin_distance(lab: np.ndarray, centre: np.ndarray) -> np.ndarray:
    d = lab - centre
    return np.sqrt((SHADE_WEIGHT * d[..., 0]) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)


@dataclass(frozen=True)
class SkinColour:
    """The photo's skin colour as sampled on the cheeks."""

    centre: np.ndarray
    """centre : (3,) float32 median CIELAB colour of the samples."""
    spread: float
    """80th percentile of the samples' `_skin_distance` from the centre."""
    rgb: np.ndarray
    """rgb : (3,) median sRGB colour of the samples."""

    @classmethod
    def of(cls, rgb: np.ndarray) -> SkinColour:
        """rgb : (n, 3) uint8 sRGB skin samples, n > 0."""
        lab = srgb_to_lab(rgb)
        centre = np.median(lab, 0)
        return cls(centre, float(np.percentile(_skin_distance(lab, centre), 80)), np.median(rgb, 0))

    def differs(self, lab: np.ndarray, margin: float | np.ndarray = SKIN_MARGIN) -> np.ndarray:
        """(...,) bool: colours lab (..., 3) farther than the skin's spread plus `margin` from its centre."""
        return _skin_distance(lab, self.centre) > self.spread + margin

    def lit(self, lab: np.ndarray) -> np.ndarray:
        """(...,) bool: colours lab (..., 3) of this skin facing the light: lighter, the same hue, its chroma kept or
        washed out by the highlight's white toward `LIT_SKIN`'s least (a bald scalp under the key light). Grey hair
        has almost no chroma left; blond hair turns yellow; brown and red hair are darker."""
        return self._lit(lab, *LIT_SKIN)

    def highlight(self, lab: np.ndarray) -> np.ndarray:
        """(...,) bool: colours lab (..., 3) of this skin in a hard key light (`SKIN_HIGHLIGHT`): much lighter than
        the cheeks, and turned further toward yellow as the brightest channel saturates."""
        return self._lit(lab, *SKIN_HIGHLIGHT)

    def _lit(self, lab: np.ndarray, lighter: float, hue_deg: float, chroma_range: tuple[float, float]) -> np.ndarray:
        least, most = chroma_range
        chroma0 = float(np.hypot(self.centre[1], self.centre[2]))
        hue0 = float(np.arctan2(self.centre[2], self.centre[1]))
        chroma = np.hypot(lab[..., 1], lab[..., 2])
        turn = np.abs(np.angle(np.exp(1j * (np.arctan2(lab[..., 2], lab[..., 1]) - hue0))))
        return ((lab[..., 0] > self.centre[0] + lighter) & (turn < np.radians(hue_deg))
                & (chroma > least * chroma0) & (chroma < most * chroma0))

    def shine(self, lab: np.ndarray) -> np.ndarray:
        """(...,) bool: colours lab (..., 3) of a highlight on this skin (`SHINE`)."""
        above, least, chroma = SHINE
        return (lab[..., 0] > max(self.centre[0] + above, least)) & (np.hypot(lab[..., 1], lab[..., 2]) < chroma)


@dataclass(frozen=True)
class SkinChroma:
    """The face's skin as the photo's light leaves it: a histogram of linear-RGB chromaticity (r and g over
    r + g + b, which shading does not change) and the luminance range it spans.

    `SkinColour` counts lightness little (a bald scalp darkens as it turns from the light), so dark hair on dark
    skin or blond hair on fair skin can come within its reach; their chromaticity is another than any shade of
    the face's skin: black hair is greyer than brown skin, blond hair yellower than fair skin."""

    table: np.ndarray
    """(CHROMA_BINS, CHROMA_BINS) smoothed density of the face skin's chromaticity."""
    typical: float
    """Median density at the face skin's own pixels."""
    luminance: tuple[float, float]
    """The luminance (linear) range skin may have: `CHROMA_LUMINANCE` times the face's 5th and 95th percentiles."""

    @staticmethod
    def _cells(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lin = linear_rgb(rgb)
        total = lin.sum(-1) + 1e-4
        r = np.clip(((lin[..., 0] / total - 0.2) / 0.6 * CHROMA_BINS).astype(np.int32), 0, CHROMA_BINS - 1)
        g = np.clip(((lin[..., 1] / total - 0.1) / 0.4 * CHROMA_BINS).astype(np.int32), 0, CHROMA_BINS - 1)
        return r, g, lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)

    @classmethod
    def of(cls, rgb: np.ndarray) -> SkinChroma:
        """rgb : (n, 3) uint8 sRGB face skin samples, n > 0."""
        r, g, lum = cls._cells(rgb)
        hist = np.zeros((CHROMA_BINS, CHROMA_BINS), np.float64)
        np.add.at(hist, (r, g), 1.0)
        for axis in (0, 1):  # [1 2 1]: neighbouring chromaticities count as seen
            hist = 2 * hist + np.roll(hist, 1, axis) + np.roll(hist, -1, axis)
        hist /= max(hist.sum(), 1.0)
        lo, hi = np.percentile(lum, [5, 95])
        return cls(hist, float(np.median(hist[r, g])),
                   (float(lo * CHROMA_LUMINANCE[0]), float(hi * CHROMA_LUMINANCE[1])))

    def unlike(self, rgb: np.ndarray) -> np.ndarray:
        """(...,) bool: colours rgb (..., 3) uint8 no shade of this skin has."""
        r, g, lum = self._cells(rgb)
        lo, hi = self.luminance
        return (self.table[r, g] < CHROMA_SEEN * self.typical) | (lum < lo) | (lum > hi)


def face_skin_mask(size: tuple[int, int], landmarks_px: np.ndarray) -> np.ndarray:
    """(h, w) bool: the face oval less the eyes, lips and brows (`NOT_FACE_SKIN`, widened by `FEATURE_MARGIN`).
    size : (w, h)."""
    lm = np.asarray(landmarks_px, np.float64)
    face = polygon_mask(size, lm[list(FACE_OVAL)])
    margin = max(1, int(round(FEATURE_MARGIN * float(lm[CHIN, 1] - lm[FOREHEAD, 1]))))
    features = np.zeros_like(face)
    for outline in NOT_FACE_SKIN:
        features |= polygon_mask(size, lm[list(outline)])
    return face & ~dilate(features, margin)


def strand_radius(face_h: float) -> int:
    """Pixels of `STRAND_SCALE` x face height, at least 1."""
    return max(1, int(round(STRAND_SCALE * face_h)))


def strand_texture(lightness: np.ndarray, face_h: float) -> np.ndarray:
    """(h, w) how much lightness (h, w) varies at the scale of hair strands: the mean absolute residual of a blur
    of `strand_radius`, averaged over twice that radius."""
    r = strand_radius(face_h)
    light = np.asarray(lightness, np.float64)
    return box_blur(np.abs(light - box_blur(light, r)), 2 * r)


def cheek_skin(rgb: np.ndarray, landmarks_px: np.ndarray) -> SkinColour | None:
    """The skin colour round the cheek points (`CHEEKS`, `SKIN_SAMPLE_RADIUS`) inside the face oval; None when no
    cheek pixel is in the photo. rgb : (h, w, 3) uint8; landmarks_px : (478, 2)."""
    h, w = rgb.shape[:2]
    lm = np.asarray(landmarks_px, np.float64)
    radius = SKIN_SAMPLE_RADIUS * float(lm[CHIN, 1] - lm[FOREHEAD, 1])
    points = lm[list(CHEEKS)]
    x0, y0 = np.maximum(np.floor(points.min(0) - radius).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(points.max(0) + radius).astype(int) + 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    pick = np.zeros(ys.shape, bool)
    for x, y in points:
        pick |= (xs - x) ** 2 + (ys - y) ** 2 < radius ** 2
    pick &= polygon_mask((w, h), lm[list(FACE_OVAL)])[y0:y1, x0:x1]
    return SkinColour.of(np.asarray(rgb)[y0:y1, x0:x1][pick]) if pick.any() else None


def not_skin_mask(rgb: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray:
    """(h, w) bool: where hair may hide the skin (above the chin, outside the face oval or above the brows), the pixels
    of another colour than the cheeks' (`SkinColour.differs`, no `SHINE` exception: white hair is as bright) that
    reach `HAIR_REACH` beyond the oval through such colours: hair of any colour, headwear, the background beside the
    head; not a highlight on the forehead. Read in blocks of about `NOT_SKIN_FACE_PX` to the face height; all False
    when no cheek is seen. rgb : (h, w, 3) uint8; landmarks_px : (478, 2)."""
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), bool)
    skin = cheek_skin(rgb, landmarks_px)
    lm = np.asarray(landmarks_px, np.float64)
    face_h = float(lm[CHIN, 1] - lm[FOREHEAD, 1])
    if skin is None or face_h <= 0:
        return out
    k = max(1, int(face_h // NOT_SKIN_FACE_PX))
    oval = lm[list(FACE_OVAL)] / k
    middle = float(oval[:, 0].mean())
    reach = max(1, int(round(HAIR_REACH * face_h / k)))
    side = BESIDE_FACE * face_h / k
    x0, x1 = int(max(0, middle - side)), int(min(w // k, middle + side + 1))
    y0, y1 = int(max(0, oval[:, 1].min() - side)), int(min(h // k, lm[CHIN, 1] / k))
    face = polygon_mask((w // k, h // k), oval)[y0:y1, x0:x1]
    if x1 <= x0 or y1 <= y0 or not face.any():
        return out
    block = np.asarray(rgb, np.float32)[y0 * k:y1 * k, x0 * k:x1 * k]
    block = block.reshape(y1 - y0, k, x1 - x0, k, 3).mean((1, 3))
    above_brows = (np.arange(y0, y1)[:, None] + 0.5) * k < lm[list(BROWS), 1].min()
    other = (~face | above_brows) & skin.differs(srgb_to_lab(block))
    # beyond the reach every such pixel is hair, headwear or background; within it, only what a path leads out of
    near = dilate(face, reach + 1)
    rows, cols = np.flatnonzero(near.any(1)), np.flatnonzero(near.any(0))
    sub = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    inside = other[sub] & near[sub]
    grown = _grown_from(inside, inside & ~dilate(face, reach)[sub])
    other &= ~near
    other[sub] |= grown
    out[y0 * k:y1 * k, x0 * k:x1 * k] = np.repeat(np.repeat(other, k, 0), k, 1)
    return out


def hair_region(rgb: np.ndarray, person: np.ndarray, landmarks_px: np.ndarray) -> HairRegion:
    """rgb : (h, w, 3) uint8; person : (h, w) float person probability (the segmenter's);
    landmarks_px : (478, 2) MediaPipe landmarks in pixels -> the hair region, its colour and any headwear.

    A face more than `HAIR_FACE_PX` tall is read from the photo reduced by a whole factor (box averages) and the
    masks brought back to the photo's size: the region's tests and morphology cost as the head's area, and a
    selfie-sized close-up (a face 1000 pixels tall) took 4 s here for no better outline."""
    lm = np.asarray(landmarks_px, np.float64)
    k = int(np.ceil(float(lm[CHIN, 1] - lm[FOREHEAD, 1]) / HAIR_FACE_PX))
    if k <= 1:
        return _hair_region(rgb, person, lm)
    h, w = person.shape
    hk, wk = h // k, w // k
    small_rgb = np.asarray(rgb, np.float32)[:hk * k, :wk * k].reshape(hk, k, wk, k, 3).mean((1, 3))
    small_person = np.asarray(person, np.float32)[:hk * k, :wk * k].reshape(hk, k, wk, k).mean((1, 3))
    small = _hair_region(np.round(small_rgb).astype(np.uint8), small_person, lm / k)

    def full(mask: np.ndarray) -> np.ndarray:
        out = np.zeros((h, w), bool)
        out[:hk * k, :wk * k] = np.repeat(np.repeat(mask, k, 0), k, 1)
        return out

    mask = full(small.mask)
    color = small.color if not mask.any() else tuple(int(c) for c in np.median(np.asarray(rgb)[mask], 0))
    forehead = None if small.forehead is None else (small.forehead[0] * k, small.forehead[1] * k,
                                                     small.forehead[2] * k)
    return HairRegion(mask=mask, color=color, face=polygon_mask((w, h), lm[list(FACE_OVAL)]),
                      occluded=None if small.occluded is None else full(small.occluded), forehead=forehead)


def _hair_region(rgb: np.ndarray, person: np.ndarray, landmarks_px: np.ndarray) -> HairRegion:
    """`hair_region` at the photo's own size."""
    h, w = person.shape
    lm = np.asarray(landmarks_px, np.float64)
    oval = lm[list(FACE_OVAL)]
    face_h = float(lm[CHIN, 1] - lm[FOREHEAD, 1])
    middle = float(oval[:, 0].mean())
    # work inside the head's box only: the rest of the photo cannot hold hair (and costs time)
    x0, x1 = int(max(0, middle - BESIDE_FACE * face_h)), int(min(w, middle + BESIDE_FACE * face_h + 1))
    y1 = int(min(h, lm[CHIN, 1] + (CLOTHES_BELOW_CHIN + 0.6) * face_h))
    full = np.zeros((h, w), bool)
    face_full = polygon_mask((w, h), oval)
    if x1 <= x0 or y1 <= 0:
        return HairRegion(mask=full, color=(0, 0, 0), face=face_full)
    box = (slice(0, y1), slice(x0, x1))
    face = face_full[box]
    sub_rgb = np.asarray(rgb)[box]
    lab = srgb_to_lab(sub_rgb)
    cell = cells(lab)
    ys, xs = np.mgrid[0:y1, x0:x1]
    is_person = person[box] > 0.5
    background = person[box] < BACKGROUND_PERSON  # surely not the person: the backdrop's colours
    backdrop = ColourModel(cell[background]) if background.any() else None
    person_or_hair = person_by_colour(person[box], cell, backdrop)  # where hair may be: the mask refined by colour

    skin = cheek_skin(rgb, lm)
    if skin is None:
        skin = SkinColour.of(sub_rgb[face])
    brow_y = float(lm[list(BROWS), 1].min())
    top_y = float(oval[:, 1].min())
    candidate = person_or_hair & (~face | (ys < brow_y)) & (ys < lm[CHIN, 1])
    shine = skin.shine(lab)
    shine &= ~_white_hair(shine & candidate, person_or_hair, face_h)
    face_skin = face_skin_mask((w, h), lm)[box]
    lit = skin.lit(lab)
    not_skin = skin.differs(lab, np.where(ys < top_y, CROWN_SKIN_MARGIN, SKIN_MARGIN))
    if face_skin.any():
        # lit skin's colours with strands are grey or white hair: a lit scalp is smooth (not judged at the person's
        # outline, where the step to the background reads as texture)
        texture = strand_texture(lab[..., 0], face_h)
        inside = ~dilate(~person_or_hair, 3 * strand_radius(face_h))
        smooth = texture <= STRANDS * max(float(np.median(texture[face_skin])), 1e-3)
        lit &= smooth | ~inside
        # a forehead or scalp in a hard key light, far lighter than the shaded cheeks the skin was sampled on: as
        # smooth as skin and reached from the face's skin without a step (smooth blond hair over a forehead in
        # ordinary light is not reached: the forehead is not as light)
        key_lit = skin.highlight(lab) & smooth & inside & (ys < brow_y)
        lit |= _grown_from(key_lit, key_lit & face_skin)
        # a colour no shade of the face's skin has: another chromaticity, or darker than shade
        not_skin |= SkinChroma.of(sub_rgb[face_skin]).unlike(sub_rgb)
    not_skin &= ~lit & ~shine  # a lit bald scalp stays skin
    # the colour models and the headwear test read the pixels the segmenter is sure of
    crown = candidate & is_person & not_skin & (ys < top_y)
    sides = candidate & is_person & not_skin & ~face & (ys > brow_y) & (ys < lm[NOSE_TIP, 1])
    clothes_pick = is_person & (ys > lm[CHIN, 1] + CLOTHES_BELOW_CHIN * face_h)
    clothes = ColourModel(cell[clothes_pick]) if clothes_pick.sum() > CLOTHES_MIN_FRACTION * face.sum() else None
    if clothes is not None:  # temples next to a collar: drop the collar's colours from the hair samples
        sides &= ~clothes.seen(cell)

    occluded = None
    face_area = max(int(face.sum()), 1)
    crown_cover = crown.sum() / max(int((is_person & (ys < top_y)).sum()), 1)
    if sides.sum() >= SIDE_MIN_FRACTION * face_area and crown_cover >= HAT_COVER:
        side_model, crown_model = ColourModel(cell[sides]), ColourModel(cell[crown])
        crown_in_sides = side_model.seen_in_other_light(cell[crown], HAT_SHADE_BINS).mean()
        sides_in_crown = crown_model.seen_in_other_light(cell[sides], HAT_SHADE_BINS).mean()
        if ((crown_in_sides < HAT_MATCH and sides_in_crown < CROWN_HAIR_AT_SIDES)
                or (crown_in_sides < MOSTLY_MATCHED[0] and sides_in_crown < MOSTLY_MATCHED[1])):
            # the hair is the temples' colours the headwear does not have: its edge and the dark glasses' arms
            # beside it left in, the cap's own colours were hair and the cap came out a black bob
            own = sides & ~crown_model.seen(cell)
            hair_model = ColourModel(cell[own]) if own.any() else side_model
            occluded = is_person & ~face & (ys < brow_y) & ~hair_model.seen(cell)
        else:
            hair_model = ColourModel(cell[crown | sides])
    elif (crown | sides).any():
        hair_model = ColourModel(cell[crown | sides])
    else:
        hair_model = None

    hair = np.zeros(face.shape, bool)
    if hair_model is not None:
        seen = hair_model.seen(cell)
        hair = candidate & not_skin & seen
        if clothes is not None:  # a colour both wear: hair only where it is more the hair's than the clothes'
            hair &= hair_model.table[cell] * max(hair_model.count, 1) >= clothes.table[cell] * clothes.count * 0.5
    speck = max(1, int(round(face_h * SPECK)))
    # hair grows from the scalp: patches beside the jaw that do not connect to it are dropped
    cleaned = _open_close(hair, speck)
    cleaned = _grown_from(cleaned, cleaned & (ys < brow_y))
    if cleaned.sum() >= BALD_FRACTION * max(int(face_full.sum()), 1):
        # hair, not a bald head's few specks: close the gaps between strands before opening specks away, or
        # strands thinner than the opening go and, with them, what connects hanging hair to the scalp
        hair = _close_open(hair, speck)
        cleaned = _grown_from(hair, hair & (ys < brow_y))
    hair = cleaned
    if hair_model is not None and hair.any():
        soft = candidate_soft(person[box], is_person, face, ys, brow_y, lm[CHIN, 1]) & not_skin & seen
        hair = _beyond_the_mask(hair, soft, hair_model, cell, backdrop, speck)
    if occluded is not None:
        occluded = _open_close(occluded & ~hair, speck)
    color = np.median(sub_rgb[hair], 0) if hair.any() else skin.rgb
    mask = full.copy()
    mask[box] = hair
    hidden = None
    if occluded is not None and occluded.any():
        hidden = full.copy()
        hidden[box] = occluded
    return HairRegion(mask=mask, color=tuple(int(c) for c in color), face=face_full, occluded=hidden,
                      forehead=_hair_over_forehead(hair, ys, xs, lm, brow_y))


def person_by_colour(person: np.ndarray, cell: np.ndarray, backdrop: ColourModel | None) -> np.ndarray:
    """The person mask refined by colour: the segmenter's 0.5 cut, plus the pixels it is less sure of
    (> `SOFT_PERSON`) whose colour the backdrop (the pixels it scores < `BACKGROUND_PERSON`; None: none) does not
    have. The segmenter scores white and light grey hair 0.2-0.5 against a plain backdrop; without this most of such
    hair never becomes a candidate."""
    is_person = person > 0.5
    if backdrop is None:
        return is_person
    return is_person | ((person > SOFT_PERSON) & ~backdrop.seen(cell))


def candidate_soft(person: np.ndarray, is_person: np.ndarray, face: np.ndarray, ys: np.ndarray, brow_y: float,
                   chin_y: float) -> np.ndarray:
    """Where hair the person mask left out may be: `SOFT_PERSON` < probability <= 0.5, outside the face oval (or
    above the brows) and above the chin."""
    return (person > SOFT_PERSON) & ~is_person & (~face | (ys < brow_y)) & (ys < chin_y)


def _beyond_the_mask(hair: np.ndarray, soft: np.ndarray, hair_model: ColourModel, cell: np.ndarray,
                     backdrop: ColourModel | None, speck: int) -> np.ndarray:
    """`hair` grown into `soft` candidates (of the hair's colours) that are more the hair's than the backdrop's
    (the colours of the pixels surely not the person; None: none) and connect to it: the person segmenter's mask
    leaves out thin or light hair against the backdrop."""
    extra = soft
    if backdrop is not None:
        extra &= hair_model.table[cell] * max(hair_model.count, 1) >= backdrop.table[cell] * backdrop.count * 0.5
    return _grown_from(_close_open(hair | extra, speck), hair)


def _white_hair(shine: np.ndarray, person: np.ndarray, face_h: float) -> np.ndarray:
    """The part of `shine` (near-white pixels where hair may be) that is white hair, not a highlight on skin: what
    reaches the person's outline and, its strand gaps closed (`STRAND_GAP`), stays after an opening of
    `WHITE_HAIR_THICKNESS` x face height. A bald scalp's highlight lies inside skin (the outline there is skin
    turning away from the light) or, lit from behind, is a thin rim; white or platinum hair is a thick sheet out to
    the outline."""
    if not shine.any():
        return shine
    outline = shine & dilate(~person, max(1, int(round(OUTLINE_PX_PER_FACE * face_h))))
    gap = max(1, int(round(STRAND_GAP * face_h)))
    closed = ~dilate(~dilate(shine, gap), gap)  # the gaps between strands and clumps filled
    r = max(1, int(round(WHITE_HAIR_THICKNESS * face_h)))
    thick = dilate(~dilate(~closed, r), r) & shine
    return _grown_from(thick, thick & outline)


def _hair_over_forehead(hair: np.ndarray, ys: np.ndarray, xs: np.ndarray, lm: np.ndarray,
                        brow_y: float) -> tuple[float, float, float] | None:
    """How low the hair comes between the inner brows (see HairRegion.forehead)."""
    left, right = sorted((float(lm[BROWS[4], 0]), float(lm[BROWS[5], 0])))
    cols = (xs[0] >= left) & (xs[0] <= right)
    above = hair[:, cols] & (ys[:, cols] < brow_y)
    if not above.any(0).all():  # a column with no hair above the brows: nothing hangs over this forehead
        return left, right, float("-inf")
    lowest = np.where(above, ys[:, cols], -1).max(0)
    return left, right, float(np.median(lowest))


@cache
def _opencv():
    """cv2, or None where it is not installed (the pure numpy reconstruction is used then); looked up once."""
    from avatar_engine.errors import BackendError
    from avatar_engine.perception.opencv import import_cv2

    try:
        return import_cv2("hair regions")
    except BackendError:  # not installed
        return None


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Square dilation by r pixels (summed-area table)."""
    m = np.pad(mask.astype(np.int32), r + 1)
    s = m.cumsum(0).cumsum(1)
    k = 2 * r + 1
    box = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
    return box[:mask.shape[0], :mask.shape[1]] > 0


def _open_close(mask: np.ndarray, r: int) -> np.ndarray:
    """Remove specks, then fill pinholes (square structuring element of radius r)."""
    opened = dilate(~dilate(~mask, r), r)
    return ~dilate(~dilate(opened, r), r)


def _close_open(mask: np.ndarray, r: int) -> np.ndarray:
    """Fill gaps and pinholes, then remove specks (square structuring element of radius r)."""
    closed = ~dilate(~dilate(mask, r), r)
    return dilate(~dilate(~closed, r), r)


def _grown_from(mask: np.ndarray, seed: np.ndarray, step: int = 3) -> np.ndarray:
    """The parts of `mask` connected (through gaps under `step` pixels) to `seed`: morphological reconstruction.

    With OpenCV (MediaPipe brings it), as connected components: two mask pixels at most `step` apart (odd, in
    either axis) are joined exactly when their squares of radius (step - 1) / 2 touch, so the components of the
    mask so dilated, 8-connected, are the reconstruction's. The dilation loop below costs a pass per `step`
    pixels the region spans: at 2048 x 2048 with the face filling it, a second of the hair stage's two."""
    cv2 = _opencv()
    if cv2 is not None and step % 2 == 1 and mask.any():
        joined = dilate(mask, (step - 1) // 2).astype(np.uint8)
        count, labels = cv2.connectedComponents(joined, connectivity=8)
        kept = np.zeros(count, bool)
        kept[labels[seed & mask]] = True
        kept[0] = False  # the background
        return mask & kept[labels]
    grown = seed & mask
    count = int(grown.sum())
    while True:
        grown = dilate(grown, step) & mask
        more = int(grown.sum())
        if more == count:
            return grown
        count = more
