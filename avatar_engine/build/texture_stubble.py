"""A man's stubble read from the photo: how much darker the beard zone is than the rest of his face, and its grain.

Pure functions of the texture stage's per-texel readings (`build.texture`): the zone is where a beard grows on the
template (`synth.albedo.stubble_weight`). Read against the default skin's bare jaw, stubble went into the smooth
skin tone and came out faint where the photo shows it, and the jaw's sides and the underside of the chin, which a
frontal photo does not show, were filled clean-shaven (`benchmarks/build_stubble.py`).
"""

from __future__ import annotations

import numpy as np

from avatar_engine.build import delight

STUBBLE_SHARE = 0.5
"""Beard-zone share over which a texel is read for the stubble's colour..."""
STUBBLE_FREE = 0.05
"""...and under which it is bare skin to compare with."""
STUBBLE_SEEN_MIN = 2000
"""Well-seen texels (at 1024) of each, on both sides together, below which no stubble is read (a frontal photo
shows about 28000 of the zone)."""
STUBBLE_MIN_LOG = 0.1
"""Log luminance the beard zone must be darker than the face by (on its less dark side, `beard_darkening`) before
it is read as stubble, and is read by that much less, so that a reading just past it stays faint. Over 148 builds of
bare faces (`benchmarks/build_texture.py`, `build_light.py --subjects 4`, `build_glasses.py`) the less dark side
read from 0.062 darker to 0.2 lighter (both sides together: up to 0.092 darker, a hard side key's shade); Grace
Hopper and the astronaut 0.19 lighter; 37 bare synthetic people under the dataset's coloured lights
(`avatar synth --texture`, seed 39000, scenes 0-48) down to 0.12 darker (scene 1). Of their stubbled people, 6 of 7
with 0.5-0.9 of the painter's stubble and 1 of 5 with less read 0.10-0.25 darker; `benchmarks/build_stubble.py`'s
half stubble 0.11-0.13, its full 0.33-0.39: the two overlap, and a grey jaw on a bare face is the worse mistake."""
STUBBLE_TONE_MAX = 2.0
"""...and no more than this many log units per channel."""
GRAIN_MAX = 0.3
"""The most log luminance spread the grain is given (a beard's hair or a shadow's edge in the zone is not grain)..."""
GRAIN_RELATIVE_MAX = 1.0
"""...and at most the stubble's own darkening: more made blotches paler than the bare skin beside them where a
faint stubble was read in a grainy photo (`benchmarks/texture_net.py`'s sample 18)."""


def beard_darkening(log_ratio: np.ndarray, stubble: np.ndarray, skin: np.ndarray, weight: np.ndarray,
                    left: np.ndarray, size: int) -> np.ndarray | None:
    """(3,) how much darker (log, per channel) the beard zone is than the rest of the face, on the side of the face
    where it is least: per side (`left` (s,) bool, the template's side of each texel), the median of `log_ratio`
    ((s, 3) log albedo over the reference skin) over the zone's texels (`stubble` (s,) zone share over
    `STUBBLE_SHARE`) less its median over the plain face skin outside it (`skin` (s,) bool, share under
    `STUBBLE_FREE`), both where the photo shows them well (`weight` (s,) over 0.5). A side that shows fewer than
    `STUBBLE_SEEN_MIN` texels of either (scaled to the texture's `size`) is not read; None when neither does.
    Stubble darkens both sides alike; a hard side light's shade on a bare jaw does not (a side key read a dark
    face's bare zone 0.09 darker over both sides in `benchmarks/build_texture.py`, 0.2 lighter on its lit side)."""
    zone, bare = _zone_and_bare(stubble, skin, weight)
    enough = STUBBLE_SEEN_MIN / 2 * (size / 1024) ** 2
    sides = []
    for side in (left, ~left):
        if np.count_nonzero(zone & side) >= enough and np.count_nonzero(bare & side) >= enough:
            sides.append(np.median(log_ratio[zone & side], axis=0) - np.median(log_ratio[bare & side], axis=0))
    return max(sides, key=lambda darker: float(darker @ delight.LUMA)) if sides else None


def stubble_tone(darker: np.ndarray | None) -> np.ndarray:
    """(3,) log linear colour of the stubble of a beard zone `darker` (`beard_darkening`) than the face: a darkening
    beyond `STUBBLE_MIN_LOG` in luminance, by that much less (a bare jaw reads up to a tenth darker, from the light's
    fit); zeros for less, or none read."""
    luma = 0.0 if darker is None else float(darker @ delight.LUMA)
    if luma > -STUBBLE_MIN_LOG:
        return np.zeros(3)
    return np.clip(darker * (luma + STUBBLE_MIN_LOG) / luma, -STUBBLE_TONE_MAX, 0.0)


def stubble_grain(off: np.ndarray, stubble: np.ndarray, skin: np.ndarray, weight: np.ndarray) -> float:
    """Log luminance spread the stubble adds to the skin's own grain where the photo shows it: the robust spread
    (scaled median absolute deviation) of `off` ((s, 3) log albedo over the reference skin and the smooth tone) over
    the beard zone, beyond the bare face's (arguments as `beard_darkening`), at most `GRAIN_MAX`."""
    zone, bare = _zone_and_bare(stubble, skin, weight)
    if not zone.any() or not bare.any():
        return 0.0
    luma = off @ delight.LUMA
    extra = _spread(luma[zone]) ** 2 - _spread(luma[bare]) ** 2
    return float(min(np.sqrt(max(extra, 0.0)), GRAIN_MAX))


def _zone_and_bare(stubble: np.ndarray, skin: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sure = weight > 0.5
    return sure & (stubble > STUBBLE_SHARE), sure & skin & (stubble < STUBBLE_FREE)


def _spread(values: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))
