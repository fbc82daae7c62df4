"""Typed records between the builder's stages: how the head sits in the photo, and what the fit found.

The texture and hair stages take a `PhotoView` and posed vertices in model space; they never see MediaPipe types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avatar_engine.records import Expression

GLASSES_CHOICES = ("auto", "on", "off")
"""How the builder handles glasses (`BuildOptions.glasses`, `TextureOptions.glasses`, `avatar build --glasses`):
left out where found, always, never (`build.glasses`)."""


@dataclass(frozen=True)
class PhotoView:
    """A pinhole camera that sees the avatar's model space as the photo does.

    The head's rigid pose in the photo lives in `view` (the avatar stays at the origin with identity model matrix),
    so a `PhotoView` can be passed to `Renderer.render` in place of a `Camera` to re-render the photo's framing.
    """

    size: tuple[int, int]
    """Photo width, height in pixels."""
    view: np.ndarray
    """view : (4, 4) float64 model-to-camera matrix, OpenGL convention (camera looks down -Z, +Y up)."""
    focal_px: float
    """Focal length in pixels (square pixels, principal point at the image centre)."""
    near: float = 0.05
    far: float = 10.0

    @property
    def fov_y_deg(self) -> float:
        return float(np.degrees(2 * np.arctan(self.size[1] / 2 / self.focal_px)))

    @property
    def position(self) -> np.ndarray:
        """(3,) camera centre in model space."""
        r, t = self.view[:3, :3], self.view[:3, 3]
        return -r.T @ t

    def projection(self, aspect: float | None = None) -> np.ndarray:
        """(4, 4) float32 OpenGL projection; `aspect` is accepted for `Camera` compatibility and must match."""
        w, h = self.size
        if aspect is not None and abs(aspect - w / h) > 1e-3:
            raise ValueError(f"PhotoView is {w}x{h}; render it at that aspect, not {aspect:.3f}")
        f = 2 * self.focal_px / h
        n, fa = self.near, self.far
        return np.array([[f * h / w, 0, 0, 0], [0, f, 0, 0],
                         [0, 0, (fa + n) / (n - fa), 2 * fa * n / (n - fa)], [0, 0, -1, 0]], np.float32)

    def project(self, points: np.ndarray) -> np.ndarray:
        """points : (n, 3) model space -> (n, 2) float64 pixel coordinates (x right, y down, pixel centres at +0.5)."""
        cam = points @ self.view[:3, :3].T + self.view[:3, 3]
        w, h = self.size
        x = w / 2 + self.focal_px * cam[:, 0] / -cam[:, 2]
        y = h / 2 - self.focal_px * cam[:, 1] / -cam[:, 2]
        return np.stack([x, y], axis=1)

    def depth(self, points: np.ndarray) -> np.ndarray:
        """points : (n, 3) model space -> (n,) distance in front of the camera along its axis (metres)."""
        return -(points @ self.view[2, :3] + self.view[2, 3])


@dataclass(frozen=True)
class FitResult:
    """The reconstruction stage's answer: who the person is and how their head sits in the photo."""

    identity: dict[str, float]
    """Head-model identity parameters (phenotypes in [0, 1], shape changes in [-1, 1])."""
    residual: np.ndarray
    """residual : (n, 3) float32 per-vertex offsets added to the neutral mesh where shape changes cannot reach."""
    photo_expression: Expression
    """The expression on the face in the photo (52 weights, jaw and eye rotations); the avatar rests neutral."""
    view: PhotoView
    """The photo's camera, with the head's rigid pose folded in."""
    neutral_positions: np.ndarray
    """neutral_positions : (n, 3) float32 all head-model vertices at rest: identity + residual, neutral expression."""
    posed_positions: np.ndarray
    """posed_positions : (n, 3) float32 the same vertices as in the photo (photo_expression applied)."""
    landmarks_px: np.ndarray
    """landmarks_px : (478, 2) float64 MediaPipe's landmarks in the photo (mirror-averaged), pixels."""
    reprojection_error: float
    """Mean landmark reprojection error as a fraction of the inter-ocular distance."""
    warnings: tuple[str, ...] = field(default_factory=tuple)
