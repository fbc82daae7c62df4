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


VALIDATOR_TIMEOUT_S = 60


def _validator_modules():
    """node_modules holding gltf-validator: $AVATAR_GLTF_VALIDATOR (node_modules or the package) or <repo>."""
    import os
    from pathlib import Path

    configured = os.environ.get("AVATAR_GLTF_VALIDATOR")
    candidates = [Path(configured)] if configured else [Path(__file__).resolve().parents[1] / "node_modules"]
    for candidate in candidates:
        if (candidate / "gltf-validator" / "package.json").is_file():
            return candidate
        if candidate.name == "gltf-validator" and (candidate / "package.json").is_file():
            return candidate.parent
    pytest.skip(f"gltf-validator not found in {candidates[0]} (set AVATAR_GLTF_VALIDATOR or run "
                "`npm install --no-save gltf-validator@2.0.0-dev.3.10` at the repo root)")


@pytest.fixture(scope="session")
def gltf_validate():
    """validate(path) -> the Khronos glTF-Validator's report (dict) on a .glb; skips without node or the validator."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the Khronos glTF-Validator runs on node")
    modules = _validator_modules()
    script = Path(__file__).resolve().parent / "io" / "validate_gltf.mjs"

    def validate(path) -> dict:
        result = subprocess.run([node, str(script), str(modules), str(path)], capture_output=True, text=True,
                                timeout=VALIDATOR_TIMEOUT_S, check=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return validate


@pytest.fixture(scope="session")
def grace_hopper_path():
    """matplotlib's sample photo of Grace Hopper (public domain)."""
    from pathlib import Path

    import matplotlib

    return Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
