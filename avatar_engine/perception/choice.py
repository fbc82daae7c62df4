"""Which face landmarker runs: MediaPipe's own (Tasks API, its TFLite runtime on the CPU) or the same models as
ONNX on the inference backends (`onnx_landmarker`). Both answer `detect` and `detect_video` with the same records.
"auto" takes the ONNX one where its backend runs on a GPU and the models are converted (on an H200 a stream frame
took 2.8 ms against MediaPipe's 11.6, and the live loop 8.9 ms of added latency against 19.8), MediaPipe's
elsewhere (on the CPU it is the faster of the two)."""

from __future__ import annotations

from avatar_engine.errors import InputError, ModelError
from avatar_engine.perception.landmarker import FaceLandmarker, FaceLandmarkerOptions

LANDMARKERS = ("auto", "mediapipe", "onnx")


def resolve_landmarker(kind: str, backend: str = "auto") -> str:
    """The landmarker `kind` means here: "mediapipe" or "onnx" ("auto" as the module says)."""
    if kind != "auto":
        return kind
    from avatar_engine.infer.mediapipe_onnx import MODEL_NAMES, onnx_model_path
    from avatar_engine.infer.select import gpu_backend
    from avatar_engine.infer.session import InferOptions

    if not gpu_backend(InferOptions(backend=backend)):  # first: without a driver it answers at once
        return "mediapipe"
    try:
        for name in MODEL_NAMES:
            onnx_model_path(name)
    except ModelError:  # not converted (or damaged): MediaPipe's own, which needs nothing more
        return "mediapipe"
    return "onnx"


def open_face_landmarker(kind: str = "mediapipe", options: FaceLandmarkerOptions | None = None,
                         backend: str = "auto", threads: int = 0):
    """A `FaceLandmarker` ("mediapipe") or an `OnnxFaceLandmarker` ("onnx", on `backend`: auto, tensorrt,
    onnxruntime or torch, with `threads` CPU threads, 0 = the runtime's default; it needs the converted models:
    `avatar engines convert`); "auto": `resolve_landmarker`."""
    if kind == "auto":
        kind = resolve_landmarker(kind, backend)
    if kind == "mediapipe":
        return FaceLandmarker(options)
    if kind == "onnx":
        from avatar_engine.infer.session import InferOptions
        from avatar_engine.perception.onnx_landmarker import OnnxFaceLandmarker

        return OnnxFaceLandmarker(options, InferOptions(backend=backend, threads=threads))
    raise InputError(f"unknown face landmarker {kind!r}; expected one of {', '.join(LANDMARKERS)}")
