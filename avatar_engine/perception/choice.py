"""Which face landmarker runs: MediaPipe's own (Tasks API, its TFLite runtime on the CPU) or the same models as
ONNX on the inference backends (`onnx_landmarker`). Both answer `detect` and `detect_video` with the same records."""

from __future__ import annotations

from avatar_engine.errors import InputError
from avatar_engine.perception.landmarker import FaceLandmarker, FaceLandmarkerOptions

LANDMARKERS = ("mediapipe", "onnx")


def open_face_landmarker(kind: str = "mediapipe", options: FaceLandmarkerOptions | None = None,
                         backend: str = "auto", threads: int = 0):
    """A `FaceLandmarker` ("mediapipe") or an `OnnxFaceLandmarker` ("onnx", on `backend`: auto, tensorrt,
    onnxruntime or torch, with `threads` CPU threads, 0 = the runtime's default; it needs the converted models:
    `avatar engines convert`)."""
    if kind == "mediapipe":
        return FaceLandmarker(options)
    if kind == "onnx":
        from avatar_engine.infer.session import InferOptions
        from avatar_engine.perception.onnx_landmarker import OnnxFaceLandmarker

        return OnnxFaceLandmarker(options, InferOptions(backend=backend, threads=threads))
    raise InputError(f"unknown face landmarker {kind!r}; expected one of {', '.join(LANDMARKERS)}")
