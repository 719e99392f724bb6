"""Convert MediaPipe's face landmark and iris landmark models (TFLite flatbuffers) to ONNX.

Both are small convolutional networks made of a handful of TFLite operators; the `tflite`
package reads the flatbuffer and this module writes one ONNX node (or two) per operator:
  - DEQUANTIZE of a constant (the face mesh stores its weights as float16) is done here, once:
    the ONNX graph holds float32 weights;
  - CONV_2D (weights OHWI -> OIHW) and DEPTHWISE_CONV_2D (weights 1HW(C*M) -> (C*M)1HW, one
    group per input channel), MAX_POOL_2D: TFLite's SAME padding is written out as explicit
    pads, the smaller half first (the extra row or column goes at the end);
  - PRELU (alpha per channel) as alpha * x + (1 - alpha) * relu(x) (see prelu), ADD, PAD
    (constant paddings), RESHAPE.
Activations are NCHW inside the graph; the input and the outputs keep TFLite's NHWC layout and
names, with a free batch dimension `N`:
  face_landmark.tflite  input_1 [N,192,192,3] RGB in [0,1]  ->  conv2d_21 [N,1,1,1404] (468 x,y,z
                        in crop pixels), conv2d_31 [N,1,1,1] (face presence logit)
  iris_landmark.tflite  input_1 [N,64,64,3] RGB in [0,1]    ->  output_eyes_contours_and_brows
                        [N,213] (71 x,y,z), output_iris [N,15] (5 x,y,z; the first is the centre)
Anything else (another operator, a fused activation, dilation) is refused with FormatError."""
from __future__ import annotations

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper
from tflite.BuiltinOperator import BuiltinOperator
from tflite.Padding import Padding
from tflite.TensorType import TensorType

OPSET = 17
OPERATOR_NAMES = {code: name for name, code in vars(BuiltinOperator).items()
                  if not name.startswith("_")}
DTYPES = {TensorType.FLOAT32: np.float32, TensorType.FLOAT16: np.float16,
          TensorType.INT32: np.int32, TensorType.INT64: np.int64}
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


class FormatError(ValueError):
    """The model holds an operator or a setting this converter does not know."""


class Converter:
    def __init__(self, data: bytes):
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise FormatError("expected one subgraph")
        self.graph = self.model.Subgraphs(0)
        self.constants: dict[int, np.ndarray] = {}   # tensor index -> value
        self.values: dict[int, str] = {}             # tensor index -> ONNX name (activations)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    # --- tensors ---------------------------------------------------------------------------

    def tensor(self, index: int) -> tflite.Tensor:
        return self.graph.Tensors(index)

    def name(self, index: int) -> str:
        return self.tensor(index).Name().decode()

    def shape(self, index: int) -> list[int]:
        return self.tensor(index).ShapeAsNumpy().tolist()

    def constant(self, index: int) -> np.ndarray:
        if index not in self.constants:
            tensor = self.tensor(index)
            data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
            if tensor.Type() not in DTYPES or not isinstance(data, np.ndarray):
                raise FormatError(f"{self.name(index)}: not a constant this converter reads")
            self.constants[index] = data.view(DTYPES[tensor.Type()]).reshape(self.shape(index))
        return self.constants[index]

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    # --- operators -------------------------------------------------------------------------

    def convert(self) -> onnx.ModelProto:
        (graph_input,) = self.graph.InputsAsNumpy()
        size = self.shape(graph_input)
        input_name = self.name(graph_input)
        self.values[graph_input] = self.node("Transpose", [input_name], "input_nchw",
                                             perm=TO_NCHW)
        for i in range(self.graph.OperatorsLength()):
            self.operator(self.graph.Operators(i))
        outputs = [self.output(index) for index in self.graph.OutputsAsNumpy()]
        graph = helper.make_graph(
            self.nodes, "mediapipe",
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", *size[1:]])],
            outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="models.mediapipe")
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model

    def output(self, index: int) -> onnx.ValueInfoProto:
        name, shape = self.name(index), self.shape(index)
        if len(shape) == 4:
            self.node("Transpose", [self.values[index]], name, perm=TO_NHWC)
        else:
            self.node("Identity", [self.values[index]], name)
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape[1:]])

    def operator(self, op: tflite.Operator) -> None:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        kind = OPERATOR_NAMES.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
        inputs, (output,) = list(op.InputsAsNumpy()), op.OutputsAsNumpy()
        if kind == "DEQUANTIZE":
            self.constants[output] = self.constant(inputs[0]).astype(np.float32)
            return
        handlers = {"CONV_2D": self.conv, "DEPTHWISE_CONV_2D": self.conv,
                    "MAX_POOL_2D": self.max_pool, "PRELU": self.prelu, "ADD": self.add,
                    "PAD": self.pad, "RESHAPE": self.reshape}
        if kind not in handlers:
            raise FormatError(f"{self.name(output)}: unsupported operator {kind}")
        # Inner values are prefixed: the graph's outputs take the TFLite names themselves.
        self.values[output] = handlers[kind](op, kind, inputs, f"tfl/{self.name(output)}")

    def same_pads(self, index: int, kernel: list[int], strides: list[int]) -> list[int]:
        """TFLite's SAME padding as ONNX pads [top, left, bottom, right]."""
        before, after = [], []
        for length, k, s in zip(self.shape(index)[1:3], kernel, strides):
            total = max((-(-length // s) - 1) * s + k - length, 0)
            before.append(total // 2)
            after.append(total - total // 2)
        return before + after

    def window(self, options, index: int, kernel: list[int]) -> dict:
        if options.FusedActivationFunction() != 0:
            raise FormatError("fused activations are not supported")
        strides = [options.StrideH(), options.StrideW()]
        pads = (self.same_pads(index, kernel, strides) if options.Padding() == Padding.SAME
                else [0, 0, 0, 0])
        return dict(kernel_shape=kernel, strides=strides, pads=pads)

    def conv(self, op, kind, inputs, name) -> str:
        options = (tflite.Conv2DOptions() if kind == "CONV_2D"
                   else tflite.DepthwiseConv2DOptions())
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        if (options.DilationHFactor(), options.DilationWFactor()) != (1, 1):
            raise FormatError(f"{name}: dilated convolution")
        weights = self.constant(inputs[1]).astype(np.float32)
        channels = self.shape(inputs[0])[3]
        if kind == "CONV_2D":       # OHWI -> OIHW
            weights, groups = weights.transpose(0, 3, 1, 2), 1
        else:                       # 1HW(C*M) -> (C*M)1HW
            weights, groups = weights.transpose(3, 0, 1, 2), channels
        bias = self.constant(inputs[2]).astype(np.float32)
        return self.node(
            "Conv", [self.values[inputs[0]], self.const(f"{name}_W", np.ascontiguousarray(weights)),
                     self.const(f"{name}_B", bias)],
            name, group=groups, **self.window(options, inputs[0], list(weights.shape[2:])))

    def max_pool(self, op, kind, inputs, name) -> str:
        options = tflite.Pool2DOptions()
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        kernel = [options.FilterHeight(), options.FilterWidth()]
        return self.node("MaxPool", [self.values[inputs[0]]], name,
                         **self.window(options, inputs[0], kernel))

    def prelu(self, op, kind, inputs, name) -> str:
        alpha = self.constant(inputs[1]).astype(np.float32)
        if alpha.size != self.shape(inputs[0])[3]:
            raise FormatError(f"{name}: PRELU alpha is not per channel")
        # Written as alpha * x + (1 - alpha) * relu(x), which equals PRelu: ONNX Runtime's
        # PRelu kernel took half of both models' time, and with these plain kernels instead
        # both run about twice as fast; float rounding is the only change (1e-5 crop pixels).
        x = self.values[inputs[0]]
        slope = self.const(f"{name}_alpha", alpha.reshape(-1, 1, 1))
        rest = self.const(f"{name}_one_minus_alpha", (1 - alpha).reshape(-1, 1, 1))
        negative_part = self.node("Mul", [x, slope], f"{name}_sloped")
        positive = self.node("Relu", [x], f"{name}_positive")
        positive_part = self.node("Mul", [positive, rest], f"{name}_positive_scaled")
        return self.node("Add", [negative_part, positive_part], name)

    def add(self, op, kind, inputs, name) -> str:
        options = tflite.AddOptions()
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        if options.FusedActivationFunction() != 0 or not set(inputs) <= set(self.values):
            raise FormatError(f"{name}: ADD with an activation or a constant")
        return self.node("Add", [self.values[i] for i in inputs], name)

    def pad(self, op, kind, inputs, name) -> str:
        paddings = self.constant(inputs[1])[TO_NCHW]          # NHWC rows -> NCHW rows
        pads = np.concatenate([paddings[:, 0], paddings[:, 1]]).astype(np.int64)
        return self.node("Pad", [self.values[inputs[0]], self.const(f"{name}_pads", pads)],
                         name, mode="constant")

    def reshape(self, op, kind, inputs, name) -> str:
        # The flat order is NHWC's: go back to it first.
        value = self.values[inputs[0]]
        if len(self.shape(inputs[0])) == 4:
            value = self.node("Transpose", [value], f"{name}_nhwc", perm=TO_NHWC)
        (output,) = op.OutputsAsNumpy()
        shape = np.array([-1, *self.shape(output)[1:]], np.int64)
        if len(shape) == 4:
            raise FormatError(f"{name}: RESHAPE to four dimensions")
        return self.node("Reshape", [value, self.const(f"{name}_shape", shape)], name)


def convert(data: bytes) -> bytes:
    return Converter(data).convert().SerializeToString()
