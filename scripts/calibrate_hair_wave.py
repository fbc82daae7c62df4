"""The table behind avatar_engine.build.hair_curl.COHERENCE_TO_WAVE: the coherence it reads on renders of the hair
generator's own styles at known waves.

    python scripts/calibrate_hair_wave.py

Three styles (the template's, the "medium" preset, the astronaut's fitted bob) are rendered at waves 0 to 1 through
one camera (10 degrees of yaw), read as the builder reads a photo (MediaPipe landmarks, the person segmenter, the
hair region, hair_curl.curl_read), and printed per style; the table is the mean coherence per wave, with the
straight point the lowest straight style's (so straight renders read 0), kept decreasing. Paste it into hair_curl.py.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from avatar_engine.build.hair_curl import curl_read
from avatar_engine.build.hair_region import hair_region
from avatar_engine.build.perception import MAX_FACES, perceive
from avatar_engine.head.hair import HAIR_PRESETS, HairStyle
from avatar_engine.head.template import template_avatar
from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
from avatar_engine.perception.segmenter import PersonSegmenter
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

WAVES = (0.0, 0.25, 0.5, 0.75, 1.0)
STYLES = {"template": HairStyle(), "medium": HAIR_PRESETS["medium"],
          "astronaut": HairStyle(color=(84, 72, 51), length=0.16, volume=0.04, fringe=0.055, sweep=1.0)}
"""The astronaut's style is the builder's fit of assets/photos/astronaut.png (before waves were read)."""
CAMERA = Camera(yaw_deg=10.0, distance=0.62, target=(0.0, 0.12, 0.0))


def main() -> None:
    reads: dict[str, list[float]] = {}
    with (FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES)) as landmarker,
          PersonSegmenter() as segmenter,
          Renderer(headless_context(), RenderOptions(size=(512, 512), samples=4, shading="pixel",
                                                     background=STUDIO_BACKDROP)) as renderer):
        for name, style in STYLES.items():
            for wave in WAVES:
                renderer.load(template_avatar(hair=dataclasses.replace(style, wave=wave)))
                renderer.render(Expression(), CAMERA)
                rgb = np.ascontiguousarray(renderer.read()[..., :3])
                seen = perceive(rgb, landmarker)
                region = hair_region(rgb, segmenter.segment(rgb), seen.points_px)
                read = curl_read(rgb, region.mask, seen.points_px)
                reads.setdefault(name, []).append(round(read.coherence, 3) if read else float("nan"))
            print(json.dumps({"style": name, "waves": WAVES, "coherence": reads[name]}), flush=True)
    print("COHERENCE_TO_WAVE =", coherence_table(np.array(list(reads.values()))))


def coherence_table(reads: np.ndarray, step: float = 0.005) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """reads : (styles, len(WAVES)) coherence -> (coherence, wave) points, coherence increasing: the mean per wave,
    the straight point the lowest straight style's, each point at least `step` below the one for the wave before."""
    points = reads.mean(0)
    points[0] = reads[:, 0].min()
    for i in range(1, len(points)):
        points[i] = min(points[i], points[i - 1] - step)
    return tuple(round(float(c), 3) for c in points[::-1]), WAVES[::-1]


if __name__ == "__main__":
    main()
