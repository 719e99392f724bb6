"""POST /face/{apiVersion}/verify: two faceIds, or a faceId and a person, the same person?"""
import azure.functions as func

from functions import arguments
from functions.api import ApiRequest, operation
from shared import comparison
from shared.collections.kinds import LARGE_PERSON_GROUP, PERSON_GROUP
from shared.errors import bad_argument

bp = func.Blueprint()
# The body field that names the person's group -> its kind.
GROUP_FIELDS = {kind.id_field: kind for kind in (PERSON_GROUP, LARGE_PERSON_GROUP)}


@operation(bp, "verify", ["POST"])
def verify(req: ApiRequest) -> dict:
    arguments.require_json(req.content_type())
    body = req.json()
    if body.get("faceId1") is not None or body.get("faceId2") is not None:
        return comparison.verify_faces(arguments.uuid_field(body, "faceId1"),
                                       arguments.uuid_field(body, "faceId2"))
    face_id = arguments.uuid_field(body, "faceId")
    person_id = arguments.uuid_field(body, "personId")
    named = [name for name in GROUP_FIELDS if body.get(name) is not None]
    if len(named) > 1:
        raise bad_argument("Invalid argument: give only one of personGroupId and "
                           "largePersonGroupId.")
    if not named:
        return comparison.verify_person(face_id, person_id, None, None)
    return comparison.verify_person(face_id, person_id, GROUP_FIELDS[named[0]],
                                    arguments.container_id(body, named[0]))
