"""The backends behind one interface agree with each other; `auto` picks what this machine can run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avatar_engine.errors import BackendError, ModelError
from avatar_engine.infer import InferOptions, open_session, resolve_backend
from avatar_engine.infer.mediapipe_onnx import MODEL_NAMES, onnx_model_path

AGREEMENT_RTOL = 1e-5
AGREEMENT_ATOL = 1e-4
"""ONNX Runtime (default optimisation) vs torch: max abs difference <= ATOL + RTOL x max |output| per output
(both sum fp32 in different orders; the detector's logits reach ~420, where 1e-5 relative is 4e-3)."""

CUDA_AGREEMENT_RTOL = 3e-3
"""torch on CUDA vs ONNX Runtime on the CPU: max abs difference <= AGREEMENT_ATOL + this x max |output|. cuDNN
convolutions run in TF32 by default on Ampere and later (PyTorch's default; 10-bit mantissa), hence looser than
the CPU pair."""

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
PROJECT_MODELS = Path(__file__).resolve().parents[2] / "assets" / "models"


def _torch_cuda() -> bool:
    from avatar_engine.infer.torch_backend import cuda_available

    return cuda_available()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_onnxruntime_and_torch_agree(name, onnx_dir, real_inputs):
    pytest.importorskip("torch", reason="torch is not installed (pip install 'avatar-engine[infer]')")
    path, x = onnx_model_path(name, onnx_dir), real_inputs[name]
    outputs = {}
    for backend in ("onnxruntime", "torch"):
        with open_session(path, InferOptions(backend=backend, device="cpu")) as session:
            assert (session.backend, session.device) == (backend, "cpu")
            outputs[backend] = session.run({session.inputs[0].name: x})
    ort, torch_out = outputs["onnxruntime"], outputs["torch"]
    assert set(ort) == set(torch_out)
    for out in ort:
        assert ort[out].shape == torch_out[out].shape
        bound = AGREEMENT_ATOL + AGREEMENT_RTOL * np.abs(ort[out]).max()
        assert np.abs(ort[out] - torch_out[out]).max() <= bound, out


@pytest.mark.skipif(not _torch_cuda(), reason="torch sees no CUDA device (CI machines have none; run on a GPU)")
@pytest.mark.parametrize("name", (*MODEL_NAMES, "recon", "texture_refine", "hair_style"))
def test_torch_on_cuda_agrees_with_onnxruntime(name, onnx_dir, request):
    """The GPU path gives what the CPU default gives: MediaPipe's three models on real inputs, the project's
    networks on seeded normal features (their inputs are normalised). Two batches of one shape: the second
    replays the CUDA graph captured for the first, and must not return the first's outputs."""
    if name in MODEL_NAMES:
        path, x = onnx_model_path(name, onnx_dir), request.getfixturevalue("real_inputs")[name]
    else:
        path = PROJECT_MODELS / f"{name}.onnx"
        x = None
    outputs = {}
    for backend, device in (("onnxruntime", "cpu"), ("torch", "cuda")):
        with open_session(path, InferOptions(backend=backend, device=device)) as session:
            assert session.device == device
            if x is None:
                shape = (3, *[int(d) for d in session.inputs[0].shape[1:]])
                x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            feed = session.inputs[0].name
            outputs[device] = [session.run({feed: x}), session.run({feed: np.ascontiguousarray(x[::-1])})]
    for k in range(2):
        for out, want in outputs["cpu"][k].items():
            got = outputs["cuda"][k][out]
            assert got.shape == want.shape
            error = np.abs(got - want).max() / max(np.abs(want).max(), 1e-6)
            print(f"{name}/{out} batch {k}: max abs difference {np.abs(got - want).max():.3g}, {error:.3g} of max")
            assert np.abs(got - want).max() <= AGREEMENT_ATOL + CUDA_AGREEMENT_RTOL * np.abs(want).max(), out


def test_auto_picks_onnxruntime_without_a_gpu(onnx_dir):
    if HAS_TENSORRT or _torch_cuda():
        pytest.skip("a GPU backend is usable here: auto picks it")
    assert resolve_backend(InferOptions()) == "onnxruntime"
    with open_session(onnx_model_path("face_detector", onnx_dir)) as session:
        assert session.backend == "onnxruntime"


def test_auto_runs_on_torch_where_onnxruntime_does_not_import(monkeypatch):
    """Without a GPU auto named ONNX Runtime whether or not it imported: a build whose library failed to load left
    the networks failing (exit 4) with torch there to run them (review). `avatar doctor` reads the same answer."""
    import avatar_engine.infer.select as select

    monkeypatch.setattr(select, "nvidia_driver_present", lambda: False)
    monkeypatch.setattr(select, "onnxruntime_importable", lambda: False)
    assert resolve_backend(InferOptions()) == "torch"
    assert resolve_backend(InferOptions(backend="onnxruntime")) == "onnxruntime"  # asked for by name: as asked
    monkeypatch.setattr(select, "onnxruntime_importable", lambda: True)
    assert resolve_backend(InferOptions()) == "onnxruntime"


def test_auto_takes_the_gpu_through_whichever_backend_reaches_it(monkeypatch):
    import avatar_engine.infer.select as select

    monkeypatch.setattr(select, "nvidia_driver_present", lambda: True)
    for trt, ort_cuda, torch_cuda, want in ((False, False, True, "torch"), (False, True, True, "onnxruntime"),
                                            (True, False, True, "tensorrt"), (False, False, False, "onnxruntime")):
        monkeypatch.setattr(select, "tensorrt_usable", lambda: trt)
        monkeypatch.setattr(select, "ort_cuda_usable", lambda: ort_cuda)
        monkeypatch.setattr(select, "torch_cuda_usable", lambda: torch_cuda)
        assert resolve_backend(InferOptions()) == want, (trt, ort_cuda, torch_cuda)
        assert resolve_backend(InferOptions(device="cpu")) == "onnxruntime"


def test_tensorrt_asked_for_without_it_is_a_backend_error(onnx_dir):
    if HAS_TENSORRT:
        pytest.skip("tensorrt is installed here")
    with pytest.raises(BackendError, match="TensorRT is not installed"):
        open_session(onnx_model_path("face_detector", onnx_dir), InferOptions(backend="tensorrt"))


@pytest.mark.skipif(not HAS_TENSORRT, reason="tensorrt is not installed (its PyPI wheels need NVIDIA's index and a "
                                             "CUDA GPU; none here)")
def test_tensorrt_engine_agrees_with_onnxruntime(onnx_dir, real_inputs, tmp_path):
    from avatar_engine.infer.tensorrt_backend import FP16_TOLERANCE, build_engine, unavailable_reason

    if unavailable_reason():
        pytest.skip(unavailable_reason())
    path = onnx_model_path("face_landmarks_detector", onnx_dir)
    build_engine(path, tmp_path, fp16=True, max_batch=4)
    x = real_inputs["face_landmarks_detector"]
    with open_session(path, InferOptions(backend="tensorrt", engines_dir=tmp_path)) as trt, \
            open_session(path, InferOptions(backend="onnxruntime", device="cpu")) as ort:
        got, want = trt.run({trt.inputs[0].name: x}), ort.run({ort.inputs[0].name: x})
    for out in want:
        assert np.abs(got[out] - want[out]).max() <= FP16_TOLERANCE * (1 + np.abs(want[out]).max()), out


def test_importing_the_package_loads_no_backend():
    # Backends are lazy: importing avatar_engine.infer imports none of them and builds nothing.
    code = ("import sys, avatar_engine.infer; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch', 'tensorrt', 'tflite') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


class _FakeTensorRTSession:
    """Stands in for TensorRTSession where tensorrt is missing: checks the engine file as the real one does."""

    engine = None

    def __init__(self, path, options, hint, engines_dir):
        from avatar_engine.infer.engines import verified_engine

        verified_engine(self.engine, "ab" * 32)


@pytest.fixture
def pretend_tensorrt(monkeypatch, tmp_path):
    import avatar_engine.infer.select as select
    import avatar_engine.infer.tensorrt_backend as trt_backend

    monkeypatch.setattr(select, "tensorrt_usable", lambda: True)
    monkeypatch.setattr(select, "nvidia_driver_present", lambda: True)
    monkeypatch.setattr(trt_backend, "TensorRTSession", _FakeTensorRTSession)
    monkeypatch.setattr(_FakeTensorRTSession, "engine", tmp_path / "face_detector-x.engine")
    return _FakeTensorRTSession


def test_auto_prefers_tensorrt_and_falls_back_only_when_no_engine_was_built(onnx_dir, pretend_tensorrt, caplog):
    from avatar_engine.errors import ModelError

    path = onnx_model_path("face_detector", onnx_dir)
    assert resolve_backend(InferOptions()) == "tensorrt"
    assert resolve_backend(InferOptions(device="cpu")) == "onnxruntime"
    with open_session(path) as session:  # no engine built: ONNX Runtime, with a warning naming the fix
        assert session.backend == "onnxruntime"
    assert "avatar engines build" in caplog.text
    with pytest.raises(ModelError, match="no TensorRT engine.*avatar engines build"):
        open_session(path, InferOptions(backend="tensorrt"))
    # A damaged engine is an error even under auto: never a silent fallback.
    pretend_tensorrt.engine.write_bytes(b"engine")
    pretend_tensorrt.engine.with_suffix(".json").write_text("{")
    with pytest.raises(ModelError, match="damaged.*avatar engines build"):
        open_session(path)


def _torch_cuda_only(monkeypatch) -> None:
    """`auto` resolves to torch: a GPU machine whose only GPU path is torch on CUDA."""
    import avatar_engine.infer.select as select

    for name, usable in (("tensorrt_usable", False), ("ort_cuda_usable", False), ("torch_cuda_usable", True),
                         ("nvidia_driver_present", True)):
        monkeypatch.setattr(select, name, lambda usable=usable: usable)


def test_auto_falls_back_from_torch_for_an_operator_it_lacks(monkeypatch, tmp_path, caplog):
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'avatar-engine[infer]')")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Erf", ["x"], ["y"])], "erf",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    _torch_cuda_only(monkeypatch)
    with open_session(path) as session:
        assert session.backend == "onnxruntime"
        assert session.run({"x": np.zeros((2, 4), np.float32)})["y"].shape == (2, 4)
    assert "falls back to onnxruntime" in caplog.text
    with pytest.raises(ModelError, match="does not support ONNX operators Erf"):
        open_session(path, InferOptions(backend="torch"))


@pytest.mark.parametrize("node, message", [
    ({"op_type": "Conv", "inputs": ["x", "w"], "kernel_shape": [3, 3], "auto_pad": "SAME_UPPER"}, "auto_pad SAME_UPPER"),
    ({"op_type": "MaxPool", "inputs": ["x"], "kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, "ceil_mode"),
    # AveragePool gave (n, 3, 4, 4) for ONNX Runtime's (n, 3, 5, 5); an antialiased Resize other values (0.45 off);
    # ReduceSum's noop_with_empty_axes was a TypeError at run time
    ({"op_type": "AveragePool", "inputs": ["x"], "kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
     "ceil_mode"),
    ({"op_type": "Resize", "inputs": ["x", "", "scales"], "mode": "linear", "antialias": 1}, "antialias"),
    ({"op_type": "ReduceSum", "inputs": ["x"], "noop_with_empty_axes": 1}, "ReduceSum attributes noop_with_empty_axes"),
])
def test_torch_refuses_attributes_it_would_ignore(tmp_path, node, message):
    # it ran them with the attribute dropped: outputs (1, 4, 7, 7) and (1, 3, 4, 4) where ONNX Runtime gives
    # (1, 4, 9, 9) and (1, 3, 5, 5)
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'avatar-engine[infer]')")
    pytest.importorskip("torch", reason="torch is not installed (pip install 'avatar-engine[infer]')")
    from onnx import TensorProto, helper, numpy_helper

    node = dict(node)
    op, inputs = node.pop("op_type"), node.pop("inputs")
    weights = [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")] if "w" in inputs else []
    if "scales" in inputs:
        weights.append(numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], np.float32), "scales"))
    graph = helper.make_graph([helper.make_node(op, inputs, ["y"], **node)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", None, None, None])], weights)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8), str(path))
    with pytest.raises(ModelError, match=f"torch backend does not support .*{message}"):
        open_session(path, InferOptions(backend="torch"))


def _failing_reshape(tmp_path):
    """A model that loads and takes (n, 6) but whose Reshape to (-1, 4) fails when it runs."""
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'avatar-engine[infer]')")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", 4])],
                              [numpy_helper.from_array(np.array([-1, 4], np.int64), "shape")])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_a_model_that_fails_as_it_runs_is_a_model_error_with_the_hint(tmp_path, backend):
    """ONNX Runtime's Fail came out as a 41-line traceback, torch's as bad input (exit 2, no hint)."""
    path = _failing_reshape(tmp_path)
    pytest.importorskip(backend, reason=f"{backend} is not installed (pip install 'avatar-engine[infer]')")
    with open_session(path, InferOptions(backend=backend), hint="restore it") as session:
        with pytest.raises(ModelError, match="bad: (onnxruntime|the torch backend) failed running it .*; restore it"):
            session.run({"x": np.zeros((1, 6), np.float32)})


def test_auto_falls_back_from_torch_for_an_attribute_it_lacks(monkeypatch, tmp_path, caplog):
    """A Conv with auto_pad SAME_UPPER was refused under auto, where the refusal was meant to fall back."""
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'avatar-engine[infer]')")
    pytest.importorskip("torch", reason="torch is not installed (pip install 'avatar-engine[infer]')")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], auto_pad="SAME_UPPER")],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 9, 9])],
                              [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")])
    path = tmp_path / "same.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    _torch_cuda_only(monkeypatch)
    with open_session(path) as session:
        assert session.backend == "onnxruntime"
        assert session.run({"x": np.ones((1, 3, 9, 9), np.float32)})["y"].shape == (1, 4, 9, 9)
    assert "falls back to onnxruntime" in caplog.text
