"""Fixtures for the inference tests: real inputs (the converted models, `onnx_dir`, are in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def real_inputs(gl_context):
    """{model: (3, ...) float32}: grace_hopper.jpg whole and cropped, and a neutral render of our head."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    from avatar_engine.infer import mediapipe_check as check

    images = check.photo_crops() + check.head_renders(gl_context, expressions=({},))
    inputs = check.batched_inputs(images)
    assert all(np.isfinite(x).all() for x in inputs.values())
    return inputs
