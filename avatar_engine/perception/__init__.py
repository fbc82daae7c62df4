"""Perception: MediaPipe models behind numpy interfaces. Importing this package does not import MediaPipe."""

from avatar_engine.perception.landmarker import FaceLandmarker, FaceLandmarkerOptions, FaceObservation

__all__ = ["FaceLandmarker", "FaceLandmarkerOptions", "FaceObservation"]
