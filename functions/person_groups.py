"""Person groups and large person groups over HTTP (contract §3.3, §3.4): groups, persons,
persisted faces, training. One set of handlers, registered for both route families; each
handler gets the collection kind first, parses its request and calls shared.collections."""
from __future__ import annotations

from typing import Any, Callable

import azure.functions as func

from functions import arguments
from functions.api import ApiRequest, Reply, operation
from shared.collections import administration, faces
from shared.collections.kinds import (LARGE_FACE_LIST, LARGE_PERSON_GROUP, valid_id,
                                      MAX_FACE_USER_DATA, MAX_NAME, MAX_USER_DATA, PERSON_GROUP,
                                      Kind, face_not_found, person_not_found)
from shared.errors import bad_argument

bp = func.Blueprint()
MAX_START = 64


# --- arguments of the collection routes ----------------------------------------------------

def paging(req: ApiRequest) -> tuple[str | None, int]:
    start = req.query("start")
    if start is not None and len(start) > MAX_START:
        raise bad_argument(f"Invalid argument start: at most {MAX_START} characters.")
    return start, req.query_int("top", 1000, 1, 1000)


def group_id(req: ApiRequest) -> str:
    return req.route["groupId"]


def person_id(req: ApiRequest) -> str:
    raw = req.route["personId"]
    return arguments.route_uuid(raw, person_not_found(raw))


def face_id(req: ApiRequest) -> str:
    raw = req.route["faceId"]
    return arguments.route_uuid(raw, face_not_found(raw))


def changes(kind: Kind, body: dict) -> dict[str, Any]:
    """The name / userData a PATCH body sets, as keyword arguments; the others are kept."""
    given = {}
    if "name" in body:
        given["name"] = arguments.text_field(body, "name", MAX_NAME, required=True)
    if "userData" in body:
        given["user_data"] = arguments.text_field(body, "userData", MAX_USER_DATA)
    if not given and kind in (LARGE_PERSON_GROUP, LARGE_FACE_LIST):
        raise bad_argument("Both 'name' and 'userData' are empty.")
    return given


def new_face(req: ApiRequest) -> tuple[bytes, tuple[int, int, int, int] | None, str | None]:
    """The image, targetFace and userData of an add-face request."""
    image = arguments.image_bytes(req.body_bytes(), req.content_type())
    arguments.detection_model(req.query("detectionModel"))  # every model is served alike
    user_data = req.query("userData")
    if user_data is not None and len(user_data) > MAX_FACE_USER_DATA:
        raise bad_argument(f"Invalid argument userData: at most {MAX_FACE_USER_DATA} "
                           "characters.")
    return image, arguments.rectangle(req.query("targetFace"), "targetFace"), user_data


def face_user_data(req: ApiRequest) -> str | None:
    return arguments.text_field(req.json(), "userData", MAX_FACE_USER_DATA)


# --- groups --------------------------------------------------------------------------------

def list_groups(kind: Kind, req: ApiRequest) -> list[dict]:
    start, top = paging(req)
    return administration.list_collections(kind, start, top,
                                           req.query_bool("returnRecognitionModel", False))


def create_group(kind: Kind, req: ApiRequest) -> None:
    collection_id = group_id(req)
    if not valid_id(collection_id):
        raise bad_argument(f"Invalid argument {kind.id_field}.")
    body = req.json()
    model = arguments.recognition_model(body.get("recognitionModel"))
    administration.create_collection(
        kind, collection_id, arguments.text_field(body, "name", MAX_NAME, True),
        arguments.text_field(body, "userData", MAX_USER_DATA), model)


def get_group(kind: Kind, req: ApiRequest) -> dict:
    return administration.get_collection(kind, group_id(req),
                                         req.query_bool("returnRecognitionModel", False))


def update_group(kind: Kind, req: ApiRequest) -> None:
    administration.update_collection(kind, group_id(req), **changes(kind, req.json()))


def delete_group(kind: Kind, req: ApiRequest) -> None:
    administration.delete_collection(kind, group_id(req))


def train(kind: Kind, req: ApiRequest) -> Reply:
    administration.train(kind, group_id(req))
    return Reply(None, 202, {"operation-Location":
                             f"{req.base_url}/{kind.route}/{group_id(req)}/training",
                             **POLL_AGAIN})


UNFINISHED = ("notStarted", "running")
# Azure-core's pollers wait Retry-After seconds between polls (30 s without it).
POLL_AGAIN = {"Retry-After": "1"}


def status_reply(status: dict) -> Reply:
    """An operation or training status, asking pollers to come back in a second if unfinished."""
    return Reply(status, 200, POLL_AGAIN if status["status"] in UNFINISHED else {})


def training_status(kind: Kind, req: ApiRequest) -> Reply:
    status = administration.training_status(kind, group_id(req))
    reply = status_reply(status)
    if req.version == "v1.0" and status["status"] == "notStarted":
        # v1.0's enum spells it so; its SDK (azure-cognitiveservices-vision-face) rejects others.
        status["status"] = "nonstarted"
    return reply


# --- persons -------------------------------------------------------------------------------

def list_persons(kind: Kind, req: ApiRequest) -> list[dict]:
    start, top = paging(req)
    return administration.list_persons(kind, group_id(req), start, top)


def create_person(kind: Kind, req: ApiRequest) -> dict:
    body = req.json()
    return administration.create_person(
        kind, group_id(req), arguments.text_field(body, "name", MAX_NAME, True),
        arguments.text_field(body, "userData", MAX_USER_DATA))


def get_person(kind: Kind, req: ApiRequest) -> dict:
    return administration.get_person(kind, group_id(req), person_id(req))


def update_person(kind: Kind, req: ApiRequest) -> None:
    administration.update_person(kind, group_id(req), person_id(req),
                                 **changes(kind, req.json()))


def delete_person(kind: Kind, req: ApiRequest) -> None:
    faces.delete_person(kind, group_id(req), person_id(req))


# --- persisted faces -----------------------------------------------------------------------

def add_face(kind: Kind, req: ApiRequest) -> dict:
    return faces.add_face(kind, group_id(req), person_id(req), *new_face(req))


def get_face(kind: Kind, req: ApiRequest) -> dict:
    return faces.get_face(kind, group_id(req), person_id(req), face_id(req))


def update_face(kind: Kind, req: ApiRequest) -> None:
    faces.update_face(kind, group_id(req), person_id(req), face_id(req), face_user_data(req))


def delete_face(kind: Kind, req: ApiRequest) -> None:
    faces.delete_face(kind, group_id(req), person_id(req), face_id(req))


GROUP = "/{groupId}"
PERSON = GROUP + "/persons/{personId}"
FACE = PERSON + "/persistedfaces/{faceId}"
ROUTES: list[tuple[str, str, Callable[[Kind, ApiRequest], Any]]] = [
    ("", "GET", list_groups),
    (GROUP, "PUT", create_group),
    (GROUP, "GET", get_group),
    (GROUP, "PATCH", update_group),
    (GROUP, "DELETE", delete_group),
    (GROUP + "/train", "POST", train),
    (GROUP + "/training", "GET", training_status),
    (GROUP + "/persons", "GET", list_persons),
    (GROUP + "/persons", "POST", create_person),
    (PERSON, "GET", get_person),
    (PERSON, "PATCH", update_person),
    (PERSON, "DELETE", delete_person),
    (PERSON + "/persistedfaces", "POST", add_face),
    (FACE, "GET", get_face),
    (FACE, "PATCH", update_face),
    (FACE, "DELETE", delete_face),
]


def _bound(kind: Kind, action: Callable[[Kind, ApiRequest], Any]) -> Callable[[ApiRequest], Any]:
    """`action` for one kind, named uniquely (the Functions host needs distinct names)."""
    def handler(req: ApiRequest) -> Any:
        return action(kind, req)
    handler.__name__ = handler.__qualname__ = f"{action.__name__}_{kind.route}"
    handler.__doc__ = action.__doc__
    return handler


def register(blueprint: func.Blueprint, kind: Kind,
             routes: list[tuple[str, str, Callable[[Kind, ApiRequest], Any]]]) -> None:
    """Each (route suffix, method, action) as an operation of `kind`'s route family."""
    for suffix, method, action in routes:
        operation(blueprint, kind.route + suffix, [method])(_bound(kind, action))


for _kind in (PERSON_GROUP, LARGE_PERSON_GROUP):
    register(bp, _kind, ROUTES)
