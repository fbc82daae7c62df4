"""The one inference interface: a `Session` runs an ONNX model on some backend, numpy in, numpy out.

    with open_session(path, InferOptions(backend="onnxruntime")) as s:
        out = s.run({"input": x})            # x : (batch, ...) float32 -> {"output": (batch, ...) float32}

Backends live in their own modules and are imported only when chosen (`tensorrt` in `tensorrt_backend`
alone). `open_session` is in `select`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from avatar_engine.errors import InputError, ModelError

BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class InferOptions:
    """How to run a model."""

    backend: str = "auto"
    """`auto` (a GPU where one can be used: TensorRT, else ONNX Runtime's CUDA provider, else torch on CUDA; with
    none, ONNX Runtime on the CPU: `select.resolve_backend`), `tensorrt`, `onnxruntime` or `torch`."""
    device: str = "auto"
    """`auto` (CUDA when the backend can use it), `cpu` or `cuda`; TensorRT is always `cuda`."""
    threads: int = 0
    """CPU threads: ONNX Runtime's intra-op pool, or torch's (process-wide: `torch.set_num_threads`); 0 = the
    runtime's default (one per core)."""
    engines_dir: Path | None = None
    """Where TensorRT engines are cached; None = `engines.default_engines_dir()`."""
    ort_optimization: str = "all"
    """ONNX Runtime graph optimisation: `all` (fastest; its blocked conv layout sums in another order, ~1e-5
    relative), `extended` or `basic` (the graph's own ops, closest to the reference)."""

    cuda_graphs: bool = True
    """torch on CUDA: capture each input shape's run as a CUDA graph and replay it (off: node by node)."""

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise InputError(f"unknown inference backend {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.device not in DEVICES:
            raise InputError(f"unknown device {self.device!r}; expected one of {', '.join(DEVICES)}")
        if self.ort_optimization not in ("basic", "extended", "all"):
            raise InputError(f"ort_optimization must be basic, extended or all, got {self.ort_optimization!r}")
        if self.threads < 0:
            raise InputError(f"threads must be >= 0, got {self.threads}")


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype of one model input or output; a str or None dimension is dynamic (the batch)."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: type = np.float32


def onnx_specs(model) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """(inputs, outputs) of an `onnx.ModelProto`, initializers excluded."""
    from onnx import helper

    def spec(value) -> TensorSpec:
        t = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
        return TensorSpec(value.name, dims, helper.tensor_dtype_to_np_dtype(t.elem_type).type)

    weights = {init.name for init in model.graph.initializer}
    inputs = tuple(spec(v) for v in model.graph.input if v.name not in weights)
    return inputs, tuple(spec(v) for v in model.graph.output)


def load_onnx(path: Path, hint: str):
    """Read and check an ONNX file; ModelError (one line, ending in `hint`) when it is missing or damaged."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ONNX model not found: {path}; {hint}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, onnx ValidationError, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path.name} is not a valid ONNX model ({reason[:160]}); {hint}") from None
    if not model.graph.node:
        raise ModelError(f"{path.name} has an empty graph; {hint}")
    return model


class Session(ABC):
    """A loaded model on one backend and device. Context manager; `close()` frees its memory."""

    backend: str
    device: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    name: str = "model"
    closed: bool = False
    """Set by `close()` (and so by leaving the `with` block): `run` then says so."""

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model. `feeds` maps every input name to a float32 array of its shape, any batch size.

        Returns {output name: float32 array}, batch first. InputError on a missing, extra or ill-shaped input."""
        if self.closed:
            raise RuntimeError(f"{self.name}: this session is closed: open a new one")
        return self._run(self.check_feeds(feeds))

    def check_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        expected = {s.name for s in self.inputs}
        if not isinstance(feeds, Mapping):
            raise InputError(f"{self.name}: feeds must map input names to arrays, got {type(feeds).__name__}")
        if set(feeds) != expected:
            raise InputError(f"{self.name}: inputs {sorted(feeds)} given, expected {sorted(expected)}")
        checked, batch = {}, None
        for spec in self.inputs:
            x = feeds[spec.name]
            if not isinstance(x, np.ndarray) or x.dtype != spec.dtype:
                got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
                want = np.dtype(spec.dtype).name
                raise InputError(f"{self.name}: input {spec.name} must be a {want} array, got {got}")
            fixed = tuple(d if isinstance(d, int) and d > 0 else None for d in spec.shape)
            if x.ndim != len(fixed) or any(f is not None and f != d for f, d in zip(fixed, x.shape)):
                want = "x".join("N" if f is None else str(f) for f in fixed)
                raise InputError(f"{self.name}: input {spec.name} has shape {x.shape}, expected {want}")
            if x.ndim and (batch is not None and x.shape[0] != batch or x.shape[0] == 0):
                raise InputError(f"{self.name}: input {spec.name} has batch {x.shape[0]}, expected {batch or '>= 1'}")
            batch = x.shape[0] if x.ndim else batch
            if not np.isfinite(x).all():
                raise InputError(f"{self.name}: input {spec.name} holds NaN or infinite values")
            checked[spec.name] = np.ascontiguousarray(x)
        return checked

    @abstractmethod
    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Backend-specific run on checked, contiguous inputs."""

    def close(self) -> None:
        """Free the backend's resources; the session cannot run afterwards."""
        self.closed = True
        self._release()

    def _release(self) -> None:
        """Backend-specific: drop the runtime's session, engine or weights."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} on {self.backend}/{self.device}>"
