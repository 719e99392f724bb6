"""POST /face/{apiVersion}/verify: two faceIds, or a faceId and a person, the same person?"""
import azure.functions as func

from functions.api import ApiRequest, operation
from shared import recognition

bp = func.Blueprint()


@operation(bp, "verify", ["POST"])
def verify(req: ApiRequest) -> dict:
    recognition.require_json(req.content_type())
    return recognition.verify(req.json())
