"""Detect: running the engine, keeping faceIds, and the response in the wire shape (contract
§4.3, §5 FaceDetectionResult). The options arrive parsed (functions/detect.py); the combination
rules between them are here. Model names and the models behind them:
shared/model_names.py; the landmarks (detection_01 and detection_03) come from MediaPipe's face mesh and iris models (shared/inference/landmarks.py);
mask, glasses, occlusion and accessories from the face-mask classifier and the heads on its
features (shared/inference/appearance.py), shaped by shared/appearance_attributes.py."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from shared import appearance_attributes
from shared.errors import FaceError, bad_argument
from shared.inference import Face, FaceLandmarks, FaceQuality, pipeline
from shared.inference.appearance import Appearance
from shared.model_names import QUALITY_MODELS
from shared.storage.face_ids import StoredFace, default_store, expiry

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
# faceId writes in flight while their detect computes the details (one per request served).
_SAVES = ThreadPoolExecutor(8, thread_name_prefix="face-id-saves")


@dataclass(frozen=True)
class DetectOptions:
    detection_model: str = "detection_01"
    recognition_model: str = "recognition_01"
    return_face_id: bool = True
    return_landmarks: bool = False
    attributes: tuple[str, ...] = ()
    return_recognition_model: bool = False
    ttl: int = DEFAULT_TTL


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
    if options.return_landmarks and options.detection_model == "detection_02":
        raise bad_argument("'returnLandmarks' is not supported by detection_02.")
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
    found = pipeline.find_faces(data)
    rectangles = [rectangle(face, *found.size) for face in found.faces]
    face_ids: list[str | None] = [None] * len(found.faces)
    saving = None
    if options.return_face_id and found.faces:
        stored = _to_keep(found.embed(), rectangles, options)
        face_ids = [face.face_id for face in stored]
        if options.return_landmarks or options.attributes:
            # Written while the details are computed (a storage round trip beside CPU
            # work); the answer waits for both.
            saving = _SAVES.submit(default_store().save, stored)
        else:
            default_store().save(stored)
    nothing: list[None] = [None] * len(found.faces)
    landmarks, looks, qualities = found.details(
        landmarks=options.return_landmarks,
        appearance=bool(set(options.attributes) & set(appearance_attributes.NAMES)),
        quality=bool(options.attributes))
    if saving is not None:
        saving.result()
    return [_result(*result, options)
            for result in zip(face_ids, rectangles, landmarks or nothing, qualities or nothing,
                              looks or nothing)]


def rectangle(face: Face, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer left, top, width, height, clipped to the image. Azure's face rectangles are
    square; YuNet's box is as wide but taller (it takes in the forehead), so the rectangle is
    the square of the box's width around the box's centre (the centre is what targetFace
    matches on, see shared/collections/faces.py)."""
    side = max(1, round(face.width))
    left = round(face.left + face.width / 2 - side / 2)
    top = round(face.top + face.height / 2 - side / 2)
    right, bottom = min(width, left + side), min(height, top + side)
    left, top = max(0, left), max(0, top)
    return left, top, max(1, right - left), max(1, bottom - top)


def _to_keep(vectors: np.ndarray, rectangles: list,
             options: DetectOptions) -> list[StoredFace]:
    expires_at = expiry(options.ttl)
    return [StoredFace(str(uuid.uuid4()), vector, options.recognition_model, rect, expires_at)
            for vector, rect in zip(vectors, rectangles)]


def _result(face_id: str | None, rect: tuple, landmarks: FaceLandmarks | None,
            quality: FaceQuality | None, look: Appearance | None,
            options: DetectOptions) -> dict:
    left, top, width, height = rect
    result: dict = {}
    if face_id:
        result["faceId"] = face_id
    if options.return_recognition_model:
        result["recognitionModel"] = options.recognition_model
    result["faceRectangle"] = {"top": top, "left": left, "width": width, "height": height}
    if landmarks is not None:
        result["faceLandmarks"] = {name: {"x": round(x, 1), "y": round(y, 1)}
                                   for name, (x, y) in landmarks.azure().items()}
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
