"""Ambient occlusion per vertex: how much of the sky each point of the head sees, baked once per avatar.

It darkens what a real head keeps in shadow under soft light (the mouth's inside, nostrils, ear folds, the
corners of the eyes, the scalp under hair). It travels in the avatar file twice: as it is, for our renderer, in the
application attribute `_OCCLUSION`, and as the share of the light our renderer gives each vertex, in COLOR_0, which
other viewers (three.js, Blender, Unity's glTF importers) multiply into the base colour (`viewer_shade`). An
eyeball turns in its socket: the renderer reads its occlusion by the socket's directions, not its own
(`render/eye_occlusion.py`).

Method: orthographic height maps of the whole head seen from many directions on the sphere (points splatted into
a grid, holes closed by a small max filter); a vertex sees a direction when nothing in its grid cell lies above it
along that direction. Cosine-weighted over the vertex's hemisphere. Hair is tested apart for the skin it lies
over: strands a few millimetres above the scalp or in front of the forehead stop most of a direction's light
(`HAIR_OPACITY`), from closer than the head's own surfaces count. Pure numpy, about 0.35 s for a built head.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX, EYE_BLINKS
from avatar_engine.head.geometry import smoothstep
from avatar_engine.records import Avatar

DIRECTIONS = 48
"""Sample directions on the sphere (Fibonacci lattice)."""
CELL = 0.003
"""Height-map cell size in metres: a little above the vertex spacing on the face, so few cells stay empty."""
BIAS = 0.002
"""How far above a vertex an occluder must be (metres) to count, plus the surface's own rise over a cell."""
HAIR_BIAS = 0.0005
"""Hair this far (metres) or more above the skin shades it. The test above counts hair like every surface, and
forgives occluders within `BIAS` plus the receiving surface's rise over a cell: 2 mm along its normal, up to 17 mm
along a grazing direction. Hair lies 2-5 mm over the scalp and hangs a few mm in front of the forehead, mostly
inside that allowance, so by that test alone the skin under a fringe saw most of its sky (0.52-0.63) and the
forehead between its tips drew as pale patches brighter than the face below them. For the skin, hair from this
height up to `HAIR_REACH` also counts, stopping `HAIR_OPACITY` of a direction's light; hair beyond the allowance
counts fully in the first test, as before."""
HAIR_REACH = 0.012
"""...and at most this far (metres): counted at any distance, the added test darkened the whole forehead below a
fringe down to the brows (the direct light follows the occlusion)."""
HAIR_OPACITY = 0.7
"""Share of the light hair stops on its way to the skin under it: strands let some through and scatter more."""
HAIR_KIND = "hair"
"""Material kind of the parts that shade the skin closely (`HAIR_BIAS`)."""
SHADED_KINDS = ("skin",)
"""Material kinds hair shades closely: the scalp, forehead and ears under it."""
LIDS_MOVED = 0.003
"""Vertices a blink moves further than this (metres) take the more open of their occlusion at rest and shut."""
LIPS_MOVED = 0.001
"""Skin mouthClose moves further than this (metres) is the lips' (both: it lifts the lower lip and lowers the
upper)..."""
LIPS_MEET = 0.2
"""...and where its occlusion with the jaw shut is more than this below the baked value (jaw a little open:
`BAKE_EXPRESSION`), the lips meet at rest: their inner faces take the shut value. Baked open, they drew a lit line
between the resting lips of built faces (the astronaut's lower lip's inner edge, white under the key light)."""
AMBIENT_SHARE = 0.254
"""Share of the light on the face that the studio rig's sky and ground give (the rest is its three lights): renders
of the template with every vertex's baked occlusion set to 0.1-0.8 darken the face by
`(1 - AMBIENT_SHARE) * smoothstep(0.05, 0.65, ao) + AMBIENT_SHARE * ao` (tests/build/test_texture_parts.py)."""
TONGUE_SHADE = (0.45, 1.0)
"""A viewer's tongue: its occlusion mapped onto this range. Ours shades it by where it is (deep in the mouth, or
stuck out in the open: shaders/lib/materials.glsl, shade_mouth); a fixed colour cannot, and the bare light share
(0.2 on average) drew a black slab stuck out or seen through an open mouth."""
TOOTH_SHADE = (0.5, 1.0)
"""A viewer's teeth: their occlusion mapped onto this range, as our renderer lifts it (`tooth_light` in
shaders/avatar.glsl). Ours also dims them while the lips are barely parted (`render.lip_gap`), which a fixed vertex
colour cannot; at rest the lips meet (`head.lip_seal`), so no viewer sees the teeth then..."""
TOOTH_SIDE = 0.3
"""...times this on the sides and inner faces of the rows, which the cheeks and the tongue shade."""


def light_share(ao: np.ndarray) -> np.ndarray:
    """The share of an open point's light (0-1) that our renderer gives skin with baked ambient visibility `ao`
    (shaders/lib/materials.glsl, shade_skin: the lights dimmed by `direct_occlusion`, the sky by ao)."""
    ao = np.asarray(ao, np.float64)
    return (1 - AMBIENT_SHARE) * smoothstep(0.05, 0.65, ao) + AMBIENT_SHARE * ao


def viewer_shade(kind: str, ao: np.ndarray, normals: np.ndarray) -> np.ndarray | None:
    """(n,) the shade a viewer that multiplies vertex colours into the base colour (glTF's COLOR_0) should apply to
    a part of material `kind` to look as our renderer draws it, from its baked occlusion `ao` (n,) and rest
    normals (n, 3); None for the eyes, whose shade turns with the eyeball if baked (ours reads it by the socket's
    directions). Not the raw occlusion: it dims the sky alone, and multiplied into every light it turned the skin
    half as bright (0.57 on average) and the tongue black."""
    ao = np.clip(np.asarray(ao, np.float64), 0.0, 1.0)
    if kind == "eye":
        return None
    if kind == "tongue":
        return TONGUE_SHADE[0] + (TONGUE_SHADE[1] - TONGUE_SHADE[0]) * ao
    if kind == "teeth":
        facing = TOOTH_SIDE + (1 - TOOTH_SIDE) * smoothstep(-0.2, 0.8, np.asarray(normals, np.float64)[:, 2])
        return (TOOTH_SHADE[0] + (TOOTH_SHADE[1] - TOOTH_SHADE[0]) * ao) * facing
    return light_share(ao)


def fibonacci_sphere(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread evenly over the sphere."""
    i = np.arange(count) + 0.5
    z = 1 - 2 * i / count
    r = np.sqrt(1 - z * z)
    phi = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _surface_samples(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Vertices plus triangle centroids: dense enough that the height map has only pinholes."""
    tri = positions[triangles]
    return np.concatenate([positions, tri.mean(axis=1)])


def _near(points: np.ndarray, others: np.ndarray, radius: float) -> np.ndarray:
    """(k,) bool: True for each of the k `points` with one of `others` within `radius` (and for some up to
    2 * sqrt(3) * radius away: voxels of that size, a point and its 26 neighbours)."""
    def key(voxels: np.ndarray) -> np.ndarray:
        return (voxels[:, 0] * 4096 + voxels[:, 1]) * 4096 + voxels[:, 2]

    occupied = np.unique(key(np.floor(others / radius).astype(np.int64)))
    voxels = np.floor(points / radius).astype(np.int64)
    return np.any([np.isin(key(voxels + (dx, dy, dz)), occupied)
                   for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)], axis=0)


def _hair_close_above(hair_height: np.ndarray, hair_cells: np.ndarray, height: np.ndarray, cells: np.ndarray,
                      shape: np.ndarray) -> np.ndarray:
    """(k,) bool: whether hair lies between `HAIR_BIAS` and `HAIR_REACH` above each of k receivers along one
    direction, in its height-map cell or a neighbouring one (strands run between a card's samples).

    hair_height : (s,) hair samples' heights along the direction; hair_cells : (s, 2) their cells
    height : (k,) the receivers' heights; cells : (k, 2) their cells; shape : the grid's (2,) shape
    """
    width = int(shape[1]) + 2  # a border of empty cells: every neighbour of a cell has an id of its own
    base = min(hair_height.min(), height.min()) - HAIR_REACH
    span = max(hair_height.max(), height.max()) - base + 2 * HAIR_REACH  # one cell's keys never reach the next's
    keys = np.sort(((hair_cells[:, 0] + 1) * width + hair_cells[:, 1] + 1) * span + (hair_height - base))
    starts = np.concatenate([((cells[:, 0] + dy) * width + cells[:, 1] + dx) * span + (height - base)
                             for dy in (0, 1, 2) for dx in (0, 1, 2)])
    order = np.argsort(starts)  # sorted queries: each binary search starts where the previous one ended
    queries = starts[order]
    between = np.empty(len(starts), bool)
    between[order] = np.searchsorted(keys, queries + HAIR_REACH) > np.searchsorted(keys, queries + HAIR_BIAS)
    return between.reshape(9, -1).any(axis=0)


def _max_filter3(grid: np.ndarray) -> np.ndarray:
    padded = np.pad(grid, 1, constant_values=-np.inf)
    h, w = grid.shape
    return np.max([padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=0)


def vertex_occlusion(positions: np.ndarray, normals: np.ndarray, triangles: np.ndarray,
                     directions: int = DIRECTIONS, hair: np.ndarray | None = None,
                     under_hair: np.ndarray | None = None) -> np.ndarray:
    """Ambient visibility of each vertex of a closed-ish mesh.

    positions : (n, 3) float vertices of every part together (occluders and receivers)
    normals : (n, 3) unit normals
    triangles : (m, 3) int indices into positions
    hair : (m,) bool, optional: triangles of hair, which shades the `under_hair` vertices from `HAIR_BIAS` above
    under_hair : (n,) bool, optional: the vertices hair lies close over (skin)
    returns : (n,) float32 in [0, 1], 1 = sees the whole hemisphere above it
    """
    positions = np.asarray(positions, np.float64)
    triangles = np.asarray(triangles, np.int64)
    samples = _surface_samples(positions, triangles)
    close = hair is not None and under_hair is not None and bool(np.any(hair)) and bool(np.any(under_hair))
    if close:
        strands = triangles[hair]
        hair_samples = np.concatenate([positions[np.unique(strands)], positions[strands].mean(axis=1)])
        # a sample the test below finds lies at most HAIR_REACH along a direction and two cells across it away
        near_hair = under_hair & _near(positions, hair_samples, HAIR_REACH + 3 * CELL)
    seen = np.zeros(len(positions))
    total = np.zeros(len(positions))
    for d in fibonacci_sphere(directions):
        u = np.cross(d, [0.0, 1.0, 0.0] if abs(d[1]) < 0.9 else [1.0, 0.0, 0.0])
        u /= np.linalg.norm(u)
        v = np.cross(d, u)
        lo = np.array([samples @ u, samples @ v]).min(axis=1)
        cells = lambda p: np.floor((np.stack([p @ u, p @ v], 1) - lo) / CELL).astype(np.int64)  # noqa: E731
        sc = cells(samples)
        shape = sc.max(axis=0) + 1
        height = np.full(shape, -np.inf)
        np.maximum.at(height, (sc[:, 0], sc[:, 1]), samples @ d)
        height = np.where(np.isfinite(height), height, _max_filter3(height))  # close pinholes only
        vc = np.clip(cells(positions), 0, shape - 1)
        cosine = np.clip(normals @ d, 0.0, 1.0)  # a float32 unit normal can come out a hair over 1: no NaN rise
        # a surface tilted away from d rises across its own cell: allow for that rise
        slope = np.sqrt(1 - cosine ** 2) / np.maximum(cosine, 0.2)
        visible = positions @ d >= height[vc[:, 0], vc[:, 1]] - BIAS - CELL * slope
        if close:
            shaded = np.zeros(len(positions), bool)
            lit = np.flatnonzero(near_hair & (cosine > 0))  # the others add nothing to `seen` either way
            if len(lit):
                shaded[lit] = _hair_close_above(hair_samples @ d, cells(hair_samples), positions[lit] @ d, vc[lit],
                                                shape)
            visible = visible * np.where(shaded, 1.0 - HAIR_OPACITY, 1.0)
        seen += cosine * visible
        total += cosine
    return (seen / np.maximum(total, 1e-9)).astype(np.float32)


BAKE_EXPRESSION = {"jawOpen": 0.4}
"""Occlusion is baked with the mouth a little open: what an open mouth reveals must not read as lit, and the
inside of a closed mouth is hidden anyway."""


def _bake_weights() -> np.ndarray:
    """(52,) the ARKit weights of `BAKE_EXPRESSION`."""
    offset = np.zeros(52)
    for name, weight in BAKE_EXPRESSION.items():
        offset[ARKIT_INDEX[name]] = weight
    return offset


def model_occlusion(model, positions: np.ndarray) -> np.ndarray:
    """(n,) baked ambient visibility of the head model's own vertices at `positions` (n, 3), a rest mesh of the
    model (a fitted person's): as `with_occlusion` bakes it for an avatar of that mesh, without the lashes and hair
    grown on it (the texture stage divides it out of the photo before those exist) and without the lips' shut value
    (`LIPS_MEET`: faces a photo of closed lips does not show). About 0.2 s."""
    offsets = np.tensordot(_bake_weights(), model.expression_offsets, 1)
    ao = vertex_occlusion(positions + offsets, model.normals(positions), model.triangles)
    blink = model.expression_offsets[EYE_BLINKS].sum(axis=0)
    moved = np.linalg.norm(blink, axis=1) > LIDS_MOVED  # as `with_occlusion`: the lids their more open value
    shut = positions + offsets + blink
    return np.where(moved, np.maximum(ao, vertex_occlusion(shut, model.normals(shut), model.triangles)), ao)


def with_occlusion(avatar: Avatar) -> Avatar:
    """The avatar with `Part.occlusion` baked for every part, all parts occluding each other. Skin a blink moves
    (`LIDS_MOVED`) keeps the more open of its occlusion at rest and with the eyes shut: the upper lid's skin lies
    in the crease at rest, and its occlusion there darkened the closed lid in every blink. Where the lips meet at
    rest their inner faces keep their occlusion with the jaw shut (`LIPS_MEET`). Hair shades the skin it lies over
    from closer than other parts (`HAIR_BIAS`)."""
    parts = avatar.parts
    starts = np.cumsum([0] + [p.vertex_count for p in parts])
    triangles = np.concatenate([p.indices.astype(np.int64) + s for p, s in zip(parts, starts)])
    # a material not given yet (the builder rigs with `{}` and dresses the avatar after) is known by its key, which
    # the template names after its kind
    kinds = [avatar.materials[p.material].kind if p.material in avatar.materials else p.material for p in parts]
    hair = np.concatenate([np.full(len(p.indices), k == HAIR_KIND) for p, k in zip(parts, kinds)])
    under_hair = np.concatenate([np.full(p.vertex_count, k in SHADED_KINDS) for p, k in zip(parts, kinds)])

    def bake(weights: np.ndarray, hair_close: bool = True) -> np.ndarray:
        positions = np.concatenate([p.positions + np.tensordot(weights, p.morph_positions, 1) for p in parts])
        normals = np.concatenate([p.normals + np.tensordot(weights, p.morph_normals, 1) for p in parts])
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        if not hair_close:
            return vertex_occlusion(positions, normals, triangles)
        return vertex_occlusion(positions, normals, triangles, hair=hair, under_hair=under_hair)

    rest = _bake_weights()
    ao = bake(rest)
    shut = rest.copy()
    shut[EYE_BLINKS] = 1.0
    moved = np.concatenate([np.linalg.norm(p.morph_positions[EYE_BLINKS].sum(axis=0), axis=1) for p in parts]) \
        > LIDS_MOVED
    if moved.any():
        ao = np.where(moved, np.maximum(ao, bake(shut)), ao)
    close = ARKIT_INDEX["mouthClose"]
    lips = np.concatenate([np.linalg.norm(p.morph_positions[close], axis=1) > LIPS_MOVED if k in SHADED_KINDS
                           else np.zeros(p.vertex_count, bool) for p, k in zip(parts, kinds)])
    if lips.any():
        closed = bake(np.zeros_like(rest), hair_close=False)  # no hair lies near the lips
        ao = np.where(lips & (closed < ao - LIPS_MEET), closed, ao)
    return replace(avatar, parts=tuple(replace(p, occlusion=ao[s:s + p.vertex_count]) for p, s in zip(parts, starts)))
