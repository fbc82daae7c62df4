"""The strand texture of the hair sheets: clumps of strands with tapered tips, one horizontal band per layer.

u runs around the head (the texture repeats several times round it), v runs along the strands from root (band
top) to tip (band bottom). Alpha is cut by clumps a few millimetres wide, not by single strands: alpha-tested
strands thinner than a pixel vanish in the mipmaps, clumps survive them; the single strands live in the colour.
Wavy hair swings the whole strand field sideways along the strand (neighbouring locks out of step, never folding
over, so no gaps open) with light and dark where the strands turn, and hooks and staggers the clumps' tips. A hooked
tip stays whole where it reaches over its neighbour and keeps its width toward its end: squeezed into a fringe's
edge, cut or hairline tips broke into specks.
"""

from __future__ import annotations

import functools

import numpy as np

BANDS = 4
"""Layers the atlas has room for: band k spans v in [k / BANDS, (k + 1) / BANDS]."""
WIDTH, BAND_HEIGHT = 512, 512
CLUMP_TEXELS = (18, 36)
"""Range of clump widths in texels (0.2 mm each round a typical head): locks several pixels wide at 720p (narrower
clumps read as separate straws with dark gaps between them)."""
SWAY_TEXELS = 3.0
"""Largest sideways wander of a clump along its length."""
GUTTER = 3
"""Texels left transparent between bands so mipmaps do not bleed one layer's roots into another's tips."""
TIP_START = 0.75
"""Fraction of a strand's length (v) where the innermost layer starts to taper into tips."""
TIP_SPREAD = 0.2
"""Clumps of the outermost layer end up to this fraction of the strand short of its full length (a layered cut, not
a straight line); the innermost, which hides the scalp, a quarter of it."""
OUTER_PRESENCE = 0.95
"""Fraction of clumps present in the outermost layer (the innermost has all): the inner layers show between."""
CROWN_SOLID = 0.12
"""Along the first part of a strand (v below this) every layer is solid: the crown shows no gaps."""
GAP_FROM = 0.3
"""An absent clump ends between this far along the strand (v) and a quarter further: gaps open toward the tips,
where locks part, not as dark stripes over the crown."""
SHORT_TAPER = 0.18
"""...and tapers to its point over this much of the strand: a short lock, not a clump cut square. Cut square, every
clump thinning hair (baldness) dropped left a straight-edged slot down to the tips."""
INNER_SHADE = 0.9
"""Brightness of the innermost layer relative to the outermost: it sits in the outer layers' shadow."""
CURL_CYCLES = (2.0, 5.5)
"""Waves along a strand (v from 0 to 1) at a slight wave and at wave 1 (tight curls); each lock varies by 20%."""
LOCK_SWING = 20.0
"""Sideways swing of a lock at wave 1 (texels, either way), growing from a third at the roots to all at the tips.
Each lock swings on its own; a texel belongs to the lock whose swung centre is nearest, so the locks still tile
the band: no gaps open (only the tips part)."""
LOCK_STEP = 0.5
"""Randomness (radians) of a lock's phase on top of a slow drift across the band: neighbours curl nearly in step,
which reads as waves, not noise."""
CURL_SHADE = 0.25
"""Brightness swing along a curl at wave 1: a strand turning toward the light and away from it."""
LOCK_EDGE_SHADE = 0.15
"""Extra darkening of a lock's edges at wave 1: curly locks stand apart."""
CURL_FILL = 0.7
"""Fraction of the outer layers' absent clumps filled in at wave 1: a curled gap showed as a dark wavy streak,
and curly hair is dense."""
TIP_CURL_TEXELS = 14.0
"""Extra sideways hook of a clump's tapering tip at wave 1 (texels): curly hair ends in ringlets, not points."""
TIP_CURL_START = 0.12
"""Tips start to taper this much earlier (fraction of the strand) at wave 1: longer curling ends."""
TIP_RAGGED = 0.12
"""Clump ends spread this much more along the strand at wave 1: a broken outline, not a cut line."""
TIP_FULL = 0.5
"""At wave 1 a tapering tip keeps its width this much longer (its half-width goes as taper ** (0.5 - 0.5 * this)):
ringlet ends a few texels wide, not hairlines. Where the tips are squeezed into a short edge (a fringe, hair ending
on the scalp) the mip levels average a hairline away, and what is left of a hooked one breaks into specks."""


def band_v(layer: int, t: np.ndarray) -> np.ndarray:
    """t : (...,) position along the strand in [0, 1] (root to tip) -> v in the layer's band."""
    top = layer * BAND_HEIGHT + GUTTER
    span = BAND_HEIGHT - 2 * GUTTER
    return ((top + np.asarray(t) * span) / (BANDS * BAND_HEIGHT)).astype(np.float32)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Circular box blur along the last axis."""
    kernel = np.ones(width) / width
    return np.real(np.fft.ifft(np.fft.fft(x, axis=-1) * np.fft.fft(kernel, x.shape[-1]), axis=-1))


def _rooted(inside: np.ndarray) -> np.ndarray:
    """inside : (r, w) bool, row 0 the roots -> the texels reached from the roots going down the strand: a run of
    texels in a row is kept if it shares a column with a kept run in the row above (round the band's wrap)."""
    starts = inside.copy()
    starts[:, 1:] &= ~inside[:, :-1]
    label = np.cumsum(starts.ravel()).reshape(inside.shape) * inside  # 1, 2, ... per run, 0 outside
    wraps = inside[:, 0] & inside[:, -1] & ~inside.all(1)  # the row's last run goes on into its first
    label[wraps] = np.where(label[wraps] == label[wraps, -1:], label[wraps, :1], label[wraps])
    good = np.zeros(label.max() + 1, bool)
    good[label[0]] = True
    good[0] = False  # outside every run
    for r in range(1, len(inside)):
        good[label[r][good[label[r - 1]]]] = True
        good[0] = False
    return good[label]


def lock_swing(v: np.ndarray, n: int, wave: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sideways shift (texels) and curl phase (radians) of n locks, both (len(v), n), along v : (r,) in [0, 1]."""
    cycles = float(np.interp(wave, (0.0, 1.0), CURL_CYCLES)) * rng.uniform(0.8, 1.2, n)
    drift = np.linspace(0.0, 2 * np.pi, n, endpoint=False)  # the phase drifts once across the band (it repeats)
    phase = 2 * np.pi * cycles[None] * v[:, None] + (drift + LOCK_STEP * rng.standard_normal(n))[None]
    grow = 1.0 / 3.0 + (2.0 / 3.0) * np.clip((v - CROWN_SOLID) / 0.5, 0.0, 1.0)[:, None]
    return wave * LOCK_SWING * grow * np.sin(phase), phase


def _locks(u: np.ndarray, centre: np.ndarray, half: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which lock every texel belongs to once the locks are shifted: u : (w,) texels, centre : (n,) each lock's
    centre, half : (n,) or (r, n) its half-width (per row where it tapers), shift : (r, n) -> lock (r, w) int and
    the texel's signed offset (r, w) from its lock's shifted centre (circular across the band)."""
    # the (r, w, n) distance table is the atlas's largest: circular distances in float32, in place (14x faster
    # than signed float64 offsets), then the signed offset for the chosen lock alone
    shifted = centre[None] + shift  # (r, n)
    distance = np.asarray(u, np.float32)[None, :, None] - np.remainder(shifted, WIDTH).astype(np.float32)[:, None]
    np.abs(distance, out=distance)  # in [0, WIDTH)
    np.minimum(distance, np.float32(WIDTH) - distance, out=distance)
    distance *= (1.0 / np.maximum(np.broadcast_to(half, shift.shape), 1e-3)).astype(np.float32)[:, None]
    lock = distance.argmin(-1)
    chosen = np.take_along_axis(shifted, lock, 1)  # (r, w)
    return lock, (np.asarray(u, np.float64)[None] - chosen + WIDTH / 2) % WIDTH - WIDTH / 2


def strand_atlas(color: tuple[int, int, int], layers: int, density: float = 1.0, seed: int = 7,
                 wave: float = 0.0) -> np.ndarray:
    """(BANDS * BAND_HEIGHT, WIDTH, 4) uint8 sRGB + alpha; band k holds layer k of `layers` (innermost first).

    density in [0, 1] thins every layer's clumps (thinning hair); wave in [0, 1] curls them (0: straight)."""
    atlas = np.zeros((BANDS * BAND_HEIGHT, WIDTH, 4), np.uint8)
    base = np.asarray(color, np.float32)
    for k, (light, alpha) in enumerate(_strand_bands(layers, float(density), seed, float(wave))):
        rgb = np.clip(base[None, None] * light[..., None], 0, 255).astype(np.uint8)
        top = k * BAND_HEIGHT + GUTTER
        atlas[top:top + len(light), :, :3] = rgb
        atlas[top:top + len(light), :, 3] = alpha
        atlas[top - GUTTER:top, :, :3] = rgb[:1]
        atlas[top + len(light):top + len(light) + GUTTER, :, :3] = rgb[-1:]
    return atlas


@functools.lru_cache(maxsize=4)
def _strand_bands(layers: int, density: float, seed: int, wave: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per layer band, the strands' brightness (rows, WIDTH) (times the hair colour) and alpha (rows, WIDTH) uint8.
    Cached: the builder makes the atlas again in the photo's albedo colour (curly bands take a third of a second)."""
    rng = np.random.default_rng(seed)
    v = (np.arange(BAND_HEIGHT - 2 * GUTTER) + 0.5) / (BAND_HEIGHT - 2 * GUTTER)  # root 0 -> tip 1
    u = np.arange(WIDTH)
    bands = []
    # strands: one texel wide, tone varying strand to strand and slowly along the strand
    rows = np.arange(len(v))[:, None]
    for k in range(min(layers, BANDS)):
        outer = k / max(layers - 1, 1)  # 0 innermost, 1 outermost
        # clumps: random widths in CLUMP_TEXELS tiling the width
        widths = rng.integers(CLUMP_TEXELS[0], CLUMP_TEXELS[1] + 1, WIDTH // 4)
        edges = np.concatenate([[0], np.cumsum(widths)])
        edges = edges[edges < WIDTH]
        clump = np.searchsorted(edges, u, side="right") - 1
        n = clump.max() + 1
        ends = np.append(edges[1:], WIDTH)
        centres, halves = (edges + np.minimum(ends, WIDTH)) / 2, (ends - edges) / 2  # (n,) per clump
        # clumps sway a little sideways along their length, so they read as locks, not planks
        sway = (rng.uniform(0, SWAY_TEXELS, n)[None] * np.sin(2 * np.pi * rng.uniform(0.7, 2.5, n)[None] * v[:, None]
                                                                + rng.uniform(0, 2 * np.pi, n)[None]))
        presence = 1.0 - (1.0 - OUTER_PRESENCE) * outer
        present = rng.random(n) < presence * density
        tip_start = np.where(rng.random(n) < 0.5, TIP_START, TIP_START - 0.25 * outer * rng.random(n))
        tip_start = tip_start - 0.08 * rng.random(n)
        end = 1.0 - TIP_SPREAD * (0.25 + 0.75 * outer) * rng.random(n) ** 0.7  # clumps end at different lengths: no straight cut line
        tip_start = tip_start * end
        # an absent clump is absent only away from the crown, where all columns meet and gaps would show the scalp:
        # it is a short lock there
        short = GAP_FROM + rng.random(n) * 0.25
        absent = ~present
        if wave > 0:  # curly locks, from their own random stream: a straight atlas stays as it was
            curl = np.random.default_rng(seed + 101 + k)
            shift, phase = lock_swing(v, n, wave, curl)
            absent &= ~(curl.random(n) < wave * CURL_FILL * density)
            end = end - wave * TIP_RAGGED * curl.random(n)
            tip_start = np.maximum(tip_start - wave * TIP_CURL_START * curl.random(n), CROWN_SOLID)
        tip_start = np.where(absent, np.minimum(tip_start, short), tip_start)
        end = np.where(absent, np.minimum(end, short + SHORT_TAPER), end)
        if wave > 0:
            tipness = np.clip((v[:, None] - tip_start[None]) / np.maximum(end - tip_start, 1e-3)[None], 0, 1)
            # the tips hook round: ringlets, not points
            sway = sway + (wave * TIP_CURL_TEXELS * curl.uniform(0.5, 1.0, n)[None] * tipness ** 1.5
                           * np.sin(2 * np.pi * curl.uniform(0.6, 1.4, n)[None] * tipness
                                    + curl.uniform(0, 2 * np.pi, n)[None]))
            # a texel belongs to the lock whose tip, hooked and tapered, covers it most: a hook reaching over its
            # neighbour stays whole instead of being cut at the neighbour's edge into islands
            reach = np.clip((end[None] - v[:, None]) / np.maximum(end - tip_start, 1e-3)[None], 0, 1)
            tapering = reach < 1.0
            reach = np.where(tapering, reach ** (0.5 - 0.5 * TIP_FULL * wave), 1.0)
            shift = shift + np.where(tapering, sway, 0.0)
            clump, offset = _locks(u.astype(np.float64), centres, halves[None] * reach, shift)  # (r, w) each
            sway = np.zeros_like(sway)  # already in the locks' centres
            strand = np.rint(u[None] - shift[rows, clump]).astype(int) % WIDTH  # strands follow their lock
        else:
            clump = np.broadcast_to(clump, (len(v), WIDTH))
            offset = u[None] - centres[clump]
            strand = np.broadcast_to(u, (len(v), WIDTH))
        half = np.maximum(halves[clump], 1)
        across = np.abs(offset) / half  # 0 middle, 1 edge: tiles, no gaps
        if wave > 0:  # locks swung apart still meet: parted locks showed the darker layer under them as stripes
            across = np.minimum(across, 1.0)
        # the sway bends a clump's tip and its shading, never its body: clumps side by side must not open gaps
        swayed = np.abs(offset - sway[rows, clump]) / half
        # a clump tapers to a point: past tip_start its half-width shrinks linearly to zero at its end
        taper = np.clip((end[clump] - v[:, None]) / np.maximum(end[clump] - tip_start[clump], 1e-3), 0, 1)
        tip_len = np.clip(taper ** (0.5 - 0.5 * TIP_FULL * wave), 0, 1)  # a square root when straight
        inside = np.where(tip_len < 1.0, swayed, across) <= tip_len
        if wave > 0:  # a tip cut by an absent neighbour's gap can still leave islands: specks, not hair ends
            inside = _rooted(inside)
        alpha = np.where(inside, 255, 0).astype(np.uint8)
        tone = 0.84 + 0.28 * _smooth(rng.random(WIDTH), 2)  # per strand
        drift = 1.0 + 0.08 * np.sin(v[:, None] * rng.uniform(6, 14) + rng.uniform(0, 6.3, WIDTH)[strand])
        edge = 0.08 + LOCK_EDGE_SHADE * wave
        if wave > 0:  # curly locks stand apart, but a dark outline round a thin tip reads as a speck of dirt
            edge = edge - LOCK_EDGE_SHADE * wave * tipness[rows, clump]
        edge_shadow = 1.0 - edge * np.minimum(swayed, 1.0) ** 2  # the clump's own strands shade its edges
        gradient = 0.82 + 0.26 * v[:, None]  # roots darker, sunlit tips lighter
        shade = INNER_SHADE + (1.0 - INNER_SHADE) * outer if layers > 1 else 0.85
        light = tone[strand] * drift * edge_shadow * gradient * shade
        if wave > 0:  # light and dark where a curl turns toward the light and away
            light = light * (1.0 + wave * CURL_SHADE * np.cos(phase[rows, clump]))
            # transparent texels still colour the mip levels' edges: there they carry no edge shadow
            light = np.where(inside, light, light / edge_shadow)
        light.setflags(write=False)
        alpha.setflags(write=False)
        bands.append((light, alpha))
    return tuple(bands)
