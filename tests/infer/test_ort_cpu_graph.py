"""The CPU provider's PRelu rewrite keeps the model's values and leaves PRelus it cannot rewrite alone."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.infer import InferOptions, open_session
from avatar_engine.infer.mediapipe_onnx import onnx_model_path

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'avatar-engine[infer]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'avatar-engine[infer]')")

from avatar_engine.infer.ort_cpu_graph import prelu_as_depthwise  # noqa: E402

REWRITE_RTOL, REWRITE_ATOL = 1e-5, 1e-6
"""Max abs difference, rewritten vs plain graph: ATOL + RTOL x the output's largest magnitude (fp32 sums in
another order; the face-presence output is ~4e-4)."""


def prelu_model(slope: np.ndarray, x_shape: tuple[int, ...]):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("PRelu", ["x", "slope"], ["y"])], "prelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(slope.astype(np.float32), "slope")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def run(model, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_per_channel_prelu_becomes_depthwise_convolutions_with_the_same_values():
    rng = np.random.default_rng(0)
    slope = rng.uniform(-3, 5, (1, 6, 1, 1))  # MediaPipe's slopes run from about -5 to 20
    model = prelu_model(slope, (2, 6, 5, 7))
    rewritten = prelu_as_depthwise(model)
    assert [n.op_type for n in rewritten.graph.node] == ["Conv", "Relu", "Conv", "Add"]
    x = rng.normal(size=(2, 6, 5, 7)).astype(np.float32)
    want = np.where(x >= 0, x, x * slope)
    assert np.abs(run(rewritten, x) - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("slope, x_shape", [
    (np.full((1,), 0.2), (1, 6, 5, 7)),     # one slope for every element: not per channel
    (np.full((1, 1, 1, 6), 0.2), (1, 5, 7, 6)),  # channels last
    (np.full((1, 6, 1), 0.2), (1, 6, 7)),   # 3-D input
])
def test_other_prelus_are_left_as_they_are(slope, x_shape):
    rewritten = prelu_as_depthwise(prelu_model(slope, x_shape))
    assert [n.op_type for n in rewritten.graph.node] == ["PRelu"]


def test_landmark_model_on_the_cpu_provider_agrees_with_its_plain_graph(onnx_dir, real_inputs):
    # The backend rewrites the graph only at optimisation level "all"; "extended" runs the file's own PRelus.
    path, x = onnx_model_path("face_landmarks_detector", onnx_dir), real_inputs["face_landmarks_detector"]
    assert "PRelu" in {n.op_type for n in onnx.load(path).graph.node}
    assert "PRelu" not in {n.op_type for n in prelu_as_depthwise(onnx.load(path)).graph.node}
    outputs = {}
    for level in ("extended", "all"):
        with open_session(path, InferOptions(backend="onnxruntime", device="cpu", ort_optimization=level)) as s:
            outputs[level] = s.run({s.inputs[0].name: x})
    for name, want in outputs["extended"].items():
        assert np.abs(outputs["all"][name] - want).max() <= REWRITE_ATOL + REWRITE_RTOL * np.abs(want).max(), name
