"""The tracking stage: a face landmarker in video mode (MediaPipe's, or the same models as ONNX), frames in,
`LandmarkFrame` records out."""

from __future__ import annotations

import threading

import numpy as np

from avatar_engine.live.priority import tracker_threads
from avatar_engine.perception import FaceLandmarkerOptions
from avatar_engine.perception.choice import open_face_landmarker
from avatar_engine.solve.frames import LandmarkFrame
from avatar_engine.solve.pose import orthonormal

_OPENING = threading.Lock()


class Tracker:
    """One face, tracked across the frames of one stream (MediaPipe re-detects only when it loses it).

    A context manager. Media times must increase; a stream that restarts (a looped file) keeps increasing
    because the caller offsets it."""

    def __init__(self, options: FaceLandmarkerOptions | None = None, landmarker: str = "mediapipe",
                 backend: str = "auto") -> None:
        options = options or FaceLandmarkerOptions(running_mode="video")
        if options.running_mode != "video":
            raise ValueError("the live tracker needs a landmarker in running_mode='video'")
        # one CPU thread, as MediaPipe's: the renderer's rasteriser needs the other cores, and a runtime's spinning
        # worker threads would take them (ONNX Runtime's default pool halved the live loop's rate on 2 cores)
        with _OPENING:  # two trackers opening at once would each take the other's threads as its own
            before = tracker_threads()
            self._landmarker = open_face_landmarker(landmarker, options, backend, threads=1)
            self.threads = {tid: nice for tid, nice in tracker_threads().items() if tid not in before}
        """{native id: nice value at the start} of the threads the landmarker started (MediaPipe's graph; none for
        the ONNX one, which runs on the caller's thread): the live loop lowers their priority while it overlaps
        them with rendering."""
        self._last_ms = -1

    def track(self, rgb: np.ndarray, t_media_ns: int) -> LandmarkFrame | None:
        """rgb : (h, w, 3) uint8 -> the face's scores and pose, or None when no face is found."""
        t_ms = max(int(t_media_ns // 1_000_000), self._last_ms + 1)  # MediaPipe needs strictly increasing ms
        self._last_ms = t_ms
        faces = self._landmarker.detect_video(rgb, t_ms)
        if not faces:
            return None
        face = faces[0]
        aspect = rgb.shape[1] / rgb.shape[0]
        return LandmarkFrame(face.scores, orthonormal(face.pose), int(t_media_ns), face.points, aspect)

    def close(self) -> None:
        self._landmarker.close()

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
