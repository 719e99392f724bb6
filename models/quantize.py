"""Static int8 quantisation of the two recognizers and of the mask classifier (ONNX Runtime's
own tools).

The build converts FaceNet's and the mask classifier's Keras files (models/facenet.py,
models/mask.py) and dlib's network (models/dlib_to_onnx.py) to float32 graphs, then quantises
them here: weights per channel to int8, activations per tensor to uint8, as QDQ pairs that ONNX
Runtime fuses into integer kernels (VNNI on CPUs that have it). Activation ranges are the
min/max that the calibration chips reach, each chip and its mirror image. The mask classifier
sees the same faces, cut from the chips as the engine cuts its crops (shared/inference/mask.py).

The calibration chips are committed: models/quantization_chips.png, 20 aligned 160x160 face
chips (15 distinct faces: some sample photos are copies of others) cut by the engine from the Azure AI Face sample photos (MIT, see
models/LICENSE-azure-samples-MIT.txt), so that a fresh clone builds the same bytes without
the photos. dlib's chip (150 px, padding 0.25) is the central 150x150 of FaceNet's (160 px,
padding 0.3): both map the template at 100 px per unit (shared/inference/recognizer.py), 5 px
apart, so the same strip calibrates both. The Family1-* photos and identification1.jpg are left out: the sibling test and
evaluation use them (findsimilar.jpg, a copy of Family1-Dad2.jpg, is in; only activation
ranges are taken from the chips, no decision). `python -m models.quantize --make-chips` cuts the chips again from
FACE_DATA_DIR (developers only)."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from models import dlib_to_onnx, facenet, mask
from shared.inference.recognizer import DLIB_CHIP, DLIB_OFFSET

CHIPS_FILE = Path(__file__).resolve().parent / "quantization_chips.png"
CHIP = 160
# The input stage (FaceNet's per-image standardisation, the first convolution) and the dense
# layers (FaceNet's 128-d bottleneck, the mask classifier's head) stay float: they are cheap,
# and quantising them costs the most accuracy.
KEEP_FLOAT_OPS = ("Gemm",)
KEEP_FLOAT_PREFIX = "prewhiten"
# The mask classifier's pixel scaling (x / 127.5 - 1, models/mask.py) stays float too.
MASK_KEEP_FLOAT_PREFIXES = ("scaled", "preprocessed")


def facenet_int8(keras_h5: bytes) -> bytes:
    """The build's converter for FaceNet: Keras HDF5 -> float32 ONNX -> int8 ONNX."""
    return quantize(facenet.convert(keras_h5), calibration_chips(), KEEP_FLOAT_PREFIX)


def dlib_int8(dat: bytes) -> bytes:
    """The build's converter for dlib's recognizer: .dat -> float32 ONNX -> int8 ONNX. Its
    affine layers (batch norm) are folded into the convolutions first, which quantises them
    with the convolutions instead of as separate int8 multiplies and adds (2x faster)."""
    return quantize(fold_constants(dlib_to_onnx.convert(dat)), dlib_chips(), None)


def fold_constants(model_bytes: bytes) -> bytes:
    """The graph after ONNX Runtime's basic optimisations (constant folding, Conv+Mul+Add
    fusion): platform-independent rewrites, so the bytes are the same on every machine."""
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder, "folded.onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(target)
        ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        return target.read_bytes()


def mask_int8(keras_h5: bytes) -> bytes:
    """The build's converter for the mask classifier: Keras HDF5 -> float32 ONNX -> int8 ONNX,
    calibrated on the engine's mask crops of the same chips."""
    from shared.inference.align import chip_points
    from shared.inference.mask import crop
    crops = np.stack([crop(Image.fromarray(chip), chip_points()) for chip in calibration_chips()])
    return quantize(mask.convert(keras_h5), crops, MASK_KEEP_FLOAT_PREFIXES)


def calibration_chips() -> np.ndarray:
    """(n, 160, 160, 3) uint8 chips, read from the committed strip."""
    strip = np.asarray(Image.open(CHIPS_FILE).convert("RGB"))
    return strip.reshape(CHIP, -1, CHIP, 3).transpose(1, 0, 2, 3)


def dlib_chips() -> np.ndarray:
    """(n, 150, 150, 3) uint8: dlib's chips of the same faces (see the module's docstring)."""
    end = DLIB_OFFSET + DLIB_CHIP[0]
    return calibration_chips()[:, DLIB_OFFSET:end, DLIB_OFFSET:end]


def quantize(model_bytes: bytes, chips: np.ndarray,
             keep_float_prefix: str | tuple[str, ...] | None) -> bytes:
    """A float32 graph with one input `image` -> its static int8 (QDQ) form, calibrated on
    `chips` ((n, h, w, 3) uint8) and their mirror images; the same input gives the same bytes.
    The first convolution, the Gemms and nodes named `keep_float_prefix`* stay float."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    batch = np.concatenate([chips, chips[:, :, ::-1]]).transpose(0, 3, 1, 2).astype(np.float32)

    class Chips(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"image": batch[i:i + 1]} for i in range(len(batch))])

        def get_next(self):
            return next(self.items, None)

    graph = onnx.load_from_string(model_bytes).graph
    first_conv = next(node.name for node in graph.node if node.op_type == "Conv")
    keep_float = [node.name for node in graph.node if node.op_type in KEEP_FLOAT_OPS or
                  (keep_float_prefix and node.name.startswith(keep_float_prefix))]
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder, "float.onnx"), Path(folder, "int8.onnx")
        source.write_bytes(model_bytes)
        quantize_static(str(source), str(target), Chips(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=keep_float + [first_conv])
        return target.read_bytes()


def make_chips(faces_dir: Path) -> None:
    """Cut the calibration chips from the Azure sample photos (not Family1-*, not
    identification1.jpg) with the engine's own detector and alignment."""
    from shared.inference import align, get_engine
    engine = get_engine()
    chips = []
    for path in sorted((faces_dir / "azure-samples").glob("*.jpg")):
        if path.name.startswith("Family1-") or path.name == "identification1.jpg":
            continue
        image = engine.decode(path.read_bytes())
        chips += [align.chip(image, face.landmarks) for face in engine.detect(image)]
    Image.fromarray(np.concatenate(chips, axis=1)).save(CHIPS_FILE, optimize=True)
    print(f"wrote {len(chips)} chips to {CHIPS_FILE}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m models.quantize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--make-chips", action="store_true", required=True,
                        help="cut models/quantization_chips.png from FACE_DATA_DIR")
    parser.parse_args()
    make_chips(Path(os.environ.get("FACE_DATA_DIR", Path(__file__).resolve().parents[2]
                                   / "shared" / "faces")))


if __name__ == "__main__":
    main()
