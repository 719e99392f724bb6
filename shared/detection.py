"""Detect: the query options (contract §3.1, §4), running the engine, keeping faceIds, and the
response in the wire shape (§4.3, §5 FaceDetectionResult).

Which real model serves each contract model name. Every name is served by the same pair, so
results do not depend on the name; the names exist for wire compatibility and so that faceIds
carry their recognition model (mixing models is rejected, as Azure does):

  detection_01, detection_02, detection_03  ->  YuNet 2023mar, OpenCV Zoo (yunet_2023mar.onnx)
  recognition_01 .. recognition_04          ->  FaceNet Inception-ResNet-v1, 128-d
                                                (facenet_inception_resnet_v1.onnx)

mask, glasses, occlusion and accessories come from the face-mask classifier and the heads on
its features (shared/inference/appearance.py), shaped by shared/appearance_attributes.py.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from shared import appearance_attributes
from shared.errors import FaceError, bad_argument
from shared.inference import Face, FaceQuality, get_engine
from shared.inference.appearance import Appearance
from shared.storage.face_ids import StoredFace, default_store, expiry

DETECTION_MODELS = ("detection_01", "detection_02", "detection_03")
RECOGNITION_MODELS = ("recognition_01", "recognition_02", "recognition_03", "recognition_04")
DEFAULT_TTL = 86400
TTL_RANGE = (60, 86400)         # faceIdTimeToLive, seconds

QUALITY_ATTRIBUTES = ("headPose", "blur", "exposure", "noise", "qualityForRecognition")
SUPPORTED_ATTRIBUTES = QUALITY_ATTRIBUTES + appearance_attributes.NAMES
# What each detection model serves (contract §4.1; for detection_03 the current how-to table,
# plus noise, which is measured the same way whatever the model).
MODEL_ATTRIBUTES = {
    "detection_01": ("headPose", "glasses", "occlusion", "accessories", "blur", "exposure",
                     "noise", "qualityForRecognition"),
    "detection_02": (),
    "detection_03": ("headPose", "glasses", "occlusion", "mask", "blur", "exposure", "noise",
                     "qualityForRecognition"),
}
# Limited-access (age, smile, facialHair, hair) and retired (v1.0's gender, emotion, makeup)
# attributes: 403 UnsupportedFeature, as Azure answers deployments without that approval.
UNSUPPORTED_ATTRIBUTES = ("age", "smile", "facialHair", "hair", "gender", "emotion", "makeup")
QUALITY_MODELS = ("recognition_03", "recognition_04")


@dataclass(frozen=True)
class DetectOptions:
    detection_model: str = "detection_01"
    recognition_model: str = "recognition_01"
    return_face_id: bool = True
    return_landmarks: bool = False
    attributes: tuple[str, ...] = ()
    return_recognition_model: bool = False
    ttl: int = DEFAULT_TTL


def model_name(raw: str | None, allowed: tuple[str, ...], parameter: str) -> str:
    """A model name from a query or body (case-insensitive); the first is the default."""
    if raw is None or raw == "":
        return allowed[0]
    if raw.lower() not in allowed:
        raise bad_argument(f"Invalid argument {parameter}: must be one of {', '.join(allowed)}.")
    return raw.lower()


def parse_attributes(csv: str | None) -> tuple[str, ...]:
    """`returnFaceAttributes` CSV -> canonical names, refusing unknown and unsupported ones."""
    canonical = {name.lower(): name for name in SUPPORTED_ATTRIBUTES + UNSUPPORTED_ATTRIBUTES}
    names: list[str] = []
    for item in (csv or "").split(","):
        if not item.strip():
            continue
        name = canonical.get(item.strip().lower())
        if name is None:
            raise bad_argument("Invalid argument returnFaceAttributes.")
        if name in UNSUPPORTED_ATTRIBUTES:
            raise FaceError("UnsupportedFeature", "Return Attributes (emotion, gender, age, "
                            "smile, facial hair, hair and makeup) have been deprecated and "
                            f"are not supported: '{name}'.", 403)
        if name not in names:
            names.append(name)
    return tuple(names)


def check_options(options: DetectOptions) -> DetectOptions:
    """Combination rules between models and what is asked for (contract §4.1)."""
    if options.return_landmarks:
        if options.detection_model == "detection_02":
            raise bad_argument("'returnLandmarks' is not supported by detection_02.")
        raise bad_argument("'returnFaceLandmarks' is not supported by this deployment.")
    if options.attributes and options.detection_model == "detection_02":
        raise bad_argument("'returnFaceAttributes' is not supported by detection_02.")
    for name in options.attributes:
        if name not in MODEL_ATTRIBUTES[options.detection_model]:
            raise bad_argument(f"Attribute '{name}' is not supported by "
                               f"{options.detection_model}.")
    if ("qualityForRecognition" in options.attributes
            and options.recognition_model not in QUALITY_MODELS):
        raise bad_argument("Attribute 'qualityForRecognition' is only supported with "
                           "recognition_03 or recognition_04.")
    return options


def detect(data: bytes, options: DetectOptions) -> list[dict]:
    """Detect faces in an image; keep their embeddings when faceIds are asked for."""
    engine = get_engine()
    image = engine.decode(data)
    faces = engine.detect(image)
    height, width = image.shape[:2]
    rectangles = [rectangle(face, width, height) for face in faces]
    face_ids: list[str | None] = [None] * len(faces)
    if options.return_face_id and faces:
        face_ids = _keep(engine.embed(image, faces), rectangles, options)
    qualities = [engine.quality(image, face) if options.attributes else None for face in faces]
    looks: list[Appearance | None] = [None] * len(faces)
    if set(options.attributes) & set(appearance_attributes.NAMES):
        looks = engine.appearance(image, faces)
    return [_result(face_id, rect, quality, look, options)
            for face_id, rect, quality, look in zip(face_ids, rectangles, qualities, looks)]


def rectangle(face: Face, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer left, top, width, height, clipped to the image. Azure's face rectangles are
    square; YuNet's box is as wide but taller (it takes in the forehead), so the rectangle is
    the square of the box's width around the box's centre (the centre is what targetFace
    matches on, see shared/collections/service.py)."""
    side = max(1, round(face.width))
    left = round(face.left + face.width / 2 - side / 2)
    top = round(face.top + face.height / 2 - side / 2)
    right, bottom = min(width, left + side), min(height, top + side)
    left, top = max(0, left), max(0, top)
    return left, top, max(1, right - left), max(1, bottom - top)


def _keep(vectors: np.ndarray, rectangles: list, options: DetectOptions) -> list[str]:
    expires_at = expiry(options.ttl)
    stored = [StoredFace(str(uuid.uuid4()), vector, options.recognition_model, rect, expires_at)
              for vector, rect in zip(vectors, rectangles)]
    default_store().save(stored)
    return [face.face_id for face in stored]


def _result(face_id: str | None, rect: tuple, quality: FaceQuality | None,
            look: Appearance | None, options: DetectOptions) -> dict:
    left, top, width, height = rect
    result: dict = {}
    if face_id:
        result["faceId"] = face_id
    if options.return_recognition_model:
        result["recognitionModel"] = options.recognition_model
    result["faceRectangle"] = {"top": top, "left": left, "width": width, "height": height}
    if quality is not None:
        result["faceAttributes"] = attributes(quality, look, options.attributes)
    return result


def attributes(quality: FaceQuality, look: Appearance | None, names: tuple[str, ...]) -> dict:
    """The asked-for attributes, in the live service's value shapes and casing (§4.3); `look`
    is there when any of the appearance attributes is asked for."""
    values = {
        "headPose": lambda: {"pitch": round(quality.pitch, 1), "roll": round(quality.roll, 1),
                             "yaw": round(quality.yaw, 1)},
        "blur": lambda: {"blurLevel": quality.blur_level, "value": round(quality.blur, 2)},
        "exposure": lambda: {"exposureLevel": quality.exposure_level,
                             "value": round(quality.exposure, 2)},
        "noise": lambda: {"noiseLevel": quality.noise_level, "value": round(quality.noise, 2)},
        "qualityForRecognition": lambda: quality.recognition,
    }
    values.update({name: lambda shape=shape: shape(look)
                   for name, shape in appearance_attributes.VALUES.items()})
    return {name: values[name]() for name in names}
