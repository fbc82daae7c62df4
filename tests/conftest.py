"""Shared fixtures: one headless EGL context for the session, checked for GL errors around each test; MediaPipe's
face models converted to ONNX once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gl_context():
    from avatar_engine.render.context import headless_context

    ctx = headless_context()
    yield ctx
    ctx.release()


@pytest.fixture
def ctx(gl_context):
    assert gl_context.error == "GL_NO_ERROR"
    yield gl_context
    assert gl_context.error == "GL_NO_ERROR", "the test left a GL error behind"


@pytest.fixture(scope="session")
def template():
    from avatar_engine.head.template import template_avatar

    return template_avatar()


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory):
    """A folder with the three converted MediaPipe models and their manifest (about 1 s to make)."""
    pytest.importorskip("onnx", reason="onnx is not installed (pip install 'avatar-engine[infer]')")
    pytest.importorskip("tflite", reason="tflite is not installed (pip install 'avatar-engine[infer]')")
    from avatar_engine.infer.mediapipe_onnx import convert_mediapipe

    out = tmp_path_factory.mktemp("onnx")
    convert_mediapipe(out)
    return out
