"""Eyeballs: a sphere with a corneal bulge, and a procedural iris texture.

The eyeball's UVs are an azimuthal projection around its forward (+Z) axis, so the iris is a centred disc
in the texture and the builder can recolour or resize it without touching the mesh.
"""

from __future__ import annotations

import functools

import numpy as np

IRIS_HALF_ANGLE = 0.52
"""Angular radius of the iris seen from the eyeball centre (radians): 11.7 mm iris on a 24 mm eye."""
PUPIL_FRACTION = 0.38
"""Pupil radius as a fraction of the iris radius (indoor light)."""
CORNEA_BULGE = 0.055
"""How far the cornea stands out, as a fraction of the eyeball radius."""


SCLERA_RGB = (236, 232, 226)
"""Texture value of the eye white (before its veins, which grow toward the back)."""


def eyeball_mesh(radius: float, rings: int = 24, segments: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A unit-forward eyeball centred at the origin.

    returns : positions (n, 3) float32, uvs (n, 2) float32, triangles (m, 3) uint32
    """
    # theta is the angle from the +Z (gaze) axis; dense rings near the front where the iris lives
    theta = np.pi * (np.linspace(0.0, 1.0, rings + 1) ** 1.35)
    phi = np.linspace(0.0, 2 * np.pi, segments + 1)
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    bulge = 1.0 + CORNEA_BULGE * np.clip(1.0 - th / (IRIS_HALF_ANGLE * 1.15), 0.0, 1.0) ** 2
    r = radius * bulge
    positions = np.stack([r * np.sin(th) * np.cos(ph), r * np.sin(th) * np.sin(ph), r * np.cos(th)], -1)
    rho = th / np.pi * 0.5  # azimuthal equidistant: texture radius grows with the angle from the gaze axis
    uvs = np.stack([0.5 + rho * np.cos(ph), 0.5 - rho * np.sin(ph)], -1)
    cols = segments + 1
    tris = []
    for i in range(rings):
        for j in range(segments):
            a, b = i * cols + j, i * cols + j + 1
            c, d = (i + 1) * cols + j, (i + 1) * cols + j + 1
            # the first and last rings' corners lie on the poles: one triangle of each quad there has no area
            tris += ([(a, c, d)] if i < rings - 1 else []) + ([(a, d, b)] if i > 0 else [])
    return positions.reshape(-1, 3).astype(np.float32), uvs.reshape(-1, 2).astype(np.float32), np.array(tris, np.uint32)


def iris_texture(iris_rgb: tuple[int, int, int] = (84, 110, 140), size: int = 512, seed: int = 7,
                 iris_half_angle: float = IRIS_HALF_ANGLE) -> np.ndarray:
    """Procedural eye texture for `eyeball_mesh`: sclera, limbal ring, fibrous iris, pupil.

    iris_half_angle : angular radius of the iris from the eyeball centre (radians); the cornea's bulge stays at
    `IRIS_HALF_ANGLE`, so keep this within about 15% of it.
    returns : (size, size, 4) uint8 sRGB
    """
    angle_from_gaze, r, fibres = _iris_fields(size, seed, float(iris_half_angle))

    sclera = np.array(SCLERA_RGB, np.float32)
    veins = np.clip((angle_from_gaze - 1.2) / 1.2, 0, 1)[..., None] * np.array([-6, -26, -26], np.float32)
    img = sclera + veins

    iris = np.array(iris_rgb, np.float32)
    radial = 0.80 + 0.35 * r  # darker near the pupil collar, lighter outward, then the dark limbal ring
    iris_col = iris * (radial + fibres)[..., None]
    collarette = np.exp(-((r - 0.55) / 0.06) ** 2)[..., None]
    iris_col = iris_col * (1 - 0.25 * collarette) + 40 * collarette
    limbal = np.clip((r - 0.82) / 0.18, 0, 1)[..., None]
    iris_col = iris_col * (1 - 0.75 * limbal)

    def smooth_step(edge: float, width: float, v: np.ndarray) -> np.ndarray:
        return np.clip((v - edge) / width + 0.5, 0, 1)[..., None]

    in_iris = 1 - smooth_step(1.0, 0.06, r)
    img = img * (1 - in_iris) + iris_col * in_iris
    in_pupil = 1 - smooth_step(PUPIL_FRACTION, 0.04, r)
    img = img * (1 - in_pupil) + np.array([8, 8, 10], np.float32) * in_pupil
    rgba = np.concatenate([np.clip(img, 0, 255), np.full(r.shape + (1,), 255, np.float32)], -1)
    return rgba.astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _iris_fields(size: int, seed: int, iris_half_angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the iris texture's pattern needs besides its colour, cached (every built avatar has its own colour):
    the angle from the gaze axis, the radius in iris radii (1 at the limbus) and the fibres, each (size, size)."""
    rng = np.random.default_rng(seed)
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    angle_from_gaze = np.hypot(x, y) * 2 * np.pi  # inverse of the mesh's azimuthal projection
    azimuth = np.arctan2(y, x)
    r = angle_from_gaze / iris_half_angle  # 1 at the limbus
    fibres = np.zeros_like(r)
    for k, amp in ((24, 0.10), (57, 0.08), (131, 0.06)):
        fibres += amp * np.sin(k * azimuth + rng.uniform(0, 6.28) + 3.0 * r)
    for field in (angle_from_gaze, r, fibres):
        field.setflags(write=False)
    return angle_from_gaze, r, fibres
