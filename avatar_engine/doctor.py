"""`avatar doctor`: what this machine can and cannot do, each finding with a fix.

Every check imports what it probes only when it runs, and turns any failure into a failing `Check`:
the doctor itself must work on the most broken machine.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

APT_EGL_FIX = "apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri"
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "lavapipe", "swiftshader", "software rasterizer")
"""Lower-case substrings of GL_RENDERER strings that mean rendering runs on the CPU."""


@dataclass(frozen=True)
class Check:
    """One finding about the machine."""

    name: str
    ok: bool
    detail: str
    """What was found, one line."""
    fix: str = ""
    """What to do about it (a command where there is one); may be set on passing checks as advice."""
    required: bool = True
    """False for things only some features need (a display, a GPU, optional backends)."""


@dataclass(frozen=True)
class OptionalBackend:
    """A module only some features need, and how to get it."""

    label: str
    """Distribution name as pip knows it."""
    module: str
    """Top-level module to import."""
    used_for: str
    install: str


OPTIONAL_BACKENDS: tuple[OptionalBackend, ...] = (
    OptionalBackend("mediapipe", "mediapipe", "face tracking, photo landmarks", "pip install 'avatar-engine[track]'"),
    OptionalBackend("onnxruntime", "onnxruntime", "ONNX inference backend", "pip install 'avatar-engine[infer]'"),
    OptionalBackend("tensorrt", "tensorrt", "TensorRT inference backend (NVIDIA GPUs)",
                    "pip install tensorrt --extra-index-url https://pypi.nvidia.com (NVIDIA GPU and CUDA needed)"),
    OptionalBackend("torch", "torch", "torch inference backend, regenerating assets/head",
                    "pip install 'avatar-engine[infer]'"),
    OptionalBackend("pyvirtualcam", "pyvirtualcam", "virtual camera output",
                    "pip install pyvirtualcam (on Linux also: apt-get install -y v4l2loopback-dkms)"),
    OptionalBackend("python-osc", "pythonosc", "OSC / VMC protocol output", "pip install 'avatar-engine[live]'"),
)


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] == (3, 11)
    return Check("python", ok, f"{version} ({sys.executable})",
                 "" if ok else "use Python 3.11: bash scripts/setup.sh makes .venv with python3.11")


def gl_info() -> dict[str, str]:
    """GL_RENDERER, GL_VENDOR and GL_VERSION of a headless EGL context; raises whatever ModernGL raises."""
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    try:
        return {key: str(ctx.info[key]) for key in ("GL_RENDERER", "GL_VENDOR", "GL_VERSION")}
    finally:
        ctx.release()


def is_software_renderer(renderer: str) -> bool:
    return any(name in renderer.lower() for name in SOFTWARE_RENDERERS)


def check_gl() -> Check:
    try:
        info = gl_info()
    except Exception as exc:  # ImportError, or moderngl/glcontext failing to load or initialise EGL
        return Check("GL (headless EGL)", False, f"no EGL context: {_one_line(exc)}", APT_EGL_FIX)
    renderer = info["GL_RENDERER"]
    if is_software_renderer(renderer):
        kind = "software rendering on the CPU"
        fix = "works; on a machine with a GPU install its driver's EGL library to render there"
    else:
        kind, fix = "GPU", ""
    return Check("GL (headless EGL)", True, f"{renderer}; OpenGL {info['GL_VERSION']}; {kind}", fix)


def check_display() -> Check:
    fix = "run under Xvfb (xvfb-run -a avatar ...) or use --headless"
    names = [f"{var}={os.environ[var]}" for var in ("DISPLAY", "WAYLAND_DISPLAY") if os.environ.get(var)]
    if not names:
        return Check("display (windows)", False, "no DISPLAY or WAYLAND_DISPLAY: windows cannot open", fix,
                     required=False)
    try:
        import glfw
    except Exception as exc:
        return Check("display (windows)", False, f"cannot load GLFW: {_one_line(exc)}",
                     "pip install glfw==2.11.0 (bash scripts/setup.sh)", required=False)
    reporting = glfw.ERROR_REPORTING
    glfw.ERROR_REPORTING = "ignore"
    try:
        if not glfw.init():
            _, description = glfw.get_error()
            reason = description.decode(errors="replace") if description else "unknown error"
            return Check("display (windows)", False, f"GLFW cannot start on {', '.join(names)}: {reason}", fix,
                         required=False)
        glfw.terminate()
    finally:
        glfw.ERROR_REPORTING = reporting
    return Check("display (windows)", True, f"GLFW {glfw.__version__} starts on {', '.join(names)}", required=False)


def check_gpu() -> Check:
    found: list[str] = []
    notes: list[str] = []
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            done = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
            gpus = [line.strip() for line in done.stdout.splitlines() if line.strip()]
            if done.returncode == 0 and gpus:
                found += [f"{gpu} (nvidia-smi)" for gpu in gpus]
            else:
                notes.append(f"nvidia-smi failed: {_one_line(done.stderr or done.stdout)}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            notes.append(f"nvidia-smi failed: {_one_line(exc)}")
    else:
        notes.append("no nvidia-smi")
    if importlib.util.find_spec("torch") is not None:
        try:
            torch = importlib.import_module("torch")
            if torch.cuda.is_available():
                found.append(f"{torch.cuda.get_device_name(0)} (torch {torch.__version__} CUDA)")
            else:
                notes.append(f"torch {torch.__version__} sees no CUDA device")
        except Exception as exc:
            notes.append(f"torch fails to import: {_one_line(exc)}")
    else:
        notes.append("torch not installed")
    if found:
        return Check("GPU", True, "; ".join(found), required=False)
    return Check("GPU", False, "none: " + "; ".join(notes),
                 "everything runs on the CPU; for a GPU install the NVIDIA driver (nvidia-smi) "
                 "and, for torch backends, a CUDA build of torch", required=False)


def check_data_files() -> Check:
    """The head tables, shaders and demo photo the package ships: a wheel built without them, or a checkout missing
    files, fails every command that renders or builds."""
    from avatar_engine.data_files import damaged_data_files, data_dir, missing_data_files, restore_hint

    missing = missing_data_files()
    where = f"{data_dir('assets').parent}"
    if missing:
        return Check("package data", False, f"{len(missing)} file(s) missing under {where}: {', '.join(missing[:4])}"
                     + (" ..." if len(missing) > 4 else ""), restore_hint())
    damaged = damaged_data_files()  # present is not enough: a truncated head table failed every command
    if damaged:
        return Check("package data", False, f"{len(damaged)} file(s) damaged under {where}: {'; '.join(damaged[:3])}"
                     + (" ..." if len(damaged) > 3 else ""), restore_hint())
    return Check("package data", True, f"head tables and shaders in {where}, each readable")


SHIPPED_NETWORKS = ("hair_style", "recon", "texture_refine")
"""The networks assets/models/ ships (each with its card)."""


def check_networks() -> list[Check]:
    """The learned stages shipped in assets/models/ (optional: all off by default), each against its card's sha256."""
    import json

    from avatar_engine.data_files import asset_path, restore_hint
    from avatar_engine.errors import ModelError
    from avatar_engine.nets.onnx_file import check_card_binding

    checks = []
    folder = asset_path("models")
    # the shipped ones by name (a deleted one had no line at all), and any other the folder holds (a user's own)
    for path in sorted({folder / f"{stem}.onnx" for stem in SHIPPED_NETWORKS} | set(folder.glob("*.onnx"))):
        name = f"network {path.stem}"
        if not path.is_file():
            checks.append(Check(name, False, f"{path.name} is missing from {folder}", restore_hint(), required=False))
            continue
        try:
            card = json.loads(path.with_suffix(".json").read_text())
            if not isinstance(card, dict):
                raise ValueError("its card is not a card")
            check_card_binding(card, path, restore_hint())
        except (OSError, ValueError, ModelError) as exc:
            checks.append(Check(name, False, _one_line(exc), restore_hint(), required=False))
            continue
        checks.append(Check(name, True, f"{path.name} matches its card", required=False))
    return checks


def check_models() -> list[Check]:
    from avatar_engine.assets import cache_state, default_registry
    from avatar_engine.assets.registry import FETCH_HINT

    records = default_registry().records
    checks = []
    for name, status, path in cache_state():
        fix = ""
        if status != "ok":
            override = os.environ.get(records[name].env_var)
            fix = (f"point {records[name].env_var} at a good copy or unset it" if override
                   else f"{FETCH_HINT} {name}")
        checks.append(Check(f"model {name}", status == "ok", f"{status}: {path}", fix))
    return checks


def check_onnx_models() -> Check:
    """MediaPipe's three face models converted to ONNX (optional: `--landmarker onnx`, engines for TensorRT)."""
    from avatar_engine.errors import ModelError
    from avatar_engine.infer.mediapipe_onnx import MODEL_NAMES, default_onnx_dir, onnx_model_path

    try:
        for name in MODEL_NAMES:
            onnx_model_path(name)  # present, from this converter, and matching its manifest's sha256
    except ModelError as exc:
        return Check("models onnx", False, _one_line(exc),
                     "avatar engines convert (needed for --landmarker onnx and TensorRT engines)", required=False)
    return Check("models onnx", True, f"ok: {len(MODEL_NAMES)} converted face models in {default_onnx_dir()}",
                 required=False)


def check_backend(backend: OptionalBackend) -> Check:
    name = f"backend {backend.label}"
    try:
        module = importlib.import_module(backend.module)
    except Exception as exc:  # ImportError, or a broken install failing inside its own import
        return Check(name, False, f"not available ({_one_line(exc)}); needed for {backend.used_for}",
                     backend.install, required=False)
    try:
        version = importlib.metadata.version(backend.label)
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(module, "__version__", "?"))
    return Check(name, True, f"{version}; for {backend.used_for}", required=False)


def check_auto_backend() -> Check:
    """What `--backend auto` runs the networks on here, and which tracker `avatar live --landmarker auto` takes."""
    from avatar_engine.infer import InferOptions, resolve_backend
    from avatar_engine.infer.select import gpu_backend
    from avatar_engine.perception.choice import resolve_landmarker

    backend = resolve_backend(InferOptions())
    where = "the GPU (CUDA)" if gpu_backend(InferOptions()) else "the CPU"
    tracker = resolve_landmarker("auto")
    return Check("backend auto", True, f"{backend} on {where}; live tracking with --landmarker auto: "
                 + ("the ONNX landmarker there" if tracker == "onnx" else "MediaPipe's"), required=False)


def run_checks() -> list[Check]:
    """Every check, in report order. Never raises: a check that crashes becomes a failing check."""
    checks: list[Check] = []
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("python", check_python), ("GL (headless EGL)", check_gl), ("display (windows)", check_display),
        ("GPU", check_gpu), ("package data", check_data_files), ("networks", check_networks), ("models", check_models),
        ("models onnx", check_onnx_models),
    ]
    steps += [(f"backend {b.label}", lambda b=b: check_backend(b)) for b in OPTIONAL_BACKENDS]
    steps.append(("backend auto", check_auto_backend))
    for name, step in steps:
        try:
            result = step()
        except Exception as exc:
            result = Check(name, False, f"the check itself failed: {_one_line(exc)}", "please report this")
        checks.extend(result if isinstance(result, list) else [result])
    return checks


def format_report(checks: list[Check]) -> str:
    """Human-readable report: one line per check, its fix indented below when there is one."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        mark = "ok" if c.ok else ("FAIL" if c.required else "--")
        lines.append(f"{mark:>4}  {c.name:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"{'':>4}  {'':<{width}}  fix: {c.fix}")
    failed = [c.name for c in checks if c.required and not c.ok]
    optional = sum(1 for c in checks if not c.required and not c.ok)
    summary = f"{len(failed)} required check(s) failed: {', '.join(failed)}" if failed else "all required checks pass"
    lines.append(f"\n{summary}; {optional} optional item(s) unavailable")
    return "\n".join(lines)


def _one_line(exc: object) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else text or type(exc).__name__


def main() -> int:
    """`python -m avatar_engine.doctor`: print the report; exit 1 when a required check fails."""
    checks = run_checks()
    print(format_report(checks))
    return 1 if any(c.required and not c.ok for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
