"""The doctor: real GL check on this machine, and failures turned into checks with fixes."""

from __future__ import annotations

import importlib
import importlib.metadata

import pytest

from avatar_engine import doctor
from avatar_engine.doctor import Check, format_report


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_gl_check_passes_and_reports_the_renderer():
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    renderer, version = ctx.info["GL_RENDERER"], ctx.info["GL_VERSION"]
    ctx.release()

    check = doctor.check_gl()

    assert check.ok, check.detail
    assert check.detail.startswith(f"{renderer}; OpenGL {version}; ")
    software = "llvmpipe" in renderer.lower()
    assert check.detail.endswith("software rendering on the CPU" if software else "GPU")


def test_gl_failure_is_a_failing_check_with_the_apt_fix(monkeypatch):
    import moderngl

    def fail(**kwargs):
        raise Exception("requested backend egl: eglInitialize failed")

    monkeypatch.setattr(moderngl, "create_standalone_context", fail)
    check = doctor.check_gl()

    assert not check.ok and check.required
    assert "eglInitialize failed" in check.detail
    assert check.fix == "apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri"


def test_missing_optional_module_is_reported_with_an_install_hint(monkeypatch):
    real_import = importlib.import_module

    def import_module(name, package=None):
        if name == "pythonosc":
            raise ModuleNotFoundError("No module named 'pythonosc'")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    check = doctor.check_backend(next(b for b in doctor.OPTIONAL_BACKENDS if b.module == "pythonosc"))

    assert not check.ok and not check.required
    assert "No module named 'pythonosc'" in check.detail
    assert check.fix == "pip install 'avatar-engine[live]'"


def test_installed_optional_module_reports_its_version():
    check = doctor.check_backend(next(b for b in doctor.OPTIONAL_BACKENDS if b.label == "mediapipe"))
    assert check.ok
    assert check.detail.startswith(importlib.metadata.version("mediapipe") + ";")


def test_no_display_fails_with_the_xvfb_hint(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    check = doctor.check_display()
    assert not check.ok and not check.required
    assert "Xvfb" in check.fix and "--headless" in check.fix


def test_missing_models_say_how_to_fetch(monkeypatch, tmp_path):
    monkeypatch.setenv("AVATAR_ENGINE_CACHE", str(tmp_path))
    monkeypatch.delenv("AVATAR_MODEL_FACE_LANDMARKER", raising=False)
    check = by_name(doctor.check_models())["model face_landmarker"]
    assert not check.ok and check.required
    assert check.detail == f"missing: {tmp_path / 'face_landmarker.task'}"
    assert check.fix == "python -m avatar_engine.assets fetch face_landmarker"


def test_converted_onnx_models_are_optional_and_say_how_to_make_them(monkeypatch, tmp_path, onnx_dir):
    from avatar_engine.infer import mediapipe_onnx

    monkeypatch.setattr(mediapipe_onnx, "default_onnx_dir", lambda: tmp_path)
    check = doctor.check_onnx_models()
    assert not check.ok and not check.required
    assert "avatar engines convert" in check.fix
    monkeypatch.setattr(mediapipe_onnx, "default_onnx_dir", lambda: onnx_dir)
    assert doctor.check_onnx_models().ok


def test_a_crashing_check_becomes_a_failing_check(monkeypatch):
    def crash():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "check_gpu", crash)
    monkeypatch.setattr(doctor, "OPTIONAL_BACKENDS", ())  # keeps torch's slow import out of this test
    checks = by_name(doctor.run_checks())
    assert not checks["GPU"].ok and "boom" in checks["GPU"].detail
    assert checks["GL (headless EGL)"].ok  # the other checks still ran


@pytest.mark.parametrize("required, mark", [(True, "FAIL"), (False, "--")])
def test_format_report_marks_failures_and_shows_fixes(required, mark):
    checks = [Check("python", True, "3.11.7"), Check("thing", False, "absent", "install it", required=required)]
    lines = format_report(checks).splitlines()
    assert lines[0].split() == ["ok", "python", "3.11.7"]
    assert lines[1].split() == [mark, "thing", "absent"]
    assert lines[2].split() == ["fix:", "install", "it"]
    assert ("1 required check(s) failed: thing" in lines[-1]) == required
