"""Generate the texture stage's UV tables: `assets/head/skin_texture_maps.npz` and `assets/head/skin_fill_base.png`.

    python scripts/make_texture_maps.py

- `mirror_uv` (1024, 1024, 2) uint16: for each covered texel of the skin layout, the UV (fixed point, 1/65535)
  of the same point mirrored across the face's symmetry plane (x -> -x). Built from the mesh's symmetric vertex
  pairs: each triangle has a mirror triangle with the mirrored (welded) corners, and a texel keeps its barycentric
  weights in it, so the map is exact and continuous inside every island.
- `skin_fill_base.png`: the default skin albedo with the hair colour painted under the hairline taken back out
  (`scripts/make_skin_texture.py` blends it in linearly in sRGB, so it inverts exactly up to rounding): the skin
  structure (grain, lips, brows) that the builder recolours to fill what a photo does not show.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_engine.build.texture_fill import dilate
from avatar_engine.build.texture_project import texel_map
from avatar_engine.head.hair import HairStyle, hair_coverage
from avatar_engine.head.hair_scalp import scalp_centre
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import SKIN_TEXTURE_PATH
from avatar_engine.paths import atomic_path

ROOT = Path(__file__).resolve().parents[1]
SIZE = 1024
HAIR_TINT = 0.85
"""Blend amount of the hair colour under the hairline in `make_skin_texture.py` (times 0.7 of the colour)."""


def mirror_pairs(positions: np.ndarray) -> np.ndarray:
    """(n,) index of the vertex at (-x, y, z) of each vertex (nearest, brute force in chunks)."""
    mirrored = positions * np.array([-1.0, 1.0, 1.0])
    out = np.empty(len(positions), np.int64)
    for s in range(0, len(positions), 512):
        d = ((mirrored[s:s + 512, None] - positions[None]) ** 2).sum(-1)
        out[s:s + 512] = d.argmin(1)
        if np.sqrt(d.min(1)).max() > 1e-4:
            raise SystemExit("the skin mesh is not mirror-symmetric within 0.1 mm; cannot build the mirror map")
    return out


def mirror_uv_image(model: HeadModel) -> np.ndarray:
    vs, ts = model.part_slices("skin")
    positions = model.positions[vs].astype(np.float64)
    uvs = model.uvs[vs].astype(np.float64)
    tri = (model.triangles[ts] - vs.start).astype(np.int64)
    weld = model.weld[vs]
    pair = mirror_pairs(positions)
    by_weld = {tuple(sorted(weld[t])): i for i, t in enumerate(tri)}
    mirror_tri = np.empty_like(tri)  # corner k of the mirror triangle is the mirror of corner k
    for i, t in enumerate(tri):
        target = weld[pair[t]]
        j = by_weld.get(tuple(sorted(target)))
        if j is None:
            raise SystemExit(f"triangle {i} has no mirror triangle")
        order = [int(np.flatnonzero(weld[tri[j]] == wk)[0]) for wk in target]
        mirror_tri[i] = tri[j][order]
    tmap = texel_map(uvs, tri, SIZE)
    uv = np.einsum("tj,tjk->tk", tmap.bary, uvs[mirror_tri[tmap.face]])
    image = np.zeros((SIZE * SIZE, 2), np.uint16)
    image[tmap.texels] = np.round(np.clip(uv, 0, 1) * 65535).astype(np.uint16)
    return image.reshape(SIZE, SIZE, 2)


def fill_base(model: HeadModel) -> np.ndarray:
    vs, ts = model.part_slices("skin")
    albedo = np.asarray(Image.open(SKIN_TEXTURE_PATH).convert("RGB"), np.float64)
    tmap = texel_map(model.uvs[vs], model.triangles[ts] - vs.start, albedo.shape[0])
    rest = tmap.interpolate(model.positions[vs].astype(np.float64), model.triangles[ts] - vs.start)
    joints = dict(zip(model.joint_names, model.joint_rest))
    style = HairStyle()
    s = np.zeros(albedo.shape[0] * albedo.shape[1])
    s[tmap.texels] = hair_coverage(rest, scalp_centre(joints), style)
    s = s.reshape(albedo.shape[:2])[..., None]
    hair = np.array(style.color, np.float64) * 0.7 * HAIR_TINT
    base = (albedo - hair * s) / (1 - HAIR_TINT * s)
    covered = np.zeros(s.shape[:2], bool)
    covered.flat[tmap.texels] = True
    base = dilate(base, covered)  # outside the layout the old padding still carries the hair colour
    return np.dstack([np.clip(np.round(base), 0, 255), np.full(albedo.shape[:2], 255.0)]).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output-dir", type=Path, default=ROOT / "assets/head")
    args = parser.parse_args()
    model = HeadModel.default()
    maps = args.output_dir / "skin_texture_maps.npz"
    with atomic_path(maps) as tmp:
        np.savez_compressed(tmp, mirror_uv=mirror_uv_image(model))
    png = args.output_dir / "skin_fill_base.png"
    with atomic_path(png) as tmp:
        Image.fromarray(fill_base(model)).save(tmp)
    print(f"wrote {maps} ({maps.stat().st_size // 1024} KiB) and {png}")


if __name__ == "__main__":
    main()
