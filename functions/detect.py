"""POST /face/{apiVersion}/detect: faces in an image (body bytes or JSON {"url"})."""
import azure.functions as func

from functions import arguments
from functions.api import ApiRequest, operation
from shared import detection
from shared.detection import DetectOptions

bp = func.Blueprint()


def _options(req: ApiRequest) -> DetectOptions:
    return detection.check_options(DetectOptions(
        detection_model=arguments.detection_model(req.query("detectionModel")),
        recognition_model=arguments.recognition_model(req.query("recognitionModel")),
        return_face_id=req.query_bool("returnFaceId", True),
        return_landmarks=req.query_bool("returnFaceLandmarks", False),
        attributes=detection.parse_attributes(req.query("returnFaceAttributes")),
        return_recognition_model=req.query_bool("returnRecognitionModel", False),
        ttl=req.query_int("faceIdTimeToLive", detection.DEFAULT_TTL, *detection.TTL_RANGE)))


@operation(bp, "detect", ["POST"])
def detect(req: ApiRequest) -> list[dict]:
    options = _options(req)
    return detection.detect(arguments.image_bytes(req.body_bytes(), req.content_type()),
                            options)
