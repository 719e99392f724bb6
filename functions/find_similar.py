"""POST /face/{apiVersion}/findsimilars: the faces most like a faceId among candidates."""
import azure.functions as func

from functions.api import ApiRequest, operation
from shared import recognition

bp = func.Blueprint()


@operation(bp, "findsimilars", ["POST"])
def find_similar(req: ApiRequest) -> list[dict]:
    recognition.require_json(req.content_type())
    return recognition.find_similar(req.json())
