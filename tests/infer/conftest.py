"""Fixtures for the inference tests: MediaPipe's models converted once per session, and real inputs."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory):
    """A folder with the three converted MediaPipe models and their manifest (about 1 s to make)."""
    pytest.importorskip("onnx", reason="onnx is not installed (pip install 'avatar-engine[infer]')")
    pytest.importorskip("tflite", reason="tflite is not installed (pip install 'avatar-engine[infer]')")
    from avatar_engine.infer.mediapipe_onnx import convert_mediapipe

    out = tmp_path_factory.mktemp("onnx")
    convert_mediapipe(out)
    return out


@pytest.fixture(scope="session")
def real_inputs(gl_context):
    """{model: (3, ...) float32}: grace_hopper.jpg whole and cropped, and a neutral render of our head."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    from avatar_engine.infer import mediapipe_check as check

    images = check.photo_crops() + check.head_renders(gl_context, expressions=({},))
    inputs = check.batched_inputs(images)
    assert all(np.isfinite(x).all() for x in inputs.values())
    return inputs
