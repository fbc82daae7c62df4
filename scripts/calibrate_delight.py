"""The constants behind the texture stage's light level: `delight.REFERENCE_IRRADIANCE` and `delight.SKIN_SPECULAR`.

    python scripts/calibrate_delight.py        # ~1 min on 2 cores; needs mediapipe and EGL

The texture stage sets the skin's albedo level by assuming the brightest-lit tenth of the face receives the
studio key's irradiance (`delight.albedo_scale`). The fitted shading also holds the skin's sheen, which adds the
same light whatever the skin's tone: on dark skin it is a larger share of what the photo records, and the albedo
comes out too light. Here the template head, wearing the shipped skin structure at TONES (linear factors, very
light to very dark), is rendered under the studio `Lighting` at YAWS through a `PhotoView`, as build_texture.py
renders its photos, and rebuilt by `build_skin_texture` with MediaPipe's landmarks. Over the texels each photo
shows well, the rebuilt mean albedo per channel (est) is compared with the true one: true = s * est - k by least
squares over every photo, per channel (the studio light's colour enters both). With the current constants
`REFERENCE_IRRADIANCE` (REF) and `SKIN_SPECULAR` (K), est = R / REF - K, so REF / s and s * K + k are printed for
pasting into delight.py; a second run then prints s near 1 and k near 0.
"""

from __future__ import annotations

import numpy as np

from avatar_engine.build import delight
from avatar_engine.build.records import PhotoView
from avatar_engine.build.texture import build_skin_texture
from avatar_engine.build.texture_fill import fill_base
from avatar_engine.head.template import default_materials, template_avatar
from avatar_engine.perception import FaceLandmarker
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import Lighting, Renderer, RenderOptions

TONES = ((1.0, 1.0, 1.0), (0.62, 0.56, 0.54), (0.32, 0.26, 0.24), (0.16, 0.125, 0.115))
"""Linear albedo factors on the shipped skin structure (the last two as build_texture's 'dark' and darker)."""
YAWS = (-15.0, 0.0, 15.0, 30.0)
"""Camera yaws: the studio key lights the face the photo shows (far-side keys are a warning, not a calibration)."""
SIZE = 512
BACKGROUND = 90
SAMPLES = 4
"""Photos rendered offline (4x MSAA, per-pixel light) on every driver, as the texture tests render theirs."""


def main() -> None:
    ctx = headless_context()
    rows = []
    with FaceLandmarker() as landmarker:
        for tone in TONES:
            linear = fill_base().astype(np.float64) ** 2 * np.asarray(tone)
            truth = np.dstack([delight.albedo_to_texture(linear), np.full(linear.shape[:2], 255, np.uint8)])
            avatar = template_avatar(materials=default_materials(skin_texture=truth), hair=None)
            skin = avatar.part("skin")
            for yaw in YAWS:
                cam = Camera(yaw_deg=yaw, distance=0.6)
                view = PhotoView((SIZE, SIZE), cam.view().astype(np.float64),
                                 SIZE / 2 / np.tan(np.radians(cam.fov_y_deg) / 2))
                options = RenderOptions(size=(SIZE, SIZE), lighting=Lighting(), samples=SAMPLES, shading="pixel")
                with Renderer(ctx, options) as renderer:
                    renderer.load(avatar)
                    renderer.render(Expression(), view)
                    rgba = renderer.read()
                alpha = rgba[..., 3:4] / 255.0
                photo = np.round(rgba[..., :3] * alpha + BACKGROUND * (1 - alpha)).astype(np.uint8)
                faces = landmarker.detect(photo)
                if not faces:
                    print(f"tone {tone} yaw {yaw}: no face found, skipped")
                    continue
                result = build_skin_texture(photo, skin.positions, skin.uvs, skin.indices, skin.normals, view,
                                            mask=rgba[..., 3] > 127, landmarks_px=faces[0].points[:, :2] * SIZE,
                                            occlusion=skin.occlusion)
                seen = result.seen > 0.5
                est = delight.texture_to_albedo(result.texture)[seen].mean(0)[:3]
                true = delight.texture_to_albedo(truth)[seen].mean(0)[:3]
                rows.append((est, true))
                print(f"tone {tone} yaw {yaw:+.0f}: est {np.round(est, 4)} true {np.round(true, 4)}")
    est = np.array([r[0] for r in rows])  # (photos, 3)
    true = np.array([r[1] for r in rows])
    scale, offset = np.empty(3), np.empty(3)
    for c in range(3):  # per channel: the studio light's colour enters both the level and the sheen
        (scale[c], minus_k), *_ = np.linalg.lstsq(np.stack([est[:, c], np.ones(len(est))], 1), true[:, c], rcond=None)
        offset[c] = -minus_k
    residual = true - (scale * est - offset)
    print(f"true = {np.round(scale, 4)} * est - {np.round(offset, 4)}; "
          f"residual rms {np.sqrt(np.mean(residual ** 2)):.4f}, relative max {np.abs(residual / true).max():.3f}")
    print("REFERENCE_IRRADIANCE =", tuple(round(float(r / k), 3) for r, k in zip(delight.REFERENCE_IRRADIANCE, scale)))
    print("SKIN_SPECULAR =", tuple(round(float(k), 4) for k in scale * np.asarray(delight.SKIN_SPECULAR) + offset))


if __name__ == "__main__":
    main()
