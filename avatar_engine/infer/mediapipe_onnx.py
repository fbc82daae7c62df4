"""MediaPipe's three face models as ONNX files in the user model cache, with a manifest of their hashes.

    convert_mediapipe()                         # face_landmarker.task -> <cache>/onnx/*.onnx + manifest.json
    onnx_model_path("face_landmarks_detector")  # the converted file, checked against the manifest

The ONNX files are generated (never committed): `avatar engines convert` or
`scripts/convert_mediapipe_onnx.py` writes them. What each model takes and returns is in
`assets/infer/mediapipe_face.json`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from functools import lru_cache
from pathlib import Path

from avatar_engine.assets import default_cache_dir, model_path, sha256_file
from avatar_engine.data_files import asset_path
from avatar_engine.errors import ModelError, require_modules
from avatar_engine.paths import write_bytes_atomic

MODEL_NAMES = ("face_detector", "face_landmarks_detector", "face_blendshapes")
CONVERT_HINT = "run `avatar engines convert`"
MANIFEST = "manifest.json"
CONVERTER_VERSION = "1"
"""Bumped whenever the converter's output changes, so older files are re-made rather than trusted."""
SPEC_PATH = asset_path("infer", "mediapipe_face.json")


@lru_cache(maxsize=1)
def face_spec() -> dict:
    """`assets/infer/mediapipe_face.json`: per-model inputs/outputs and the blend-shape landmark subset."""
    return json.loads(SPEC_PATH.read_text())


def default_onnx_dir() -> Path:
    """`<model cache>/onnx` (the cache is `$AVATAR_ENGINE_CACHE` or ~/.cache/avatar-engine/models)."""
    return default_cache_dir() / "onnx"


def convert_mediapipe(out_dir: Path | None = None, task_path: Path | None = None) -> dict[str, Path]:
    """Convert the three TFLite models in face_landmarker.task to ONNX in `out_dir`; returns {name: path}.

    Each file and then the manifest ({name: file, sha256, source task sha256, converter version}) are
    written atomically; a folder the call made is removed again when it fails. `task_path` None means the
    registry's verified copy."""
    require_modules(("onnx", "tflite"), "converting MediaPipe's models")  # the converter's own
    out_dir = Path(out_dir) if out_dir is not None else default_onnx_dir()
    task = Path(task_path) if task_path is not None else model_path("face_landmarker")
    task_sha = sha256_file(task)
    try:
        archive = zipfile.ZipFile(task)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{task.name} is not a MediaPipe task file ({exc})") from None
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _convert(archive, task, task_sha, out_dir)
    except BaseException:  # a folder this run made holds nothing without the manifest (Ctrl-C, a failure)
        if made:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _convert(archive: zipfile.ZipFile, task: Path, task_sha: str, out_dir: Path) -> dict[str, Path]:
    from avatar_engine.infer.tflite_to_onnx import convert_tflite

    manifest, paths = {}, {}
    with archive:
        for name in MODEL_NAMES:
            member = face_spec()["models"][name]["member"]
            try:
                data = archive.read(member)
            except KeyError:
                raise ModelError(f"{task.name} has no {member}") from None
            model = convert_tflite(data, name, doc=f"MediaPipe {member} from {task.name}, converted by avatar-engine",
                                   metadata={"source_sha256": hashlib.sha256(data).hexdigest(),
                                             "converter_version": CONVERTER_VERSION})
            blob = model.SerializeToString()
            path = out_dir / f"{name}.onnx"
            write_bytes_atomic(path, blob)
            manifest[name] = {"file": path.name, "sha256": hashlib.sha256(blob).hexdigest(), "member": member,
                              "task_sha256": task_sha, "converter_version": CONVERTER_VERSION,
                              "opset": model.opset_import[0].version}
            paths[name] = path
    write_bytes_atomic(out_dir / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return paths


def read_manifest(out_dir: Path | None = None) -> dict:
    out_dir = Path(out_dir) if out_dir is not None else default_onnx_dir()
    path = out_dir / MANIFEST
    if not path.is_file():
        raise ModelError(f"no converted MediaPipe ONNX models in {out_dir}; {CONVERT_HINT}")
    try:
        manifest = json.loads(path.read_text())
    except ValueError:
        raise ModelError(f"{path} is damaged; {CONVERT_HINT}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {path} ({exc.strerror or exc}); {CONVERT_HINT}") from None
    # valid JSON of the wrong shape ([], a missing sha256) raised AttributeError or KeyError tracebacks
    if not isinstance(manifest, dict) or not all(
            isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str)
            for name, entry in manifest.items() if name in MODEL_NAMES):
        raise ModelError(f"{path} is damaged (not a manifest of files and hashes); {CONVERT_HINT}")
    return manifest


def onnx_model_path(name: str, out_dir: Path | None = None) -> Path:
    """Path of converted model `name`, after checking it against the manifest.

    ModelError (one line, with the convert command) when it is missing, was made by an older converter, or
    does not hash to the manifest's sha256 (damaged or replaced)."""
    if name not in MODEL_NAMES:
        raise ModelError(f"unknown MediaPipe model {name!r}; known: {', '.join(MODEL_NAMES)}")
    out_dir = Path(out_dir) if out_dir is not None else default_onnx_dir()
    entry = read_manifest(out_dir).get(name)
    if not isinstance(entry, dict) or entry.get("converter_version") != CONVERTER_VERSION:
        raise ModelError(f"{name}.onnx in {out_dir} is missing or from another converter version; {CONVERT_HINT}")
    try:
        path = out_dir / entry["file"]
        present = path.is_file()
    except OSError as exc:  # a damaged manifest: a file name too long to be one (is_file raised ENAMETOOLONG)
        raise ModelError(f"the manifest in {out_dir} names {name}'s file {str(entry.get('file'))[:40]!r}, which cannot "
                         f"be one ({exc}); {CONVERT_HINT}") from None
    if not present:
        raise ModelError(f"{path} is missing; {CONVERT_HINT}")
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ModelError(f"cannot read {path} ({exc.strerror or exc}); {CONVERT_HINT}") from None
    if actual != entry["sha256"]:
        raise ModelError(f"{path.name} does not match its manifest (sha256 {actual[:16]}..., expected "
                         f"{entry['sha256'][:16]}...): damaged or replaced; {CONVERT_HINT}")
    return path
