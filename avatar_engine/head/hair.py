"""Shell hair: layers of the scalp offset along the normal, each cut out by its own tile of a strand texture.

Layer k of n uses texture tile k, whose strands are those taller than (k + 1) / n, so strands thin out toward
the tips; alpha-masked (glTF MASK), so it needs no sorting. Strand directions go into the TANGENT attribute for
the anisotropic (Kajiya-Kay) highlight. The scalp region is a smooth hairline around the head: its elevation
above the ears is a cosine of the azimuth (high on the forehead, low at the nape).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.records import Material, Part

ATLAS_COLUMNS, ATLAS_ROWS = 4, 2


@dataclass(frozen=True)
class HairStyle:
    """Parameters of the shell-hair generator (lengths in metres, angles in degrees)."""

    color: tuple[int, int, int] = (58, 40, 28)
    """sRGB colour of the strands (roots are drawn darker)."""
    length: float = 0.011
    """Thickness of the shell stack: hair standing off the scalp."""
    layers: int = 8
    """Number of shells (at most ATLAS_COLUMNS * ATLAS_ROWS)."""
    hairline_front_deg: float = 34.0
    """Elevation of the hairline above the head centre at the forehead."""
    hairline_back_deg: float = -38.0
    """Elevation of the hairline at the nape."""
    density: float = 0.9
    """Fraction of texels that carry a strand at the root layer."""


def scalp_centre(joint_positions: dict[str, np.ndarray]) -> np.ndarray:
    """A point inside the skull level with the temples, behind the eyes."""
    eyes = (joint_positions["eye_L"] + joint_positions["eye_R"]) / 2
    return eyes + np.array([0.0, 0.018, -0.085])


def hair_coverage(positions: np.ndarray, centre: np.ndarray, style: HairStyle) -> np.ndarray:
    """(n,) in [0, 1]: how much each point lies inside the hairline (soft over about 4 degrees)."""
    d = positions - centre
    azimuth = np.arctan2(d[:, 0], d[:, 2])  # 0 toward the face
    elevation = np.degrees(np.arctan2(d[:, 1], np.hypot(d[:, 0], d[:, 2])))
    mid = (style.hairline_front_deg + style.hairline_back_deg) / 2
    half = (style.hairline_front_deg - style.hairline_back_deg) / 2
    hairline = mid + half * np.cos(azimuth)
    # keep the ears bare: hair only above the ear tops at the sides
    side = np.abs(np.sin(azimuth)) ** 4
    hairline = np.maximum(hairline, side * 12.0)
    return np.clip((elevation - hairline) / 4.0 + 0.5, 0.0, 1.0)


def _hair_uv(positions: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Cylindrical-ish parametrisation: u around the head (seam at the back), v down from the crown."""
    d = positions - centre
    azimuth = np.arctan2(d[:, 0], d[:, 2])
    elevation = np.arctan2(d[:, 1], np.hypot(d[:, 0], d[:, 2]))
    return np.stack([(azimuth / (2 * np.pi) + 0.5), (np.pi / 2 - elevation) / (0.8 * np.pi)], 1).astype(np.float32)


def strand_texture(style: HairStyle, tile: int = 512, seed: int = 3) -> np.ndarray:
    """(rows * tile, columns * tile, 4) uint8 atlas; tile k holds the strands of layer k."""
    rng = np.random.default_rng(seed)
    cells_u, cells_v = tile, tile // 6  # strands: one texel wide, six texels long, then jittered
    heights = rng.random((cells_v + 1, cells_u))
    rows = (np.arange(tile)[:, None] / 6.0 + rng.random(cells_u)[None, :] * 3).astype(int) % (cells_v + 1)
    height = heights[rows, np.arange(cells_u)[None, :]]
    height = np.where(rng.random(height.shape) < style.density, height, 0.0)
    tone = 0.82 + 0.36 * rng.random((1, cells_u))
    atlas = np.zeros((ATLAS_ROWS * tile, ATLAS_COLUMNS * tile, 4), np.uint8)
    base = np.array(style.color, np.float32)
    for k in range(ATLAS_COLUMNS * ATLAS_ROWS):
        level = (k + 1) / (style.layers + 1)
        shade = 0.55 + 0.45 * (k / max(style.layers - 1, 1))  # deeper layers sit in their neighbours' shadow
        rgb = np.clip(base * tone[..., None] * shade, 0, 255) * np.ones((tile, 1, 1))
        alpha = np.where(height > level, 255, 0)
        r, c = divmod(k, ATLAS_COLUMNS)
        atlas[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = np.dstack([rgb, alpha]).astype(np.uint8)
    return atlas


def shell_hair(positions: np.ndarray, normals: np.ndarray, triangles: np.ndarray, joints: np.ndarray,
               weights: np.ndarray, joint_positions: dict[str, np.ndarray], morph_positions: np.ndarray,
               style: HairStyle = HairStyle()) -> tuple[Part, Material]:
    """Grow shells on the scalp of a skin mesh.

    positions, normals : (n, 3) skin vertices at rest; triangles : (m, 3); joints, weights : (n, 4) skinning;
    morph_positions : (52, n, 3) the skin's expression targets, which the shells follow (raised brows move them)
    returns : the hair Part (no expression targets) and its Material
    """
    if not 1 <= style.layers <= ATLAS_COLUMNS * ATLAS_ROWS:
        raise ValueError(f"hair layers must be 1..{ATLAS_COLUMNS * ATLAS_ROWS}, got {style.layers}")
    centre = scalp_centre(joint_positions)
    coverage = hair_coverage(positions, centre, style)
    keep = coverage[triangles].max(1) > 0.5
    tris = triangles[keep]
    used = np.unique(tris)
    remap = np.full(len(positions), -1)
    remap[used] = np.arange(len(used))
    p, n = positions[used], normals[used]
    base_uv = _hair_uv(p, centre)
    # strand direction: down and away from the crown, tangent to the scalp
    crown = centre + np.array([0.0, 0.11, -0.02])
    flow = p - crown
    flow -= n * np.sum(flow * n, 1, keepdims=True)
    flow /= np.maximum(np.linalg.norm(flow, axis=1, keepdims=True), 1e-9)
    tangents = np.concatenate([flow, np.ones((len(p), 1))], 1).astype(np.float32)
    # thinner shells where the hairline fades out, so the edge looks sparse rather than cut
    fade = coverage[used][:, None]
    layers_p, layers_uv, layers_t = [], [], []
    for k in range(style.layers):
        lift = style.length * (k + 1) / style.layers * (0.35 + 0.65 * fade)
        layers_p.append(p + n * lift)
        r, c = divmod(k, ATLAS_COLUMNS)
        tile_uv = (np.clip(base_uv, 0.0, 1.0) * 0.98 + 0.01 + np.array([c, r])) / np.array([ATLAS_COLUMNS, ATLAS_ROWS])
        layers_uv.append(tile_uv)
        layers_t.append(remap[tris] + k * len(used))
    count = len(used) * style.layers
    part = Part(
        name="hair", material="hair",
        positions=np.concatenate(layers_p).astype(np.float32),
        normals=np.tile(n, (style.layers, 1)).astype(np.float32),
        uvs=np.concatenate(layers_uv).astype(np.float32),
        indices=np.concatenate(layers_t).astype(np.uint32),
        joints=np.tile(joints[used], (style.layers, 1)), weights=np.tile(weights[used], (style.layers, 1)),
        morph_positions=np.tile(morph_positions[:, used], (1, style.layers, 1)).astype(np.float32),
        morph_normals=np.zeros((52, count, 3), np.float32),
        tangents=np.tile(tangents, (style.layers, 1)))
    material = Material("hair", "hair", texture=strand_texture(style), roughness=0.35, alpha_mode="MASK",
                        double_sided=True)
    return part, material
