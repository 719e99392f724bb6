"""POST /face/{apiVersion}/group: faceIds grouped by likely identity."""
import azure.functions as func

from functions.api import ApiRequest, operation
from shared import recognition

bp = func.Blueprint()


@operation(bp, "group", ["POST"])
def group_faces(req: ApiRequest) -> dict:
    recognition.require_json(req.content_type())
    return recognition.group(req.json())
