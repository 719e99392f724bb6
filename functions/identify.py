"""POST /face/{apiVersion}/identify: the persons of a (large) person group, or of the Person
Directory, most like each face."""
import azure.functions as func

from functions import arguments
from functions.api import ApiRequest, operation
from shared.collections import directory, dynamic_groups, search
from shared.collections.kinds import DYNAMIC_PERSON_GROUP, LARGE_PERSON_GROUP, PERSON_GROUP
from shared.errors import FaceError

bp = func.Blueprint()
OTHER_SCOPES = ("dynamicPersonGroupId", "personIds")
MAX_PERSON_IDS = 30


def _scope(body: dict):
    """(kind, id) of the group the body names, or (None, the personIds: None for all), with
    the contract's error for any other combination."""
    groups = [kind for kind in (PERSON_GROUP, LARGE_PERSON_GROUP)
              if body.get(kind.id_field) is not None]
    others = [name for name in OTHER_SCOPES if body.get(name) is not None]
    if others and groups or len(others) > 1:
        raise FaceError("IncompatibleIdentificationScopeParametersCombination",
                        "Give only one of personGroupId, largePersonGroupId, "
                        "dynamicPersonGroupId and personIds.")
    if others == ["personIds"]:
        return None, _person_ids(body)
    if others:
        return DYNAMIC_PERSON_GROUP, arguments.container_id(body, "dynamicPersonGroupId")
    if len(groups) == 2:
        raise FaceError("PersonGroupIdAndLargePersonGroupIdBothNotNull",
                        "Large person group ID and person group ID are both not null.")
    if not groups:
        raise FaceError("PersonGroupIdAndLargePersonGroupIdBothNull",
                        "Large person group ID and person group ID are both null.")
    return groups[0], arguments.container_id(body, groups[0].id_field)


def _person_ids(body: dict) -> list[str] | None:
    """The directory persons to search: up to 30, or `["*"]` (None here) for all of them."""
    if body.get("personIds") == ["*"]:
        return None
    return arguments.uuid_list(body, "personIds", 1, MAX_PERSON_IDS)


@operation(bp, "identify", ["POST"])
def identify(req: ApiRequest) -> list[dict]:
    arguments.require_json(req.content_type())
    body = req.json()
    face_ids = arguments.uuid_list(body, "faceIds", 1, 10)
    default_top = 1 if req.version == "v1.0" else 10
    top = arguments.int_field(body, "maxNumOfCandidatesReturned", default_top, 1, 100)
    kind, scope = _scope(body)
    threshold = arguments.number_field(body, "confidenceThreshold", 0, 1)
    if kind is None:
        return directory.identify(face_ids, scope, top, threshold)
    if kind is DYNAMIC_PERSON_GROUP:
        return dynamic_groups.identify(face_ids, scope, top, threshold)
    return search.identify(kind, scope, face_ids, top, threshold)
