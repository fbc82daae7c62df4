"""TensorRT backend: builds engines from ONNX (explicit step, cached in `engines/`) and runs them.

The only module that imports `tensorrt`, and only inside functions: importing it never builds anything.
Inputs and outputs are bound as torch CUDA tensors (torch is pinned with the [infer] extra).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from avatar_engine.assets.cache import sha256_file
from avatar_engine.errors import BackendError, InputError, ModelError
from avatar_engine.infer.engines import BUILD_HINT, EngineRecord, engine_path, verified_engine, write_engine
from avatar_engine.infer.session import InferOptions, Session, load_onnx, onnx_specs

log = logging.getLogger(__name__)

FP16_TOLERANCE = 2e-3
"""An fp16 engine is kept when, on the probe input, every output's max abs error against ONNX Runtime is at
most FP16_TOLERANCE x (1 + max |output|); otherwise the engine is rebuilt in fp32."""
WORKSPACE_BYTES = 1 << 30


def import_tensorrt():
    """The tensorrt module and a CUDA torch, or BackendError saying which is missing."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendError(f"TensorRT is not installed ({exc}); pip install tensorrt (NVIDIA GPU and CUDA "
                           "needed), or run the networks on another backend (--backend onnxruntime or torch)") \
            from None
    except Exception as exc:  # installed but its libraries do not load (Windows: FileNotFoundError; a mismatched
        # libnvinfer: OSError): that was a traceback
        raise BackendError(f"TensorRT is installed but does not load ({type(exc).__name__}: {exc}); reinstall "
                           "tensorrt for this CUDA and driver, or use --backend onnxruntime or torch") from None
    try:
        import torch
    except ImportError as exc:  # TensorRT alone, without the [infer] extra: its tensors live in torch
        raise BackendError(f"the TensorRT backend needs torch ({exc}); pip install 'avatar-engine[infer]' or use "
                           "--backend onnxruntime") from None
    if not torch.cuda.is_available():
        raise BackendError("TensorRT needs a CUDA device and torch sees none; use --backend onnxruntime")
    return trt, torch


def unavailable_reason() -> str | None:
    """None when the TensorRT backend can run here, else why not (one line)."""
    try:
        import_tensorrt()
    except BackendError as exc:
        return str(exc)
    return None


def _gpu_name(torch) -> str:
    return torch.cuda.get_device_name(torch.cuda.current_device())


def engine_for(onnx_path: Path, engines_dir: Path) -> Path:
    trt, torch = import_tensorrt()
    return engine_path(engines_dir, onnx_path, sha256_file(onnx_path), trt.__version__, _gpu_name(torch))


def _serialize(trt, onnx_bytes: bytes, specs, fp16: bool, max_batch: int, name: str) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    explicit = int(trt.__version__.split(".")[0]) < 10  # TensorRT 10: explicit batch is the only mode
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if explicit else 0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"{name}: TensorRT cannot parse the ONNX model ({errors[:200]})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for spec in specs:
        rest = tuple(int(d) for d in spec.shape[1:])
        profile.set_shape(spec.name, (1, *rest), (min(4, max_batch), *rest), (max_batch, *rest))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"{name}: TensorRT failed to build an engine (see its log above)")
    return bytes(serialized)


def build_engine(onnx_path: Path, engines_dir: Path, *, fp16: bool = True, max_batch: int = 16) -> Path:
    """Build (or rebuild) the engine for `onnx_path` on this GPU; returns its path in `engines_dir`.

    fp16 is kept only where it passes the FP16_TOLERANCE check against ONNX Runtime on a seeded probe."""
    trt, torch = import_tensorrt()
    onnx_path = Path(onnx_path)
    model = load_onnx(onnx_path, "re-create it with `avatar engines convert`")
    inputs, _ = onnx_specs(model)
    onnx_sha = sha256_file(onnx_path)
    path = engine_path(engines_dir, onnx_path, onnx_sha, trt.__version__, _gpu_name(torch))
    precision, error = "fp32", None
    if fp16 and not hasattr(trt.BuilderFlag, "FP16"):
        # TensorRT 11 dropped weak typing: fp16 would need a mixed-precision ONNX file, not made here yet.
        log.warning("TensorRT %s has no FP16 builder flag; building %s in fp32", trt.__version__, onnx_path.stem)
        fp16 = False
    data = _serialize(trt, onnx_path.read_bytes(), inputs, fp16, max_batch, onnx_path.stem)
    if fp16:
        error = _fp16_error(trt, torch, data, onnx_path, inputs)
        if error <= FP16_TOLERANCE:
            precision = "fp16"
        else:
            log.warning("%s: fp16 error %.2e > %.0e; building fp32", onnx_path.stem, error, FP16_TOLERANCE)
            data = _serialize(trt, onnx_path.read_bytes(), inputs, False, max_batch, onnx_path.stem)
    record = EngineRecord(onnx_path.stem, onnx_sha, trt.__version__, _gpu_name(torch), precision, max_batch,
                          _sha256_bytes(data), error)
    write_engine(path, data, record)
    return path


def _sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _fp16_error(trt, torch, data: bytes, onnx_path: Path, inputs) -> float:
    """Worst over outputs of max|trt - ort| / (1 + max|ort|) on a seeded uniform [0, 1) probe of batch 2."""
    from avatar_engine.infer.onnxruntime_backend import OnnxRuntimeSession

    rng = np.random.default_rng(0)
    feeds = {s.name: rng.random((2, *[int(d) for d in s.shape[1:]]), dtype=np.float32) for s in inputs}
    reference = OnnxRuntimeSession(onnx_path, InferOptions(backend="onnxruntime", device="cpu"), "").run(feeds)
    engine = _RunningEngine(trt, torch, data, onnx_path.stem)
    got = engine.run(feeds)
    return max(float(np.abs(got[k] - v).max() / (1.0 + np.abs(v).max())) for k, v in reference.items())


class _RunningEngine:
    """A deserialized engine with an execution context; runs numpy feeds through CUDA tensors."""

    def __init__(self, trt, torch, data: bytes, name: str):
        self.trt, self.torch, self.name = trt, torch, name
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
        self.engine = self.runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise ModelError(f"{name}: TensorRT cannot deserialize the engine; {BUILD_HINT}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if n not in self.input_names]
        self.stream = torch.cuda.Stream()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        keep = []  # the CUDA tensors must live until the stream has finished
        for n in self.input_names:
            x = torch.from_numpy(feeds[n]).cuda()
            keep.append(x)
            self.context.set_input_shape(n, tuple(x.shape))
            self.context.set_tensor_address(n, x.data_ptr())
        outputs = {}
        for n in self.output_names:
            y = torch.empty(tuple(self.context.get_tensor_shape(n)), dtype=torch.float32, device="cuda")
            outputs[n] = y
            self.context.set_tensor_address(n, y.data_ptr())
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise BackendError(f"{self.name}: TensorRT execution failed")
        self.stream.synchronize()
        return {n: y.cpu().numpy() for n, y in outputs.items()}


class TensorRTSession(Session):
    backend = "tensorrt"
    device = "cuda"

    def __init__(self, path: Path, options: InferOptions, hint: str, engines_dir: Path):
        trt, torch = import_tensorrt()
        model = load_onnx(path, hint)
        self.name = Path(path).stem
        self.inputs, self.outputs = onnx_specs(model)
        onnx_sha = sha256_file(path)
        epath = engine_path(engines_dir, path, onnx_sha, trt.__version__, _gpu_name(torch))
        data, self.record = verified_engine(epath, onnx_sha)
        self._engine = _RunningEngine(trt, torch, data, self.name)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feeds.values())).shape[0]
        if batch > self.record.max_batch:
            raise InputError(f"{self.name}: batch {batch} exceeds the engine's max batch {self.record.max_batch}; "
                             "run `avatar engines build --max-batch N`")
        return self._engine.run(feeds)

    def _release(self) -> None:
        self._engine = None
