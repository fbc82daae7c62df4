"""A graph rewrite for ONNX Runtime's CPU provider: per-channel PRelu as depthwise 1x1 convolutions.

ONNX Runtime's CPU PRelu broadcasts its (1, C, 1, 1) slope through a generic element-wise loop, and its blocked
(NCHWc) convolution layout has no PRelu, so every PRelu also converts the tensor out of that layout and back.
In MediaPipe's landmark model (69 PRelus after 106 convolutions) that was 12 of 17 ms a frame. Written as

    prelu(x) = x + (1 - a) * relu(-x)  =  Add(x, Conv_dw[1 - a](Relu(Conv_dw[-1](x))))

every op stays in the blocked layout (the first convolution and the Relu fuse, the Add fuses into the second
convolution): the landmark model runs in ~6.8 ms on one thread, same values to float rounding (~1e-6 relative).
Only the CPU provider gets this graph; the file on disk and the other backends keep the plain PRelu.
"""

from __future__ import annotations

import numpy as np


def prelu_as_depthwise(model):
    """A copy of `model` (onnx.ModelProto) whose PRelus with a constant per-channel slope on 4-D NCHW inputs are
    depthwise convolutions; any other PRelu is left as it is."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    constants = {t.name: t for t in graph.initializer}
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in (*inferred.graph.value_info, *inferred.graph.input) if v.type.tensor_type.HasField("shape")}
    nodes = []
    for k, node in enumerate(graph.node):
        slope = constants.get(node.input[1]) if node.op_type == "PRelu" else None
        a = numpy_helper.to_array(slope) if slope is not None else None
        x_shape = shapes.get(node.input[0], [])
        if a is None or len(x_shape) != 4 or a.ndim not in (3, 4) or a.shape[-2:] != (1, 1) \
                or (a.ndim == 4 and a.shape[0] != 1) or x_shape[1] != a.size:
            nodes.append(node)
            continue
        a = a.reshape(-1).astype(np.float32)
        x, y, channels = node.input[0], node.output[0], len(a)
        negate = numpy_helper.from_array(np.full((channels, 1, 1, 1), -1.0, np.float32), f"{y}__negate")
        scale = numpy_helper.from_array((1.0 - a).reshape(channels, 1, 1, 1), f"{y}__scale")
        graph.initializer.extend([negate, scale])
        nodes += [helper.make_node("Conv", [x, negate.name], [f"{y}__neg"], group=channels, kernel_shape=[1, 1]),
                  helper.make_node("Relu", [f"{y}__neg"], [f"{y}__relu"]),
                  helper.make_node("Conv", [f"{y}__relu", scale.name], [f"{y}__scaled"], group=channels,
                                   kernel_shape=[1, 1]),
                  helper.make_node("Add", [x, f"{y}__scaled"], [y])]
    del graph.node[:]
    graph.node.extend(nodes)
    return model
