"""returnFaceLandmarks=true over HTTP on real photos: Azure's 27 points for every face, in image
pixels and in anatomical order; through the official SDK and the legacy one (Face API v1.0)."""
from __future__ import annotations

import numpy as np
import pytest
from azure.ai.vision.face import FaceClient
from azure.ai.vision.face.models import FaceDetectionModel, FaceRecognitionModel
from azure.cognitiveservices.vision.face import FaceClient as LegacyFaceClient
from azure.core.credentials import AzureKeyCredential
from msrest.authentication import CognitiveServicesCredentials
from PIL import Image

from tests.conftest import TEST_KEY
from tests.service import error_code, running_service

# Contract §4.4, in its order.
NAMES = ("pupilLeft", "pupilRight", "noseTip", "mouthLeft", "mouthRight", "eyebrowLeftOuter",
         "eyebrowLeftInner", "eyeLeftOuter", "eyeLeftTop", "eyeLeftBottom", "eyeLeftInner",
         "eyebrowRightInner", "eyebrowRightOuter", "eyeRightInner", "eyeRightTop",
         "eyeRightBottom", "eyeRightOuter", "noseRootLeft", "noseRootRight", "noseLeftAlarTop",
         "noseRightAlarTop", "noseLeftAlarOutTip", "noseRightAlarOutTip", "upperLipTop",
         "upperLipBottom", "underLipTop", "underLipBottom")
# Image-left to image-right along the eye line, row by row of the face.
LEFT_TO_RIGHT = (
    ("eyebrowLeftOuter", "eyebrowLeftInner", "eyebrowRightInner", "eyebrowRightOuter"),
    ("eyeLeftOuter", "pupilLeft", "eyeLeftInner", "noseRootLeft", "noseRootRight",
     "eyeRightInner", "pupilRight", "eyeRightOuter"),
    ("noseLeftAlarOutTip", "noseLeftAlarTop", "noseRightAlarTop", "noseRightAlarOutTip"),
    ("noseLeftAlarTop", "noseTip", "noseRightAlarTop"),
    ("mouthLeft", "upperLipTop", "mouthRight"),
)
# Top to bottom, down the face. (Not the pupil between the lids: Family2-Man2 blinks, and his
# pupils, rightly, are behind the closed upper lids.)
TOP_TO_BOTTOM = (
    ("eyebrowLeftInner", "pupilLeft", "noseTip"), ("eyebrowRightInner", "pupilRight", "noseTip"),
    ("eyebrowLeftInner", "eyeLeftTop", "eyeLeftBottom", "noseTip"),
    ("eyebrowRightInner", "eyeRightTop", "eyeRightBottom", "noseTip"),
    ("eyebrowLeftOuter", "eyeLeftOuter"), ("eyebrowRightOuter", "eyeRightOuter"),
    ("noseTip", "upperLipTop", "upperLipBottom", "underLipTop", "underLipBottom"),
    ("noseLeftAlarTop", "mouthLeft"), ("noseRightAlarTop", "mouthRight"),
)
PHOTOS = ("Family1-Dad1", "Family1-Daughter1", "Family2-Lady1", "Family2-Man2", "detection1",
          "detection2", "detection3", "identification1")
# The man in detection3 is turned some 60 degrees: his points are there, but which nose point
# is left of which is no longer a fair question.
TURNED = {"detection3"}


def upright(landmarks: dict) -> dict[str, np.ndarray]:
    """The points in the face's own frame: x along the line from pupilLeft to pupilRight, y
    down the face (so a tilted head is judged like an upright one)."""
    points = {name: np.array([p["x"], p["y"]]) for name, p in landmarks.items()}
    axis = points["pupilRight"] - points["pupilLeft"]
    axis /= np.linalg.norm(axis)
    rotation = np.array([axis, [-axis[1], axis[0]]])
    return {name: rotation @ point for name, point in points.items()}


def check_face(face: dict, width: int, height: int, frontal: bool = True) -> None:
    landmarks = face["faceLandmarks"]
    assert list(landmarks) == list(NAMES)
    for point in landmarks.values():
        assert set(point) == {"x", "y"} and all(isinstance(v, float) for v in point.values())
        assert 0 <= point["x"] <= width and 0 <= point["y"] <= height
    rect = face["faceRectangle"]
    for point in landmarks.values():     # this face's points
        assert rect["left"] - rect["width"] / 4 < point["x"] < rect["left"] + 1.25 * rect["width"]
        assert rect["top"] - rect["height"] / 4 < point["y"] < rect["top"] + 1.25 * rect["height"]
    if not frontal:
        return
    points = upright(landmarks)
    for row in LEFT_TO_RIGHT:
        xs = [points[name][0] for name in row]
        assert xs == sorted(xs), row
    for column in TOP_TO_BOTTOM:
        ys = [points[name][1] for name in column]
        assert ys == sorted(ys), column
    pupils = np.linalg.norm(points["pupilRight"] - points["pupilLeft"])
    assert 0.25 * rect["width"] < pupils < 0.7 * rect["width"]


@pytest.fixture(scope="module")
def photos(folder) -> dict[str, bytes]:
    return {name: (folder / f"{name}.jpg").read_bytes() for name in PHOTOS}


@pytest.mark.parametrize("model", ["detection_01", "detection_03"])
def test_27_points_per_face_in_anatomical_order(client, photos, folder, model):
    for name, data in photos.items():
        response = client.detect(data, detectionModel=model, returnFaceLandmarks="true")
        assert response.status_code == 200, response.text
        faces = response.json()
        assert faces, name
        width, height = Image.open(folder / f"{name}.jpg").size
        for face in faces:
            check_face(face, width, height, frontal=name not in TURNED)


def test_identification1_has_four_faces_with_27_points(client, photos):
    faces = client.detect(photos["identification1"], detectionModel="detection_03",
                          returnFaceLandmarks="true").json()
    assert len(faces) == 4
    assert all(len(face["faceLandmarks"]) == 27 for face in faces)
    for face in faces:
        check_face(face, 800, 534)


def test_wire_shape_on_v1_0_with_attributes(client, photos):
    [face] = client.detect(photos["Family1-Dad1"], "v1.0", returnFaceLandmarks="true",
                           returnFaceAttributes="headPose").json()
    assert list(face) == ["faceId", "faceRectangle", "faceLandmarks", "faceAttributes"]
    [plain] = client.detect(photos["Family1-Dad1"], "v1.0").json()
    assert "faceLandmarks" not in plain and plain["faceRectangle"] == face["faceRectangle"]


def test_no_landmarks_from_detection_02(client, photos):
    response = client.detect(photos["Family1-Dad1"], detectionModel="detection_02",
                             returnFaceLandmarks="true")
    assert error_code(response) == (400, "BadArgument")
    assert response.json()["error"]["message"] == \
        "'returnLandmarks' is not supported by detection_02."


@pytest.fixture(scope="module")
def host(azurite):
    with running_service() as (host, _):
        yield host


def test_sdk_readme_example_gets_landmarks(host, folder):
    """The SDK README's detect call, landmarks part (its attributes are tested with them)."""
    with FaceClient(host.url, AzureKeyCredential(TEST_KEY)) as client:
        faces = client.detect((folder / "identification1.jpg").read_bytes(),
                              detection_model=FaceDetectionModel.DETECTION03,
                              recognition_model=FaceRecognitionModel.RECOGNITION04,
                              return_face_id=True, return_face_landmarks=True)
    assert len(faces) == 4
    for face in faces:
        marks = face.face_landmarks
        assert marks.pupil_left.x < marks.pupil_right.x
        assert marks.eyebrow_left_inner.y < marks.pupil_left.y < marks.nose_tip.y \
            < marks.upper_lip_top.y < marks.under_lip_bottom.y


def test_legacy_sdk_reads_the_landmarks(host, folder):
    client = LegacyFaceClient(host.url, CognitiveServicesCredentials(TEST_KEY))
    with open(folder / "Family1-Dad1.jpg", "rb") as image:
        [face] = client.face.detect_with_stream(image, return_face_landmarks=True,
                                                detection_model="detection_01")
    marks = face.face_landmarks
    assert marks.pupil_left.x < marks.pupil_right.x
    assert marks.nose_root_left.x < marks.nose_root_right.x
    assert marks.mouth_left.y > marks.nose_tip.y > marks.eye_left_bottom.y
