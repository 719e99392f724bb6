"""YuNet 2023mar with a dynamic input size.

The published graph declares a fixed 1x3x640x640 input, but nothing inside depends on it:
its Reshapes use -1 and its Resizes use scale factors. Declaring H and W symbolic (and
dropping the recorded intermediate shapes) lets the engine run any size that is a multiple
of 32, so small photos are not upscaled and large ones not squashed."""
from __future__ import annotations

import onnx

INPUT_NAME = "input"


def make_dynamic(model_bytes: bytes) -> bytes:
    model = onnx.load_from_string(model_bytes)
    (graph_input,) = model.graph.input
    height, width = graph_input.type.tensor_type.shape.dim[2:]
    height.dim_param, width.dim_param = "height", "width"
    # The stored intermediate and output shapes were inferred for 640x640; they would now lie.
    del model.graph.value_info[:]
    for output in model.graph.output:
        anchors = output.type.tensor_type.shape.dim[1]
        anchors.dim_param = f"{output.name}_anchors"
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()
