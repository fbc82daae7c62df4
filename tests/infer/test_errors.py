"""Damaged, mismatched or misused models fail with one clear line naming the cause and the fix."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avatar_engine.errors import InputError, ModelError
from avatar_engine.infer import InferOptions, open_session
from avatar_engine.infer.mediapipe_onnx import onnx_model_path

BACKENDS = ("onnxruntime", "torch")


def one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


@pytest.fixture
def copied(onnx_dir, tmp_path):
    """A private copy of the converted models (so a test may damage them)."""
    out = tmp_path / "onnx"
    shutil.copytree(onnx_dir, out)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_damaged_onnx_file_is_a_model_error_with_a_hint(copied, backend, damage):
    path = copied / "face_detector.onnx"
    data = path.read_bytes()
    path.write_bytes({"garbage": bytes(range(256)) * 64, "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(ModelError) as exc:
        open_session(path, InferOptions(backend=backend, device="cpu"), hint="run `avatar engines convert`")
    assert "face_detector.onnx" in one_line(exc) and "avatar engines convert" in str(exc.value)


def test_replaced_file_does_not_match_its_manifest(copied):
    # A valid ONNX model, but not the one converted: caught by the manifest's sha256, not run silently.
    shutil.copy(copied / "face_blendshapes.onnx", copied / "face_detector.onnx")
    with pytest.raises(ModelError, match="does not match its manifest") as exc:
        onnx_model_path("face_detector", copied)
    assert "avatar engines convert" in one_line(exc)


def test_missing_or_damaged_manifest(copied):
    (copied / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="damaged.*avatar engines convert"):
        onnx_model_path("face_detector", copied)
    # valid JSON of the wrong shape raised AttributeError and KeyError tracebacks
    for shape in ("[]", "null", json.dumps({"face_detector": {"file": "face_detector.onnx", "converter_version": "1"}})):
        (copied / "manifest.json").write_text(shape)
        with pytest.raises(ModelError, match="damaged.*avatar engines convert"):
            onnx_model_path("face_detector", copied)
    (copied / "manifest.json").unlink()
    with pytest.raises(ModelError, match="no converted MediaPipe ONNX models.*avatar engines convert"):
        onnx_model_path("face_detector", copied)


def test_a_manifest_file_name_that_cannot_be_a_file_is_the_manifests_fault(copied):
    # a name over 255 bytes raised "File name too long" from Path.is_file(): no word of the manifest or the fix
    manifest = json.loads((copied / "manifest.json").read_text())
    manifest["face_detector"]["file"] = "x" * 300 + ".onnx"
    (copied / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="the manifest in .* names face_detector's file .*avatar engines convert"):
        onnx_model_path("face_detector", copied)


def test_older_converter_output_is_refused(copied):
    manifest = json.loads((copied / "manifest.json").read_text())
    manifest["face_detector"]["converter_version"] = "0"
    (copied / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="another converter version"):
        onnx_model_path("face_detector", copied)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_feeds_are_input_errors(onnx_dir, backend):
    with open_session(onnx_model_path("face_blendshapes", onnx_dir), InferOptions(backend=backend, device="cpu")) as s:
        name = s.inputs[0].name
        good = np.zeros((2, 146, 2), np.float32)
        cases = {
            "inputs \\['x'\\] given": {"x": good},
            "has shape \\(2, 145, 2\\), expected Nx146x2": {name: good[:, :145]},
            "must be a float32 array, got float64": {name: good.astype(np.float64)},
            "NaN or infinite": {name: np.full_like(good, np.nan)},
            "batch 0": {name: good[:0]},
        }
        for message, feeds in cases.items():
            with pytest.raises(InputError, match=message) as exc:
                s.run(feeds)
            one_line(exc)
        with pytest.raises(InputError, match="feeds must map input names to arrays, got ndarray"):
            s.run(good)  # was a TypeError from inside the check
    with pytest.raises(RuntimeError, match="this session is closed"):  # was AttributeError / KeyError
        s.run({name: good})


def test_unknown_backend_and_device_are_input_errors():
    with pytest.raises(InputError, match="unknown inference backend 'tensorflow'"):
        InferOptions(backend="tensorflow")
    with pytest.raises(InputError, match="unknown device"):
        InferOptions(device="tpu")


def test_torch_backend_refuses_an_unknown_operator_up_front(tmp_path):
    pytest.importorskip("torch")
    from onnx import TensorProto, helper, save

    graph = helper.make_graph([helper.make_node("Einsum", ["x", "x"], ["y"], equation="ij,ij->i")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])])
    path = tmp_path / "einsum.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what onnxruntime reads for opset 17
    save(model, str(path))
    with pytest.raises(ModelError, match="does not support ONNX operators Einsum; use --backend onnxruntime"):
        open_session(path, InferOptions(backend="torch", device="cpu"))
    with open_session(path, InferOptions(backend="onnxruntime", device="cpu")) as s:  # the model itself is fine
        np.testing.assert_allclose(s.run({"x": np.ones((2, 3), np.float32)})["y"], [3.0, 3.0])


def test_converter_refuses_junk_and_unknown_operators():
    from avatar_engine.infer.tflite_reader import Graph, Operator, Tensor
    from avatar_engine.infer.tflite_to_onnx import _Converter, convert_tflite

    with pytest.raises(ModelError, match="junk is not a TFLite model"):
        convert_tflite(b"\0" * 64, "junk")
    with pytest.raises(ModelError, match="junk is not a readable TFLite model"):
        convert_tflite(b"\0\0\0\0TFL3" + b"\xff" * 56, "junk")
    graph = Graph((Tensor(0, "x", (1, 4), np.float32, None), Tensor(1, "y", (1, 4), np.float32, None)),
                  (Operator("HARD_SWISH", (0,), (1,)),), (0,), (1,))
    with pytest.raises(ModelError, match="TFLite operator HARD_SWISH is not supported"):
        _Converter(graph, "toy").build("", {})
    # int8 weights need their scale and zero point: refused rather than cast to wrong values
    quantized = Graph((Tensor(0, "x", (1, 4), np.float32, None), Tensor(1, "w", (4,), np.int8, np.ones(4, np.int8)),
                       Tensor(2, "wf", (4,), np.float32, None), Tensor(3, "y", (1, 4), np.float32, None)),
                      (Operator("DEQUANTIZE", (1,), (2,)), Operator("ADD", (0, 2), (3,))), (0,), (3,))
    with pytest.raises(ModelError, match="quantized"):
        _Converter(quantized, "toy").build("", {})


def test_damaged_or_mismatched_engine_is_refused_with_the_build_command(tmp_path):
    from avatar_engine.infer.engines import EngineRecord, engine_path, verified_engine, write_engine

    onnx_sha = "ab" * 32
    path = engine_path(tmp_path, tmp_path / "face_detector.onnx", onnx_sha, "10.9.0", "NVIDIA H100 80GB HBM3")
    assert path.name == "face_detector-abababababababab-trt10.9.0-nvidia-h100-80gb-hbm3.engine"
    import hashlib

    data = b"serialized engine"
    write_engine(path, data, EngineRecord("face_detector", onnx_sha, "10.9.0", "H100", "fp16", 16,
                                          hashlib.sha256(data).hexdigest()))
    assert verified_engine(path, onnx_sha)[0] == data
    with pytest.raises(ModelError, match="built from other ONNX bytes.*avatar engines build"):
        verified_engine(path, "cd" * 32)
    path.write_bytes(b"serialized engine, bit-flipped")
    with pytest.raises(ModelError, match="is corrupt.*avatar engines build") as exc:
        verified_engine(path, onnx_sha)
    one_line(exc)
    path.with_suffix(".json").write_text("[")
    with pytest.raises(ModelError, match="damaged.*avatar engines build"):
        verified_engine(path, onnx_sha)
    with pytest.raises(ModelError, match="no TensorRT engine.*avatar engines build"):
        verified_engine(tmp_path / "other.engine", onnx_sha)


def test_cli_engines_build_without_tensorrt_exits_4_with_one_line(onnx_dir):
    if __import__("importlib").util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    command = [sys.executable, "-m", "avatar_engine.cli", "engines", "build", "--onnx-dir", str(onnx_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 4
    assert result.stderr.strip().count("\n") == 0 and "TensorRT is not installed" in result.stderr


def test_cli_engines_list_reports_a_damaged_model(copied):
    (copied / "face_blendshapes.onnx").write_bytes(b"junk")
    result = subprocess.run([sys.executable, "-m", "avatar_engine.cli", "engines", "list", "--onnx-dir", str(copied)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "face_detector: ok" in result.stdout
    assert "face_blendshapes: face_blendshapes.onnx does not match its manifest" in result.stdout
    assert result.stdout.splitlines()[0] == f"ONNX models in {copied}:"  # the heading first (it came last)


def test_engines_list_says_once_that_nothing_is_converted(tmp_path):
    """With no models converted, the same sentence came three times, once per model."""
    from avatar_engine.infer.commands import status

    lines = status(tmp_path / "none", tmp_path / "engines")
    assert lines[0] == f"ONNX models in {tmp_path / 'none'}:"
    assert len(lines) == 3 and lines[1].count("avatar engines convert") == 1
    assert lines[2] == f"engines in {tmp_path / 'engines'}: none"


def test_a_tampered_engine_record_is_a_model_error(tmp_path):
    from avatar_engine.infer.engines import verified_engine

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    record = {"model": "m", "onnx_sha256": 5, "tensorrt": "10", "gpu": "g", "precision": "fp16", "max_batch": 16,
              "engine_sha256": "x"}
    engine.with_suffix(".json").write_text(json.dumps(record))
    with pytest.raises(ModelError, match="damaged"):  # a TypeError: 'int' object is not subscriptable before
        verified_engine(engine, "abc")


def test_tensorrt_without_torch_is_a_backend_error(monkeypatch):
    import types

    from avatar_engine.errors import BackendError
    from avatar_engine.infer.tensorrt_backend import import_tensorrt

    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(BackendError, match="needs torch"):
        import_tensorrt()


@pytest.mark.parametrize("action", ["list", "build", "convert"])
def test_cli_engines_refuses_an_empty_folder_name(action, capsys):
    """--onnx-dir "" (an unset shell variable) quietly meant the default cache for list and build."""
    from avatar_engine.cli import main

    assert main(["engines", action, "--onnx-dir", ""]) == 2
    assert "--onnx-dir is empty" in capsys.readouterr().err


def test_a_conversion_stopped_in_a_new_folder_leaves_nothing(tmp_path, monkeypatch):
    """Ctrl-C after the first model: a folder holding one .onnx and no manifest was left behind."""
    from avatar_engine.infer import mediapipe_onnx, tflite_to_onnx

    calls = []
    convert = tflite_to_onnx.convert_tflite

    def stop_at_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return convert(*args, **kwargs)

    monkeypatch.setattr(tflite_to_onnx, "convert_tflite", stop_at_second)
    out = tmp_path / "fresh" / "onnx"
    with pytest.raises(KeyboardInterrupt):
        mediapipe_onnx.convert_mediapipe(out)
    assert len(calls) == 2 and not out.exists()


def test_engines_build_covers_the_builders_networks(onnx_dir, tmp_path, monkeypatch):
    """`avatar build --recon prior --backend tensorrt` (or --texture-net on) asked for an engine of the builder's
    own network and told the user to run `avatar engines build`, which built MediaPipe's three models only."""
    import avatar_engine.infer.tensorrt_backend as trt_backend
    from avatar_engine.infer.commands import build
    from avatar_engine.nets.recon_net import MODEL_PATH as RECON
    from avatar_engine.nets.texture_net import MODEL_PATH as TEXTURE

    built = []
    monkeypatch.setattr(trt_backend, "import_tensorrt", lambda: (None, None))
    monkeypatch.setattr(trt_backend, "build_engine", lambda source, engines, **kw: built.append(Path(source)) or
                        Path(engines) / f"{Path(source).stem}.engine")
    lines = build(onnx_dir, tmp_path / "engines")
    assert {p.stem for p in built} == {"face_detector", "face_landmarks_detector", "face_blendshapes", "recon",
                                       "texture_refine"}
    assert RECON in built and TEXTURE in built and len(lines) == len(built)


def test_a_tensorrt_that_does_not_load_is_one_line(tmp_path, monkeypatch):
    """A tensorrt package whose libraries fail to load raised OSError (FileNotFoundError on Windows) through every
    command as a traceback; only ImportError was caught."""
    from avatar_engine.errors import BackendError
    from avatar_engine.infer.tensorrt_backend import import_tensorrt

    fake = tmp_path / "tensorrt"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise OSError('libnvinfer.so.10: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    with pytest.raises(BackendError, match=r"TensorRT is installed but does not load \(OSError: libnvinfer") as exc:
        import_tensorrt()
    assert "\n" not in str(exc.value)


def test_engines_build_names_a_missing_builder_network_before_building(onnx_dir, tmp_path, monkeypatch):
    """A deleted recon.onnx failed after MediaPipe's three engines were built, with the hint to run `avatar engines
    convert`, which does not make it."""
    import avatar_engine.infer.commands as commands
    import avatar_engine.infer.tensorrt_backend as trt_backend
    from avatar_engine.errors import ModelError

    built = []
    monkeypatch.setattr(trt_backend, "import_tensorrt", lambda: (None, None))
    monkeypatch.setattr(trt_backend, "build_engine", lambda source, engines, **kw: built.append(source))
    monkeypatch.setattr(commands, "builder_networks", lambda: (tmp_path / "recon.onnx",))
    with pytest.raises(ModelError, match="recon.onnx is missing; restore them from git|reinstall the package"):
        commands.build(onnx_dir, tmp_path / "engines")
    assert built == []


def test_engines_list_checks_each_engine_file(onnx_dir, tmp_path):
    """Review: `engines list` named any *.engine file as if it were good, junk and stale ones included."""
    import hashlib

    from avatar_engine.assets.cache import sha256_file
    from avatar_engine.infer.commands import status
    from avatar_engine.infer.mediapipe_onnx import onnx_model_path

    engines = tmp_path / "engines"
    engines.mkdir()
    (engines / "junk.engine").write_bytes(b"not an engine")
    detector = onnx_model_path("face_detector", onnx_dir)

    def record(name, onnx_sha):
        data = f"serialized {name}".encode()
        (engines / f"{name}.engine").write_bytes(data)
        (engines / f"{name}.json").write_text(json.dumps({
            "model": "face_detector", "onnx_sha256": onnx_sha, "tensorrt": "10.3.0", "gpu": "test gpu",
            "precision": "fp16", "max_batch": 16, "engine_sha256": hashlib.sha256(data).hexdigest()}))

    record("good", sha256_file(detector))
    record("stale", "ab" * 32)
    lines = {line.split(":")[0].strip(): line for line in status(onnx_dir, engines)[1:]}
    assert "ok (face_detector, fp16, TensorRT 10.3.0, test gpu)" in lines["good.engine"]
    assert "built from other ONNX bytes" in lines["stale.engine"]
    assert "junk.json is missing or damaged" in lines["junk.engine"]
