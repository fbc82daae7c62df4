"""The teeth's pattern as a texture, for engines that draw the file without this project's shader.

The head model's teeth are two smooth bands; `shaders/avatar.glsl` (`tooth_shade`) draws on them, per pixel from the
rest position, the gaps between teeth, the notches at their tips, the tips' enamel and the gum beyond the crowns.
Three.js, Unity or Blender drew the same file as two pale grey blocks with no teeth in them. This bakes that pattern
(the same arithmetic, in numpy) into a texture over the two rows' UV islands, their UVs taken to fill it; the
renderer leaves that texture out (`Material.texture_is_pattern`) and keeps drawing the pattern itself.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace

import numpy as np

from avatar_engine.head.geometry import smoothstep
from avatar_engine.head.tooth_edge import EDGE_SAMPLES, BitingEdge, biting_edge
from avatar_engine.records import Avatar, Part

TEXTURE_SIZE = 512
"""Texels along each side: the two rows' islands span it, about 0.2 mm of tooth a texel."""
GUTTER_PX = 4
"""Texels the islands' colours are carried out past their edges, so that filtering and mipmaps do not bleed in the
empty texture between them."""

# shaders/avatar.glsl's constants, with the same names
TOOTH_EDGES = np.array([0.0, 0.0085, 0.0150, 0.0225, 0.0295, 0.0365, 0.0465, 0.0565])
ARCH_DEPTH = 0.055
TIP_NOTCH = 0.0025
TIP_ENAMEL = 0.0018
CROWN_HEIGHT = 0.0105
PAPILLA = 0.0018
GUM = np.array([0.55, 0.20, 0.22])
NO_EDGE_TIP = 0.005


def _tip_depth(p: np.ndarray, angle: np.ndarray, edge: BitingEdge) -> np.ndarray:
    """(n,) metres from the row's biting edge into the tooth, 0 past it (the shader's `tip_distance`). p : (n, 3)
    points anywhere on the row, angle : (n,) their arch angles measured from the row's back (`tooth_edge.tip_distance`
    takes the back from the points it is given: the whole row)."""
    if edge.side == 0.0:
        return np.full(len(p), NO_EDGE_TIP)
    t = np.clip(angle / max(edge.max_angle, 1e-3), 0.0, 1.0) * (EDGE_SAMPLES - 1)
    i = np.minimum(t.astype(int), EDGE_SAMPLES - 2)
    heights = np.asarray(edge.heights, np.float64)
    at = heights[i] + (heights[i + 1] - heights[i]) * (t - i)
    return np.maximum(edge.side * (p[:, 1] - at), 0.0)


def tooth_shade(p: np.ndarray, cavity: tuple[float, float], edge: BitingEdge) -> np.ndarray:
    """(n, 3) linear factor on the teeth's base colour at rest positions p (n, 3) (the shader's `tooth_shade`).
    cavity : (front, back) rest z of the row."""
    depth = max(cavity[0] - cavity[1], 1e-3)
    angle = np.arctan2(np.abs(p[:, 0]), p[:, 2] - cavity[1])
    arc = angle / 1.5708 * depth
    gap_to = np.min(np.abs(arc[:, None] - TOOTH_EDGES[None] * depth / ARCH_DEPTH), axis=1)
    tip = _tip_depth(p, angle, edge)
    near_tip = 1.0 - smoothstep(0.0, TIP_NOTCH, tip)
    gap = 0.0006 + (0.0016 - 0.0006) * near_tip
    dark = 0.55 + (0.25 - 0.55) * near_tip
    seam = dark + (1.0 - dark) * smoothstep(0.0, 1.0, gap_to / gap)
    round_off = 0.68 + 0.32 * np.sqrt(smoothstep(0.0, 0.0025, gap_to))
    enamel_t = smoothstep(0.0, TIP_ENAMEL, tip)[:, None]
    enamel = np.array([0.74, 0.80, 0.88]) + (1.0 - np.array([0.74, 0.80, 0.88])) * enamel_t
    gum_line = CROWN_HEIGHT - PAPILLA * (1.0 - smoothstep(0.0, 0.003, gap_to))
    gum = smoothstep(0.0, 1.0, (tip - (gum_line - 0.0004)) / 0.0008)[:, None]
    tooth = (seam * round_off)[:, None] * enamel
    return tooth + (GUM - tooth) * gum


TEETH_PARTS = ("teeth_upper", "teeth_lower")


def with_baked_teeth(avatar: Avatar) -> Avatar:
    """`avatar` with its teeth rows' UVs remapped to their pattern baked as the teeth material's texture; as it was
    where that material already has a texture (baked before, or another tool's), or there are no teeth."""
    rows = [p for p in avatar.parts if p.name in TEETH_PARTS]
    keys = {p.material for p in rows}
    key = keys.pop() if len(keys) == 1 else None  # both rows share one material, or it is not ours
    material = avatar.materials.get(key) if key is not None else None
    if material is None or material.texture is not None:
        return avatar
    texture, uvs = _cached_bake(rows)
    remapped = dict(zip((p.name for p in rows), uvs))
    parts = tuple(replace(p, uvs=remapped[p.name]) if p.name in remapped else p for p in avatar.parts)
    return replace(avatar, parts=parts, materials={**avatar.materials, key: replace(
        material, texture=texture, texture_is_pattern=True)})


_BAKES: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}
_BAKES_LOCK = threading.Lock()
BAKES_KEPT = 8
"""Bakes kept by the rows' geometry: the default head is made again and again (tests, the live loop's fallback,
synthetic sets of a few identities), and a bake costs about 0.1-0.2 s."""


def _cached_bake(rows: list[Part]) -> tuple[np.ndarray, list[np.ndarray]]:
    """`baked_teeth` of the rows (upper row by name), read-only arrays shared by avatars of the same teeth."""
    key = hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() + row.name.encode() for row in rows
                                for a in (row.positions, row.uvs, row.indices))).hexdigest()
    with _BAKES_LOCK:  # the builder's stages run on threads of their own
        if key not in _BAKES:
            texture, uvs = baked_teeth(rows, [p.name == "teeth_upper" for p in rows])
            for array in (texture, *uvs):
                array.setflags(write=False)
            while len(_BAKES) >= BAKES_KEPT:
                _BAKES.pop(next(iter(_BAKES)))
            _BAKES[key] = texture, uvs
        return _BAKES[key]


def uv_box(rows: list[Part]) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) (2,) corners of the rows' UV islands together."""
    uvs = np.concatenate([np.asarray(r.uvs, np.float64) for r in rows])
    return uvs.min(0), uvs.max(0)


def baked_teeth(rows: list[Part], upper: list[bool], size: int = TEXTURE_SIZE) -> tuple[np.ndarray, list[np.ndarray]]:
    """The rows' pattern baked over their UV islands: (size, size, 4) uint8 sRGB texture (the factor on the base
    colour, opaque) and each row's (n, 2) float32 UVs remapped to fill it. rows : the teeth parts at rest; upper :
    whether each is the upper row (its biting edge faces down)."""
    lo, hi = uv_box(rows)
    span = np.maximum(hi - lo, 1e-9)
    inset = (GUTTER_PX + 0.5) / size  # the islands stop short of the border by the gutter
    uvs = [(inset + (np.asarray(r.uvs, np.float64) - lo) / span * (1.0 - 2.0 * inset)).astype(np.float32)
           for r in rows]
    from avatar_engine.build.texture_project import texel_map  # the UV rasteriser the skin's texture uses

    colour = np.zeros((size * size, 3), np.float32)
    covered = np.zeros(size * size, bool)
    for row, uv, is_upper in zip(rows, uvs, upper):
        p = np.asarray(row.positions, np.float64)
        z = p[:, 2]
        cavity = (float(z.max()), float(z.min()))  # as the renderer takes it: the row's own front and back
        tmap = texel_map(uv, row.indices, size)
        points = np.einsum("tk,tkc->tc", tmap.bary, p[np.asarray(row.indices, np.int64)[tmap.face]])
        colour[tmap.texels] = tooth_shade(points, cavity, biting_edge(p, is_upper))
        covered[tmap.texels] = True
    colour, covered = colour.reshape(size, size, 3), covered.reshape(size, size)
    colour = _with_gutter(colour, covered, GUTTER_PX)
    c = np.clip(colour, 0.0, 1.0, dtype=np.float32)
    srgb = np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, np.float32(1 / 2.4)) - 0.055)
    texture = np.full((size, size, 4), 255, np.uint8)
    texture[..., :3] = np.round(255 * srgb)
    return texture, uvs


def _with_gutter(colour: np.ndarray, covered: np.ndarray, reach: int) -> np.ndarray:
    """colour (h, w, 3) with each empty texel within `reach` of an island given its nearest covered texel's colour;
    the rest of the empty texture the islands' mean."""
    import cv2

    if not covered.any():
        return np.ones_like(colour)
    # the distance to, and the label of, the nearest covered texel (zero pixels of the input)
    distance, labels = cv2.distanceTransformWithLabels((~covered).astype(np.uint8), cv2.DIST_L2, 3,
                                                       labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(covered)
    source = np.zeros((labels.max() + 1, 3))
    source[labels[ys, xs]] = colour[ys, xs]
    out = np.where(covered[..., None], colour, colour[covered].mean(0)).astype(np.float32)
    near = ~covered & (distance <= reach)
    out[near] = source[labels[near]]
    return out
