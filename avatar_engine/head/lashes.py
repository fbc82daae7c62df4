"""Eyelashes: MakeHuman's helper strips (placed by scripts/make_lash_asset.py), cut out by a strand texture.

Each lash vertex is its skin anchor's position plus a fixed offset, with the anchor's skinning and expression
offsets, so the lashes sit on any identity's lids and close with a blink. Alpha-masked and double-sided like
hair, drawn with the hair shader (strand direction in TANGENT for the highlight).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avatar_engine.data_files import asset_path
from avatar_engine.head.geometry import vertex_normals
from avatar_engine.records import Material, Part

LASH_PATH = asset_path("head", "lashes.npz")
LASH_COLOR = (34, 26, 22)
"""sRGB colour of the strands: near black with a warm cast."""


@lru_cache(maxsize=1)
def _asset() -> dict[str, np.ndarray]:
    with np.load(LASH_PATH) as data:
        return {k: data[k] for k in data.files}


def lash_texture(width: int = 512, height: int = 128, strands: int = 150, seed: int = 11) -> np.ndarray:
    """(height, width, 4) uint8: dark curved strands from the root row (v = 0, top) toward the tips, alpha-cut.

    Fine strands, about 3 texels at the root: a close view (a VR headset's, a streamer's zoom) shows single lashes
    rather than chips of a coarser texture; further away the renderer's mip levels keep the strands' coverage
    (render/alpha_coverage.py), so they do not thin away."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    v = (y + 0.5) / height
    alpha = np.zeros((height, width), np.float32)
    for _ in range(strands):
        root = rng.uniform(0, width)
        length = rng.uniform(0.55, 1.0)
        lean = rng.normal(0, 8.0)           # strands fan a little sideways
        centre = root + lean * v ** 1.5
        half_width = 1.6 * np.clip(1 - v / length, 0, 1) + 0.45  # tapering to the tip
        alpha = np.maximum(alpha, np.clip(half_width - np.abs(x - centre), 0, 1) * (v < length))
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., :3] = LASH_COLOR
    rgba[..., 3] = np.clip(alpha * 255, 0, 255).astype(np.uint8)
    return rgba


def lash_material() -> Material:
    # blended, in other viewers as in ours: alpha-tested at glTF's cutoff they drew as jagged black scribbles in
    # three.js (and as sparkling specks in ours, without MSAA)
    return Material("lashes", "lash", texture=lash_texture(), roughness=0.5, alpha_mode="BLEND", double_sided=True)


def lash_part(skin: Part, eye_centres: tuple[np.ndarray, np.ndarray]) -> Part:
    """The eyelashes of the head whose skin is `skin`; `eye_centres` are the left and right eye joints at rest."""
    a = _asset()
    anchors = a["anchors"].astype(np.int64)
    positions = (skin.positions[anchors] + a["offsets"]).astype(np.float32)
    triangles = a["triangles"].astype(np.int64)
    # strands leave the lid roughly radially from the eye centre: that is their direction for the highlight
    centre = np.where(a["side"][:, None] == 0, eye_centres[0], eye_centres[1])
    direction = positions - centre
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    tangents = np.concatenate([direction, np.ones((len(positions), 1))], axis=1).astype(np.float32)
    return Part(
        name="lashes", material="lashes", positions=positions,
        normals=vertex_normals(positions, triangles).astype(np.float32), uvs=a["uvs"].astype(np.float32),
        indices=triangles.astype(np.uint32), joints=skin.joints[anchors], weights=skin.weights[anchors],
        morph_positions=skin.morph_positions[:, anchors], morph_normals=skin.morph_normals[:, anchors],
        tangents=tangents)
