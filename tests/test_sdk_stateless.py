"""The official Python SDK (azure-ai-vision-face 1.0.0b2) against the local service: detect from
bytes and URL, verify, find similar and group, with the Azure sample photos."""
from __future__ import annotations

import pytest
from azure.ai.vision.face import FaceClient
from azure.ai.vision.face.models import (
    FaceAttributeTypeDetection03, FaceAttributeTypeRecognition04, FaceDetectionModel,
    FaceRecognitionModel, FindSimilarMatchMode, QualityForRecognition)
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError

from tests.conftest import TEST_KEY
from tests.image_server import ImageServer, send
from tests.service import running_service

NAMES = ("Dad1", "Dad2", "Dad3", "Mom1", "Mom2", "Son1", "Son2", "Daughter1", "Daughter2",
         "Daughter3")
ATTRIBUTES = [FaceAttributeTypeDetection03.HEAD_POSE, FaceAttributeTypeDetection03.BLUR,
              FaceAttributeTypeRecognition04.QUALITY_FOR_RECOGNITION]


@pytest.fixture(scope="module")
def sent() -> list[str]:
    """URLs of the requests the SDK sent."""
    return []


@pytest.fixture(scope="module")
def sdk(azurite, sent):
    with running_service() as (host, _):
        client = FaceClient(host.url, AzureKeyCredential(TEST_KEY),
                            raw_request_hook=lambda request: sent.append(
                                request.http_request.url))
        yield client
        client.close()


def _detect(sdk, data: bytes, **options):
    return sdk.detect(data, detection_model=FaceDetectionModel.DETECTION03,
                      recognition_model=FaceRecognitionModel.RECOGNITION04, return_face_id=True,
                      **options)


@pytest.fixture(scope="module")
def family(sdk, folder) -> dict[str, str]:
    return {name: _detect(sdk, (folder / f"Family1-{name}.jpg").read_bytes())[0].face_id
            for name in NAMES}


def test_detect_from_bytes_with_quality(sdk, folder, sent):
    [face] = _detect(sdk, (folder / "Family1-Dad1.jpg").read_bytes(),
                     return_face_attributes=ATTRIBUTES, return_recognition_model=True,
                     face_id_time_to_live=120)
    assert face.face_rectangle.width > 100 and face.recognition_model == "recognition_04"
    attributes = face.face_attributes
    assert attributes.quality_for_recognition in (QualityForRecognition.HIGH,
                                                  QualityForRecognition.MEDIUM)
    assert attributes.blur.blur_level in ("low", "medium")
    assert abs(attributes.head_pose.yaw) < 30
    # What the SDK sends: API version v1.2-preview.1 and the model names as given.
    assert "/face/v1.2-preview.1/detect?" in sent[-1]
    for part in ("detectionModel=detection_03", "recognitionModel=recognition_04",
                 "returnFaceId=true", "returnFaceAttributes=headPose,blur,qualityForRecognition",
                 "faceIdTimeToLive=120"):
        assert part in sent[-1]


def test_detect_from_url(sdk, folder, monkeypatch):
    monkeypatch.setenv("FACE_URL_ALLOWLIST", "127.0.0.1")
    server = ImageServer()
    server.routes["/id1.jpg"] = send((folder / "identification1.jpg").read_bytes())
    try:
        faces = sdk.detect_from_url(url=server.url("/id1.jpg"),
                                    detection_model=FaceDetectionModel.DETECTION01,
                                    recognition_model=FaceRecognitionModel.RECOGNITION04,
                                    return_face_id=True)
    finally:
        server.close()
    assert len(faces) == 4 and all(face.face_id for face in faces)


def test_detect_error_reaches_the_sdk(sdk):
    with pytest.raises(HttpResponseError) as caught:
        sdk.detect(b"\0" * 2000, detection_model="detection_01",
                   recognition_model="recognition_04", return_face_id=True)
    assert caught.value.status_code == 400 and caught.value.error.code == "InvalidImage"


def test_verify(sdk, family):
    assert sdk.verify_face_to_face(face_id1=family["Dad1"], face_id2=family["Dad2"]).is_identical
    different = sdk.verify_face_to_face(face_id1=family["Dad1"], face_id2=family["Mom1"])
    assert not different.is_identical and different.confidence < 0.5


def test_find_similar_both_modes(sdk, family):
    others = [family[name] for name in NAMES if name != "Dad1"]
    person = sdk.find_similar(face_id=family["Dad1"], face_ids=others,
                              mode=FindSimilarMatchMode.MATCH_PERSON)
    assert {match.face_id for match in person} == {family["Dad2"], family["Dad3"]}
    face = sdk.find_similar(face_id=family["Dad1"], face_ids=others,
                            mode=FindSimilarMatchMode.MATCH_FACE,
                            max_num_of_candidates_returned=4)
    assert len(face) == 4 and {m.face_id for m in face[:2]} == {family["Dad2"], family["Dad3"]}


def test_group_the_family_and_identification1(sdk, family, folder):
    crowd = [face.face_id for face in _detect(sdk, (folder / "identification1.jpg").read_bytes())]
    result = sdk.group(face_ids=list(family.values()) + crowd)
    person_of = {face_id: name.rstrip("0123456789") for name, face_id in family.items()}
    assert len(result.groups) == 4
    for group in result.groups:
        people = {person_of[face_id] for face_id in group if face_id in person_of}
        assert len(people) == 1
        assert len(set(group) & set(crowd)) == 1
    assert not result.messy_group
