"""MediaPipe's TFLite face models converted to ONNX agree with TFLite on real inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avatar_engine.infer import InferOptions, open_session
from avatar_engine.infer.mediapipe_onnx import MODEL_NAMES, convert_mediapipe, onnx_model_path

TFLITE_TOLERANCE = 1e-3
"""Max abs difference between an ONNX output (ONNX Runtime, graph optimisation `basic`) and TFLite's."""
BATCH_TOLERANCE = 1e-5
"""Max abs difference between an item run alone and the same item inside a batch, relative to the output scale."""


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_onnx_matches_tflite_on_photo_and_render(name, onnx_dir, real_inputs):
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (the TFLite reference) is not installed")
    from avatar_engine.assets import model_path
    from avatar_engine.infer import mediapipe_check as check

    x = real_inputs[name]
    reference = check.run_tflite(check.tflite_bytes(model_path("face_landmarker"), name), x)
    options = InferOptions(backend="onnxruntime", device="cpu", ort_optimization="basic")
    with open_session(onnx_model_path(name, onnx_dir), options) as session:
        got = session.run({session.inputs[0].name: x})
    errors = check.max_abs_errors(got, reference)
    assert max(errors.values()) <= TFLITE_TOLERANCE, errors
    # The inputs are real faces: the models must say so (guards against agreeing on garbage).
    if name == "face_landmarks_detector":
        assert (got["Identity_1"] > 2.0).all(), "face presence logit should be high on every face crop"
    if name == "face_blendshapes":
        assert got["StatefulPartitionedCall:0"].shape == (len(x), 52)


def test_models_are_opset_17_with_a_dynamic_batch(onnx_dir):
    import onnx

    for name in MODEL_NAMES:
        model = onnx.load(str(onnx_model_path(name, onnx_dir)))
        assert model.opset_import[0].version >= 17
        for value in (*model.graph.input, *model.graph.output):
            assert value.type.tensor_type.shape.dim[0].dim_param == "batch", (name, value.name)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_batch_items_match_single_runs(name, onnx_dir, real_inputs):
    x = real_inputs[name]
    with open_session(onnx_model_path(name, onnx_dir), InferOptions(backend="onnxruntime", device="cpu")) as s:
        batched = s.run({s.inputs[0].name: x})
        for k in range(len(x)):
            single = s.run({s.inputs[0].name: x[k:k + 1]})
            for out, y in single.items():
                scale = 1.0 + np.abs(y).max()
                assert np.abs(batched[out][k:k + 1] - y).max() <= BATCH_TOLERANCE * scale, (out, k)


def test_conversion_is_deterministic_and_recorded(onnx_dir, tmp_path):
    from avatar_engine.assets import sha256_file

    convert_mediapipe(tmp_path)
    first = json.loads((onnx_dir / "manifest.json").read_text())
    second = json.loads((tmp_path / "manifest.json").read_text())
    for name in MODEL_NAMES:
        assert first[name]["sha256"] == second[name]["sha256"] == sha256_file(tmp_path / f"{name}.onnx")
