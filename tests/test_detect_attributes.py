"""Detect's mask, glasses, occlusion and accessories over HTTP on real photos, the attribute /
model matrix, and the official SDK asking for each attribute."""
from __future__ import annotations

import numpy as np
import pytest
from azure.ai.vision.face import FaceClient
from azure.ai.vision.face.models import (
    FaceAttributeTypeDetection01, FaceAttributeTypeDetection03, FaceAttributeTypeRecognition04,
    FaceDetectionModel, FaceRecognitionModel, GlassesType, MaskType)
from azure.core.credentials import AzureKeyCredential

from shared import appearance_attributes
from shared.inference.appearance import Appearance
from tests.conftest import TEST_KEY
from tests.service import error_code, running_service

APPEARANCE_01 = "glasses,occlusion,accessories"
# The facemask photo with the largest masked faces (hand-drawn boxes, x, y, w, h).
MASKED_PHOTO = "detection/images/facemask__maksssksksss7.png"
MASKED_BOX = (253, 116, 89, 94)


def _photo(faces_dir, name: str) -> bytes:
    return (faces_dir / name).read_bytes()


def _only_face(client, data: bytes, **params) -> dict:
    response = client.detect(data, **params)
    assert response.status_code == 200, response.text
    [face] = response.json()
    return face["faceAttributes"]


def test_reading_glasses_are_seen(client, faces_dir):
    attributes = _only_face(client, _photo(faces_dir, "azure-samples/detection1.jpg"),
                            returnFaceAttributes=APPEARANCE_01)
    assert attributes["occlusion"] == {"foreheadOccluded": False, "eyeOccluded": False,
                                       "mouthOccluded": False}
    assert attributes["glasses"] == "ReadingGlasses"
    assert "glasses" in [item["type"] for item in attributes["accessories"]]


def test_headwear_is_seen(client, faces_dir):
    faces = client.detect(_photo(faces_dir, "azure-samples/detection3.jpg"),
                          returnFaceAttributes="accessories").json()
    accessories = faces[0]["faceAttributes"]["accessories"]
    headwear = [item for item in accessories if item["type"] == "headwear"]
    assert headwear and 0.5 <= headwear[0]["confidence"] <= 1
    assert [item["confidence"] for item in accessories] == sorted(
        (item["confidence"] for item in accessories), reverse=True)


def test_bare_face_has_no_mask_and_no_accessories(client, faces_dir):
    attributes = _only_face(client, _photo(faces_dir, "azure-samples/Family1-Dad1.jpg"),
                            detectionModel="detection_03", returnFaceAttributes="mask,glasses")
    assert attributes["mask"] == {"type": "noMask", "noseAndMouthCovered": False}
    assert attributes["glasses"] == "NoGlasses"
    attributes = _only_face(client, _photo(faces_dir, "azure-samples/Family1-Dad1.jpg"),
                            returnFaceAttributes="accessories")
    assert attributes["accessories"] == []


def test_masked_face_is_a_face_mask(client, faces_dir):
    faces = client.detect(_photo(faces_dir, MASKED_PHOTO), detectionModel="detection_03",
                          returnFaceAttributes="mask,occlusion").json()
    x, y, w, h = MASKED_BOX
    centre = np.array([x + w / 2, y + h / 2])
    face = min(faces, key=lambda f: np.hypot(
        f["faceRectangle"]["left"] + f["faceRectangle"]["width"] / 2 - centre[0],
        f["faceRectangle"]["top"] + f["faceRectangle"]["height"] / 2 - centre[1]))
    assert face["faceRectangle"]["width"] > 60
    assert face["faceAttributes"]["mask"] == {"type": "faceMask", "noseAndMouthCovered": True}
    assert face["faceAttributes"]["occlusion"]["mouthOccluded"] is True


@pytest.mark.parametrize("params,status,code", [
    ({"returnFaceAttributes": "mask"}, 400, "BadArgument"),               # detection_01
    ({"detectionModel": "detection_03", "returnFaceAttributes": "accessories"}, 400,
     "BadArgument"),
    ({"detectionModel": "detection_02", "returnFaceAttributes": "glasses"}, 400, "BadArgument"),
    ({"returnFaceAttributes": "glasses,sunglasses"}, 400, "BadArgument"),
    *[({"returnFaceAttributes": f"headPose,{name}"}, 403, "UnsupportedFeature")
      for name in ("age", "smile", "facialHair", "hair", "gender", "emotion", "makeup")],
])
def test_attribute_model_matrix(client, faces_dir, params, status, code):
    response = client.detect(_photo(faces_dir, "azure-samples/Family1-Dad1.jpg"), **params)
    assert error_code(response) == (status, code)


def test_matrix_messages_name_the_model(client, faces_dir):
    response = client.detect(_photo(faces_dir, "azure-samples/Family1-Dad1.jpg"),
                             returnFaceAttributes="mask")
    assert response.json()["error"]["message"] == \
        "Attribute 'mask' is not supported by detection_01."


def _look(**values) -> Appearance:
    defaults = dict(mask=0.0, glasses=0.0, sunglasses=0.0, headwear=0.0, size=120.0)
    return Appearance(**{**defaults, **values})


def test_small_or_doubtful_faces_are_uncertain():
    assert appearance_attributes.mask(_look(mask=0.99, size=20)) == {
        "type": "uncertain", "noseAndMouthCovered": False}
    assert appearance_attributes.mask_type(_look(mask=0.5)) == "uncertain"
    assert appearance_attributes.mask_type(_look(mask=0.9)) == "faceMask"
    assert appearance_attributes.accessories(_look(mask=0.99, size=20)) == []


def test_sunglasses_occlude_the_eyes_and_rank_accessories():
    look = _look(glasses=0.9, sunglasses=0.8, headwear=0.6)
    assert appearance_attributes.glasses(look) == "Sunglasses"
    assert appearance_attributes.occlusion(look) == {
        "foreheadOccluded": True, "eyeOccluded": True, "mouthOccluded": False}
    assert appearance_attributes.accessories(look) == [
        {"type": "glasses", "confidence": 0.9}, {"type": "headwear", "confidence": 0.6}]


# --- the official SDK ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def sdk(azurite):
    with running_service() as (host, _):
        client = FaceClient(host.url, AzureKeyCredential(TEST_KEY))
        yield client
        client.close()


def test_sdk_readme_example_without_landmarks(sdk, folder):
    # The SDK README's detect, minus return_face_landmarks.
    [face] = sdk.detect((folder / "Family1-Dad1.jpg").read_bytes(),
                        detection_model=FaceDetectionModel.DETECTION03,
                        recognition_model=FaceRecognitionModel.RECOGNITION04,
                        return_face_id=False,
                        return_face_attributes=[FaceAttributeTypeDetection03.HEAD_POSE,
                                                FaceAttributeTypeDetection03.MASK,
                                                FaceAttributeTypeRecognition04
                                                .QUALITY_FOR_RECOGNITION])
    assert face.face_attributes.mask.type == MaskType.NO_MASK
    assert face.face_attributes.mask.nose_and_mouth_covered is False
    assert abs(face.face_attributes.head_pose.yaw) < 30
    assert face.face_attributes.quality_for_recognition in ("medium", "high")


@pytest.mark.parametrize("model,attribute", [
    *[(FaceDetectionModel.DETECTION01, a) for a in FaceAttributeTypeDetection01],
    *[(FaceDetectionModel.DETECTION03, a) for a in FaceAttributeTypeDetection03],
])
def test_sdk_detect_with_each_attribute(sdk, folder, model, attribute):
    [face] = sdk.detect((folder / "detection1.jpg").read_bytes(), detection_model=model,
                        recognition_model=FaceRecognitionModel.RECOGNITION04,
                        return_face_id=False, return_face_attributes=[attribute])
    assert list(face.face_attributes.as_dict()) == [attribute]     # wire names
    if attribute == "glasses":
        # Azure's live casing (NoGlasses); the SDK's enum is camelCase, compared without case.
        assert face.face_attributes.glasses.lower() in {kind.lower() for kind in GlassesType}
