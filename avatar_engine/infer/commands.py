"""What `avatar engines convert|build|list` do; cli.py only parses arguments and prints these lines."""

from __future__ import annotations

import json
from pathlib import Path

from avatar_engine.errors import ModelError
from avatar_engine.infer.engines import default_engines_dir
from avatar_engine.infer.mediapipe_onnx import MODEL_NAMES, convert_mediapipe, default_onnx_dir, onnx_model_path


def convert(out_dir: Path | None = None) -> list[str]:
    """Convert MediaPipe's face models to ONNX; one line per file written."""
    paths = convert_mediapipe(out_dir)
    return [f"wrote {p} ({p.stat().st_size / 1e6:.1f} MB)" for p in paths.values()]


def builder_networks() -> tuple[Path, ...]:
    """The ONNX files of the builder's own networks that run on a chosen backend (`--recon`, `--texture-net`)."""
    from avatar_engine.nets.recon_net import MODEL_PATH as RECON
    from avatar_engine.nets.texture_net import MODEL_PATH as TEXTURE

    return RECON, TEXTURE


def build(onnx_dir: Path | None = None, engines_dir: Path | None = None, *, fp16: bool = True,
          max_batch: int = 16) -> list[str]:
    """Build TensorRT engines for every converted MediaPipe model, then for the builder's networks
    (`builder_networks`: `avatar build --recon prior --backend tensorrt` asked for one that nothing built);
    BackendError where TensorRT cannot run here, ModelError before any is built where a face model is not
    converted."""
    from avatar_engine.infer.tensorrt_backend import build_engine, import_tensorrt

    from avatar_engine.data_files import restore_hint

    import_tensorrt()  # fail before anything else when TensorRT or CUDA is missing
    engines_dir = engines_dir or default_engines_dir()
    missing = [p for p in builder_networks() if not p.is_file()]
    if missing:  # before any engine is built; `avatar engines convert` makes only the face models
        raise ModelError(f"{missing[0]} is missing; {restore_hint()}")
    sources = [onnx_model_path(name, onnx_dir) for name in MODEL_NAMES] + list(builder_networks())
    lines = []
    for source in sources:
        path = build_engine(source, engines_dir, fp16=fp16, max_batch=max_batch)
        lines.append(f"built {path}")
    return lines


def status(onnx_dir: Path | None = None, engines_dir: Path | None = None) -> list[str]:
    """The converted models' folder, then one line per model (ok, or why not; one line for all when they fail
    alike, as with none converted yet), then the engine files found."""
    found = {}
    for name in MODEL_NAMES:
        try:
            found[name] = f"ok {onnx_model_path(name, onnx_dir)}"
        except ModelError as exc:
            found[name] = str(exc)
    lines = [f"ONNX models in {onnx_dir or default_onnx_dir()}:"]
    reasons = set(found.values())
    if len(reasons) == 1 and len(found) > 1 and not next(iter(reasons)).startswith("ok "):
        lines.append(f"  {', '.join(found)}: {next(iter(reasons))}")
    else:
        lines += [f"  {name}: {text}" for name, text in found.items()]
    engines_dir = engines_dir or default_engines_dir()
    engines = sorted(Path(engines_dir).glob("*.engine")) if Path(engines_dir).is_dir() else []
    lines.append(f"engines in {engines_dir}:" + ("" if engines else " none"))
    if engines:
        sources = {p.stem: p for p in builder_networks()}
        sources.update({name: p for name, p in zip(MODEL_NAMES, _converted(onnx_dir))})
        lines += [f"  {e.name}: {engine_status(e, sources)}" for e in engines]
    return lines


def _converted(onnx_dir: Path | None) -> list[Path]:
    """The converted face models' ONNX files, or none where they are not converted."""
    try:
        return [onnx_model_path(name, onnx_dir) for name in MODEL_NAMES]
    except ModelError:  # their engines are then judged by their own record alone
        return []


def engine_status(path: Path, sources: dict[str, Path]) -> str:
    """'ok (...)' or why an engine file cannot be used: its record, its bytes, and the ONNX file it was built from
    as that is now (`sources`: model name -> ONNX file; a junk or stale file was listed by name as if good)."""
    from avatar_engine.assets.cache import sha256_file
    from avatar_engine.infer.engines import verified_engine

    try:
        record = json.loads(path.with_suffix(".json").read_text())
        source = sources.get(record.get("model")) if isinstance(record, dict) else None
        onnx_sha = sha256_file(source) if source is not None and source.is_file() else record["onnx_sha256"]
        _, checked = verified_engine(path, onnx_sha)
    except ModelError as exc:
        return str(exc)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{path.with_suffix('.json').name} is missing or damaged; run `avatar engines build`"
    return f"ok ({checked.model}, {checked.precision}, TensorRT {checked.tensorrt}, {checked.gpu})"
