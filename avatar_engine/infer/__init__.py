"""Inference: one interface (`Session`) over three backends (TensorRT, ONNX Runtime, PyTorch), and
MediaPipe's face models converted to ONNX.

    from avatar_engine.infer import InferOptions, open_session
    with open_session(path, InferOptions(backend="auto")) as s:
        outputs = s.run({"input": x})

Importing this package imports no backend (onnx, onnxruntime, torch, tensorrt load when a session is opened)
and builds nothing: TensorRT engines are built by `avatar engines build` only.
"""

from avatar_engine.infer.select import open_session, resolve_backend, tensorrt_usable
from avatar_engine.infer.session import BACKENDS, InferOptions, Session, TensorSpec

__all__ = ["BACKENDS", "InferOptions", "Session", "TensorSpec", "open_session", "resolve_backend", "tensorrt_usable"]
