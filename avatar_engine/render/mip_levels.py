"""A texture kept as one plain texture per mip level, for per-vertex shading.

Per-vertex shading samples one mip level per part per frame, chosen from the camera (`renderer.texture_lod`).
Asked for that level of a mipmapped texture (`textureLod` with the level as a uniform), llvmpipe still runs its
per-pixel level selection: about a tenth of the CPU of a whole frame of the avatar at 1280x720. Binding the level
as a texture of its own, without mipmaps, and sampling it at level 0 reads the same texels with none of that work
(the same picture, pixel for pixel: tests/render/test_mip_levels.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import moderngl
import numpy as np


def nearest_level(lod: float, count: int) -> int:
    """The level GL's *_MIPMAP_NEAREST filters sample at level of detail `lod`, among `count` levels
    (OpenGL 4.6 core, 8.14.3: level 0 up to lod 1/2, then ceil(lod + 1/2) - 1)."""
    level = 0 if lod <= 0.5 else math.ceil(lod + 0.5) - 1
    return min(max(level, 0), count - 1)


@dataclass
class MipLevels:
    """Level k of a mipmapped RGBA8 texture as `levels[k]`, each with no mipmaps of its own."""

    levels: list[moderngl.Texture]

    @classmethod
    def of(cls, ctx: moderngl.Context, image: np.ndarray, nearest: bool,
           chain: list[np.ndarray] | None = None) -> "MipLevels":
        """image : (h, w, 4) uint8. The driver builds the mipmaps (as for a mipmapped texture); each level is
        then read back into a texture of its own, filtered `nearest` or bilinear within the level. `chain`: the
        levels made already (render/alpha_coverage.py), uploaded as they are."""
        flt = (moderngl.NEAREST, moderngl.NEAREST) if nearest else (moderngl.LINEAR, moderngl.LINEAR)
        if chain is not None:
            levels = [ctx.texture((lv.shape[1], lv.shape[0]), 4, np.ascontiguousarray(lv).tobytes()) for lv in chain]
            for level in levels:
                level.filter = flt
            return cls(levels)
        h, w = image.shape[:2]
        full = ctx.texture((w, h), 4, np.ascontiguousarray(image).tobytes())
        try:
            full.build_mipmaps()
            ctx.finish()  # llvmpipe builds the levels with draws of its own: read them once they are done
            levels = []
            for k in range(1 + int(math.floor(math.log2(max(w, h))))):
                size = (max(1, w >> k), max(1, h >> k))
                level = ctx.texture(size, 4, full.read(level=k))
                level.filter = flt
                levels.append(level)
        finally:
            full.release()
        return cls(levels)

    @property
    def size(self) -> tuple[int, int]:
        return self.levels[0].size

    def at(self, lod: float) -> moderngl.Texture:
        """The level a *_MIPMAP_NEAREST filter would sample at level of detail `lod`."""
        return self.levels[nearest_level(lod, len(self.levels))]

    def release(self) -> None:
        for level in self.levels:
            level.release()
        self.levels = []
