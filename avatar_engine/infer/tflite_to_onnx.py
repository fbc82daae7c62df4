"""Convert a float TFLite graph (standard ops, fp16 weights) to an ONNX model (opset 17) with onnx.helper.

Enough of TFLite for MediaPipe's face detector, 478-point landmark model and blend-shape model; any other
operator is refused with a ModelError naming it. No TensorFlow is involved.

Layout: TFLite is NHWC, ONNX convolutions are NCHW. Each 4-D value lives in one layout ("native" = as in
TFLite, or "nchw"); convolutions and pools want nchw, element-wise ops and pads follow their inputs, and
everything else (reshape, transpose, reductions, slices, graph outputs) wants native, so a Transpose is
emitted only where a chain of image ops meets the rest. A 1x1 convolution on a native value (the
blend-shape model's token mixing) becomes a MatMul and needs no transposes at all.

Batch: dimension 0 of the input is made dynamic (`batch`). Reshapes copy it, constants concatenated with
batched values are expanded to it, and a slice that drops it (`[52]` from `[1, 52]`) keeps it, so every
output has the batch as dimension 0.

Weights: DEQUANTIZE of a constant is folded, so the ONNX file holds the same fp32 values that TFLite
computes with (fp16 -> fp32 is exact).
"""

from __future__ import annotations

import numpy as np

from avatar_engine.errors import ModelError
from avatar_engine.infer.tflite_reader import Graph, Operator, read_tflite

OPSET = 17
TO_NCHW, TO_NATIVE = (0, 3, 1, 2), (0, 2, 3, 1)
_AXIS_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}  # NHWC axis -> NCHW axis
_BINARY = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "DIV": "Div", "MAXIMUM": "Max", "MINIMUM": "Min",
           "SQUARED_DIFFERENCE": None, "PRELU": "PRelu"}
_UNARY = {"RELU": "Relu", "LOGISTIC": "Sigmoid", "NEG": "Neg", "SQRT": "Sqrt", "TANH": "Tanh", "EXP": "Exp",
          "ABS": "Abs", "RSQRT": None, "RELU6": None}


class _Converter:
    """One conversion: walks the TFLite operators in order and emits ONNX nodes."""

    def __init__(self, graph: Graph, label: str):
        from onnx import helper

        self.helper = helper
        self.graph, self.label = graph, label
        self.nodes: list = []
        self.initializers: dict[str, np.ndarray] = {}
        self.consts: dict[int, np.ndarray] = {t.index: t.data for t in graph.tensors if t.data is not None}
        self.values: dict[tuple[int, str], str] = {}  # (tensor index, layout) -> ONNX value name
        self.layout: dict[int, str] = {}  # where the tensor was produced
        self.batch_shape: str | None = None  # ONNX value holding [batch]

    # -- emitting

    def node(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op_type, inputs, [name], name=f"n{len(self.nodes)}_{op_type}",
                                                **attrs))
        return name

    def constant(self, array: np.ndarray, hint: str) -> str:
        name = f"c{len(self.initializers)}_{hint}"
        self.initializers[name] = np.ascontiguousarray(array)
        return name

    def fresh(self, hint: str) -> str:
        return f"v{len(self.nodes)}_{hint}"

    def shape(self, index: int) -> tuple[int, ...]:
        return self.graph.tensors[index].shape

    def get(self, index: int, layout: str) -> str:
        """ONNX name of tensor `index` in `layout` ("native" or "nchw"), transposing once when needed."""
        if (index, layout) in self.values:
            return self.values[(index, layout)]
        if index in self.consts:
            array = self.consts[index].astype(np.float32) if self.consts[index].dtype == np.float16 \
                else self.consts[index]
            if layout == "nchw":
                array = array.transpose(TO_NCHW)
            name = self.constant(array, f"t{index}")
        else:
            have = self.layout.get(index)
            if have is None:
                raise ModelError(f"{self.label}: tensor {index} is used before it is produced")
            perm = TO_NCHW if layout == "nchw" else TO_NATIVE
            name = self.node("Transpose", [self.values[(index, have)]], f"t{index}_{layout}", perm=list(perm))
        self.values[(index, layout)] = name
        return name

    def set(self, index: int, name: str, layout: str) -> None:
        self.values[(index, layout)] = name
        self.layout[index] = layout

    def activation(self, name: str, code: int) -> str:
        """Apply a TFLite fused activation (0 none, 1 relu, 2 relu_n1_to_1, 3 relu6, 4 tanh)."""
        if code == 0:
            return name
        if code == 1:
            return self.node("Relu", [name], name + "_relu")
        if code in (2, 3):
            lo, hi = (-1.0, 1.0) if code == 2 else (0.0, 6.0)
            return self.node("Clip", [name, self.constant(np.float32(lo), "lo"), self.constant(np.float32(hi), "hi")],
                             name + "_clip")
        if code == 4:
            return self.node("Tanh", [name], name + "_tanh")
        raise ModelError(f"{self.label}: unsupported fused activation {code}")

    def batch(self, like: str) -> str:
        """ONNX value [batch] (int64), taken once from the shape of value `like`."""
        if self.batch_shape is None:
            self.batch_shape = self.node("Shape", [like], "batch_dim", start=0, end=1)
        return self.batch_shape

    # -- padding helper

    @staticmethod
    def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
        """TensorFlow's SAME padding (extra pixel at the end) for one spatial axis."""
        out = -(-size // stride)
        total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        return total // 2, total - total // 2

    def spatial_pads(self, op: Operator, in_shape, kernel, strides, dilations) -> list[int]:
        if op.options.get("Padding", 1) == 1:  # VALID
            return [0, 0, 0, 0]
        (t, b), (l, r) = (self.same_pads(in_shape[1 + a], kernel[a], strides[a], dilations[a]) for a in (0, 1))
        return [t, l, b, r]

    # -- operators

    def convert(self, op: Operator) -> None:
        kind = op.opcode
        handler = getattr(self, "op_" + kind.lower(), None)
        if handler is not None:
            handler(op)
        elif kind in _BINARY:
            self.binary(op)
        elif kind in _UNARY:
            self.unary(op)
        else:
            raise ModelError(f"{self.label}: TFLite operator {kind} is not supported by the ONNX converter")

    def op_dequantize(self, op: Operator) -> None:
        src, dst = op.inputs[0], op.outputs[0]
        if self.graph.tensors[src].dtype is not np.float16:  # int8/uint8 need scale and zero point
            raise ModelError(f"{self.label}: quantized (integer) tensors are not supported; only fp16 weights")
        if src in self.consts:
            self.consts[dst] = self.consts[src].astype(np.float32)
        else:
            layout = self.layout[src]
            self.set(dst, self.node("Cast", [self.get(src, layout)], f"t{dst}", to=1), layout)

    def op_conv_2d(self, op: Operator, depthwise: bool = False) -> None:
        x, w_index = op.inputs[0], op.inputs[1]
        if w_index not in self.consts:
            raise ModelError(f"{self.label}: convolution with non-constant weights")
        w = self.consts[w_index].astype(np.float32)  # conv: (O, kh, kw, I); depthwise: (1, kh, kw, C*m)
        bias = self.consts.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        o = op.options
        strides = (o.get("StrideH", 1), o.get("StrideW", 1))
        dilations = (o.get("DilationHFactor", 1), o.get("DilationWFactor", 1))
        in_shape = self.shape(x)
        pointwise = not depthwise and w.shape[1:3] == (1, 1) and strides == (1, 1)
        if pointwise and self.layout.get(x, "native") == "native":
            # 1x1 conv = matmul over the channel axis; stays in NHWC.
            y = self.node("MatMul", [self.get(x, "native"), self.constant(w[:, 0, 0, :].T, "w")], self.fresh("mm"))
            if bias is not None:
                y = self.node("Add", [y, self.constant(bias.astype(np.float32), "b")], self.fresh("bias"))
            self.set(op.outputs[0], self.activation(y, o.get("FusedActivationFunction", 0)), "native")
            return
        if depthwise:
            weight, group = w.transpose(3, 0, 1, 2), in_shape[3]  # (C*m, 1, kh, kw)
        else:
            weight, group = w.transpose(0, 3, 1, 2), 1  # (O, I, kh, kw)
        inputs = [self.get(x, "nchw"), self.constant(weight, "w")]
        if bias is not None:
            inputs.append(self.constant(bias.astype(np.float32), "b"))
        pads = self.spatial_pads(op, in_shape, weight.shape[2:], strides, dilations)
        y = self.node("Conv", inputs, self.fresh("conv"), kernel_shape=list(weight.shape[2:]), strides=list(strides),
                      dilations=list(dilations), pads=pads, group=group)
        self.set(op.outputs[0], self.activation(y, o.get("FusedActivationFunction", 0)), "nchw")

    def op_depthwise_conv_2d(self, op: Operator) -> None:
        self.op_conv_2d(op, depthwise=True)

    def op_max_pool_2d(self, op: Operator, onnx_op: str = "MaxPool") -> None:
        o = op.options
        kernel, strides = (o["FilterHeight"], o["FilterWidth"]), (o["StrideH"], o["StrideW"])
        pads = self.spatial_pads(op, self.shape(op.inputs[0]), kernel, strides, (1, 1))
        extra = {"count_include_pad": 0} if onnx_op == "AveragePool" else {}
        y = self.node(onnx_op, [self.get(op.inputs[0], "nchw")], self.fresh("pool"), kernel_shape=list(kernel),
                      strides=list(strides), pads=pads, **extra)
        self.set(op.outputs[0], self.activation(y, o.get("FusedActivationFunction", 0)), "nchw")

    def op_average_pool_2d(self, op: Operator) -> None:
        self.op_max_pool_2d(op, "AveragePool")

    def op_pad(self, op: Operator) -> None:
        x = op.inputs[0]
        pads = np.asarray(self.consts[op.inputs[1]], dtype=np.int64)  # (rank, 2), native axis order
        layout = self.layout.get(x, "native")
        if layout == "nchw":
            pads = pads[list(TO_NCHW)]
        y = self.node("Pad", [self.get(x, layout), self.constant(np.concatenate([pads[:, 0], pads[:, 1]]), "pads")],
                      self.fresh("pad"), mode="constant")
        self.set(op.outputs[0], y, layout)

    def _common_layout(self, indices) -> str:
        """nchw when a produced input is nchw and every input can follow it (4-D, or a constant)."""
        produced = [i for i in indices if i not in self.consts]
        if not any(self.layout.get(i) == "nchw" for i in produced):
            return "native"
        if all(len(self.shape(i)) == 4 for i in produced):
            return "nchw"
        return "native"

    def operand(self, index: int, layout: str) -> str:
        """Input `index` in `layout`; a constant of lower rank is broadcast to 4-D first (NHWC rules)."""
        if layout == "nchw" and index in self.consts and self.consts[index].ndim < 4:
            c = self.consts[index].astype(np.float32)
            c = c.reshape((1,) * (4 - c.ndim) + c.shape).transpose(TO_NCHW)
            return self.constant(c, f"t{index}")
        return self.get(index, layout)

    def binary(self, op: Operator) -> None:
        a, b = op.inputs[:2]
        layout = self._common_layout([a, b])
        x, y = self.operand(a, layout), self.operand(b, layout)
        if op.opcode == "SQUARED_DIFFERENCE":
            d = self.node("Sub", [x, y], self.fresh("sub"))
            out = self.node("Mul", [d, d], self.fresh("sqd"))
        else:
            out = self.node(_BINARY[op.opcode], [x, y], self.fresh(op.opcode.lower()))
        self.set(op.outputs[0], self.activation(out, op.options.get("FusedActivationFunction", 0)), layout)

    def unary(self, op: Operator) -> None:
        x = op.inputs[0]
        layout = self.layout.get(x, "native")
        v = self.get(x, layout)
        if op.opcode == "RSQRT":
            out = self.node("Reciprocal", [self.node("Sqrt", [v], self.fresh("sqrt"))], self.fresh("rsqrt"))
        elif op.opcode == "RELU6":
            out = self.activation(v, 3)
        else:
            out = self.node(_UNARY[op.opcode], [v], self.fresh(op.opcode.lower()))
        self.set(op.outputs[0], out, layout)

    def op_concatenation(self, op: Operator) -> None:
        axis = op.options.get("Axis", 0)
        rank = len(self.shape(op.outputs[0]))
        axis = axis % rank
        if axis == 0:
            raise ModelError(f"{self.label}: concatenation along the batch axis is not supported")
        if all(i in self.consts for i in op.inputs):  # constant folding
            self.consts[op.outputs[0]] = np.concatenate([self.consts[i] for i in op.inputs], axis=axis)
            return
        layout = self._common_layout(op.inputs)
        batched = next(i for i in op.inputs if i not in self.consts)
        names = []
        for i in op.inputs:
            name = self.get(i, layout)
            if i in self.consts:  # a constant with batch 1 beside batched values: expand it to the batch
                shape = self.consts[i].shape if layout == "native" else self.consts[i].transpose(TO_NCHW).shape
                full = self.node("Concat", [self.batch(self.get(batched, layout)),
                                            self.constant(np.asarray(shape[1:], np.int64), "shape")],
                                 self.fresh("shape"), axis=0)
                name = self.node("Expand", [name, full], self.fresh("expand"))
            names.append(name)
        out_axis = _AXIS_TO_NCHW[axis] if layout == "nchw" else axis
        y = self.node("Concat", names, self.fresh("concat"), axis=out_axis)
        self.set(op.outputs[0], self.activation(y, op.options.get("FusedActivationFunction", 0)), layout)

    def op_reshape(self, op: Operator) -> None:
        x = op.inputs[0]
        target = list(self.shape(op.outputs[0]))
        if target and target[0] == 1 and self.shape(x)[:1] == (1,):
            target[0] = 0  # ONNX: copy dimension 0 (the batch) from the input
        y = self.node("Reshape", [self.get(x, "native"), self.constant(np.asarray(target, np.int64), "shape")],
                      self.fresh("reshape"))
        self.set(op.outputs[0], y, "native")

    def op_transpose(self, op: Operator) -> None:
        perm = [int(p) for p in self.consts[op.inputs[1]]]
        if perm[0] != 0:
            raise ModelError(f"{self.label}: transpose that moves the batch axis is not supported")
        y = self.node("Transpose", [self.get(op.inputs[0], "native")], self.fresh("transpose"), perm=perm)
        self.set(op.outputs[0], y, "native")

    def _reduce(self, op: Operator, onnx_op: str) -> None:
        rank = len(self.shape(op.inputs[0]))
        axes = sorted({int(a) % rank for a in np.atleast_1d(self.consts[op.inputs[1]])})
        if 0 in axes:
            raise ModelError(f"{self.label}: reduction over the batch axis is not supported")
        keep = int(bool(op.options.get("KeepDims", False)))
        x = self.get(op.inputs[0], "native")
        if onnx_op == "ReduceMean":  # opset 17: axes is an attribute
            y = self.node(onnx_op, [x], self.fresh("mean"), axes=axes, keepdims=keep)
        else:
            y = self.node(onnx_op, [x, self.constant(np.asarray(axes, np.int64), "axes")], self.fresh("sum"),
                          keepdims=keep)
        self.set(op.outputs[0], y, "native")

    def op_mean(self, op: Operator) -> None:
        self._reduce(op, "ReduceMean")

    def op_sum(self, op: Operator) -> None:
        self._reduce(op, "ReduceSum")

    def op_strided_slice(self, op: Operator) -> None:
        o = op.options
        if o.get("EllipsisMask", 0) or o.get("NewAxisMask", 0) or o.get("Offset", False):
            raise ModelError(f"{self.label}: strided slice with ellipsis/new-axis/offset is not supported")
        shape = self.shape(op.inputs[0])
        begin, end, stride = (np.asarray(self.consts[i], np.int64) for i in op.inputs[1:4])
        starts, ends, axes, steps, squeeze = [], [], [], [], []
        for axis, size in enumerate(shape):
            b = 0 if o.get("BeginMask", 0) >> axis & 1 else int(begin[axis])
            e = size if o.get("EndMask", 0) >> axis & 1 else int(end[axis])
            shrink = o.get("ShrinkAxisMask", 0) >> axis & 1
            if shrink:
                if b < 0 and size > 0:  # x[..., -1, ...]: from the end, or [-1, 0) would be empty
                    b += size
                e = b + 1
            if axis == 0:  # the batch: TFLite's [0:1] of batch 1 means "all of it", and it is never dropped
                if (b, e, int(stride[0])) != (0, 1, 1):
                    raise ModelError(f"{self.label}: strided slice over the batch axis is not supported")
                continue
            if (b, e, int(stride[axis])) != (0, size, 1):
                starts.append(b), ends.append(e), axes.append(axis), steps.append(int(stride[axis]))
            if shrink:
                squeeze.append(axis)
        y = self.get(op.inputs[0], "native")
        if axes:
            y = self.node("Slice", [y] + [self.constant(np.asarray(v, np.int64), n) for v, n in
                                          ((starts, "starts"), (ends, "ends"), (axes, "axes"), (steps, "steps"))],
                          self.fresh("slice"))
        if squeeze:
            y = self.node("Squeeze", [y, self.constant(np.asarray(squeeze, np.int64), "axes")], self.fresh("squeeze"))
        if not axes and not squeeze:
            y = self.node("Identity", [y], self.fresh("identity"))
        self.set(op.outputs[0], y, "native")

    # -- the model

    def build(self, doc: str, metadata: dict[str, str]):
        from onnx import TensorProto, numpy_helper

        g, h = self.graph, self.helper
        inputs = []
        for i in g.inputs:
            t = g.tensors[i]
            if t.dtype is not np.float32:
                raise ModelError(f"{self.label}: input {t.name} is not float32")
            inputs.append(h.make_tensor_value_info(t.name, TensorProto.FLOAT, ["batch", *t.shape[1:]]))
            self.set(i, t.name, "native")
        for op in g.operators:
            self.convert(op)
        outputs = []
        for i in g.outputs:
            name = g.tensors[i].name
            self.node("Identity", [self.get(i, "native")], name)
            outputs.append(h.make_tensor_value_info(name, TensorProto.FLOAT, None))
        initializers = [numpy_helper.from_array(a, n) for n, a in self.initializers.items()]
        graph = h.make_graph(self.nodes, self.label, inputs, outputs, initializers, doc_string=doc)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)],
                             producer_name="avatar-engine tflite_to_onnx")
        model.ir_version = 8  # the IR of opset 17: readable by every runtime that reads opset 17
        h.set_model_props(model, metadata)
        return model


def convert_tflite(data: bytes, label: str, *, doc: str = "", metadata: dict[str, str] | None = None):
    """TFLite flatbuffer bytes -> checked `onnx.ModelProto` (opset 17, dynamic batch as dimension 0).

    Raises ModelError (naming `label`) for unreadable bytes or an operator the converter does not know."""
    import onnx

    converter = _Converter(read_tflite(data, label), label)
    model = converter.build(doc, metadata or {})
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for output in model.graph.output:  # name the batch where inference lost it (after Expand)
        dims = output.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
    onnx.checker.check_model(model, full_check=True)
    return model
