"""The ONNX model both recognizer converters write: one image input, one embedding output."""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

INPUT_NAME = "image"
OUTPUT_NAME = "embedding"
OPSET = 17


def model(name: str, producer: str, nodes: list, initializers: list, height: int, width: int,
          embedding_size: int) -> onnx.ModelProto:
    """input `image` float32 [N,3,height,width] -> output `embedding` float32 [N,size],
    checked."""
    result = helper.make_model(
        helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                           ["N", 3, height, width])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                           ["N", embedding_size])],
            initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=producer,
    )
    result.ir_version = 8
    onnx.checker.check_model(result, full_check=True)
    return result
