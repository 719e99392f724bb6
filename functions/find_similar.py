"""POST /face/{apiVersion}/findsimilars: the faces most like a faceId among candidates (faceIds,
a face list or a large face list)."""
import azure.functions as func

from functions import arguments
from functions.api import ApiRequest, operation
from shared import comparison, similarity
from shared.collections import search
from shared.collections.kinds import FACE_LIST, LARGE_FACE_LIST
from shared.errors import bad_argument

bp = func.Blueprint()
# The body field that names the face list -> its kind.
LIST_FIELDS = {kind.id_field: kind for kind in (FACE_LIST, LARGE_FACE_LIST)}


@operation(bp, "findsimilars", ["POST"])
def find_similar(req: ApiRequest) -> list[dict]:
    arguments.require_json(req.content_type())
    body = req.json()
    query_id = arguments.uuid_field(body, "faceId")
    limit = arguments.int_field(body, "maxNumOfCandidatesReturned", 20, 1, 1000)
    mode = arguments.choice(body.get("mode"), similarity.MODES, "mode")
    named = [name for name in ("faceIds", *LIST_FIELDS) if body.get(name) is not None]
    if len(named) != 1:
        raise bad_argument("Invalid argument: give exactly one of faceIds, faceListId and "
                           "largeFaceListId.")
    if named[0] == "faceIds":
        return comparison.find_similar(query_id, arguments.uuid_list(body, "faceIds", 1, 1000),
                                       limit, mode)
    return search.find_similar(LIST_FIELDS[named[0]], arguments.container_id(body, named[0]),
                               query_id, limit, mode)
