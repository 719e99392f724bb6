"""Keras HDF5 ("Functional" models) to ONNX: the layer walk both Keras models share.

The file's `model_config` (JSON) lists the layers with their inbound layers;
`model_weights/<layer>/<layer>/<name>:0` holds the arrays. `convert_layers` walks the layers
in order and emits one ONNX node (or a few) per layer, NHWC -> NCHW:
  - Conv2D: kernel HWIO -> OIHW; "same" padding is TensorFlow's (extra row/column at the
    end), which is ONNX's SAME_UPPER. DepthwiseConv2D: a grouped Conv, kernel HW(C)(M) ->
    (C*M)1HW, TensorFlow's channel order c*M + m.
  - BatchNormalization right after a Conv2D, DepthwiseConv2D or Dense (all of them in both
    models) is folded into its weights and bias, as the frozen inference graph computes it.
  - Dense: Gemm, then its fused activation (relu, softmax) if any.
  - ReLU with max_value (MobileNet's ReLU6) is a Clip; ZeroPadding2D a Pad, or the padding
    of the "valid" convolution that alone reads it.
  - Lambda layers are Keras' residual scaling (`x * scale`, the scale in `arguments`).
  - Flatten goes back to NHWC order first, so that a Dense after it sees Keras' order.
  - Dropout is the identity at inference.
Anything else raises FormatError rather than converting it wrongly."""
from __future__ import annotations

import json

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class FormatError(ValueError):
    """The file holds a layer or a setting this converter does not know."""


class Graph:
    def __init__(self, weights: h5py.Group):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def arrays(self, layer: str) -> dict[str, np.ndarray]:
        group = self.weights[layer][layer]
        return {key.split(":")[0]: np.asarray(group[key], np.float32) for key in group}

    def const(self, name: str, value, dtype=np.float32) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output


def model_config(h5: h5py.File) -> dict:
    return json.loads(h5.attrs["model_config"])["config"]


def input_size(layers: list[dict]) -> int:
    """The side of the square input image."""
    (input_layer,) = [layer for layer in layers if layer["class_name"] == "InputLayer"]
    return input_layer["config"]["batch_input_shape"][1]


def batch_norm_scale_shift(arrays: dict, config: dict) -> tuple[np.ndarray, np.ndarray]:
    scale = 1 / np.sqrt(arrays["moving_variance"] + config["epsilon"])
    if config["scale"]:
        scale = scale * arrays["gamma"]
    shift = -arrays["moving_mean"] * scale
    if config["center"]:
        shift = shift + arrays["beta"]
    return scale, shift


LINEAR = ("Conv2D", "DepthwiseConv2D", "Dense")
POOLS = {"MaxPooling2D": "MaxPool", "AveragePooling2D": "AveragePool"}


def convert_layers(graph: Graph, layers: list[dict], image: str) -> dict[str, str]:
    """Emit every layer; returns the ONNX tensor name of each Keras layer's output. `image` is
    the tensor the InputLayer stands for (after any preprocessing the caller added)."""
    outputs = {}
    # A BatchNormalization whose input is a Conv2D/DepthwiseConv2D/Dense is folded into it.
    kinds = {layer["name"]: layer["class_name"] for layer in layers}
    folded = {layer["inbound_nodes"][0][0][0]: layer for layer in layers
              if layer["class_name"] == "BatchNormalization"}
    if {kinds[name] for name in folded} - set(LINEAR):
        raise FormatError("a batch norm follows a layer that is not Conv2D or Dense")
    # A ZeroPadding2D read only by a "valid" convolution becomes that convolution's own
    # padding: the same numbers, and a separate Pad cost a fifth of the int8 mask classifier.
    readers: dict[str, list[dict]] = {}
    for layer in layers:
        for inbound in (layer["inbound_nodes"] or [[]])[0]:
            readers.setdefault(inbound[0], []).append(layer)
    padding: dict[str, list] = {}
    for layer in layers:
        kind, settings, name = layer["class_name"], layer["config"], layer["name"]
        if kind == "InputLayer":
            outputs[name] = image
            continue
        if kind == "BatchNormalization":      # folded, see above
            continue
        inbound = [inbound[0] for inbound in layer["inbound_nodes"][0]]
        inputs = [outputs[source] for source in inbound]
        if kind == "ZeroPadding2D" and _into_valid_convolution(readers.get(name, [])):
            outputs[name], padding[name] = inputs[0], settings["padding"]
        elif kind in LINEAR:
            output = _linear(graph, layer, inputs[0], folded.get(name), padding.get(inbound[0]))
            outputs[output] = output
        else:
            outputs[name] = _layer(graph, kind, settings, name, inputs)
    return outputs


def _into_valid_convolution(readers: list[dict]) -> bool:
    return (len(readers) == 1 and readers[0]["class_name"] in ("Conv2D", "DepthwiseConv2D")
            and readers[0]["config"]["padding"] == "valid")


def _layer(graph: Graph, kind: str, settings: dict, name: str, inputs: list[str]) -> str:
    """One layer without weights."""
    if kind == "Activation" and settings["activation"] == "relu":
        return graph.node("Relu", inputs, name)
    if kind == "ReLU" and settings["negative_slope"] == 0 and settings["threshold"] == 0:
        if settings["max_value"] is None:
            return graph.node("Relu", inputs, name)
        return graph.node("Clip", [inputs[0], graph.const(f"{name}_min", 0.0),
                                   graph.const(f"{name}_max", settings["max_value"])], name)
    if kind in ("MaxPooling2D", "AveragePooling2D") and settings["padding"] == "valid":
        return graph.node(POOLS[kind], inputs, name, kernel_shape=settings["pool_size"],
                          strides=settings["strides"])
    if kind == "ZeroPadding2D":
        (top, bottom), (left, right) = settings["padding"]
        pads = graph.const(f"{name}_pads", [0, 0, top, left, 0, 0, bottom, right], np.int64)
        return graph.node("Pad", [inputs[0], pads], name)
    if kind == "Concatenate" and settings["axis"] in (3, -1):
        return graph.node("Concat", inputs, name, axis=1)
    if kind == "Lambda" and set(settings.get("arguments") or {}) == {"scale"}:
        scale = graph.const(f"{name}_scale", settings["arguments"]["scale"])
        return graph.node("Mul", [inputs[0], scale], name)
    if kind == "Add":
        return graph.node("Add", inputs, name)
    if kind == "GlobalAveragePooling2D":
        pooled = graph.node("GlobalAveragePool", inputs, f"{name}_pool")
        return graph.node("Flatten", [pooled], name)
    if kind == "Flatten":
        nhwc = graph.node("Transpose", inputs, f"{name}_nhwc", perm=[0, 2, 3, 1])
        return graph.node("Flatten", [nhwc], name)
    if kind == "Dropout":
        return inputs[0]
    raise FormatError(f"{name}: unsupported layer {kind} {settings.get('activation', '')}")


def _linear(graph: Graph, layer: dict, x: str, norm: dict | None,
            padding: list | None = None) -> str:
    """A Conv2D, DepthwiseConv2D or Dense layer, with the batch norm that follows it folded in;
    the node is named after the batch norm when there is one, so its consumers find it.
    `padding` ((top, bottom), (left, right)) is a folded ZeroPadding2D's."""
    kind, settings, name = layer["class_name"], layer["config"], layer["name"]
    activation = settings["activation"]
    if activation not in ("linear", "relu", "softmax") or (activation != "linear" and norm) \
            or (activation != "linear" and kind != "Dense"):
        raise FormatError(f"{name}: fused activation {activation}")
    if list(settings.get("dilation_rate", [1, 1])) != [1, 1] or settings.get("groups", 1) != 1:
        raise FormatError(f"{name}: dilated or grouped convolution")
    arrays = graph.arrays(name)
    # HWIO for Conv2D, HW(C)(M) for DepthwiseConv2D, (in, out) for Dense.
    kernel = arrays["kernel"] if kind != "DepthwiseConv2D" else arrays["depthwise_kernel"]
    groups = kernel.shape[2] if kind == "DepthwiseConv2D" else 1
    if groups > 1:
        kernel = kernel.reshape(*kernel.shape[:2], 1, -1)   # HW1(C*M), channel c*M + m
    bias = arrays.get("bias", np.zeros(kernel.shape[-1], np.float32))
    if norm:
        scale, shift = batch_norm_scale_shift(graph.arrays(norm["name"]), norm["config"])
        kernel, bias = kernel * scale, bias * scale + shift
    output = norm["name"] if norm else name
    bias_name = graph.const(f"{name}_B", bias)
    if kind == "Dense":
        linear = graph.node("Gemm", [x, graph.const(f"{name}_W", kernel), bias_name],
                            output if activation == "linear" else f"{name}_linear")
        if activation == "linear":
            return linear
        return graph.node({"relu": "Relu", "softmax": "Softmax"}[activation], [linear], output)
    weight_name = graph.const(f"{name}_W", kernel.transpose(3, 2, 0, 1))
    grouped = {"group": groups} if groups > 1 else {}
    if padding:
        (top, bottom), (left, right) = padding
        padded = {"pads": [top, left, bottom, right]}
    else:
        padded = {"auto_pad": "SAME_UPPER" if settings["padding"] == "same" else "VALID"}
    return graph.node("Conv", [x, weight_name, bias_name], output,
                      kernel_shape=list(kernel.shape[:2]), strides=list(settings["strides"]),
                      **grouped, **padded)


def make_model(graph: Graph, name: str, inputs: list[onnx.ValueInfoProto],
               outputs: list[onnx.ValueInfoProto], producer: str) -> onnx.ModelProto:
    model = helper.make_model(
        helper.make_graph(graph.nodes, name, inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=producer,
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def image_input(name: str, size: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 3, size, size])


def vector_output(name: str, length: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", length])
