"""Convert the FaceNet recognizer (a Keras InceptionResNetV1 saved as HDF5) to ONNX.

The file is a Keras "Functional" model: `model_config` (JSON) lists the layers with their
inbound layers, `model_weights/<layer>/<layer>/<name>:0` holds the arrays. The converter
walks the layers in order and emits one ONNX node (or two) per layer, NHWC -> NCHW:
  - Conv2D: kernel HWIO -> OIHW; "same" padding is TensorFlow's (extra row/column at the
    end), which is ONNX's SAME_UPPER.
  - BatchNormalization right after a Conv2D or Dense (all of them here) is folded into its
    weights and bias, as the frozen inference graph computes it.
  - Lambda layers are Keras' residual scaling (`x * scale`, the scale in `arguments`).
  - Dropout is the identity at inference.
The graph also does FaceNet's input "prewhitening" (per-image standardisation), so that it
takes plain pixels:
  input  `image`     float32 [N,3,160,160], RGB 0-255, an aligned face chip
  output `embedding` float32 [N,128], FaceNet's descriptor (not normalised)."""
from __future__ import annotations

import io
import json

import h5py
import numpy as np
import onnx
from onnx import helper, numpy_helper

from models import embedder
from models.embedder import INPUT_NAME, OUTPUT_NAME



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

    def const(self, name: str, value) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output


def batch_norm_scale_shift(arrays: dict, config: dict) -> tuple[np.ndarray, np.ndarray]:
    scale = 1 / np.sqrt(arrays["moving_variance"] + config["epsilon"])
    if config["scale"]:
        scale = scale * arrays["gamma"]
    shift = -arrays["moving_mean"] * scale
    if config["center"]:
        shift = shift + arrays["beta"]
    return scale, shift


def prewhiten(graph: Graph, size: int) -> str:
    """(x - mean) / max(std, 1/sqrt(pixels)) per image, as FaceNet's `prewhiten`."""
    mean = graph.node("ReduceMean", [INPUT_NAME], "prewhiten_mean", axes=[1, 2, 3])
    centred = graph.node("Sub", [INPUT_NAME, mean], "prewhiten_centred")
    square = graph.node("Mul", [centred, centred], "prewhiten_square")
    variance = graph.node("ReduceMean", [square], "prewhiten_variance", axes=[1, 2, 3])
    std = graph.node("Sqrt", [variance], "prewhiten_std")
    floor = graph.const("prewhiten_floor", 1 / np.sqrt(3 * size * size))
    divisor = graph.node("Max", [std, floor], "prewhiten_divisor")
    return graph.node("Div", [centred, divisor], "prewhiten")


def to_onnx(h5: h5py.File) -> onnx.ModelProto:
    config = json.loads(h5.attrs["model_config"])["config"]
    layers = config["layers"]
    graph = Graph(h5["model_weights"])
    (input_layer,) = [layer for layer in layers if layer["class_name"] == "InputLayer"]
    size = input_layer["config"]["batch_input_shape"][1]
    outputs = {input_layer["name"]: prewhiten(graph, size)}
    # A BatchNormalization whose input is a Conv2D/Dense is folded into that layer.
    kinds = {layer["name"]: layer["class_name"] for layer in layers}
    folded = {layer["inbound_nodes"][0][0][0]: layer for layer in layers
              if layer["class_name"] == "BatchNormalization"}
    if {kinds[name] for name in folded} - {"Conv2D", "Dense"}:
        raise FormatError("a batch norm follows a layer that is not Conv2D or Dense")
    for layer in layers:
        kind, settings, name = layer["class_name"], layer["config"], layer["name"]
        if kind in ("InputLayer", "BatchNormalization"):   # the latter folded, see above
            continue
        inputs = [outputs[inbound[0]] for inbound in layer["inbound_nodes"][0]]
        if kind in ("Conv2D", "Dense"):
            output = _linear(graph, layer, inputs[0], folded.get(name))
            outputs[output] = output
        elif kind == "Activation" and settings["activation"] == "relu":
            outputs[name] = graph.node("Relu", inputs, name)
        elif kind == "MaxPooling2D" and settings["padding"] == "valid":
            outputs[name] = graph.node("MaxPool", inputs, name,
                                       kernel_shape=settings["pool_size"],
                                       strides=settings["strides"])
        elif kind == "Concatenate" and settings["axis"] in (3, -1):
            outputs[name] = graph.node("Concat", inputs, name, axis=1)
        elif kind == "Lambda" and set(settings.get("arguments") or {}) == {"scale"}:
            scale = graph.const(f"{name}_scale", settings["arguments"]["scale"])
            outputs[name] = graph.node("Mul", [inputs[0], scale], name)
        elif kind == "Add":
            outputs[name] = graph.node("Add", inputs, name)
        elif kind == "GlobalAveragePooling2D":
            pooled = graph.node("GlobalAveragePool", inputs, f"{name}_pool")
            outputs[name] = graph.node("Flatten", [pooled], name)
        elif kind == "Dropout":
            outputs[name] = inputs[0]
        else:
            raise FormatError(f"{name}: unsupported layer {kind} {settings.get('activation', '')}")
    ((final, _, _),) = config["output_layers"]
    graph.node("Identity", [outputs[final]], OUTPUT_NAME)
    embedding_size = next(layer for layer in layers
                          if layer["class_name"] == "Dense")["config"]["units"]
    return embedder.model("facenet_inception_resnet_v1", "models.facenet", graph.nodes, graph.initializers,
                          size, size, embedding_size)


def _linear(graph: Graph, layer: dict, x: str, norm: dict | None) -> str:
    """A Conv2D or Dense layer, with the batch norm that follows it folded in; the node is
    named after the batch norm when there is one, so its consumers find it."""
    settings, name = layer["config"], layer["name"]
    if settings["activation"] != "linear":
        raise FormatError(f"{name}: fused activation {settings['activation']}")
    if list(settings.get("dilation_rate", [1, 1])) != [1, 1] or settings.get("groups", 1) != 1:
        raise FormatError(f"{name}: dilated or grouped convolution")
    arrays = graph.arrays(name)
    kernel = arrays["kernel"]                       # HWIO for Conv2D, (in, out) for Dense
    bias = arrays.get("bias", np.zeros(kernel.shape[-1], np.float32))
    if norm:
        scale, shift = batch_norm_scale_shift(graph.arrays(norm["name"]), norm["config"])
        kernel, bias = kernel * scale, bias * scale + shift
    output = norm["name"] if norm else name
    bias_name = graph.const(f"{name}_B", bias)
    if layer["class_name"] == "Dense":
        return graph.node("Gemm", [x, graph.const(f"{name}_W", kernel), bias_name], output)
    weight_name = graph.const(f"{name}_W", kernel.transpose(3, 2, 0, 1))
    return graph.node("Conv", [x, weight_name, bias_name], output,
                      kernel_shape=list(kernel.shape[:2]), strides=list(settings["strides"]),
                      auto_pad="SAME_UPPER" if settings["padding"] == "same" else "VALID")


def convert(data: bytes) -> bytes:
    with h5py.File(io.BytesIO(data), "r") as h5:
        return to_onnx(h5).SerializeToString()
