"""Does the avatar look like the photo to the tracker? MediaPipe on a render of the avatar in the photo's pose.

The built avatar is rendered through the photo's fitted camera (`FitResult.view`) with the photo's expression,
high-quality preset (MSAA 4, per-pixel light), over a neutral studio backdrop (or composited over the photo), and
run through the same perception as the photo (mirror-averaged MediaPipe). Its 478 landmarks are compared with the
photo's, point by point, in units of the photo's inter-ocular distance. A face the tracker finds in the same
place with the same shape is what a user sees when they put the avatar over their photo, with no correspondence
table or learnt correction in between: both sides are MediaPipe's own points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from avatar_engine.build.perception import EYE_CORNERS, PerceptionOptions, perceive
from avatar_engine.build.records import FitResult
from avatar_engine.errors import InputError
from avatar_engine.records import Avatar

if TYPE_CHECKING:
    from avatar_engine.perception import FaceLandmarker

AGREEMENT_TARGET = 0.04
"""Issue 3's target: the render's landmarks agree with the photo's within 4% of the inter-ocular distance (mean)."""


@dataclass(frozen=True)
class RenderCheck:
    """How MediaPipe's landmarks on the avatar's render compare with those on the photo."""

    found: bool
    """MediaPipe found a face on the render (if not, the other fields are NaN)."""
    mean: float
    """Mean distance over the 478 landmarks, fraction of the photo's inter-ocular distance."""
    max: float
    """Largest single-landmark distance, same unit."""
    face_mean: float
    """Mean over the 468 face-mesh points alone (no irises)."""
    render_points_px: np.ndarray
    """render_points_px : (478, 2) float64 MediaPipe's landmarks on the render (NaN when not found)."""

    def as_report(self) -> dict[str, float | bool | None]:
        """The figures for a report; null where MediaPipe found no face on the render (JSON has no NaN)."""
        figure = lambda v: round(v, 5) if self.found else None  # noqa: E731
        return {"found": self.found, "mean": figure(self.mean), "max": figure(self.max),
                "face_mean": figure(self.face_mean), "target": AGREEMENT_TARGET}


def render_in_photo(ctx, avatar: Avatar, fit: FitResult, photo: np.ndarray | None = None) -> np.ndarray:
    """(h, w, 3) uint8 the avatar seen through the photo's camera with the photo's expression.

    Over `photo` ((h, w, 3) uint8) when given, else over the studio backdrop.
    """
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    size = fit.view.size
    background = None if photo is not None else STUDIO_BACKDROP
    with Renderer(ctx, RenderOptions(size=size, samples=4, shading="pixel", background=background)) as renderer:
        renderer.load(avatar)
        renderer.render(fit.photo_expression, fit.view)
        rgba = renderer.read()
    if photo is None:
        return np.ascontiguousarray(rgba[..., :3])
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    return (photo * (1 - alpha) + rgba[..., :3] * alpha + 0.5).astype(np.uint8)


def landmark_agreement(render: np.ndarray, photo_points_px: np.ndarray, landmarker: FaceLandmarker) -> RenderCheck:
    """Compare MediaPipe's landmarks on `render` ((h, w, 3) uint8) with the photo's (photo_points_px : (478, 2)).

    The largest face is taken when the render holds more than one (a photo backdrop may show other people);
    distances are in units of the photo's inter-ocular distance.
    """
    photo_points_px = np.asarray(photo_points_px, np.float64)
    try:
        seen = perceive(render, landmarker, PerceptionOptions(face="largest", min_face_px=1.0, max_yaw_deg=90.0))
    except InputError:
        nan = float("nan")
        return RenderCheck(False, nan, nan, nan, np.full((478, 2), np.nan))
    iod = float(np.linalg.norm(photo_points_px[EYE_CORNERS[0]] - photo_points_px[EYE_CORNERS[1]]))
    dist = np.linalg.norm(seen.points_px - photo_points_px, axis=1) / iod
    return RenderCheck(True, float(dist.mean()), float(dist.max()), float(dist[:468].mean()), seen.points_px)


CHECK_SIDE = 1024
"""A larger photo is checked on a render this large on its longer side (the same camera, scaled): MediaPipe reads a
face at its own 256 x 256, and a 2048-pixel render with MSAA took a second on a software rasteriser."""


def check_render(ctx, avatar: Avatar, fit: FitResult, landmarker: FaceLandmarker,
                 photo: np.ndarray | None = None, backdrop: Literal["studio", "photo"] = "studio") -> RenderCheck:
    """Render the avatar in the photo's pose (over `backdrop`) and compare MediaPipe's landmarks with the photo's."""
    if backdrop == "photo" and photo is None:
        raise ValueError("backdrop='photo' needs the photo")
    w, h = fit.view.size
    scale = min(1.0, CHECK_SIDE / max(w, h))
    if scale < 1.0:  # the camera scaled about the image centre, its principal point: the same picture, smaller
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        fit = replace(fit, view=replace(fit.view, size=size, focal_px=fit.view.focal_px * size[1] / h),
                      landmarks_px=np.asarray(fit.landmarks_px, np.float64) * (size[0] / w, size[1] / h))
        if photo is not None:
            from PIL import Image

            photo = np.asarray(Image.fromarray(np.asarray(photo)).resize(size, Image.Resampling.BOX))
    render = render_in_photo(ctx, avatar, fit, photo if backdrop == "photo" else None)
    check = landmark_agreement(render, fit.landmarks_px, landmarker)
    if scale < 1.0:  # the render's points in the photo's pixels; the distances are in its inter-ocular distance
        check = replace(check, render_points_px=check.render_points_px * (w / size[0], h / size[1]))
    return check
