"""The Face Studio: `GET /` leads to `/studio/`, whose plain HTML/CSS/ES-module files come from
the repo's `studio/` folder. These routes are public (no key): they serve only the page's own
files and the list of detect options, never stored data. The page asks for the key and sends it
with each API call, like any other client."""
import json
from pathlib import Path
from urllib.parse import urlsplit

import azure.functions as func

from functions.api import error_response
from shared import detection, model_names
from shared.errors import FaceError

bp = func.Blueprint()

FILES = Path(__file__).resolve().parent.parent / "studio"
CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript",
                 ".svg": "image/svg+xml"}
# Everything the page loads comes from here; photos are shown from blob: URLs (local files) or
# from the http(s) URL the user typed for Detect.
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data: http: https:; "
                               "object-src 'none'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
}
# Every returnFaceAttributes value of the v1.2 contract (§4.2); the studio offers those this
# deployment accepts.
CONTRACT_ATTRIBUTES = ("headPose", "glasses", "occlusion", "accessories", "blur", "exposure",
                       "noise", "mask", "qualityForRecognition", "age", "smile", "facialHair",
                       "hair")
OPTIONS_FILE = "api-options.json"


def _redirect(location: str) -> func.HttpResponse:
    return func.HttpResponse(status_code=302, headers={"Location": location, **HEADERS})


# `{root:maxlength(0)?}` rather than an empty route: the Functions host does not invoke a
# function whose route is "" (azure-functions-host#4638), but does match this at the site root.
@bp.route(route="{root:maxlength(0)?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def studio_home(req: func.HttpRequest) -> func.HttpResponse:
    return _redirect("/studio/")


@bp.route(route="studio/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def studio_files(req: func.HttpRequest) -> func.HttpResponse:
    path = req.route_params.get("path") or ""
    if not path and not urlsplit(req.url).path.endswith("/"):
        return _redirect("/studio/")     # the page's relative links need the trailing slash
    if path == OPTIONS_FILE:
        return func.HttpResponse(json.dumps(detect_options()), mimetype="application/json",
                                 headers=HEADERS)
    file = static_file(path or "index.html")
    if file is None:
        return error_response(404, "404", "Resource not found.", "-")
    return func.HttpResponse(file.read_bytes(), mimetype=CONTENT_TYPES[file.suffix],
                             charset="utf-8", headers=HEADERS)


def static_file(path: str) -> Path | None:
    """The studio file at `path`, or None when absent, of an unserved type, or outside
    `studio/` (`..` and symlinks included)."""
    target = (FILES / path).resolve()
    if not target.is_relative_to(FILES) or target.suffix not in CONTENT_TYPES \
            or not target.is_file():
        return None
    return target


def detect_options() -> dict:
    """The models, attributes and landmarks the Detect tab offers: what this deployment's detect
    accepts rather than a list kept in the page."""
    return {
        "detectionModels": list(model_names.DETECTION_MODELS),
        "recognitionModels": list(model_names.RECOGNITION_MODELS),
        # Per detection model: the attributes detect accepts with it (and recognition_04).
        "attributes": {model: [name for name in CONTRACT_ATTRIBUTES if _accepted(
            lambda name=name, model=model: detection.check_options(detection.DetectOptions(
                detection_model=model, recognition_model="recognition_04",
                attributes=detection.parse_attributes(name))))]
            for model in model_names.DETECTION_MODELS},
        "landmarks": _accepted(lambda: detection.check_options(detection.DetectOptions(
            detection_model="detection_03", return_landmarks=True))),
    }


def _accepted(check) -> bool:
    try:
        check()
    except FaceError:
        return False
    return True
