"""PyTorch backend: runs an ONNX graph node by node with torch ops, on the CPU or a CUDA device.

A small interpreter instead of a converter package (onnx2torch pulls torchvision, which does not import
beside the CPU torch wheel we pin). It knows the operators our models use (`OPS`); any other operator is
refused when the session is created, naming it, so nothing runs half-supported.

On CUDA, the tensors the ops read as host values (shapes, axes, pads, scales: `HOST_INPUTS`, and every integer
tensor) stay on the CPU, so running a graph never waits for the GPU midway, and each input shape's run is captured
once as a CUDA graph and replayed: one launch instead of one per node, whose Python and launch overhead otherwise
dominates a small model.
"""

from __future__ import annotations

import inspect
import logging
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from avatar_engine.errors import BackendError, ModelError
from avatar_engine.infer.session import InferOptions, Session, load_onnx, onnx_specs

_INT64_MAX = 2**63 - 1
MAX_GRAPHS = 8
"""CUDA graphs kept per session (one per input shape; the oldest is dropped)."""
HOST_INPUTS = {"Reshape": (1,), "Resize": (1, 2, 3), "Slice": (1, 2, 3, 4), "Pad": (1, 2), "Squeeze": (1,),
               "Unsqueeze": (1,), "Expand": (1,), "ReduceSum": (1,)}
"""Inputs the ops read as host values (`tolist()`): their initializers stay on the CPU, as integer ones do."""
log = logging.getLogger(__name__)


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pairs(pads: list[int]) -> tuple[list[int], bool]:
    """ONNX 2-D pads [top, left, bottom, right] -> (F.pad order [left, right, top, bottom], symmetric?)."""
    t, l, b, r = pads
    return [l, r, t, b], (t == b and l == r)


SUPPORTED_ATTRIBUTES = {
    "Conv": {"pads", "strides", "dilations", "group", "kernel_shape", "auto_pad"},
    "MaxPool": {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "dilations", "storage_order"},
    "AveragePool": {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad"},
    "Resize": {"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside",
               "antialias"},
}
"""Attributes the ops that take any keyword (`**_`) read; the other ops' functions name theirs, and an attribute
outside their signature is refused the same way (ReduceSum's noop_with_empty_axes was a TypeError at run time)."""
ZERO_ONLY = {"MaxPool": ("ceil_mode", "storage_order"), "AveragePool": ("ceil_mode",),
             "Resize": ("exclude_outside", "antialias")}
"""Attributes these ops run only at their default 0 (a ceil-mode pool gave another shape than ONNX Runtime's, an
antialiased Resize other values)."""


def unsupported_attributes(op: str, attrs: dict, fn: Callable | None = None) -> str | None:
    """Why `op` with `attrs` cannot run here (an attribute the op would otherwise ignore: a SAME auto_pad, a
    ceil-mode or dilated pool gave outputs of another shape than ONNX Runtime's), or None. `fn`: the op's function,
    whose keyword parameters are the attributes it reads when it takes no `**` catch-all."""
    if op not in SUPPORTED_ATTRIBUTES:
        if fn is None or not attrs:
            return None
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):  # a builtin without a signature (torch.add): it takes no attributes
            return f"{op} attributes {', '.join(sorted(attrs))}"
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return None
        unknown = sorted(set(attrs) - set(params))
        return f"{op} attributes {', '.join(unknown)}" if unknown else None
    unknown = sorted(set(attrs) - SUPPORTED_ATTRIBUTES[op])
    if unknown:
        return f"{op} attributes {', '.join(unknown)}"
    if any(attrs.get(name, 0) for name in ZERO_ONLY.get(op, ())):
        return f"{op} with {' or '.join(ZERO_ONLY[op])} set"
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "VALID"):
        return f"{op} with auto_pad {auto_pad}"
    if op == "MaxPool" and any(d != 1 for d in attrs.get("dilations", ())):
        return "MaxPool with dilations"
    return None


def _conv(F, x, w, b=None, *, pads=(0, 0, 0, 0), strides=(1, 1), dilations=(1, 1), group=1, **_):
    fpad, symmetric = _pairs(list(pads))
    if symmetric:
        return F.conv2d(x, w, b, tuple(strides), (pads[0], pads[1]), tuple(dilations), group)
    return F.conv2d(F.pad(x, fpad), w, b, tuple(strides), 0, tuple(dilations), group)


def _max_pool(F, x, *, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), **_):
    fpad, _sym = _pairs(list(pads))
    if any(fpad):
        x = F.pad(x, fpad, value=float("-inf"))  # padding never wins a max, as in ONNX
    return F.max_pool2d(x, tuple(kernel_shape), tuple(strides))


def _avg_pool(F, x, *, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), count_include_pad=0, **_):
    fpad, symmetric = _pairs(list(pads))
    if not symmetric:
        raise ModelError("AveragePool with asymmetric padding is not supported by the torch backend")
    return F.avg_pool2d(x, tuple(kernel_shape), tuple(strides), (pads[0], pads[1]),
                        count_include_pad=bool(count_include_pad))


def _resize(torch, F, x, roi=None, scales=None, sizes=None, *, mode=b"nearest",
            coordinate_transformation_mode=b"half_pixel", nearest_mode=b"round_prefer_floor", **_):
    """ONNX Resize on the two spatial axes of an NCHW tensor: nearest (asymmetric, floor: what an integer
    upsampling writes) or linear (half_pixel / pytorch_half_pixel / align_corners)."""
    mode, ctm, nearest = (v.decode() if isinstance(v, bytes) else v
                          for v in (mode, coordinate_transformation_mode, nearest_mode))
    if x.dim() != 4:
        raise ModelError(f"Resize of a rank-{x.dim()} tensor is not supported by the torch backend (NCHW only)")
    if sizes is not None and sizes.numel():
        out = [int(v) for v in sizes.tolist()]
    elif scales is not None and scales.numel():
        out = [int(np.floor(d * float(s))) for d, s in zip(x.shape, scales.tolist())]
    else:
        raise ModelError("Resize without scales or sizes is not supported by the torch backend")
    if out[:2] != list(x.shape[:2]):
        raise ModelError("Resize of the batch or channel axis is not supported by the torch backend")
    if mode == "nearest" and ctm == "asymmetric" and nearest == "floor":
        return F.interpolate(x, size=out[2:], mode="nearest")
    if mode == "linear" and ctm in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return F.interpolate(x, size=out[2:], mode="bilinear", align_corners=ctm == "align_corners")
    raise ModelError(f"Resize mode {mode} with coordinate_transformation_mode {ctm} (nearest_mode {nearest}) is "
                     "not supported by the torch backend")


def _slice(torch, x, starts, ends, axes=None, steps=None):
    axes = range(x.dim()) if axes is None else axes.tolist()
    steps = [1] * len(starts) if steps is None else steps.tolist()
    index = [slice(None)] * x.dim()
    for s, e, a, st in zip(starts.tolist(), ends.tolist(), axes, steps):
        if st <= 0:
            raise ModelError("Slice with a non-positive step is not supported by the torch backend")
        index[a] = slice(s, None if e >= _INT64_MAX else e, st)
    return x[tuple(index)]


def _reshape(torch, x, shape):
    dims = [x.shape[i] if d == 0 else d for i, d in enumerate(shape.tolist())]
    return x.reshape(dims)


def _gemm(torch, a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    y = alpha * (a.T if transA else a) @ (b.T if transB else b)
    return y if c is None else y + beta * c


def _ops(torch) -> dict[str, Callable]:
    """ONNX op type -> fn(*inputs, **attributes)."""
    F = torch.nn.functional
    return {
        "Conv": lambda *a, **k: _conv(F, *a, **k),
        "MaxPool": lambda x, **k: _max_pool(F, x, **k),
        "AveragePool": lambda x, **k: _avg_pool(F, x, **k),
        "Pad": lambda x, pads, value=None, mode=b"constant": _pad(F, x, pads, value, mode),
        "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div,
        "Max": torch.maximum, "Min": torch.minimum, "MatMul": torch.matmul,
        "PRelu": lambda x, slope: _prelu(torch, F, x, slope),
        "Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Neg": torch.neg, "Sqrt": torch.sqrt,
        "Reciprocal": torch.reciprocal, "Exp": torch.exp, "Abs": torch.abs,
        "Clip": lambda x, lo=None, hi=None: torch.clamp(x, lo, hi),
        "Identity": lambda x: x,
        "Transpose": lambda x, perm=None: x.permute(*(perm if perm is not None else range(x.dim() - 1, -1, -1))),
        "Reshape": lambda x, shape, allowzero=0: _reshape(torch, x, shape),
        "Flatten": lambda x, axis=1: x.reshape(int(np.prod(x.shape[:axis])), -1),
        "Concat": lambda *xs, axis: torch.cat(xs, dim=axis),
        # opset 17: ReduceMean takes axes as an attribute (a list), ReduceSum as an input (a tensor)
        "ReduceMean": lambda x, axes=None, keepdims=1: torch.mean(
            x, dim=tuple(axes) if axes is not None else None, keepdim=bool(keepdims)),
        "ReduceSum": lambda x, axes=None, keepdims=1: torch.sum(
            x, dim=tuple(axes.tolist()) if axes is not None else None, keepdim=bool(keepdims)),
        "Slice": lambda x, *args: _slice(torch, x, *args),
        "Squeeze": lambda x, axes=None: x.squeeze(tuple(axes.tolist())) if axes is not None else x.squeeze(),
        "Unsqueeze": lambda x, axes: _unsqueeze(x, axes.tolist()),
        "Shape": lambda x, start=0, end=None: torch.tensor(x.shape[start:end], dtype=torch.int64),  # on the CPU
        "Expand": lambda x, shape: x.expand(torch.broadcast_shapes(x.shape, tuple(shape.tolist()))),
        "Cast": lambda x, to: x.to(_torch_dtype(torch, to)),
        "Gemm": lambda *a, **k: _gemm(torch, *a, **k),
        "Softmax": lambda x, axis=-1: torch.softmax(x, dim=axis),
        "Resize": lambda x, *a, **k: _resize(torch, F, x, *a, **k),
    }


def _prelu(torch, F, x, slope):
    # torch's own PRelu kernel (one slope per channel of dimension 1) is ~3x faster than where(x >= 0, ...)
    if x.dim() >= 2 and slope.numel() == x.shape[1] and slope.dim() <= x.dim() and \
            all(d == 1 for i, d in enumerate(slope.shape) if i != slope.dim() - x.dim() + 1):
        return F.prelu(x, slope.reshape(-1))
    return torch.where(x >= 0, x, x * slope)


def _pad(F, x, pads, value, mode):
    if mode not in (b"constant", "constant"):
        raise ModelError(f"Pad mode {mode!r} is not supported by the torch backend")
    return F.pad(x, _pad_order(pads.tolist(), x.dim()), value=0.0 if value is None else float(value))


def _pad_order(pads: list[int], rank: int) -> list[int]:
    """ONNX pads [b0..bn, e0..en] -> F.pad's [b_last, e_last, ..., b0, e0]."""
    out = []
    for axis in range(rank - 1, -1, -1):
        out += [pads[axis], pads[axis + rank]]
    return out


def _unsqueeze(x, axes: list[int]):
    for a in sorted(a % (x.dim() + len(axes)) for a in axes):
        x = x.unsqueeze(a)
    return x


def _torch_dtype(torch, onnx_type: int):
    table = {1: torch.float32, 6: torch.int32, 7: torch.int64, 10: torch.float16, 9: torch.bool, 11: torch.float64}
    if onnx_type not in table:
        raise ModelError(f"Cast to ONNX type {onnx_type} is not supported by the torch backend")
    return table[onnx_type]


def _host(outputs: dict) -> dict[str, np.ndarray]:
    """Output tensors -> float32 numpy arrays of their own (a replayed graph's buffers are reused by its next run)."""
    return {n: y.float().cpu().numpy() for n, y in outputs.items()}


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


class TorchSession(Session):
    backend = "torch"

    def __init__(self, path: Path, options: InferOptions, hint: str):
        try:
            import torch
        except ImportError as exc:
            raise BackendError(f"the torch backend needs torch ({exc}); pip install 'avatar-engine[infer]'") from None
        from onnx import numpy_helper

        model = load_onnx(path, hint)
        self.name = Path(path).stem
        self._hint = hint
        self.inputs, self.outputs = onnx_specs(model)
        if options.device == "cuda" and not torch.cuda.is_available():
            raise BackendError("device cuda asked for, but torch sees no CUDA device")
        self.device = "cuda" if options.device != "cpu" and torch.cuda.is_available() else "cpu"
        self._torch = torch
        if options.threads:
            torch.set_num_threads(options.threads)
        ops = _ops(torch)
        missing = sorted({n.op_type for n in model.graph.node
                          if n.op_type not in ops or n.domain not in ("", "ai.onnx")})
        if missing:
            raise ModelError(f"{self.name}: the torch backend does not support ONNX operators {', '.join(missing)}; "
                             "use --backend onnxruntime")
        odd = sorted({why for n in model.graph.node
                      if (why := unsupported_attributes(n.op_type, _attrs(n), ops[n.op_type]))})
        if odd:  # refused here, where `auto` falls back, rather than run with the attribute ignored
            raise ModelError(f"{self.name}: the torch backend does not support {'; '.join(odd)}; "
                             "use --backend onnxruntime")
        device = torch.device(self.device)
        arrays = {i.name: numpy_helper.to_array(i).copy() for i in model.graph.initializer}
        # (integer tensors never meet float ones on the device in our models: a model doing Shape -> Cast -> Mul
        # would fail here with "Expected all tensors on the same device", named by `_forward`)
        host = {n.input[i] for n in model.graph.node for i in HOST_INPUTS.get(n.op_type, ()) if i < len(n.input)}
        self._weights = {n: torch.from_numpy(a).to(device if a.dtype.kind == "f" and n not in host else "cpu")
                         for n, a in arrays.items()}
        self._nodes = [(ops[n.op_type], list(n.input), list(n.output), _attrs(n)) for n in model.graph.node]
        self._output_names = [o.name for o in self.outputs]
        self._graphs: dict[tuple, tuple] = {}
        """CUDA: (input names, shapes) -> (torch.cuda.CUDAGraph, its input tensors, its output tensors)."""
        self._graphs_failed = not options.cuda_graphs
        self._replay_lock = threading.Lock()

    def _forward(self, inputs: dict) -> dict:
        """The graph on tensors already on the device -> {output name: tensor}."""
        env = dict(self._weights)
        env.update(inputs)
        for fn, names, outputs, attrs in self._nodes:
            args = [env[i] if i else None for i in names]
            try:
                env[outputs[0]] = fn(*args, **attrs)
            except (RuntimeError, TypeError, ValueError, IndexError) as exc:
                # the feeds were checked against the model's inputs: what fails now is the model (a Reshape its
                # own shapes cannot meet), not the caller
                raise ModelError(f"{self.name}: the torch backend failed running it ({str(exc).splitlines()[0][:160]}); "
                                 f"{self._hint}") from None
        return {n: env[n] for n in self._output_names}

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            if self.device == "cuda" and not self._graphs_failed:
                with self._replay_lock:  # a graph's inputs and outputs are one buffer each, shared by all callers
                    return _host(self._replayed(feeds))
            return _host(self._forward({n: torch.from_numpy(x).to(self.device) for n, x in feeds.items()}))

    def _replayed(self, feeds: dict[str, np.ndarray]) -> dict:
        """Outputs of the CUDA graph captured for these input shapes (captured at the first run of each)."""
        torch = self._torch
        key = tuple((n, x.shape) for n, x in sorted(feeds.items()))
        if key not in self._graphs:
            static = {n: torch.from_numpy(x).to("cuda") for n, x in feeds.items()}
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # the first run picks cuDNN's algorithms and allocates outside capture
                outputs = self._forward(static)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # other threads may run
                    captured = self._forward(static)
            except (RuntimeError, ModelError) as exc:  # an op that cannot be captured: node by node from now on
                log.warning("%s: CUDA graph capture failed (%s); running node by node", self.name,
                            str(exc).splitlines()[0][:160])
                self._graphs_failed = True
                return outputs
            if len(self._graphs) >= MAX_GRAPHS:
                self._graphs.pop(next(iter(self._graphs)))  # the least recently used: each use moves to the end
            self._graphs[key] = (graph, static, captured)
        graph, static, captured = self._graphs[key] = self._graphs.pop(key)
        for n, x in feeds.items():
            static[n].copy_(torch.from_numpy(x))
        graph.replay()
        return captured

    def _release(self) -> None:
        self._weights, self._nodes, self._graphs = {}, [], {}
