"""Read a TFLite flatbuffer into plain Python records: tensors (with constant data), operators and their options.

Only what the ONNX converter needs: the first subgraph, builtin operators, float32/float16/int32 tensors.
The `tflite` package (pure Python, generated from TFLite's schema) parses the flatbuffer; nothing of it
leaves this module.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from avatar_engine.errors import ModelError

# TFLite TensorType -> numpy dtype, for the types these models use.
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_, 9: np.int8}


@dataclass(frozen=True)
class Tensor:
    """One TFLite tensor."""

    index: int
    name: str
    shape: tuple[int, ...]
    """Static shape as stored (TFLite's batch dimension is 1)."""
    dtype: type
    data: np.ndarray | None
    """The constant value (already reshaped) when the tensor has a buffer, else None."""


@dataclass(frozen=True)
class Operator:
    """One TFLite operator: builtin name (`CONV_2D`), tensor indices (-1 = optional input left out), options."""

    opcode: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)
    """Builtin options by schema field name (`StrideW`, `Padding`, `FusedActivationFunction`, ...)."""


@dataclass(frozen=True)
class Graph:
    """The first subgraph of a TFLite model."""

    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _enum_names(enum_class) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_")}


def _read_options(tflite, op) -> dict:
    """Every scalar or vector field of the operator's builtin options table, by schema name."""
    kind = op.BuiltinOptionsType()
    table = op.BuiltinOptions()
    if kind == 0 or table is None:
        return {}
    name = _enum_names(tflite.BuiltinOptions)[kind]
    options = getattr(tflite, name)()
    options.Init(table.Bytes, table.Pos)
    values = {}
    for attr, fn in inspect.getmembers(type(options), inspect.isfunction):
        if attr.startswith(("Init", "GetRootAs", "_")) or "BufferHasIdentifier" in attr:
            continue
        if attr.endswith(("Length", "IsNone")) or len(inspect.signature(fn).parameters) != 1:
            continue
        values[attr] = getattr(options, attr)()
    return values


def read_tflite(data: bytes, label: str = "model") -> Graph:
    """Parse TFLite flatbuffer bytes; ModelError naming `label` when they are not a readable TFLite model."""
    import tflite  # the converter's own dependency ([infer] extra), imported only when converting

    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{label} is not a TFLite model (no TFL3 identifier)")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
        op_names = _enum_names(tflite.BuiltinOperator)
        tensors = []
        for i in range(graph.TensorsLength()):
            t = graph.Tensors(i)
            dtype = _DTYPES.get(t.Type())
            shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            buffer = model.Buffers(t.Buffer())
            values = None
            if buffer is not None and buffer.DataLength() > 0:
                if dtype is None:
                    raise ModelError(f"{label}: tensor {t.Name().decode()} has unsupported type {t.Type()}")
                values = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype).reshape(shape)
            tensors.append(Tensor(i, t.Name().decode(), shape, dtype, values))
        operators = []
        for k in range(graph.OperatorsLength()):
            op = graph.Operators(k)
            code = model.OperatorCodes(op.OpcodeIndex())
            # Schema v3a moved builtin codes >127 to a new field; the larger of the two is the real one.
            number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = op_names.get(number, str(number))
            if name == "CUSTOM":
                name = "CUSTOM:" + code.CustomCode().decode()
            operators.append(Operator(name, tuple(int(i) for i in op.InputsAsNumpy()),
                                      tuple(int(i) for i in op.OutputsAsNumpy()), _read_options(tflite, op)))
        inputs = tuple(int(i) for i in graph.InputsAsNumpy())
        outputs = tuple(int(i) for i in graph.OutputsAsNumpy())
    except ModelError:
        raise
    except Exception as exc:  # flatbuffers raises assorted errors on damaged bytes
        raise ModelError(f"{label} is not a readable TFLite model ({type(exc).__name__}: {exc})") from None
    return Graph(tuple(tensors), tuple(operators), inputs, outputs)
