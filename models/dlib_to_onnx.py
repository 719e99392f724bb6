"""Convert dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat) to ONNX.

dlib writes a network with its own serialisation (dlib/serialize.h, dlib/dnn/*.h). The file
holds the weights and each layer's settings, but not the topology: which tag a skip or
add_prev refers to is part of the C++ type. So the topology is written out below, mirroring
`anet_type` of dlib's examples/dnn_face_recognition_ex.cpp, and the file is read against it
the way dlib's own deserialize() does.

The ONNX graph computes exactly what dlib computes (checked in tests/test_models.py):
  input  `image`     float32 [N,3,150,150], RGB 0-255
  output `embedding` float32 [N,128], dlib's raw descriptor (not normalised)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from models import embedder
from models.embedder import INPUT_NAME, OUTPUT_NAME


# --- topology: anet_type, listed from the top (next to the loss) down to the input ---------
# Each entry is one dlib layer object: add_layer<kind_>, or a tag/skip marker.


def _block() -> list[str]:
    # block<N,BN,stride,SUB> = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUB>>>>>
    return ["affine", "con", "relu", "affine", "con"]


def _ares() -> list[str]:
    # relu<residual<...>>, residual = add_prev1<block<...,tag1<SUB>>>
    return ["relu", "add_prev1", *_block(), "tag1"]


def _ares_down() -> list[str]:
    # relu<residual_down<...>>,
    # residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<...,2,tag1<SUB>>>>>>
    return ["relu", "add_prev2", "avg_pool", "skip1", "tag2", *_block(), "tag1"]


ANET_TYPE: list[str] = [
    "fc_no_bias", "avg_pool",                 # fc_no_bias<128, avg_pool_everything<
    *_ares_down(),                            # alevel0
    *_ares(), *_ares(), *_ares_down(),        # alevel1
    *_ares(), *_ares(), *_ares_down(),        # alevel2
    *_ares(), *_ares(), *_ares(), *_ares_down(),  # alevel3
    *_ares(), *_ares(), *_ares(),             # alevel4
    "max_pool", "relu", "affine", "con",      # max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2,
]                                             # input_rgb_image_sized<150>


class FormatError(ValueError):
    """The file does not hold the network this converter knows."""


# --- dlib/serialize.h primitives ---------------------------------------------------------

class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise FormatError("unexpected end of file")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def int(self) -> int:
        # Control byte: bit 7 = negative, low 4 bits = byte count; magnitude little endian.
        control = self.take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise FormatError(f"bad integer control byte {control:#x} at {self.pos - 1}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        # float_details: mantissa then exponent, both dlib integers; value = m * 2**e.
        mantissa, exponent = self.int(), self.int()
        special = {32000: np.inf, 32001: -np.inf, 32002: np.nan}
        return special[exponent] if exponent in special else float(np.ldexp(mantissa, exponent))

    def skip_floats(self, count: int) -> None:
        for _ in range(count):
            self.float()

    def bool(self) -> bool:
        char = self.take(1)
        if char not in (b"0", b"1"):
            raise FormatError(f"bad bool {char!r} at {self.pos - 1}")
        return char == b"1"

    def string(self) -> str:
        return self.take(self.int()).decode("ascii")

    def expect(self, *versions: str) -> str:
        found = self.string()
        if found not in versions:
            raise FormatError(f"expected {' or '.join(versions)}, found {found!r}")
        return found

    def version(self, *allowed: int) -> int:
        found = self.int()
        if found not in allowed:
            raise FormatError(f"unexpected version {found} at {self.pos}")
        return found

    def tensor(self) -> np.ndarray:
        # resizable_tensor v2: n, k, nr, nc, then raw little-endian float32 values.
        self.version(2)
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), "<f4").reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, ...]:
        self.version(1)
        return tuple(self.int() for _ in range(4))


# --- layer details (the *_ classes of dlib/dnn/layers.h) ---------------------------------

def _read_con(r: Reader) -> dict:
    r.expect("con_4")
    params = r.tensor().ravel()
    num_filters, nr, nc = r.int(), r.int(), r.int()
    stride_y, stride_x, padding_y, padding_x = r.int(), r.int(), r.int(), r.int()
    filters, biases = r.alias_tensor(), r.alias_tensor()
    r.skip_floats(4)  # learning-rate and weight-decay multipliers: training only
    weights = params[:int(np.prod(filters))].reshape(filters)
    if weights.shape[0] != num_filters or weights.shape[2:] != (nr, nc):
        raise FormatError("con_ filter shape does not match its settings")
    return {"weights": weights, "bias": params[weights.size:weights.size + biases[1]],
            "stride": (stride_y, stride_x), "padding": (padding_y, padding_x)}


def _read_affine(r: Reader) -> dict:
    r.expect("affine_")
    params = r.tensor().ravel()
    gamma, beta = r.alias_tensor(), r.alias_tensor()
    mode = r.int()
    if mode != 0:
        raise FormatError("only affine_ in CONV_MODE is supported")
    channels = int(np.prod(gamma))
    return {"gamma": params[:channels], "beta": params[channels:channels + int(np.prod(beta))]}


def _read_pool(version: str):
    def read(r: Reader) -> dict:
        r.expect(version)
        nr, nc, stride_y, stride_x, padding_y, padding_x = (r.int() for _ in range(6))
        return {"window": (nr, nc), "stride": (stride_y, stride_x),
                "padding": (padding_y, padding_x)}
    return read


def _read_fc(r: Reader) -> dict:
    r.expect("fc_2")
    num_outputs, num_inputs = r.int(), r.int()
    params = r.tensor().ravel()
    r.alias_tensor(), r.alias_tensor()  # weight and bias shapes: implied by the two counts
    if r.int() != 1:
        raise FormatError("expected fc_no_bias (FC_NO_BIAS mode)")
    r.skip_floats(4)  # learning-rate and weight-decay multipliers: training only
    return {"weights": params[:num_inputs * num_outputs].reshape(num_inputs, num_outputs)}


def _read_plain(version: str):
    def read(r: Reader) -> dict:
        r.expect(version)
        return {}
    return read


DETAIL_READERS = {
    "con": _read_con,
    "affine": _read_affine,
    "relu": _read_plain("relu_"),
    "max_pool": _read_pool("max_pool_2"),
    "avg_pool": _read_pool("avg_pool_2"),
    "add_prev1": _read_plain("add_prev_"),
    "add_prev2": _read_plain("add_prev_"),
    "fc_no_bias": _read_fc,
}


@dataclass
class Network:
    means: tuple[float, float, float]       # per-channel RGB means of the input layer
    size: tuple[int, int]                   # input rows, columns
    layers: list[tuple[str, dict]] = field(default_factory=list)  # bottom (input) up


def _read_add_layer_state(r: Reader, version: int, on_input: bool) -> None:
    """The bookkeeping add_layer stores after its details (core.h); none of it is needed."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, ..._disabled
        r.bool()
    r.tensor(), r.tensor()  # x_grad, cached_output
    if on_input:
        r.tensor()  # grad_final
        if version >= 3:
            r.int()  # _sample_expansion_factor
    elif version == 2:
        r.tensor()  # params_grad


def _read_input(r: Reader) -> tuple[tuple[float, float, float], tuple[int, int]]:
    r.expect("input_rgb_image_sized")
    means = (r.float(), r.float(), r.float())
    return means, (r.int(), r.int())


def parse(data: bytes) -> Network:
    """Read the serialised loss_metric<anet_type> (add_loss_layer, then the layer chain)."""
    r = Reader(data)
    r.version(1)
    r.expect("loss_metric_2")
    r.skip_floats(2)  # margin and distance threshold: training only
    # Each wrapper writes its version, then its whole subnet, then (add_layer only) its own
    # details: so versions come top-down and details bottom-up.
    versions = []
    for index, kind in enumerate(ANET_TYPE):
        on_input = index == len(ANET_TYPE) - 1
        if kind.startswith(("tag", "skip")):
            versions.append(r.version(1))
        else:
            versions.append(r.version(2, 3) if on_input else r.version(1, 2))
    means, size = _read_input(r)
    network = Network(means, size)
    for index in reversed(range(len(ANET_TYPE))):
        kind = ANET_TYPE[index]
        details = {}
        if kind in DETAIL_READERS:
            details = DETAIL_READERS[kind](r)
            _read_add_layer_state(r, versions[index], index == len(ANET_TYPE) - 1)
        network.layers.append((kind, details))
    if r.pos != len(data):
        raise FormatError(f"{len(data) - r.pos} bytes left after the network")
    return network


# --- ONNX graph ----------------------------------------------------------------------------

def _output_size(size: int, window: int, stride: int, padding: int) -> int:
    # dlib's rule for con_ and pooling (floor), the same as ONNX's default.
    return 1 + (size + 2 * padding - window) // stride


class GraphBuilder:
    """Emits nodes while tracking each tensor's static (C, H, W) shape, which add_prev needs."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs) -> str:
        output = f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        self.shapes[output] = shape
        return output

    def conv(self, x: str, d: dict) -> str:
        channels, height, width = self.shapes[x]
        out_channels, _, kh, kw = d["weights"].shape
        (sy, sx), (py, px) = d["stride"], d["padding"]
        shape = (out_channels, _output_size(height, kh, sy, py), _output_size(width, kw, sx, px))
        n = len(self.nodes)
        return self.node("Conv", [x, self.constant(f"con{n}_w", d["weights"]),
                                  self.constant(f"con{n}_b", d["bias"])], shape,
                         kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])

    def affine(self, x: str, d: dict) -> str:
        shape, n = self.shapes[x], len(self.nodes)
        scaled = self.node("Mul", [x, self.constant(f"affine{n}_gamma",
                                                    d["gamma"].reshape(1, -1, 1, 1))], shape)
        return self.node("Add", [scaled, self.constant(f"affine{n}_beta",
                                                       d["beta"].reshape(1, -1, 1, 1))], shape)

    def pool(self, x: str, d: dict, op: str) -> str:
        channels, height, width = self.shapes[x]
        if d["window"] == (0, 0):  # *_pool_everything: one window over the whole map
            return self.node(f"Global{op}", [x], (channels, 1, 1))
        (kh, kw), (sy, sx), (py, px) = d["window"], d["stride"], d["padding"]
        shape = (channels, _output_size(height, kh, sy, py), _output_size(width, kw, sx, px))
        # dlib averages only the window part inside the map: count_include_pad=0 (default).
        return self.node(op, [x], shape, kernel_shape=[kh, kw], strides=[sy, sx],
                         pads=[py, px, py, px])

    def pad_to(self, x: str, target: tuple[int, int, int]) -> str:
        shape = self.shapes[x]
        if shape == target:
            return x
        extra = [0] + [t - s for t, s in zip(target, shape)]
        pads = np.array([0, 0, 0, 0] + extra, dtype=np.int64)
        return self.node("Pad", [x, self.constant(f"pad{len(self.nodes)}", pads)], target)

    def add_prev(self, x: str, tagged: str) -> str:
        # dlib's tt::add of tensors of different sizes: the output has the larger size in
        # every dimension and each input counts as zero outside its own extent.
        target = tuple(max(a, b) for a, b in zip(self.shapes[x], self.shapes[tagged]))
        return self.node("Add", [self.pad_to(x, target), self.pad_to(tagged, target)], target)

    def fc(self, x: str, d: dict) -> str:
        flat = self.node("Flatten", [x], (int(np.prod(self.shapes[x])), 1, 1), axis=1)
        weights = d["weights"]
        return self.node("MatMul", [flat, self.constant("fc_w", weights)],
                         (weights.shape[1], 1, 1))


def _normalise_input(graph: GraphBuilder, network: Network) -> str:
    # input_rgb_image_sized::to_tensor: (pixel - channel mean) / 256
    means = np.array(network.means, np.float32).reshape(1, 3, 1, 1)
    shape = (3, *network.size)
    centred = graph.node("Sub", [INPUT_NAME, graph.constant("input_means", means)], shape)
    return graph.node("Mul", [centred, graph.constant("input_scale", np.float32(1 / 256))], shape)


def to_onnx(network: Network) -> onnx.ModelProto:
    graph = GraphBuilder()
    x = _normalise_input(graph, network)
    tags: dict[str, str] = {}  # tag id -> latest (so nearest below) tagged tensor
    for kind, details in network.layers:
        if kind.startswith("tag"):
            tags[kind[3:]] = x
        elif kind.startswith("skip"):
            x = tags[kind[4:]]
        elif kind.startswith("add_prev"):
            x = graph.add_prev(x, tags[kind[8:]])
        elif kind == "con":
            x = graph.conv(x, details)
        elif kind == "affine":
            x = graph.affine(x, details)
        elif kind == "relu":
            x = graph.node("Relu", [x], graph.shapes[x])
        elif kind == "max_pool":
            x = graph.pool(x, details, "MaxPool")
        elif kind == "avg_pool":
            x = graph.pool(x, details, "AveragePool")
        elif kind == "fc_no_bias":
            x = graph.fc(x, details)
    graph.nodes[-1].output[0] = OUTPUT_NAME
    rows, cols = network.size
    embedding_size = graph.shapes[x][0]
    return embedder.model("dlib_face_recognition_resnet_model_v1", "models.dlib_to_onnx", graph.nodes, graph.initializers,
                          rows, cols, embedding_size)


def convert(data: bytes) -> bytes:
    return to_onnx(parse(data)).SerializeToString()
