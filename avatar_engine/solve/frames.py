"""Records passed into and out of the solver."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LandmarkFrame:
    """What a tracker saw in one frame: scores and head pose, from MediaPipe or an ARKit phone app."""

    scores: np.ndarray
    """scores : (52,) float32 blend-shape scores in [0, 1], ARKit order."""
    rotation: np.ndarray
    """rotation : (3, 3) float head rotation in camera space, in the avatar's axes (+Y up, +Z toward the camera,
    +X toward the image's right when the subject faces the camera)."""
    t_ns: int
    """Media time of the frame in nanoseconds (drives filters; increases from frame to frame)."""
    points: np.ndarray | None = None
    """points : (478, 3) float32 MediaPipe landmarks (x, y normalised to the image), None for score-only inputs."""
    aspect: float = 1.0
    """Image width / height: the landmarks' x (and z) are in units of the width, y of the height."""


@dataclass(frozen=True)
class SolvedFrame:
    """The avatar's state for one frame, in the avatar's own left/right (ARKit's convention)."""

    weights: np.ndarray
    """weights : (52,) float32 in [0, 1], ARKit order (eyeLook* included: VMC receivers want them)."""
    angles: np.ndarray
    """angles : (3,) float32 head yaw, pitch, roll in degrees relative to the calibrated neutral
    (`euler_rotation` convention: yaw toward the avatar's left, pitch down, roll)."""
    gaze: np.ndarray
    """gaze : (2, 2) float32 per eye (left, right) yaw and pitch in degrees."""
    t_ns: int
    """Media time of the frame this was solved from."""
    blinks_read: np.ndarray | None = None
    """blinks_read : (2,) float32 the eyes' blinks (left, right) as solved from the scores, before the person's
    blink range widened them and before any mirroring (`blink_range.observe` reads them); None where not solved
    from scores (filtered, idle, held frames)."""

    @staticmethod
    def neutral(t_ns: int = 0) -> "SolvedFrame":
        return SolvedFrame(np.zeros(52, np.float32), np.zeros(3, np.float32), np.zeros((2, 2), np.float32), t_ns)

    def as_vector(self) -> np.ndarray:
        """(59,) float32: weights, angles, gaze (what the filter runs on)."""
        return np.concatenate([self.weights, self.angles, self.gaze.ravel()]).astype(np.float32)

    @staticmethod
    def from_vector(vector: np.ndarray, t_ns: int) -> "SolvedFrame":
        v = np.asarray(vector, np.float32)
        return SolvedFrame(np.clip(v[:52], 0.0, 1.0), v[52:55].copy(), v[55:59].reshape(2, 2).copy(), t_ns)
