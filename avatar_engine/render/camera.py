"""A perspective camera looking at the avatar, and the matrices the renderer needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Perspective camera in the avatar's model space (metres, +Y up, the face toward +Z)."""

    fov_y_deg: float = 24.0
    """Vertical field of view; a portrait lens (about 85 mm full-frame equivalent at 16:9)."""
    target: tuple[float, float, float] = (0.0, 0.14, 0.02)
    """The point looked at: near the middle of the default head."""
    distance: float = 0.78
    """From target to camera, along the orbit direction."""
    yaw_deg: float = 0.0
    """Orbit about +Y: positive moves the camera toward the avatar's left (+X)."""
    pitch_deg: float = 4.0
    """Orbit elevation: positive looks slightly down on the face."""
    near: float = 0.05
    far: float = 10.0

    def __post_init__(self) -> None:
        # values no camera can have gave a silently blank frame (near 0 fails every depth test, distance 0 a NaN view)
        if not (0 < self.fov_y_deg < 180):
            raise ValueError(f"camera field of view {self.fov_y_deg} must be in (0, 180) degrees")
        if not (self.distance > 0 and np.isfinite(self.distance)):
            raise ValueError(f"camera distance {self.distance} must be a positive number of metres")
        if not (0 < self.near < self.far and np.isfinite(self.far)):  # an infinite far plane: a NaN projection
            raise ValueError(f"camera clip planes must satisfy 0 < near < far < inf, got near {self.near}, "
                             f"far {self.far}")
        if not all(np.isfinite(v) for v in (self.yaw_deg, self.pitch_deg, *np.ravel(self.target))):
            raise ValueError(f"camera angles and target must be numbers, got yaw {self.yaw_deg}, pitch "
                             f"{self.pitch_deg}, target {self.target}")

    @property
    def position(self) -> np.ndarray:
        y, p = np.radians(self.yaw_deg), np.radians(self.pitch_deg)
        direction = np.array([np.sin(y) * np.cos(p), np.sin(p), np.cos(y) * np.cos(p)])
        return np.asarray(self.target) + self.distance * direction

    def view(self) -> np.ndarray:
        """(4, 4) float32 world-to-camera matrix (OpenGL convention, camera looks down -Z)."""
        eye, target = self.position, np.asarray(self.target, float)
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = right, up, -forward
        m[:3, 3] = -m[:3, :3] @ eye
        return m.astype(np.float32)

    def projection(self, aspect: float) -> np.ndarray:
        """(4, 4) float32 OpenGL perspective projection."""
        f = 1.0 / np.tan(np.radians(self.fov_y_deg) / 2)
        n, fa = self.near, self.far
        return np.array([[f / aspect, 0, 0, 0], [0, f, 0, 0],
                         [0, 0, (fa + n) / (n - fa), 2 * fa * n / (n - fa)], [0, 0, -1, 0]], np.float32)
