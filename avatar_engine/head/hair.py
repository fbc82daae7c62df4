"""Sheet hair: a few layers of strand-textured sheets combed from the crown, lying on the scalp, hanging below it.

Each sheet is a grid: columns are combed strands that start at the crown (the parting), follow the scalp at the
layer's height, and below the widest point of the head fall almost straight down (pushed out by the ears); rows
are positions along the strand. A column ends at its own length: at the hairline for short hair, below it for long
hair, over the forehead for a fringe, never over the face. The strand texture (hair_texture) cuts the sheets into
tapered clumps with alpha MASK, so the hair needs no sorting; the inner layer is dense and dark, the outer ones sparse
and light, which reads as volume. Where the hair ends the outer sheets close in on the inner one: hanging ends turn
under, a fringe lies on the forehead (combed to one side by `sweep`), short hair settles on the scalp at its
hairline (where the strand tips are squeezed into the last centimetre). Wavy hair (`wave`) ripples along the strands
(hair_wave) and its texture curls. Strand directions go into the TANGENT attribute for the Kajiya-Kay highlight.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from avatar_engine.head.geometry import smoothstep
from avatar_engine.head.hair_scalp import Scalp, direction_angles
from avatar_engine.head.hair_texture import strand_atlas, band_v
from avatar_engine.head.hair_wave import EXTRA_VOLUME, ripple, wave_rows
from avatar_engine.records import Material, Part

COLUMNS = 64
"""Strands (grid columns) round the head per layer."""
ROW_SPACING = 0.011
"""Target distance between grid rows along a strand (metres); rows are clamped to ROWS."""
ROWS = (12, 22)
SAMPLES_A, SAMPLES_B = 120, 120
"""Steps of the combing march: over the scalp (110 degrees of arc from the crown), then hanging down."""
U_REPEATS = 5
"""Times the strand texture repeats round the head."""
CROWN_TILT_DEG = 14.0
"""The crown lies behind the top of the head."""
PARTING_TILT_DEG = 24.0
"""How far a full parting (+-1) moves the crown toward one side."""
FACE_DEG = 42.0
"""Half-width (azimuth round the head) of the face: only the fringe may hang there."""
FACE_BLEND_DEG = 26.0
"""Width over which the length changes from the fringe's to the hanging hair's beside the face."""
HAIRLINE = ((0, 36.0), (30, 33.0), (50, 25.0), (60, 14.0), (66, -16.0), (72, -16.0), (76, 0.0), (90, 3.0),
            (102, 0.0), (114, -24.0), (140, -40.0), (180, -42.0))
"""(azimuth, elevation) in degrees about the scalp centre along the hairline: forehead, temple, sideburn, over the
ear, behind it, nape; symmetric left and right."""
HANG_LENGTHS, HANG_SLOPES = (0.12, 0.26), (1.2, 0.15)
"""Below the widest point of the head hair moves inward this much per unit of drop (interpolated by length)."""
FRINGE_MAX = 0.06
"""A fringe longer than this would cover the eyes."""
HANG_CLEARANCE = 0.004
"""Extra gap kept from the skin by hanging hair: thin ears fall between the radius table's cells."""
TUCK, TUCK_LENGTH = 0.7, 0.06
"""Hanging hair's outer sheets close in on the inner one by this fraction over this length (m) before the tips:
the ends turn under, as a cut bob's do, instead of standing off the neck like a mushroom's rim."""
FRINGE_SETTLE, FRINGE_SETTLE_LENGTH = 0.85, 0.04
"""Over the face the outer sheets close in on the inner one by this fraction, starting this far (m) above the
hairline: the front hair rises from the crown with the style's volume but a fringe lies on the forehead."""
SCALP_TIP_M, TIP_V = 0.01, 0.45
"""Hair ending on the scalp fits the strand texture's tips (v above TIP_V, where clumps start to taper) into its
last centimetre."""
FRINGE_BLUNT = 0.6
"""How much of a fringe's strand tips are squeezed toward its end like hair ending on the scalp (1: as blunt)."""
FRINGE_CURL_TIP_M = 0.02
"""At wave 1 a fringe's tips are spread over this much more of its end than SCALP_TIP_M (at most the part hanging
below the hairline; none for hair lying down at its hairline, where the tips would open holes above it). Curled
tips squeezed into one centimetre, eight times tighter than the rest of the strand, are drawn from a coarse mip
level, where their hooks break into a line of dark specks across the forehead; spread over the hanging part they
end as hooked locks. Spread over 4 cm, the fringe's lower half was an open lattice of tips (a hairnet at 540p)."""
SWEEP_RISE = 0.5
"""A swept fringe's strands rise by this much of their hang below the hairline per radian of turn, on average:
twice that at the forehead's edge the comb comes from, none at the edge it goes to (`SWEEP_HALF_WIDTH`). Chosen by
eye on the presets and the astronaut against her photo: at 0.35 the edge read level (a straight fringe with slanted
strands), at 0.7 the fringe lifted off most of her forehead."""
SWEEP_HALF_WIDTH = 0.06
"""Half the forehead's width (m): columns rooted this far from the middle are not turned, and the rise goes from
twice its mean to none across it."""
SWEEP_MAX_DEG = 28.0
"""A swept fringe turns up to this angle at its tips, from nothing at the hairline (which stays covered)."""
CROWN_FLATTEN = 0.6
"""Fraction of a layer's height it keeps on the crown."""
BACK_FLATTEN = 0.45
"""Fraction of a layer's height above the innermost it loses at the back of the head: a front photo shows the
volume at the sides and top, and hair behind the skull lies closer to it (else a bob reads as a helmet)."""
ROOT_LIFT = 0.0016
"""Height of the innermost layer above the skin."""
CAP_GAP = 0.005
"""Hair at most this high above the skin, where it lies on the scalp, hides its back against the skull..."""
CAP_GAP_OPENING = 0.015
"""...except this close (along the strand) to the hairline, where the gap under it can be seen into from below."""


@dataclass(frozen=True)
class HairStyle:
    """A hairstyle: the hair generator's parameters (lengths in metres)."""

    color: tuple[int, int, int] = (58, 40, 28)
    """sRGB colour of the strands (roots and inner layers are drawn darker)."""
    length: float = 0.16
    """Strand length from the crown; strands never end above their hairline, so 0 is the shortest cut."""
    volume: float = 0.012
    """Height of the outermost layer above the scalp."""
    fringe: float = 0.0
    """How far the front hair falls over the forehead below the hairline (at most FRINGE_MAX)."""
    parting: float = 0.0
    """Where the crown sits: -1 far to the avatar's right, 0 middle, +1 far to its left."""
    baldness: float = 0.0
    """0 a full head of hair; higher recedes the hairline and thins the hair; 1 is bald (no hair part)."""
    layers: int = 2
    """Sheets from the scalp outward (1-4). Each costs a pass of alpha-tested fill over the hair on a software
    rasteriser; two (a dense inner one, a sparse outer one) look nearly as full as three."""

    sweep: float = 0.0
    """Sideways comb of the front hair over the forehead: +1 swept fully toward the avatar's left, -1 its right
    (SWEEP_MAX_DEG about the vertical axis at the tips), 0 straight down."""
    wave: float = 0.0
    """0 straight, 0.5 soft waves, 1 tight curls: the sheets ripple along the strands (hair_wave) and the strand
    texture's clumps curl (hair_texture). Last field, so older styles and saved reports still load."""

    @property
    def bald(self) -> bool:
        return self.baldness >= 0.98

    def clamped(self) -> "HairStyle":
        """The same style with every parameter in its valid range; ValueError for a value that is not a number (a
        NaN passed every clip and crashed the generator deep inside)."""
        for name in ("length", "volume", "fringe", "parting", "baldness", "sweep", "wave"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"hair style {name} is {getattr(self, name)}, not a number")
        return replace(self, length=float(np.clip(self.length, 0.0, 0.45)),
                       volume=float(np.clip(self.volume, 0.0, 0.04)), fringe=float(np.clip(self.fringe, 0.0, FRINGE_MAX)), parting=float(np.clip(self.parting, -1, 1)),
                       baldness=float(np.clip(self.baldness, 0.0, 1.0)), layers=int(np.clip(self.layers, 1, 4)),
                       sweep=float(np.clip(self.sweep, -1.0, 1.0)), wave=float(np.clip(self.wave, 0.0, 1.0)))


HAIR_PRESETS: dict[str, HairStyle] = {
    "bald": HairStyle(baldness=1.0),
    "buzz": HairStyle(length=0.0, volume=0.0015, layers=1, color=(40, 30, 24)),
    "short": HairStyle(length=0.0, volume=0.011, parting=0.45),
    "medium": HairStyle(length=0.2, volume=0.014, parting=0.3, color=(92, 62, 38)),
    "long": HairStyle(length=0.34, volume=0.014, parting=0.0, color=(70, 46, 30)),
    "fringe": HairStyle(length=0.19, volume=0.013, fringe=0.045, color=(30, 24, 22)),
}
"""Named styles for the CLI, the tests and the hair fit's starting points."""


def hairline_elevation(azimuth: np.ndarray, baldness: float) -> np.ndarray:
    """(...,) degrees above the scalp centre where hair starts, per azimuth (radians); baldness recedes the front."""
    at, elevation = np.array(HAIRLINE).T
    line = np.interp(np.degrees(np.abs(azimuth)), at, elevation)
    front = 1.0 - smoothstep(40.0, 80.0, np.degrees(np.abs(azimuth)))
    return line + 40.0 * baldness * front


def hair_coverage(points: np.ndarray, centre: np.ndarray, style: HairStyle) -> np.ndarray:
    """points : (n, 3) on the skin -> (n,) in [0, 1]: how far inside the style's hairline each lies (soft over about
    4 degrees of elevation about `centre`, the scalp centre); all 0 for a bald style."""
    azimuth, polar = direction_angles(np.asarray(points, np.float64) - centre)
    return coverage_at(azimuth, 90.0 - np.degrees(polar), style)


def coverage_at(azimuth: np.ndarray, elevation_deg: np.ndarray, style: HairStyle) -> np.ndarray:
    """`hair_coverage` for points given by their azimuth (radians) and elevation (degrees) about the scalp centre."""
    style = style.clamped()
    if style.bald:
        return np.zeros(np.shape(azimuth))
    return np.clip((elevation_deg - hairline_elevation(azimuth, style.baldness)) / 4.0 + 0.5, 0.0, 1.0)


def _crown_frame(style: HairStyle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crown direction d0 and two unit vectors across it (e1 toward the face)."""
    back, side = np.radians(CROWN_TILT_DEG), np.radians(PARTING_TILT_DEG * style.parting)
    d0 = np.array([np.sin(side) * np.cos(back), np.cos(side) * np.cos(back), -np.sin(back)])
    e1 = np.array([0.0, 0.0, 1.0]) - d0 * d0[2]
    e1 /= np.linalg.norm(e1)
    return d0, e1, np.cross(d0, e1)


def _hang_slope(style: HairStyle) -> float:
    """Short hair hugs the nape; long hair falls almost straight (inward run per unit of drop)."""
    return float(np.interp(style.length, HANG_LENGTHS, HANG_SLOPES))


def _comb(scalp: Scalp, style: HairStyle, lifts: np.ndarray,
          hang_samples: int = SAMPLES_B) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Comb every column from the crown for every layer: over the scalp on a great circle from the crown until
    the column is widest, then straight down, pushed out by the skin (ears, jaw) and drifting in by the slope.

    lifts : (k,) layer heights above the skin
    hang_samples : steps of the hanging part's march (fewer: coarser, faster)
    returns : points (k, c, SAMPLES_A + hang_samples, 3), arc length along the innermost layer (c, samples),
              on-scalp mask (c, samples): true from the crown to the hairline
    """
    d0, e1, e2 = _crown_frame(style)
    theta = np.arange(COLUMNS) / COLUMNS * 2 * np.pi
    beta = np.radians(np.linspace(0.0, 110.0, SAMPLES_A))
    across = np.cos(theta)[:, None] * e1 + np.sin(theta)[:, None] * e2  # (c, 3)
    dirs = np.cos(beta)[None, :, None] * d0 + np.sin(beta)[None, :, None] * across[:, None, :]  # (c, a, 3)
    skin = scalp.skin_radius(dirs)
    flat = across * np.array([1.0, 0.0, 1.0])
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    widest = ((dirs * skin[..., None]) * flat[:, None]).sum(-1).argmax(1)  # (c,) where the hair leaves the skull
    cols = np.arange(COLUMNS)
    slope = _hang_slope(style)
    centre = scalp.centre
    points = np.empty((len(lifts), COLUMNS, SAMPLES_A + hang_samples, 3))
    back = smoothstep(0.2, 0.9, -np.cos(theta))  # (c,) 0 at the front and sides, 1 at the back
    for k, lift in enumerate(lifts):
        lift = ROOT_LIFT + (lift - ROOT_LIFT) * (1.0 - BACK_FLATTEN * back)  # (c,)
        # hair lies flatter on the crown than at the sides
        crown_lift = lift[:, None] * (CROWN_FLATTEN + (1 - CROWN_FLATTEN) * smoothstep(0.0, np.radians(60), beta))[None]
        on = centre + dirs * np.maximum(skin + crown_lift, 0.02)[..., None]
        past = np.arange(SAMPLES_A)[None] > widest[:, None]
        on = np.where(past[..., None], on[cols, widest][:, None], on)  # the scalp part stops at the widest point
        start = on[cols, widest]
        horizontal = (start - centre) * np.array([1.0, 0.0, 1.0])
        h = np.linalg.norm(horizontal, axis=1)
        way = horizontal / np.maximum(h, 1e-9)[:, None]
        drop = (start[:, 1] - scalp.positions[:, 1].min() + 0.03) / hang_samples
        hang = np.empty((COLUMNS, hang_samples, 3))
        y = start[:, 1].copy()
        for i in range(hang_samples):
            y = y - drop
            h = h - slope * drop
            rel = np.stack([way[:, 0] * h, y - centre[1], way[:, 2] * h], 1)
            dist = np.linalg.norm(rel, axis=1)
            need = scalp.skin_radius(rel / dist[:, None]) + lift + HANG_CLEARANCE
            pushed = np.sqrt(np.maximum(need ** 2 - (y - centre[1]) ** 2, 0.0))
            h = np.where(need > lift, np.maximum(h, pushed), h)
            hang[:, i] = centre + np.stack([way[:, 0] * h, y - centre[1], way[:, 2] * h], 1)
        points[k] = np.concatenate([on, hang], 1)
    steps = np.linalg.norm(np.diff(points[0], axis=1), axis=2) + 1e-7  # strictly increasing for interpolation
    arc = np.concatenate([np.zeros((COLUMNS, 1)), np.cumsum(steps, 1)], 1)
    rel = points[0] - centre
    azimuth, polar = direction_angles(rel)
    elevation = 90.0 - np.degrees(polar)
    on_scalp = np.minimum.accumulate(elevation >= hairline_elevation(azimuth, style.baldness), axis=1)
    return points, arc, on_scalp


def _column_lengths(style: HairStyle, points: np.ndarray, arc: np.ndarray, on_scalp: np.ndarray,
                    floor_y: float) -> tuple[np.ndarray, np.ndarray]:
    """(c,) strand length per column: fringe in front of the face, the style's length elsewhere, hairline at least;
    and (c,) how much each column is in front of the face (1 fringe, 0 beside or behind the face)."""
    last = arc.shape[1] - 1
    hl = np.minimum(on_scalp.sum(1), last)
    rows = np.arange(COLUMNS)
    s_hairline = arc[rows, hl]
    at = points[rows, hl] - points[rows, 0] * np.array([1, 0, 1])  # where the column meets the hairline
    azimuth = np.degrees(np.abs(np.arctan2(at[:, 0], at[:, 2])))
    face = 1.0 - smoothstep(FACE_DEG, FACE_DEG + FACE_BLEND_DEG, azimuth)
    front = s_hairline + max(style.fringe, 0.004)
    rest = np.maximum(style.length, s_hairline + 0.004)
    length = face * front + (1 - face) * rest
    # never below the bottom of the neck
    below = points[..., 1] < floor_y
    first_below = np.where(below.any(1), below.argmax(1), last)
    return np.minimum(length, arc[rows, first_below]), face


def _texture_along(t: np.ndarray, length: np.ndarray, ends_on_scalp: np.ndarray,
                   tip_m: np.ndarray | float = SCALP_TIP_M) -> np.ndarray:
    """(c, r) position along the strand texture (0 root, 1 tip) of each grid row t : (r,) of each column.

    Hair that ends on the scalp (combed back to its hairline) shows its tips along the hairline: there the texture's
    tapering tips are squeezed into the strand's last tip_m (SCALP_TIP_M, or (c,) per column), a fine edge instead
    of wide points."""
    tip_share = np.clip(tip_m / np.maximum(length, 1e-6), 0.02, 1.0 - TIP_V)[:, None]  # (c, 1)
    body = 1.0 - tip_share
    squeezed = np.where(t[None] < body, t[None] * (TIP_V / body), TIP_V + (t[None] - body) * ((1 - TIP_V) / tip_share))
    e = ends_on_scalp[:, None]
    return (1 - e) * t[None] + e * squeezed


def _swept(points: np.ndarray, scalp: Scalp, style: HairStyle, s: np.ndarray, hairline: np.ndarray,
           face: np.ndarray) -> np.ndarray:
    """points : (c, r, 3) of one sheet with its fringe turned about the vertical axis through the scalp's centre,
    more the further it hangs below the hairline (s : (c, r) arc length; hairline, face : (c,)), keeping each
    point's height above the skin: a forehead is flatter than a circle about that axis, and turned rigidly the
    fringe's tips sank up to 17 mm into it (the astronaut's: the skin then cut the fringe into ragged chunks in
    every renderer). No fringe, no sweep."""
    turn = (np.radians(SWEEP_MAX_DEG) * style.sweep * smoothstep(0.005, 0.02, style.fringe) * face[:, None]
            * np.clip((s - hairline[:, None]) / max(style.fringe, 1e-3), 0.0, 1.0))
    rel = points - scalp.centre
    roots = rel[np.arange(len(rel)), np.argmin(np.abs(s - hairline[:, None]), axis=1)]
    # the forehead's locks are combed aside; the temples' are not: turned about the head, the side the comb comes
    # from brought its low temple locks across the eye, and the side it goes to carried its tips round the head
    across_root = np.clip(roots[:, 0] / SWEEP_HALF_WIDTH, -1.0, 1.0)  # -1 .. 1 over the forehead's width
    c, sn = [f(turn * (1.0 - across_root ** 2)[:, None]) for f in (np.cos, np.sin)]
    turned = np.stack([rel[..., 0] * c + rel[..., 2] * sn, rel[..., 1], rel[..., 2] * c - rel[..., 0] * sn], -1)
    # combed aside, the hanging part also rises, the more where it lies nearer the side the comb comes from: a
    # fringe swept across the forehead lies across it, high at the parting's side and gathered low on the other
    across = np.clip(turned[..., 0] / SWEEP_HALF_WIDTH, -1.0, 1.0)
    from_side = 1.0 - np.sign(style.sweep) * across  # 0..2, mean 1
    turned[..., 1] += SWEEP_RISE * np.abs(turn) * np.clip(s - hairline[:, None], 0.0, None) * from_side
    distance = np.maximum(np.linalg.norm(rel, axis=-1), 1e-9)
    reach = np.maximum(np.linalg.norm(turned, axis=-1), 1e-9)
    before = scalp.skin_radius(rel / distance[..., None])
    after = scalp.skin_radius(turned / reach[..., None])
    on_skin = (before > 0) & (after > 0)  # directions past the skin's edge keep the rigid turn
    scale = np.where(on_skin, (after + distance - before) / reach, 1.0)
    return scalp.centre + turned * scale[..., None]


def _interp_columns(s: np.ndarray, arc: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-column linear interpolation: s : (c, r) targets, arc : (c, n) increasing, values : (c, n, 3) -> (c, r, 3)."""
    c, n = arc.shape
    i = np.stack([np.searchsorted(arc[j], s[j]) for j in range(c)]).clip(1, n - 1)
    rows = np.arange(c)[:, None]
    a0, a1 = arc[rows, i - 1], arc[rows, i]
    f = np.clip((s - a0) / np.maximum(a1 - a0, 1e-12), 0.0, 1.0)[..., None]
    return values[rows, i - 1] * (1 - f) + values[rows, i] * f


def _frame(grid: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """grid : (c + 1, r + 1, 3) a sheet, its last column the first again -> unit strand directions (root to tip)
    and unit normals facing away from `centre`, both (c + 1, r + 1, 3)."""
    along = np.gradient(grid, axis=1)
    around = np.gradient(np.concatenate([grid[-2:-1], grid, grid[1:2]]), axis=0)[1:-1]
    normal = np.cross(along, around)
    outward = grid - centre
    normal *= np.where((normal * outward).sum(-1, keepdims=True) < 0, -1.0, 1.0)
    length_n = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.where(length_n > 1e-12, normal, outward)  # the crown, where all columns meet
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
    along /= np.maximum(np.linalg.norm(along, axis=-1, keepdims=True), 1e-9)
    return along, normal


def _combed(scalp: Scalp, style: HairStyle, lift: float, combs: dict | None,
            hang_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sheet's combed strands (`_comb` for a single lift), from `combs` when the same comb was made before."""
    key = (round(style.parting, 4), round(_hang_slope(style), 4), round(float(lift), 5), round(style.baldness, 4),
           hang_samples)
    combed = combs.get(key) if combs is not None else None
    if combed is None:
        points, arc, on_scalp = _comb(scalp, style, np.array([lift]), hang_samples)
        combed = (points[0], arc, on_scalp)
        if combs is not None:
            combs[key] = combed
    return combed


def hair_sheets(scalp: Scalp, style: HairStyle, floor_y: float | None = None, tip: float = 1.0,
                combs: dict | None = None, hang_samples: int = SAMPLES_B) -> dict[str, np.ndarray] | None:
    """The hair's geometry without skinning or texture (cheap: the hair fit calls it many times); None if bald.

    returns : positions (v, 3), normals (v, 3), tangents (v, 3) root to tip, uvs (v, 2), indices (t, 3)
              counter-clockwise seen from outside, the first cap_triangles of them lying on the scalp (their back
              faces the skull), quads (q, 4) the same surface as grid cells (half as many polygons for a rasteriser)
    floor_y : lowest height hair may hang to (default: 1 cm above the lowest skin vertex).
    tip : fraction of every strand built (below 1 leaves out the tips, which the texture thins away anyway).
    combs : a dict the caller keeps between calls on the same scalp: the combed strands (most of the cost) are
            reused when the parting, hang slope, layer heights and baldness repeat.
    hang_samples : steps of the combing march below the widest point (the hair fit's outlines take fewer)."""
    style = style.clamped()
    if style.bald:
        return None
    floor_y = float(scalp.positions[:, 1].min() + 0.01) if floor_y is None else floor_y
    layers = style.layers
    volume = style.volume + EXTRA_VOLUME * style.wave
    lifts = ROOT_LIFT + volume * np.arange(layers) / max(layers - 1, 1)
    if layers == 1:
        lifts = np.array([ROOT_LIFT + volume])
    # every sheet closes in on the innermost (at the skin) where the hair ends, so that one is always combed
    base = _combed(scalp, style, ROOT_LIFT, combs, hang_samples)
    layer_points = [base[0] if abs(lift - ROOT_LIFT) < 1e-9 else _combed(scalp, style, lift, combs, hang_samples)[0]
                    for lift in lifts]
    inner_points, arc, on_scalp = base
    length, face = _column_lengths(style, inner_points, arc, on_scalp, floor_y)
    rows = wave_rows(int(np.clip(np.ceil(length.max() / ROW_SPACING), *ROWS)), style.wave)
    t = np.linspace(0.0, tip, rows + 1)
    hl = arc[np.arange(COLUMNS), np.minimum(on_scalp.sum(1), arc.shape[1] - 1)]
    ends_on_scalp = 1.0 - smoothstep(0.0, 0.04, length - hl)  # short hair lies down at its hairline
    blunt = np.maximum(ends_on_scalp, FRINGE_BLUNT * face)
    # a curly fringe's tips spread over the part that hangs below the hairline (none where it lies down)
    hanging = (1.0 - ends_on_scalp) * np.clip(length - hl, 0.0, FRINGE_CURL_TIP_M)
    texture_t = _texture_along(t, length, blunt, SCALP_TIP_M + style.wave * face * hanging)
    s = t[None] * length[:, None]  # (c, r) arc length of every grid row
    # where the hair ends, every sheet above the innermost closes in on it by this fraction:
    # short hair comes down to the skin at its hairline, so there is no ledge there
    settle = 0.75 * ends_on_scalp[:, None] * smoothstep(0.0, 1.0, (s - length[:, None] + 0.035) / 0.035)
    # hanging hair turns under at its ends: the outer sheets close in on the inner one over the last few cm
    tuck = (1.0 - ends_on_scalp[:, None]) * TUCK * smoothstep(0.0, 1.0, (s - length[:, None] + TUCK_LENGTH)
                                                               / TUCK_LENGTH)
    # a fringe lies on the forehead: the outer sheets come down to it from a little above the hairline
    onto_forehead = FRINGE_SETTLE * smoothstep(0.0, 1.0, (s - hl[:, None] + FRINGE_SETTLE_LENGTH)
                                                / FRINGE_SETTLE_LENGTH)
    close_in = np.maximum(settle, np.maximum(tuck, face[:, None] * onto_forehead))[..., None]
    inner = _interp_columns(s, arc, inner_points)
    # (c, r, 1) outward, the same for every sheet (they stay apart); hair lying down at its end (on the scalp, a
    # fringe on the forehead) lies down there curly or not: no ledge standing off the skin
    lying = np.maximum(settle / 0.75, face[:, None] * onto_forehead / FRINGE_SETTLE)
    lift = (ripple(s, length, style.wave) * (1.0 - lying))[..., None]
    positions, uvs, tangents, normals, indices, cells, cap_flags = [], [], [], [], [], [], []
    for k in range(layers):
        grid = np.empty((COLUMNS + 1, rows + 1, 3))
        grid[:COLUMNS] = _interp_columns(s, arc, layer_points[k])
        if lifts[k] > ROOT_LIFT + 1e-9:
            grid[:COLUMNS] += (inner - grid[:COLUMNS]) * close_in
        if style.wave:
            grid[COLUMNS] = grid[0]
            grid[:COLUMNS] += _frame(grid, scalp.centre)[1][:COLUMNS] * lift
        if style.sweep:
            grid[:COLUMNS] = _swept(grid[:COLUMNS], scalp, style, s, hl, face)
        grid[COLUMNS] = grid[0]
        along, normal = _frame(grid, scalp.centre)
        u = (np.arange(COLUMNS + 1) / COLUMNS * U_REPEATS + 0.37 * k)[:, None] * np.ones((1, rows + 1))
        v = band_v(k, np.concatenate([texture_t, texture_t[:1]]))
        first = len(positions) * (COLUMNS + 1) * (rows + 1)
        idx = first + np.arange((COLUMNS + 1) * (rows + 1)).reshape(COLUMNS + 1, rows + 1)
        a, b, c_, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
        cells.append(np.stack([a, b, c_, d], -1).reshape(-1, 4))
        quads = np.stack([np.stack([a, c_, b], -1), np.stack([a, d, c_], -1)], 2)  # (c, r, 2, 3), ccw from outside
        # A cell within a few millimetres of the skin, where its strands are still on the scalp, hides its back
        # against the skull from every view. Higher sheets keep both sides: at the silhouette the far half's inner
        # side shows through the near half's clumps and fills the outline.
        rel = grid - scalp.centre
        distance = np.linalg.norm(rel, axis=-1)
        low = distance - scalp.skin_radius(rel / np.maximum(distance, 1e-9)[..., None]) <= CAP_GAP  # (c + 1, r + 1)
        low = low[:-1, :-1] & low[1:, :-1] & low[1:, 1:] & low[:-1, 1:]
        inside = hl - CAP_GAP_OPENING  # short of the hairline, where the gap under the sheet opens to view
        on_cap = low & (s[:, 1:] <= inside[:, None]) & (np.roll(s, -1, 0)[:, 1:] <= np.roll(inside, -1)[:, None])
        on_cap &= lifts[k] <= CAP_GAP  # an outer sheet only lies that low on the crown, where it fills the outline
        # the crown row is a fan: its first triangle of each quad is degenerate
        crown = np.zeros((COLUMNS, rows, 2), bool)
        crown[:, 0, 0] = True
        cap_flags.append(np.broadcast_to(on_cap[..., None], crown.shape)[~crown])
        quads = quads.reshape(-1, 3)[~crown.ravel()]
        positions.append(grid.reshape(-1, 3))
        normals.append(normal.reshape(-1, 3))
        tangents.append(along.reshape(-1, 3))
        uvs.append(np.stack([u.ravel(), v.ravel()], 1))
        indices.append(quads)
    # outermost sheet first: its clumps hide most of the inner sheets, whose fragments there the depth test then
    # drops before shading (0.2-0.45 ms a frame at 720p on a software rasteriser; the image is the same)
    triangles, cap = np.concatenate(indices[::-1]), np.concatenate(cap_flags[::-1])
    return {"positions": np.concatenate(positions).astype(np.float32),
            "normals": np.concatenate(normals).astype(np.float32),
            "tangents": np.concatenate(tangents).astype(np.float32),
            "uvs": np.concatenate(uvs).astype(np.float32),
            "indices": np.concatenate([triangles[cap], triangles[~cap]]).astype(np.uint32),
            "cap_triangles": int(cap.sum()), "quads": np.concatenate(cells).astype(np.uint32)}


def grow_hair(scalp: Scalp, style: HairStyle = HairStyle(),
              floor_y: float | None = None) -> tuple[Part, Material] | None:
    """The hair Part (following the skin's expressions near it) and its Material; None for a bald style."""
    style = style.clamped()
    sheets = hair_sheets(scalp, style, floor_y)
    if sheets is None:
        return None
    positions, tangent = sheets["positions"], sheets["tangents"]
    joints, weights, morphs = scalp.attach(positions)
    part = Part(
        name="hair", material="hair", positions=positions, normals=sheets["normals"], uvs=sheets["uvs"],
        indices=sheets["indices"], joints=joints.astype(np.uint16), weights=weights, morph_positions=morphs,
        morph_normals=np.zeros_like(morphs),
        tangents=np.concatenate([tangent, np.ones((len(tangent), 1))], 1).astype(np.float32),
        back_hidden=sheets["cap_triangles"])
    return part, hair_material(style)


PLAIN_SURFACE_GAIN = 2.1
"""How much brighter than our shader's hair albedo (`HairStyle.color`) the same hair's albedo is as a plain PBR
surface, which Blender, three.js, Unity and Unreal render a glTF texture as: our shader lights strands about twice
as brightly (light wraps round and through them, their highlight). Median over the astronaut and eight synthetic
people (`build.scalp.plain_surface_gain`, which a build uses for its own photo; 1.8-3.5)."""
PLAIN_ALBEDO_MAX = 0.85
"""The lightest plain-surface hair albedo written (no channel above it)."""
HAIR_ROUGHNESS = 0.6
"""The file's roughness for hair: our shader draws its own strand highlight and ignores it; at 0.35 a PBR engine
(three.js) drew one glossy band round the head, a helmet rather than hair."""


def hair_material(style: HairStyle, plain_gain: float = PLAIN_SURFACE_GAIN) -> Material:
    """The hair's material: the strand atlas thinned with the style's baldness, in the colour a plain PBR surface
    needs to look as `style.color` does in our renderer (`plain_gain` times brighter, linear); `shader_scale` takes
    that back for our renderer, so its picture is the same."""
    style = style.clamped()
    density = 1.0 - 0.55 * style.baldness
    ours = (np.asarray(style.color, np.float64) / 255.0) ** 2  # the renderer decodes texture values as c * c
    gain = float(np.clip(plain_gain, 1.0, PLAIN_ALBEDO_MAX / max(float(ours.max()), 1e-6)))
    plain = tuple(int(c) for c in np.clip(np.round(np.sqrt(ours * gain) * 255), 0, 255))
    texture = strand_atlas(plain, style.layers, density, wave=style.wave)
    return Material("hair", "hair", texture=texture, roughness=HAIR_ROUGHNESS, alpha_mode="MASK", double_sided=True,
                    shader_scale=(1 / gain,) * 3)


def hair_for_skin(positions: np.ndarray, triangles: np.ndarray, joints: np.ndarray, weights: np.ndarray,
                  joint_positions: dict[str, np.ndarray], morph_positions: np.ndarray,
                  style: HairStyle = HairStyle()) -> tuple[Part, Material] | None:
    """Grow `style` on a skin mesh: positions : (n, 3) at rest; triangles : (m, 3); joints, weights : (n, 4);
    morph_positions : (52, n, 3). None for a bald style."""
    if style.clamped().bald:
        return None
    scalp = Scalp.from_skin(positions, triangles, joints, weights, joint_positions, morph_positions)
    return grow_hair(scalp, style)
