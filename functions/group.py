"""POST /face/{apiVersion}/group: faceIds grouped by likely identity."""
import azure.functions as func

from functions import arguments
from functions.api import ApiRequest, operation
from shared import comparison

bp = func.Blueprint()


@operation(bp, "group", ["POST"])
def group_faces(req: ApiRequest) -> dict:
    arguments.require_json(req.content_type())
    return comparison.group(arguments.uuid_list(req.json(), "faceIds", 2, 1000))
