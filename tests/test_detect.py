"""POST /detect over HTTP on the local runtime: real models, real photos, real Azurite."""
from __future__ import annotations

import io
import json
import uuid

import numpy as np
import pytest
from PIL import Image

from shared import detection
from shared.inference import Face
from tests.image_server import ImageServer, send
from tests.service import error_code

VERSIONS = ("v1.0", "v1.2", "v1.2-preview.1")
QUALITY = "headPose,blur,exposure,noise,qualityForRecognition"


@pytest.fixture(scope="module")
def photos(faces_dir):
    folder = faces_dir / "azure-samples"
    return {name: (folder / f"{name}.jpg").read_bytes()
            for name in ("Family1-Dad1", "Family1-Mom1", "identification1")}


def _jpeg(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=90)
    return out.getvalue()


def _is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


@pytest.mark.parametrize("version", VERSIONS)
def test_one_face_from_bytes_on_every_version(client, photos, version):
    response = client.detect(photos["Family1-Dad1"], version)
    assert response.status_code == 200, response.text
    [face] = response.json()
    assert _is_uuid(face["faceId"])
    rect = face["faceRectangle"]
    assert set(rect) == {"top", "left", "width", "height"}
    assert all(isinstance(v, int) for v in rect.values())
    assert 100 < rect["width"] < 400 and rect["height"] == rect["width"]   # square, as Azure
    assert "faceAttributes" not in face and "recognitionModel" not in face


def test_faces_are_sorted_by_area(client, photos):
    faces = client.detect(photos["identification1"]).json()
    assert len(faces) == 4
    areas = [f["faceRectangle"]["width"] * f["faceRectangle"]["height"] for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert len({f["faceId"] for f in faces}) == 4


def test_no_face_is_an_empty_list(client):
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    picture = _jpeg(np.stack([gradient] * 3, axis=-1))
    assert client.detect(picture).json() == []


def test_options_face_id_and_recognition_model(client, photos):
    [face] = client.detect(photos["Family1-Mom1"], returnFaceId="false").json()
    assert set(face) == {"faceRectangle"}
    [face] = client.detect(photos["Family1-Mom1"], recognitionModel="Recognition_04",
                           returnRecognitionModel="true").json()
    assert face["recognitionModel"] == "recognition_04"
    assert list(face)[:2] == ["faceId", "recognitionModel"]


@pytest.mark.parametrize("model", ["detection_01", "detection_03"])
def test_quality_attributes_have_contract_shapes(client, photos, model):
    [face] = client.detect(photos["Family1-Dad1"], detectionModel=model,
                           recognitionModel="recognition_04",
                           returnFaceAttributes=QUALITY).json()
    attributes = face["faceAttributes"]
    assert set(attributes) == set(QUALITY.split(","))
    assert set(attributes["headPose"]) == {"pitch", "roll", "yaw"}
    assert all(-180 <= v <= 180 for v in attributes["headPose"].values())
    assert abs(attributes["headPose"]["yaw"]) < 30     # a frontal portrait
    assert attributes["blur"]["blurLevel"] in ("low", "medium", "high")
    assert attributes["exposure"]["exposureLevel"] in ("underExposure", "goodExposure",
                                                       "overExposure")
    assert attributes["noise"]["noiseLevel"] in ("low", "medium", "high")
    for name in ("blur", "exposure", "noise"):
        assert 0 <= attributes[name]["value"] <= 1
    assert attributes["qualityForRecognition"] in ("medium", "high")


def test_url_body_on_the_same_route(client, photos, monkeypatch):
    monkeypatch.setenv("FACE_URL_ALLOWLIST", "127.0.0.1")
    server = ImageServer()
    server.routes["/dad.jpg"] = send(photos["Family1-Dad1"], headers={"Content-Type":
                                                                     "image/jpeg"})
    try:
        response = client.post("detect", "v1.0", json={"url": server.url("/dad.jpg")})
    finally:
        server.close()
    assert response.status_code == 200, response.text
    from_bytes = client.detect(photos["Family1-Dad1"]).json()[0]["faceRectangle"]
    assert response.json()[0]["faceRectangle"] == from_bytes


@pytest.mark.parametrize("params,code", [
    ({"detectionModel": "detection_04"}, "BadArgument"),
    ({"recognitionModel": "recognition_05"}, "BadArgument"),
    ({"returnFaceId": "yes"}, "BadArgument"),
    ({"returnRecognitionModel": "1"}, "BadArgument"),
    ({"faceIdTimeToLive": "59"}, "BadArgument"),
    ({"faceIdTimeToLive": "86401"}, "BadArgument"),
    ({"faceIdTimeToLive": "ten"}, "BadArgument"),
    ({"returnFaceAttributes": "headPose,colour"}, "BadArgument"),
    ({"returnFaceAttributes": "mask"}, "BadArgument"),                    # detection_01
    ({"returnFaceAttributes": "qualityForRecognition"}, "BadArgument"),   # recognition_01
    ({"detectionModel": "detection_02", "returnFaceAttributes": "blur"}, "BadArgument"),
    ({"detectionModel": "detection_02", "returnFaceLandmarks": "true"}, "BadArgument"),
])
def test_bad_parameters(client, photos, params, code):
    assert error_code(client.detect(photos["Family1-Dad1"], **params)) == (400, code)


def test_messages_say_what_is_wrong(client, photos):
    def message(**params):
        return client.detect(photos["Family1-Dad1"], **params).json()["error"]["message"]
    assert message(detectionModel="detection_02", returnFaceAttributes="blur") == \
        "'returnFaceAttributes' is not supported by detection_02."
    assert message(detectionModel="detection_03", returnFaceAttributes="accessories") == \
        "Attribute 'accessories' is not supported by detection_03."
    assert "faceIdTimeToLive" in message(faceIdTimeToLive="5")


def test_retired_attributes_are_unsupported_features(client, photos):
    response = client.detect(photos["Family1-Dad1"], returnFaceAttributes="emotion")
    assert error_code(response) == (403, "UnsupportedFeature")


@pytest.mark.parametrize("body,code", [
    (b"", "InvalidImageSize"),
    (b"\xff\xd8\xff" + b"\0" * 500, "InvalidImageSize"),
    (bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)), "InvalidImage"),
    (b"\xff\xd8\xff\xe0" + b"\x10" * (6 * 1024 * 1024 + 10), "InvalidImageSize"),
])
def test_bad_images(client, body, code):
    assert error_code(client.detect(body)) == (400, code)


def test_truncated_jpeg_is_an_invalid_image(client, photos):
    assert error_code(client.detect(photos["Family1-Dad1"][:3000])) == (400, "InvalidImage")


@pytest.mark.parametrize("content_type", ["text/plain", "image/jpeg", None])
def test_wrong_content_type(client, photos, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("detect", data=photos["Family1-Dad1"], headers=headers)
    assert error_code(response) == (400, "BadArgument")


@pytest.mark.parametrize("body", [b"{not json", b'{"uri": "x"}', b"[]"])
def test_bad_json_bodies(client, body):
    response = client.post("detect", data=body, headers={"Content-Type": "application/json"})
    assert error_code(response) == (400, "BadArgument")


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data",
                                 "http://127.0.0.1:1/x.jpg", "gopher://example.com/x"])
def test_ssrf_targets_are_invalid_urls(client, url):
    assert error_code(client.post("detect", json={"url": url})) == (400, "InvalidURL")


def test_key_and_version_are_checked(client, photos):
    response = client.session.post(client.url("detect"), data=photos["Family1-Dad1"],
                                   headers={"Content-Type": "application/octet-stream",
                                            "Ocp-Apim-Subscription-Key": "wrong"})
    assert error_code(response) == (401, "401")
    assert client.detect(photos["Family1-Dad1"], "v9.9").status_code == 404


def test_error_envelope_shape(client):
    response = client.detect(b"")
    assert response.headers["x-ms-error-code"] == "InvalidImageSize"
    assert set(json.loads(response.text)) == {"error"}


def test_attribute_names_are_case_insensitive_and_deduplicated():
    assert detection.parse_attributes("HEADPOSE, blur,headPose,,") == ("headPose", "blur")
    assert detection.parse_attributes(None) == ()


def test_rectangles_are_integers_inside_the_image():
    # A square of the box's width around its centre, clipped where it leaves the image.
    face = Face(-3.4, 10.6, 50.2, 700.0, 0.9, np.zeros((5, 2), np.float32))
    assert detection.rectangle(face, 640, 480) == (0, 336, 47, 50)
    inside = Face(100.4, 80.0, 60.2, 80.0, 0.9, np.zeros((5, 2), np.float32))
    assert detection.rectangle(inside, 640, 480) == (100, 90, 60, 60)
