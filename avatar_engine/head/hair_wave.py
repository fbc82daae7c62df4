"""Wavy and curly hair in the sheets' geometry: a ripple along the strands, normal to the sheet.

The sheets are a grid with a row every centimetre or so, so the geometry carries only the slow part of a wave (a
bob's soft S-bends); the strand texture (hair_texture) carries the tight part (clumps curling sideways, broken
tips). The ripple is outward only, growing from the crown toward the tips: it never pushes the inner sheet into
the skull, and its mean lift is the fuller volume wavy hair has. Its phase wanders round the head, so crests run
diagonally and break up instead of lining up in rings like a corrugated roof. Strand tangents follow the ripple,
so the Kajiya-Kay highlight breaks up along the waves with no per-pixel cost.
"""

from __future__ import annotations

import numpy as np

WAVELENGTHS = (0.065, 0.05)
"""Ripple wavelength along the strand (metres) at a slight wave and at wave 1; a grid row every 9 mm resolves no
shorter bend (the texture's curls are tighter)."""
AMPLITUDE = 0.006
"""Outward lift of a crest at the tips at wave 1 (metres); troughs lie where the straight sheet was."""
LOCK_VARIATION = 0.35
"""Amplitude varies round the head by this fraction: some locks wave more than others."""
PHASE_HARMONICS = ((1, 1.1, 0.4), (2, 1.2, 2.1), (3, 0.6, 4.0))
"""(harmonic round the head, amplitude in radians, offset) of the ripple's phase: crests wander up and down the
strands round the head (periodic, so the grid's seam column matches)."""
LOCK_HARMONIC, LOCK_OFFSET = 3, 0.9
"""Which harmonic round the head modulates the amplitude, and its offset."""
GROW_FROM = 0.2
"""Fraction of a strand's length (from the crown) where the ripple starts; it reaches full height at the tips."""
EXTRA_ROWS = 0.2
"""Fraction of grid rows added at wave 1 so the ripple has samples to bend on (triangles grow by the same)."""
EXTRA_VOLUME = 0.003
"""Height (metres) added to the outer sheets at wave 1: curls stand off the head more than straight hair."""


def wave_phase(columns: int) -> np.ndarray:
    """(columns,) the ripple's phase offset (radians) per column round the head."""
    theta = np.arange(columns) / columns * 2 * np.pi
    return sum(a * np.sin(k * theta + b) for k, a, b in PHASE_HARMONICS)


def lock_amplitude(columns: int) -> np.ndarray:
    """(columns,) the ripple's relative amplitude per column (mean 1)."""
    theta = np.arange(columns) / columns * 2 * np.pi
    return 1.0 + LOCK_VARIATION * np.sin(LOCK_HARMONIC * theta + LOCK_OFFSET)


def ripple(s: np.ndarray, length: np.ndarray, wave: float) -> np.ndarray:
    """Outward displacement (metres) of every grid point: s : (c, r) arc length from the crown, length : (c,)
    strand length per column -> (c, r), in [0, AMPLITUDE * wave * (1 + LOCK_VARIATION)]; zeros at wave 0."""
    c = s.shape[0]
    if wave <= 0:
        return np.zeros_like(s)
    wavelength = float(np.interp(wave, (0.0, 1.0), WAVELENGTHS))
    along = np.clip((s / np.maximum(length, 1e-6)[:, None] - GROW_FROM) / (1.0 - GROW_FROM), 0.0, 1.0)
    grow = along * along * (3 - 2 * along)
    crest = 0.5 + 0.5 * np.sin(2 * np.pi * s / wavelength + wave_phase(c)[:, None])
    return AMPLITUDE * wave * lock_amplitude(c)[:, None] * grow * crest


def wave_rows(rows: int, wave: float) -> int:
    """Grid rows for a wavy style given the straight style's `rows` (unchanged at wave 0)."""
    return int(round(rows * (1.0 + EXTRA_ROWS * float(np.clip(wave, 0.0, 1.0)))))
