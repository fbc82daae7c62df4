"""The TensorRT engine cache: where engines lie, how they are keyed, and the record that vouches for each.

An engine is only valid for the ONNX bytes, TensorRT version and GPU it was built with, so its file name
carries all three: `<model>-<onnx sha256[:16]>-trt<version>-<gpu>.engine`. Beside it, `<same>.json` records
what it was built from and the engine's own sha256; a missing, damaged or mismatched engine is refused
with a one-line ModelError and the rebuild command. Nothing here imports tensorrt.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from avatar_engine.assets.cache import default_cache_dir, sha256_file
from avatar_engine.errors import ModelError
from avatar_engine.paths import write_bytes_atomic

ENGINES_ENV = "AVATAR_ENGINES_DIR"
BUILD_HINT = "run `avatar engines build`"


def default_engines_dir() -> Path:
    """`$AVATAR_ENGINES_DIR`, else the source checkout's `engines/` folder, else beside the model cache."""
    explicit = os.environ.get(ENGINES_ENV)
    if explicit:
        return Path(explicit).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "engines"
    if checkout.is_dir():
        return checkout
    return default_cache_dir().parent / "engines"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


@dataclass(frozen=True)
class EngineRecord:
    """What one serialized engine was built from (the `.json` beside it)."""

    model: str
    onnx_sha256: str
    tensorrt: str
    gpu: str
    precision: str
    """`fp16` or `fp32` (fp16 falls back to fp32 when it misses the accuracy check)."""
    max_batch: int
    engine_sha256: str
    fp16_max_error: float | None = None
    """Worst relative error of the fp16 engine against ONNX Runtime on the probe input, when measured."""


def engine_path(engines_dir: Path, onnx_path: Path, onnx_sha256: str, tensorrt_version: str, gpu: str) -> Path:
    """`<engines_dir>/<model>-<onnx sha256[:16]>-trt<version>-<gpu>.engine`."""
    key = f"{onnx_sha256[:16]}-trt{_slug(tensorrt_version)}-{_slug(gpu)}"
    return Path(engines_dir) / f"{Path(onnx_path).stem}-{key}.engine"



def write_engine(path: Path, data: bytes, record: EngineRecord) -> None:
    """Write the engine and its record atomically (the record last)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)
    write_bytes_atomic(path.with_suffix(".json"), json.dumps(asdict(record), indent=2).encode())


def verified_engine(path: Path, onnx_sha256: str) -> tuple[bytes, EngineRecord]:
    """The engine bytes and record at `path`, checked against the record and the ONNX file's hash.

    ModelError (one line, with the rebuild command) when the engine or its record is missing, unreadable,
    built from other ONNX bytes, or does not hash to what its record says."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if not path.is_file() or not meta.is_file():
        raise ModelError(f"no TensorRT engine {path.name} in {path.parent} for this model, TensorRT and GPU; "
                         f"{BUILD_HINT}")
    try:
        record = EngineRecord(**json.loads(meta.read_text()))
    except (ValueError, TypeError, OSError) as exc:
        raise ModelError(f"{meta.name} is damaged ({type(exc).__name__}); {BUILD_HINT}") from None
    texts = ("model", "onnx_sha256", "tensorrt", "gpu", "precision", "engine_sha256")
    if not all(isinstance(getattr(record, f), str) for f in texts) or type(record.max_batch) is not int \
            or record.max_batch < 1:  # a number where a hash belongs failed later as a TypeError
        raise ModelError(f"{meta.name} is damaged (a field of the wrong type); {BUILD_HINT}")
    if record.onnx_sha256 != onnx_sha256:
        raise ModelError(f"{path.name} was built from other ONNX bytes ({record.onnx_sha256[:16]}); {BUILD_HINT}")
    if sha256_file(path) != record.engine_sha256:
        raise ModelError(f"{path.name} is corrupt (its sha256 is not the one recorded at build time); {BUILD_HINT}")
    return path.read_bytes(), record
