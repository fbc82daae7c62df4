"""Choosing a backend and opening a session on it."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

from avatar_engine.errors import ModelError
from avatar_engine.infer.engines import default_engines_dir
from avatar_engine.infer.session import InferOptions, Session

log = logging.getLogger(__name__)

DEFAULT_HINT = "re-export or re-convert the model"


def tensorrt_usable() -> bool:
    """Whether `tensorrt` imports and a CUDA device exists (what `auto` asks)."""
    if importlib.util.find_spec("tensorrt") is None:
        return False
    from avatar_engine.infer.tensorrt_backend import unavailable_reason

    return unavailable_reason() is None


NVIDIA_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg")
"""On Linux, one of these exists where an NVIDIA driver can run CUDA (/dev/dxg: WSL 2): without any, asking torch
(an import of about a second) is skipped."""


def nvidia_driver_present() -> bool:
    """False when, on Linux, no NVIDIA driver is there for CUDA to use; True elsewhere (only CUDA can tell)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(path) for path in NVIDIA_DEVICE_FILES)


def torch_cuda_usable() -> bool:
    """Whether torch is installed and sees a CUDA device (imports torch where a driver is there: about a second,
    once per process)."""
    if importlib.util.find_spec("torch") is None or not nvidia_driver_present():
        return False
    from avatar_engine.infer.torch_backend import cuda_available

    return cuda_available()


def onnxruntime_importable() -> bool:
    """Whether onnxruntime is installed and imports (its library loads)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    try:
        importlib.import_module("onnxruntime")
    except Exception:  # a build whose native library does not load here
        return False
    return True


def ort_cuda_usable() -> bool:
    """Whether the installed onnxruntime build has its CUDA provider."""
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    from avatar_engine.infer.onnxruntime_backend import cuda_available

    return cuda_available()


def gpu_backend(options: InferOptions = InferOptions()) -> bool:
    """Whether `options` resolve to a backend that runs on the GPU here (a driver there, and the backend able to
    reach it: TensorRT usable, torch seeing CUDA, or ONNX Runtime's CUDA provider)."""
    if options.device == "cpu" or not nvidia_driver_present():
        return False
    backend = resolve_backend(options)
    return ((backend == "tensorrt" and tensorrt_usable()) or (backend == "torch" and torch_cuda_usable())
            or (backend == "onnxruntime" and ort_cuda_usable()))


def resolve_backend(options: InferOptions) -> str:
    """The concrete backend `options.backend` means here. `auto` takes the GPU where one can be used: TensorRT when
    it imports and a CUDA device exists, else ONNX Runtime's CUDA provider where its build has one, else torch on
    CUDA (on an H200, MediaPipe's landmark model: 1.2 ms a face against 8.7 on ONNX Runtime's CPU provider); with
    no GPU, or `device="cpu"`, ONNX Runtime on the CPU (torch's CPU where ONNX Runtime does not import)."""
    if options.backend != "auto":
        return options.backend
    if options.device == "cpu" or not nvidia_driver_present():  # no GPU: nothing more to import and ask
        # ...but torch where ONNX Runtime cannot run: auto named it, and the networks then failed although torch
        # could have run them (review)
        if not onnxruntime_importable() and importlib.util.find_spec("torch") is not None:
            return "torch"
        return "onnxruntime"
    if tensorrt_usable():
        return "tensorrt"
    if ort_cuda_usable() or not torch_cuda_usable():
        return "onnxruntime"
    return "torch"


def open_session(path: str | Path, options: InferOptions = InferOptions(), *, hint: str = DEFAULT_HINT) -> Session:
    """Load the ONNX model at `path` on the chosen backend.

    `hint` ends the one-line ModelError raised for a missing or damaged file (how to re-create it).
    With `auto`, a model whose TensorRT engine has not been built, or that uses an operator the torch backend lacks,
    runs on ONNX Runtime (with a warning); a damaged engine is an error with any choice, never a silent fallback."""
    path = Path(path)
    backend = resolve_backend(options)
    if backend == "tensorrt":
        from avatar_engine.infer.tensorrt_backend import TensorRTSession

        engines = options.engines_dir or default_engines_dir()
        try:
            return TensorRTSession(path, options, hint, engines)
        except ModelError as exc:
            if options.backend != "auto" or not str(exc).startswith("no TensorRT engine"):
                raise
            log.warning("%s; using onnxruntime meanwhile", exc)
            backend = "onnxruntime"
    if backend == "torch":
        from avatar_engine.infer.torch_backend import TorchSession

        try:
            return TorchSession(path, options, hint)
        except ModelError as exc:
            # an operator or an attribute it lacks (a damaged file is an error on every backend: no fallback)
            if options.backend != "auto" or "the torch backend does not support" not in str(exc):
                raise
            log.warning("%s; auto falls back to onnxruntime", exc)
    from avatar_engine.infer.onnxruntime_backend import OnnxRuntimeSession

    return OnnxRuntimeSession(path, options, hint)
