"""The trainers' ONNX files: a graph made into a checked opset-17 model and written atomically."""

from __future__ import annotations

from pathlib import Path

from avatar_engine.paths import atomic_path

OPSET = 17
IR_VERSION = 8
"""ONNX IR 8 (ONNX 1.13+): what ONNX Runtime and our torch backend read; newer writers default higher."""


def write_model(graph, path: Path) -> None:
    """Wrap `graph` (an onnx GraphProto) in an opset-17 model, check it, and write it to `path` through a
    temporary name and a rename (never a partial file)."""
    import onnx
    from onnx import helper

    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="avatar-engine")
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
