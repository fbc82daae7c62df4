"""Eyeglasses in the photo: found by the frame's bridge across the nose, and the part of the face the lenses, rims,
bridge and arms may cover, which the texture stage leaves out (the skin there is completed from the tone around
it, as unseen skin is). Without this the rims come out as pale outlines round the eyes and down the cheeks, the
lenses' tint and reflections as blotches, and the bridge as a band across the nose.

Everything is measured in the face's own frame (`FaceFrame`): origin between the outer eye corners, x along the
eye line toward the subject's left, y down, one unit the distance between the outer eye corners. Pure functions
of the photo and MediaPipe's landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from avatar_engine.build.hair_region import NOT_FACE_SKIN, polygon_mask
from avatar_engine.build.hair_region import dilate as dilate_mask
from avatar_engine.build.image import linear_rgb
from avatar_engine.build.texture_project import box_blur

EYE_CORNERS = (33, 263)
"""Outer eye corners (subject's right, subject's left): the frame's origin and unit."""
BROW_OUTLINES = NOT_FACE_SKIN[3:]
"""MediaPipe's outlines of the two brows: kept out of the lens region (a brow above a rim is the person's)."""
PX_PER_UNIT = 100
"""Resolution of the face-frame crop the bridge is read in (pixels per eye-corner distance)."""
NOSE_RIDGE = (168, 6)
"""MediaPipe's points on the nose's ridge between the eyes: the bridge is read over them..."""
BRIDGE_X = 0.07
"""...this far either side: inside the brows' heads."""
BRIDGE_Y = (-0.32, 0.16)
"""...from above the brows' lower edge to below the inner eye corners, where every frame's bridge sits."""
BRIDGE_BAND = 0.05
"""A bridge is a band across the nose at most about this tall; the profile is compared with its mean this far
above and below, so broader shading (the nose's root in shadow) does not count."""
CHROMA_WEIGHT = 0.5
"""A band's colour counts this much against its darkness: skin's own colour varies across the nose (a flush)."""
BRIDGE_SMOOTH = 0.012
"""The crop is blurred by this much first (JPEG blocks, skin pores)."""
FOUND = 0.3
"""A bridge this strong (log units against the skin above and below) is glasses. grace_hopper.jpg's amber bridge
reads 0.61, the astronaut 0.04. On renders of random head-model identities (benchmarks/build_glasses.py, 40 people,
512 px, harsh random key lights) 2 of 40 bare faces read above it (the nose's root in shadow under a high key), and
with painted frames (`synth.glasses`) 15 of 19 plastic frames and 2 of 21 thin metal ones (one pixel wide at that
size: they leave little on the skin either) read above it. `--glasses on` covers the frames it misses."""
LENS_CENTRE = (0.33, 0.1)
"""Each lens's region: an ellipse centred this far out from the midline and down from the eye line..."""
LENS_AXES = (0.42, 0.42)
"""...with these half-width and half-height: it holds large frames (grace_hopper.jpg's reach 0.55 below the eye
line and 0.27 beyond the outer corners) with the rim's own width."""
ARM_Y = (-0.2, 0.06)
"""The arms run back to the ears between these heights, from the lenses' outer edge to the face's side."""
ARM_REACH = 1.0
"""...out to this far from the midline (beyond the face's edge, where the texture has no face skin anyway)."""


@dataclass(frozen=True)
class FaceFrame:
    """The face's own 2-D frame in the photo: `to_px` maps face units to pixels."""

    origin: np.ndarray
    x_axis: np.ndarray
    y_axis: np.ndarray
    unit_px: float

    @classmethod
    def of(cls, landmarks_px: np.ndarray) -> "FaceFrame":
        lm = np.asarray(landmarks_px, np.float64)
        right, left = lm[EYE_CORNERS[0]], lm[EYE_CORNERS[1]]
        unit = float(np.linalg.norm(left - right))
        x_axis = (left - right) / max(unit, 1e-9)
        return cls((right + left) / 2, x_axis, np.array([-x_axis[1], x_axis[0]]), unit)

    def to_face(self, px: np.ndarray) -> np.ndarray:
        """(..., 2) pixels -> face units."""
        d = np.asarray(px, np.float64) - self.origin
        return np.stack([d @ self.x_axis, d @ self.y_axis], -1) / self.unit_px

    def to_px(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64)
        return self.origin + self.unit_px * (xy[..., :1] * self.x_axis + xy[..., 1:2] * self.y_axis)

    def crop(self, rgb: np.ndarray, x_range: tuple[float, float], y_range: tuple[float, float]) -> np.ndarray:
        """The photo resampled over a face-frame rectangle, `PX_PER_UNIT` pixels a unit: (rows, cols, 3) uint8."""
        cols = max(2, int(round((x_range[1] - x_range[0]) * PX_PER_UNIT)))
        rows = max(2, int(round((y_range[1] - y_range[0]) * PX_PER_UNIT)))
        step = self.unit_px / PX_PER_UNIT
        ox, oy = self.to_px(np.array([x_range[0], y_range[0]]))
        coeffs = (step * self.x_axis[0], step * self.y_axis[0], ox, step * self.x_axis[1], step * self.y_axis[1], oy)
        return np.asarray(Image.fromarray(np.asarray(rgb, np.uint8)).transform(
            (cols, rows), Image.AFFINE, coeffs, resample=Image.BILINEAR))


@dataclass(frozen=True)
class GlassesRead:
    """Whether the photo shows glasses, and how strongly its bridge stands out."""

    found: bool
    bridge: float
    """Strength of the band across the nose (log units against the skin above and below); found at `FOUND`."""
    masked: bool = False
    """Whether the texture stage left the glasses' region out (found, or said to be worn)."""


def bridge_strength(rgb: np.ndarray, landmarks_px: np.ndarray) -> float:
    """How strongly a band across the nose between the eyes stands out from the skin above and below it. The crop
    over the nose's ridge (`BRIDGE_X` wide, `BRIDGE_Y` tall) is reduced to its median row profile (a band must
    cross the nose: an eye corner's lashes or a brow's head reach into one side only), and each height compared
    with the profile's mean `BRIDGE_BAND` above and below, in log luminance (darker only: a band brighter than the
    skin is the ridge's highlight) and log colour ratios (`CHROMA_WEIGHT`); the answer is the largest departure.
    rgb : (h, w, 3) uint8; landmarks_px : (478, 2)."""
    frame = FaceFrame.of(landmarks_px)
    # centred on the nose's ridge, which a turned head moves off the eye corners' midpoint (0.11 at 20 degrees)
    ridge = frame.to_face(np.asarray(landmarks_px, np.float64)[list(NOSE_RIDGE)])[:, 0].mean()
    crop = frame.crop(rgb, (ridge - BRIDGE_X, ridge + BRIDGE_X), BRIDGE_Y)
    lin = _blur(linear_rgb(crop).astype(np.float64), max(1, int(round(BRIDGE_SMOOTH * PX_PER_UNIT))))
    eps = 2e-3
    channels = np.stack([np.log(lin @ np.array([0.2126, 0.7152, 0.0722]) + eps),
                         np.log((lin[..., 0] + eps) / (lin[..., 1] + eps)),
                         np.log((lin[..., 2] + eps) / (lin[..., 1] + eps))], -1)
    profile = np.median(channels, axis=1)  # (rows, 3)
    d = max(1, int(round(BRIDGE_BAND * PX_PER_UNIT)))
    if len(profile) <= 2 * d:
        return 0.0
    band = profile[d:-d] - (profile[:-2 * d] + profile[2 * d:]) / 2
    return float(max(-band[:, 0].min(), CHROMA_WEIGHT * np.abs(band[:, 1:]).max(), 0.0))


def detect_glasses(rgb: np.ndarray, landmarks_px: np.ndarray) -> GlassesRead:
    """Glasses are found when a bridge crosses the nose (`FOUND`). Rimless frames with a thin metal bridge may read
    below it: `BuildOptions.glasses="on"` then says so."""
    strength = bridge_strength(rgb, landmarks_px)
    return GlassesRead(found=strength >= FOUND, bridge=round(strength, 3))


def glasses_mask(landmarks_px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: the photo pixels a pair of glasses may cover (both lenses with their rims, the bridge, the arms'
    run to the ears), less the brows and the eyes' openings. size : (w, h)."""
    frame = FaceFrame.of(landmarks_px)
    w, h = size
    mask = np.zeros((h, w), bool)
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    ellipse = np.stack([LENS_AXES[0] * np.cos(angles), LENS_AXES[1] * np.sin(angles)], -1)
    for side in (-1, 1):
        centre = np.array([side * LENS_CENTRE[0], LENS_CENTRE[1]])
        mask |= polygon_mask(size, frame.to_px(centre + ellipse))
        outer = side * (LENS_CENTRE[0] + LENS_AXES[0] * 0.8)
        arm = np.array([[outer, ARM_Y[0]], [side * ARM_REACH, ARM_Y[0]], [side * ARM_REACH, ARM_Y[1]],
                        [outer, ARM_Y[1]]])
        mask |= polygon_mask(size, frame.to_px(arm))
    lm = np.asarray(landmarks_px, np.float64)
    keep = np.zeros((h, w), bool)
    for outline in BROW_OUTLINES:
        keep |= polygon_mask(size, lm[list(outline)])
    keep = dilate_mask(keep, max(1, int(round(0.01 * frame.unit_px))))
    return mask & ~keep


def _blur(image: np.ndarray, radius: int) -> np.ndarray:
    return np.stack([box_blur(image[..., c], radius) for c in range(image.shape[-1])], -1)
