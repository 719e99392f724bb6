"""Convert the FaceNet recognizer (a Keras InceptionResNetV1 saved as HDF5) to ONNX.

The layers are converted by models/keras_h5.py (batch norms folded, Lambda layers are the
residual scalings, Dropout dropped). The graph also does FaceNet's input "prewhitening"
(per-image standardisation), so that it takes plain pixels:
  input  `image`     float32 [N,3,160,160], RGB 0-255, an aligned face chip
  output `embedding` float32 [N,128], FaceNet's descriptor (not normalised)."""
from __future__ import annotations

import io

import h5py
import numpy as np
import onnx

from models.embedder import INPUT_NAME, OUTPUT_NAME
from models.keras_h5 import (FormatError, Graph, convert_layers, image_input, input_size,
                             make_model, model_config, vector_output)

__all__ = ["FormatError", "convert", "to_onnx"]


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
    config = model_config(h5)
    layers = config["layers"]
    graph = Graph(h5["model_weights"])
    size = input_size(layers)
    outputs = convert_layers(graph, layers, prewhiten(graph, size))
    ((final, _, _),) = config["output_layers"]
    graph.node("Identity", [outputs[final]], OUTPUT_NAME)
    embedding_size = next(layer for layer in layers
                          if layer["class_name"] == "Dense")["config"]["units"]
    return make_model(graph, "facenet_inception_resnet_v1", [image_input(INPUT_NAME, size)],
                      [vector_output(OUTPUT_NAME, embedding_size)], "models.facenet")


def convert(data: bytes) -> bytes:
    with h5py.File(io.BytesIO(data), "r") as h5:
        return to_onnx(h5).SerializeToString()
