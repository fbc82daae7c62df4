"""Resize in the torch backend (what a U-Net's upsampling needs): the same numbers as ONNX Runtime, and a clear
refusal of the modes it does not implement."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.errors import ModelError

pytest.importorskip("torch", reason="the torch backend needs torch (the [infer] extra)")
onnx = pytest.importorskip("onnx")

RESIZE_TOLERANCE = 1e-6
"""Nearest copies values; bilinear weights are exact in float32 for these scales."""


def resize_model(path, mode: str, ctm: str, nearest: str = "floor", sizes: bool = False):
    from onnx import TensorProto, helper, numpy_helper

    if sizes:
        inputs, init = ["x", "", "", "sizes"], [numpy_helper.from_array(np.array([1, 2, 6, 10], np.int64), "sizes")]
    else:
        inputs, init = ["x", "", "scales"], [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    node = helper.make_node("Resize", inputs, ["y"], mode=mode, coordinate_transformation_mode=ctm,
                            nearest_mode=nearest)
    graph = helper.make_graph([node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 6, 10])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("mode, ctm, sizes", [("nearest", "asymmetric", False), ("linear", "half_pixel", False),
                                              ("linear", "align_corners", True), ("nearest", "asymmetric", True)])
def test_resize_agrees_with_onnxruntime(tmp_path, mode, ctm, sizes):
    from avatar_engine.infer.select import open_session
    from avatar_engine.infer.session import InferOptions

    path = resize_model(tmp_path / "r.onnx", mode, ctm, sizes=sizes)
    x = np.random.default_rng(0).random((1, 2, 3, 5)).astype(np.float32)
    out = {}
    for backend in ("onnxruntime", "torch"):
        with open_session(path, InferOptions(backend=backend)) as s:
            out[backend] = s.run({"x": x})["y"]
    assert out["torch"].shape == (1, 2, 6, 10)
    assert np.abs(out["torch"] - out["onnxruntime"]).max() <= RESIZE_TOLERANCE


def test_unsupported_resize_mode_is_refused_by_name(tmp_path):
    from avatar_engine.infer.select import open_session
    from avatar_engine.infer.session import InferOptions

    path = resize_model(tmp_path / "r.onnx", "cubic", "half_pixel")
    with open_session(path, InferOptions(backend="torch")) as s, pytest.raises(ModelError, match="Resize mode cubic"):
        s.run({"x": np.zeros((1, 2, 3, 5), np.float32)})
