"""Procedural skin albedo for synthetic people: tone, lips, brows, blush, freckles, stubble and the scalp under
the hair, painted into the head's 1024x1024 UV layout.

It starts from the shipped skin structure (`assets/head/skin_fill_base.png`: grain, mottling, lips, eyelids and
brows on a reference skin, no hair colour) and recolours it. Regions come from each texel's 3D rest position on
the template head (`UVSurface`), so they follow the head's real geometry: brows arch over the eyes, stubble covers
the jaw and upper lip, freckles sit on the nose and cheeks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from avatar_engine.build.texture_fill import FILL_BASE_PATH
from avatar_engine.build.texture_project import texel_map
from avatar_engine.head.hair import HairStyle, coverage_at
from avatar_engine.head.hair_scalp import direction_angles, scalp_centre
from avatar_engine.head.model import HeadModel

SIZE = 1024
REFERENCE_SKIN = (226, 176, 148)
"""sRGB skin colour the fill base was painted with (scripts/make_skin_texture.py); its measured forehead colour,
grain and mottling included, is what a look's `skin` replaces (`_base_skin`)."""
REFERENCE_LIPS = (184, 98, 92)


def value_noise(shape: tuple[int, int], cell: int, rng: np.random.Generator) -> np.ndarray:
    """(h, w) smooth noise in [0, 1] with features about `cell` texels wide."""
    grid = rng.random((shape[0] // cell + 2, shape[1] // cell + 2))
    y, x = np.mgrid[0:shape[0], 0:shape[1]] / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0) ** 2 * (3 - 2 * (y - y0)), (x - x0) ** 2 * (3 - 2 * (x - x0))
    top = grid[y0, x0] * (1 - fx) + grid[y0, x0 + 1] * fx
    bottom = grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


NOISE_CELLS_M = (0.0006, 0.0012, 0.0018)
"""Feature sizes (m) of the fine noise the skin's grain and a look's freckles and stubble are broken up with: 1, 2
and 3 texels of the face as the skin layout had it before the face got an island of its own (brows have hair
strokes of their own, `brow_hairs`)."""
_LATTICE = 1 << 16


def solid_noise(points: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """(...) smooth noise in [0, 1] at 3D points (..., 3), features about `cell` metres wide: value noise on a
    hashed lattice, interpolated with a smoothstep. A function of the surface point, not of the texel, it runs on
    across UV seams and has one size on islands of any texel density."""
    table = np.random.default_rng(seed).random(_LATTICE).astype(np.float32)
    scaled = np.asarray(points, np.float64) / cell
    base = np.floor(scaled)
    frac = scaled - base
    w = (frac * frac * (3 - 2 * frac)).astype(np.float32)
    base = base.astype(np.int64)
    out = np.zeros(scaled.shape[:-1], np.float32)
    for corner in np.ndindex(2, 2, 2):
        i = base + np.array(corner)
        key = (i[..., 0] * 73856093) ^ (i[..., 1] * 19349663) ^ (i[..., 2] * 83492791)
        weight = np.prod(np.where(np.array(corner, bool), w, 1 - w), axis=-1)
        out += weight * table[key % _LATTICE]
    return out


def brow_mask(p: np.ndarray, eye_y: float, eye_z: float) -> np.ndarray:
    """Soft brow arches from 3D position: over each eye, thick near the nose, tapering outward."""
    x, y, z = np.abs(p[..., 0]), p[..., 1], p[..., 2]
    t = np.clip((x - 0.011) / 0.042, 0.0, 1.0)
    centre = eye_y + 0.0185 + 0.0055 * np.sin(np.pi * np.clip(t * 1.15, 0, 1))
    half = 0.0042 * (1.0 - 0.55 * t)
    inside = np.clip(1.0 - np.abs(y - centre) / np.maximum(half, 1e-6), 0.0, 1.0)
    along = np.clip((x - 0.009) / 0.004, 0, 1) * np.clip((0.056 - x) / 0.006, 0, 1)
    front = np.clip((z - (eye_z - 0.03)) / 0.01, 0, 1)
    return (inside ** 0.7) * along * front


BROW_HAIR_M = (0.004, 0.0008)
"""Length and width (m) of the brow hairs' strokes (`brow_hairs`)."""
SKIN_BROW_SEED = 13
"""The noise seed of the shipped skin's brow hairs (`scripts/make_skin_texture.py`): looks take them out exactly."""


def brow_hairs(p: np.ndarray, eye_y: float, eye_z: float, seed: int) -> np.ndarray:
    """(...) brow density in [0, 1] at 3D points p (..., 3): `brow_mask` filled with hair strokes that grow up and
    out at the brow's inner end, then out along the arch and down at its tail, as brows grow (a patchy mask broken by
    round noise reads as a dashed line)."""
    mask = brow_mask(p, eye_y, eye_z)
    x, y = np.abs(p[..., 0]), p[..., 1]
    t = np.clip((x - 0.011) / 0.042, 0.0, 1.0)
    angle = np.radians(75.0 - 100.0 * np.sqrt(t))  # from the outward horizontal: 75 degrees up to 25 down
    along = x * np.cos(angle) + y * np.sin(angle)
    across = -x * np.sin(angle) + y * np.cos(angle)
    length, width = BROW_HAIR_M
    strokes = solid_noise(np.stack([along / length, across / width, p[..., 2] / length], -1), 1.0, seed)
    hairs = _smooth(0.38, 0.62, strokes)
    return np.clip(mask ** 0.7 * (0.5 + 0.6 * hairs), 0.0, 1.0)


def _smooth(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0).astype(np.float32)
    return t * t * (3 - 2 * t)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float32) / np.float32(255.0)
    return np.where(c <= 0.04045, c / np.float32(12.92), ((c + np.float32(0.055)) / np.float32(1.055)) ** np.float32(2.4))


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055) * 255.0


@dataclass(frozen=True)
class UVSurface:
    """Where each texel of the skin's UV layout sits on the template head at rest."""

    positions: np.ndarray
    """positions : (SIZE, SIZE, 3) float32 rest position per texel (zero where no triangle covers it)."""
    covered: np.ndarray
    """covered : (SIZE, SIZE) bool."""
    eye_y: float
    eye_z: float
    joints: dict
    """Joint name -> (3,) rest position."""

    @staticmethod
    @functools.cache
    def default() -> "UVSurface":
        model = HeadModel.default()
        vs, ts = model.part_slices("skin")
        tmap = texel_map(model.uvs[vs], model.triangles[ts] - vs.start, SIZE)
        corners = model.positions[vs][(model.triangles[ts] - vs.start)[tmap.face]]  # (t, 3, 3)
        positions = np.zeros((SIZE * SIZE, 3), np.float32)
        positions[tmap.texels] = np.einsum("tk,tkc->tc", tmap.bary, corners)
        covered = np.zeros(SIZE * SIZE, bool)
        covered[tmap.texels] = True
        joints = dict(zip(model.joint_names, model.joint_rest))
        return UVSurface(positions.reshape(SIZE, SIZE, 3), covered.reshape(SIZE, SIZE),
                         float(joints["eye_L"][1]), float(joints["eye_L"][2]), joints)


@functools.cache
def _fill_base() -> np.ndarray:
    return srgb_to_linear(np.asarray(Image.open(FILL_BASE_PATH).convert("RGB")))


def forehead(surface: UVSurface) -> np.ndarray:
    """(SIZE, SIZE) bool: plain skin on the forehead between the brows and the hairline."""
    p = surface.positions
    return surface.covered & (np.abs(p[..., 0]) < 0.02) & (np.abs(p[..., 1] - surface.eye_y - 0.045) < 0.01)


@functools.cache
def _base_skin() -> np.ndarray:
    """(3,) linear RGB median of the fill base's forehead: the skin colour a look's tone replaces."""
    return np.median(_fill_base()[forehead(UVSurface.default())], axis=0).astype(np.float32)


@dataclass(frozen=True)
class SkinLook:
    """A person's skin colouring (sRGB colours, amounts in [0, 1])."""

    skin: tuple[int, int, int] = REFERENCE_SKIN
    lips: tuple[int, int, int] = REFERENCE_LIPS
    brow: tuple[int, int, int] = (62, 44, 34)
    brow_density: float = 0.88
    blush: float = 0.35
    freckles: float = 0.0
    stubble: float = 0.0
    stubble_color: tuple[int, int, int] = (40, 32, 28)
    hair: HairStyle | None = None
    """The scalp under this style's hairline takes its colour (strand gaps then read as dense hair)."""
    seed: int = 0


def random_look(rng: np.random.Generator, hair: HairStyle | None = None) -> SkinLook:
    """A random person's colouring: skin from very light to very dark, lips following the skin, brows from blond
    to black, sometimes freckles, sometimes stubble."""
    depth = rng.beta(1.6, 1.8)  # 0 lightest, 1 darkest skin
    light, dark = np.array([242, 204, 178]), np.array([92, 58, 40])
    skin = (1 - depth) * light + depth * dark
    skin = skin * rng.uniform([0.95, 0.94, 0.9], [1.04, 1.04, 1.08])  # warmer, cooler, ruddier
    lips = skin * np.array([0.86, 0.6, 0.62]) * rng.uniform(0.85, 1.05)
    brow_dark = rng.uniform(0.1, 0.55) if rng.random() < 0.8 else rng.uniform(0.55, 0.9)
    brow = np.array([240, 200, 150]) * brow_dark + np.array([20, 14, 10]) * (1 - brow_dark)
    freckles = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.2 * (1 - depth) + 0.03 else 0.0
    stubble = float(rng.uniform(0.2, 1.0)) if rng.random() < 0.25 else 0.0
    as_rgb = lambda c: tuple(int(v) for v in np.clip(np.round(c), 0, 255))  # noqa: E731
    return SkinLook(skin=as_rgb(skin), lips=as_rgb(lips), brow=as_rgb(brow),
                    brow_density=float(rng.uniform(0.55, 0.95)), blush=float(rng.uniform(0.0, 0.6)),
                    freckles=freckles, stubble=stubble, stubble_color=as_rgb(brow * 0.6),
                    hair=hair, seed=int(rng.integers(1 << 31)))


def lip_weight(base: np.ndarray, positions: np.ndarray, eye_y: float, eye_z: float) -> np.ndarray:
    """(...,) in [0, 1] where the base texture's lips are: redder than skin, not the dark mouth inside, near the
    mouth. base : (..., 3) its linear colour; positions : (..., 3) the template's rest surface there; eye_y, eye_z :
    the eyes' height and depth on it."""
    redness = (base[..., 0] - base[..., 1]) / np.maximum(base[..., 0], 1e-4)
    luminance = base @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    p = positions
    near = (np.abs(p[..., 0]) < 0.035) & (p[..., 1] < eye_y - 0.04) & (p[..., 2] > eye_z - 0.02)
    return _smooth(0.62, 0.8, redness) * _smooth(0.03, 0.08, luminance) * near


def stubble_weight(positions: np.ndarray, eye_y: float, eye_z: float) -> np.ndarray:
    """(...,) in [0, 1] where a beard grows (upper lip, chin, jaw, the cheeks beside the mouth; the lips themselves
    included: `stubble_zone` takes them out). positions : (..., 3) the template's rest surface; eye_y, eye_z : the
    eyes' height and depth on it."""
    p = positions
    x, y, z = np.abs(p[..., 0]), p[..., 1], p[..., 2]
    mouth_y = eye_y - 0.065
    jaw = (1 - _smooth(mouth_y + 0.012, mouth_y + 0.022, y)) * _smooth(eye_z - 0.075, eye_z - 0.05, z)
    cheeks_free = _smooth(mouth_y - 0.005, mouth_y + 0.02, y) * _smooth(0.018, 0.03, x)
    neck_free = 1 - _smooth(mouth_y - 0.075, mouth_y - 0.06, y)  # below the chin line the beard thins out
    return jaw * (1 - cheeks_free) * (1 - neck_free)


def lip_mask(base: np.ndarray, surface: UVSurface) -> np.ndarray:
    """(SIZE, SIZE) `lip_weight` over the skin's UV layout (base : (SIZE, SIZE, 3) linear)."""
    return lip_weight(base, surface.positions, surface.eye_y, surface.eye_z) * surface.covered


def lip_zone(surface: UVSurface | None = None) -> np.ndarray:
    """(SIZE, SIZE) float32 in [0, 1]: how much of each texel the painter paints in a look's lip colour."""
    return _zones(surface or UVSurface.default()).lips


def stubble_zone(surface: UVSurface | None = None) -> np.ndarray:
    """(SIZE, SIZE) float32 in [0, 1]: where the painter lays a look's stubble (upper lip, chin, jaw, cheeks)."""
    return _zones(surface or UVSurface.default()).stubble


@dataclass(frozen=True)
class _Zones:
    """What every look of one surface shares (float32 (SIZE, SIZE) weights, computed once per surface)."""

    lips: np.ndarray
    cheeks: np.ndarray
    brows: np.ndarray
    freckles: np.ndarray
    stubble: np.ndarray
    scalp: tuple[np.ndarray, np.ndarray, np.ndarray]
    """Covered texel indices (k,) and their azimuth (radians) and elevation (degrees) about the scalp centre."""


_ZONES: dict[int, tuple[UVSurface, _Zones]] = {}


def _zones(surface: UVSurface) -> _Zones:
    if id(surface) in _ZONES:
        return _ZONES[id(surface)][1]
    base, p, covered = _fill_base(), surface.positions, surface.covered
    x, y, z = np.abs(p[..., 0]), p[..., 1], p[..., 2]
    eye_y, eye_z = surface.eye_y, surface.eye_z
    lips = lip_mask(base, surface)
    cheeks = np.exp(-(((x - 0.042) / 0.018) ** 2 + ((y - eye_y + 0.03) / 0.02) ** 2)) * (z > eye_z - 0.03) * covered
    # nose and cheeks under the eyes, fading out toward the temples and the mouth
    freckles = (_smooth(eye_z - 0.02, eye_z, z) * _smooth(eye_y - 0.06, eye_y - 0.035, y)
                * (1 - _smooth(eye_y - 0.012, eye_y + 0.004, y)) * (1 - _smooth(0.04, 0.062, x)) * covered)
    stubble = stubble_weight(p, eye_y, eye_z) * covered * (1 - lips)
    texels = np.flatnonzero(covered)
    azimuth, polar = direction_angles(p.reshape(-1, 3)[texels].astype(np.float64) - scalp_centre(surface.joints))
    brows = np.zeros(covered.shape, np.float32)
    on = (brow_mask(p, eye_y, eye_z) > 0) & (covered > 0)
    brows[on] = brow_hairs(p[on], eye_y, eye_z, SKIN_BROW_SEED)  # the base's own brows, as it was painted
    zones = _Zones(*(np.asarray(a, np.float32) for a in (lips, cheeks, brows, freckles, stubble)),
                   (texels, azimuth, 90.0 - np.degrees(polar)))
    _ZONES[id(surface)] = (surface, zones)  # the surface is kept alive with its zones, so its id stays its own
    return zones


def paint_albedo(look: SkinLook, surface: UVSurface | None = None) -> np.ndarray:
    """(SIZE, SIZE, 4) uint8 sRGB albedo (alpha 255) of `look` in the skin's UV layout."""
    surface = surface or UVSurface.default()
    zones = _zones(surface)
    offset = np.random.default_rng(look.seed).uniform(-50.0, 50.0, 3)  # this look's own stretch of the noise

    def noise(cell: int, zone: np.ndarray) -> np.ndarray:  # on the texels of `zone` only: the rest stay 0
        out = np.zeros((SIZE, SIZE), np.float32)
        where = zone > 0
        out[where] = solid_noise(surface.positions[where] + offset, NOISE_CELLS_M[cell - 1], 0)
        return out

    base = _fill_base()
    ref_skin, ref_lips = _base_skin(), srgb_to_linear(REFERENCE_LIPS)
    out = base * (srgb_to_linear(look.skin) / ref_skin)  # the skin's structure keeps its contrast in any tone
    lips = zones.lips[..., None]
    lip_structure = (base / ref_lips).mean(-1, keepdims=True)
    out = out * (1 - lips) + srgb_to_linear(look.lips) * lip_structure * lips
    # blush on the cheeks, toward a rosier version of the skin
    out *= 1.0 + (look.blush - 0.35) * 0.25 * zones.cheeks[..., None] * np.array([0.2, -0.6, -0.5], np.float32)
    # brows: the base's taken out, this person's hairs painted in their colour and density
    base_brows = zones.brows[..., None]
    skin_under = srgb_to_linear(look.skin) * (base / ref_skin).mean(-1, keepdims=True).clip(0.8, 1.2)
    out = out * (1 - 0.88 * base_brows) + skin_under * 0.88 * base_brows
    brows = np.zeros((SIZE, SIZE, 1), np.float32)
    on = zones.brows > 0
    brows[on, 0] = brow_hairs(surface.positions[on], surface.eye_y, surface.eye_z, look.seed)
    out = out * (1 - look.brow_density * brows) + srgb_to_linear(look.brow) * look.brow_density * brows
    if look.freckles > 0:
        dots = _smooth(0.66, 0.74, noise(2, zones.freckles)) * zones.freckles * look.freckles
        out *= 1 - 0.45 * dots[..., None] * np.array([0.6, 0.85, 1.0], np.float32)
    if look.stubble > 0:
        shade = (zones.stubble * look.stubble * (0.35 + 0.65 * noise(1, zones.stubble)))[..., None] * 0.8
        out = out * (1 - shade) + srgb_to_linear(look.stubble_color) * shade
    if look.hair is not None and not look.hair.bald:
        texels, azimuth, elevation = zones.scalp
        scalp = np.zeros(SIZE * SIZE, np.float32)
        scalp[texels] = coverage_at(azimuth, elevation, look.hair)
        scalp = scalp.reshape(SIZE, SIZE, 1) * 0.85
        out = out * (1 - scalp) + srgb_to_linear(look.hair.color) * 0.5 * scalp
    rgb = linear_to_srgb(out)
    return np.dstack([rgb, np.full((SIZE, SIZE), 255.0)]).round().astype(np.uint8)
