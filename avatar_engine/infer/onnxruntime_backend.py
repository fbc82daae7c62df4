"""ONNX Runtime backend: the CPU default; its CUDA provider when the installed build has one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avatar_engine.errors import BackendError, ModelError
from avatar_engine.infer.ort_cpu_graph import prelu_as_depthwise
from avatar_engine.infer.session import InferOptions, Session, load_onnx, onnx_specs


def cuda_available() -> bool:
    """Whether the installed onnxruntime build offers the CUDA execution provider."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxRuntimeSession(Session):
    backend = "onnxruntime"

    def __init__(self, path: Path, options: InferOptions, hint: str):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError(f"the onnxruntime backend needs onnxruntime ({exc}); "
                               "pip install 'avatar-engine[infer]'") from None
        model = load_onnx(path, hint)  # a readable, checked file before the runtime sees it
        self.name = Path(path).stem
        self.inputs, self.outputs = onnx_specs(model)
        want_cuda = options.device == "cuda" or (options.device == "auto" and cuda_available())
        if want_cuda and not cuda_available():
            raise BackendError("device cuda asked for, but this onnxruntime build has no CUDA provider "
                               "(pip install onnxruntime-gpu)")
        providers = (["CUDAExecutionProvider"] if want_cuda else []) + ["CPUExecutionProvider"]
        self.device = "cuda" if want_cuda else "cpu"
        so = ort.SessionOptions()
        so.log_severity_level = 4  # fatal only: a failed run is our one-line ModelError, not ORT's own line beside it
        so.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                       "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                       "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[options.ort_optimization]
        if options.threads:
            so.intra_op_num_threads = options.threads
            so.inter_op_num_threads = 1
        if not want_cuda and options.ort_optimization == "all":
            model = prelu_as_depthwise(model)  # ~2.5x faster on MediaPipe's landmark model (see ort_cpu_graph)
        try:
            self._session = ort.InferenceSession(model.SerializeToString(), so, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise ModelError(f"{self.name}: onnxruntime cannot load it ({str(exc).splitlines()[0][:160]}); "
                             f"{hint}") from None
        self._output_names = [o.name for o in self.outputs]
        self._hint = hint

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            values = self._session.run(self._output_names, feeds)
        except Exception as exc:  # ORT's Fail/RuntimeException: the feeds were checked, so the model fails itself
            raise ModelError(f"{self.name}: onnxruntime failed running it ({str(exc).splitlines()[0][:160]}); "
                             f"{self._hint}") from None
        return {n: np.asarray(v, dtype=np.float32) for n, v in zip(self._output_names, values)}

    def _release(self) -> None:
        self._session = None
