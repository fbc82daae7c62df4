"""Eyeglasses in the photo: found by the frame's bridge across the nose, and the part of the face the lenses, rims,
bridge and arms may cover, which the texture stage leaves out (the skin there is completed from the tone around
it, as unseen skin is). Without this the rims come out as pale outlines round the eyes and down the cheeks, the
lenses' tint and reflections as blotches, and the bridge as a band across the nose.

The bridge is read in the face's own frame in the photo (`FaceFrame`: origin between the outer eye corners, x
along the eye line toward the subject's left, y down, one unit the distance between the outer eye corners). The
region glasses may cover is placed on the fitted head, in front of its eyes, and projected through the photo's
camera (`glasses_region`), so a turned head's lenses keep their size and place. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from avatar_engine.build import delight
from avatar_engine.build.hair_region import NOT_FACE_SKIN, polygon_mask
from avatar_engine.build.hair_region import dilate as dilate_mask
from avatar_engine.build.image import LUMA, linear_rgb
from avatar_engine.build.perception import EYE_CORNERS
from avatar_engine.build.texture_project import box_blur

BROW_OUTLINES = NOT_FACE_SKIN[3:]
"""MediaPipe's outlines of the two brows: kept out of the lens region (a brow above a rim is the person's)."""
PX_PER_UNIT = 100
"""Resolution of the face-frame crop the bridge is read in (pixels per eye-corner distance)."""
NOSE_RIDGE = (168, 6)
"""MediaPipe's points on the nose's ridge between the eyes: the bridge is read over them..."""
BRIDGE_X = 0.07
"""...this far either side: inside the brows' heads."""
BRIDGE_Y = (-0.24, 0.16)
"""...from the brows' heads (the band read starts `BRIDGE_BAND` below this: a dark band between the brows, a
frown's shadow or brows that meet, is not a bridge) to below the inner eye corners, where frames' bridges sit."""
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
LENS_FORWARD = 0.02
"""The lenses' plane lies this far (m) in front of the eyeballs' centres (a 12 mm eye radius and the usual 12 mm
from the cornea, less a little: the region must not slip off the face where it curves back)..."""
LENS_CENTRE = (0.003, -0.004)
"""...each lens's region centred this far (m) outward and up (down when negative) from its eye's centre..."""
LENS_AXES = (0.033, 0.028)
"""...with these half-width and half-height (m): large frames (grace_hopper.jpg's reach about 30 mm below her eyes)
with the rim's own width."""
LENS_SQUARENESS = 0.5
"""...its outline a superellipse of exponent 2 / this (4: a rounded square, so square frames' corners are held)."""
BRIDGE_BOX = (0.012, -0.002, 0.016)
"""The bridge: this half-width (m) about the midline, between these heights (m) above the eyes' centres."""
ARM_Y = (-0.004, 0.016)
"""The arms run back to the ears between these heights (m) above the eyes' centres..."""
ARM_FROM, ARM_BACK = 0.028, 0.09
"""...from this far (m) out from each eye's centre, at the lenses' plane, to this far behind the eyes' centres."""
BROW_MARGIN = 0.01
"""The brows kept out of the region are widened by this share of the eye corners' distance (stray hairs)."""


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

    def crop(self, rgb: np.ndarray, x_range: tuple[float, float],
             y_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """The photo resampled over a face-frame rectangle, `PX_PER_UNIT` pixels a unit: (rows, cols, 3) uint8, and
        (rows, cols) bool where the crop lies inside the photo (outside it the crop is black)."""
        cols = max(2, int(round((x_range[1] - x_range[0]) * PX_PER_UNIT)))
        rows = max(2, int(round((y_range[1] - y_range[0]) * PX_PER_UNIT)))
        step = self.unit_px / PX_PER_UNIT
        ox, oy = self.to_px(np.array([x_range[0], y_range[0]]))
        coeffs = (step * self.x_axis[0], step * self.y_axis[0], ox, step * self.x_axis[1], step * self.y_axis[1], oy)
        rgb = np.asarray(rgb, np.uint8)
        crop = np.asarray(Image.fromarray(rgb).transform((cols, rows), Image.AFFINE, coeffs, resample=Image.BILINEAR))
        inside = np.asarray(Image.new("L", (rgb.shape[1], rgb.shape[0]), 255).transform(
            (cols, rows), Image.AFFINE, coeffs, resample=Image.NEAREST)) > 0
        return crop, inside


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
    crop, inside = frame.crop(rgb, (ridge - BRIDGE_X, ridge + BRIDGE_X), BRIDGE_Y)
    radius = max(1, int(round(BRIDGE_SMOOTH * PX_PER_UNIT)))
    lin = box_blur(linear_rgb(crop), radius)
    # rows the photo's edge cuts (or that the blur reaches across it) are not read: black beyond it is no bridge
    whole = np.convolve(inside.all(1).astype(float), np.ones(2 * radius + 1), "same") >= 2 * radius + 1
    eps = 2e-3
    channels = np.stack([np.log(lin @ LUMA + eps),
                         np.log((lin[..., 0] + eps) / (lin[..., 1] + eps)),
                         np.log((lin[..., 2] + eps) / (lin[..., 1] + eps))], -1)
    profile = np.median(channels, axis=1)  # (rows, 3)
    d = max(1, int(round(BRIDGE_BAND * PX_PER_UNIT)))
    if len(profile) <= 2 * d:
        return 0.0
    band = profile[d:-d] - (profile[:-2 * d] + profile[2 * d:]) / 2
    read = whole[d:-d] & whole[:-2 * d] & whole[2 * d:]
    if not read.any():
        return 0.0
    band = band[read]
    return float(max(-band[:, 0].min(), CHROMA_WEIGHT * np.abs(band[:, 1:]).max(), 0.0))


def detect_glasses(rgb: np.ndarray, landmarks_px: np.ndarray) -> GlassesRead:
    """Glasses are found when a bridge crosses the nose (`FOUND`). Rimless frames with a thin metal bridge may read
    below it: `BuildOptions.glasses="on"` then says so."""
    strength = bridge_strength(rgb, landmarks_px)
    return GlassesRead(found=strength >= FOUND, bridge=round(strength, 3))


def glasses_region(eyes: np.ndarray, view, landmarks_px: np.ndarray | None = None) -> np.ndarray:
    """(h, w) bool: the photo pixels a pair of glasses may cover: both lenses with their rims, the bridge and the arms'
    run toward the ears, placed on the fitted head (eyes : (2, 3) its eyeballs' centres in model space; view : the
    photo's `PhotoView`) and projected, less the brows where MediaPipe's landmarks (478, 2) put them (a brow above a
    rim is the person's; the texture stage judges a rim on the brow by its darkness)."""
    eyes = np.asarray(eyes, np.float64)
    w, h = view.size
    mid_y = float(eyes[:, 1].mean())
    lens_z = float(eyes[:, 2].mean()) + LENS_FORWARD
    # a superellipse: square frames' corners too
    lens = superellipse(48, LENS_AXES[0], LENS_AXES[1], LENS_SQUARENESS)
    shapes = []
    for eye in eyes:
        out = 1.0 if eye[0] > eyes[:, 0].mean() else -1.0
        ring = eye[:2] + np.array([out * LENS_CENTRE[0], LENS_CENTRE[1]]) + lens
        shapes.append(np.column_stack([ring, np.full(len(ring), lens_z)]))
        x0, x1 = eye[0] + out * ARM_FROM, eye[0] + out * (ARM_FROM + 0.01)
        back = float(eye[2]) - ARM_BACK
        shapes.append(np.array([[x0, mid_y + ARM_Y[0], lens_z], [x1, mid_y + ARM_Y[0], back],
                                [x1, mid_y + ARM_Y[1], back], [x0, mid_y + ARM_Y[1], lens_z]]))
    x_mid, (half, low, high) = float(eyes[:, 0].mean()), BRIDGE_BOX
    shapes.append(np.array([[x_mid - half, mid_y + low, lens_z], [x_mid + half, mid_y + low, lens_z],
                            [x_mid + half, mid_y + high, lens_z], [x_mid - half, mid_y + high, lens_z]]))
    mask = np.zeros((h, w), bool)
    for points in shapes:
        mask |= polygon_mask((w, h), view.project(points))
    if landmarks_px is not None:
        lm = np.asarray(landmarks_px, np.float64)
        brows = np.zeros((h, w), bool)
        for outline in BROW_OUTLINES:
            brows |= polygon_mask((w, h), lm[list(outline)])
        mask &= ~dilate_mask(brows, max(1, int(round(BROW_MARGIN * FaceFrame.of(lm).unit_px))))
    return mask


def superellipse(n: int, half_width: float, half_height: float, power: float) -> np.ndarray:
    """(n, 2) points round a superellipse about the origin: power 1 an ellipse, below 1 squarer (the curve's
    exponent is 2 / power)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    return np.stack([half_width * np.sign(c) * np.abs(c) ** power, half_height * np.sign(s) * np.abs(s) ** power], -1)


def eye_white_lift(photo: np.ndarray, landmarks_px: np.ndarray, glasses: GlassesRead | None
                   ) -> tuple[float, float] | None:
    """`delight.exposure_lift`, unless glasses were found (`detect_glasses`; None: not looked for). Eye
    whites seen through lenses read darker than they are (tint, the frame's shade, reflections), and a lift from
    them overshoots: grace_hopper.jpg darkened by a ramp read her whites at 82 and lifted the skin 2.9 EV, to
    [232, 202, 184] against the undarkened photo's [167, 123, 102]."""
    if glasses is not None and glasses.found:
        return None
    return delight.exposure_lift(photo, landmarks_px)
