"""Person groups and large person groups over HTTP (contract §3.3, §3.4): groups, persons,
persisted faces, training. One set of handlers, registered for both route families; each
handler gets the collection kind first and calls shared.collections.service."""
from __future__ import annotations

from typing import Any, Callable

import azure.functions as func

from functions.api import ApiRequest, Reply, operation
from shared.collections import service
from shared.collections.kinds import LARGE_PERSON_GROUP, PERSON_GROUP, Kind
from shared.errors import bad_argument
from shared.image_input import image_bytes

bp = func.Blueprint()
MAX_START = 64


def paging(req: ApiRequest) -> tuple[str | None, int]:
    start = req.query("start")
    if start is not None and len(start) > MAX_START:
        raise bad_argument(f"Invalid argument start: at most {MAX_START} characters.")
    return start, req.query_int("top", 1000, 1, 1000)


# --- groups --------------------------------------------------------------------------------

def list_groups(kind: Kind, req: ApiRequest) -> list[dict]:
    start, top = paging(req)
    return service.list_collections(kind, start, top,
                                    req.query_bool("returnRecognitionModel", False))


def create_group(kind: Kind, req: ApiRequest) -> None:
    service.create_collection(kind, req.route["groupId"], req.json())


def get_group(kind: Kind, req: ApiRequest) -> dict:
    return service.get_collection(kind, req.route["groupId"],
                                  req.query_bool("returnRecognitionModel", False))


def update_group(kind: Kind, req: ApiRequest) -> None:
    service.update_collection(kind, req.route["groupId"], req.json())


def delete_group(kind: Kind, req: ApiRequest) -> None:
    service.delete_collection(kind, req.route["groupId"])


def train(kind: Kind, req: ApiRequest) -> Reply:
    group_id = req.route["groupId"]
    service.train(kind, group_id)
    return Reply(None, 202, {"operation-Location":
                             f"{req.base_url}/{kind.route}/{group_id}/training"})


def training_status(kind: Kind, req: ApiRequest) -> dict:
    return service.training_status(kind, req.route["groupId"])


# --- persons -------------------------------------------------------------------------------

def list_persons(kind: Kind, req: ApiRequest) -> list[dict]:
    start, top = paging(req)
    return service.list_persons(kind, req.route["groupId"], start, top)


def create_person(kind: Kind, req: ApiRequest) -> dict:
    return service.create_person(kind, req.route["groupId"], req.json())


def get_person(kind: Kind, req: ApiRequest) -> dict:
    return service.get_person(kind, req.route["groupId"], req.route["personId"])


def update_person(kind: Kind, req: ApiRequest) -> None:
    service.update_person(kind, req.route["groupId"], req.route["personId"], req.json())


def delete_person(kind: Kind, req: ApiRequest) -> None:
    service.delete_person(kind, req.route["groupId"], req.route["personId"])


# --- persisted faces -----------------------------------------------------------------------

def add_face(kind: Kind, req: ApiRequest) -> dict:
    return service.add_face(kind, req.route["groupId"], req.route["personId"],
                            image_bytes(req.body_bytes(), req.content_type()),
                            req.query("targetFace"), req.query("detectionModel"),
                            req.query("userData"))


def get_face(kind: Kind, req: ApiRequest) -> dict:
    return service.get_face(kind, req.route["groupId"], req.route["personId"],
                            req.route["faceId"])


def update_face(kind: Kind, req: ApiRequest) -> None:
    service.update_face(kind, req.route["groupId"], req.route["personId"],
                        req.route["faceId"], req.json())


def delete_face(kind: Kind, req: ApiRequest) -> None:
    service.delete_face(kind, req.route["groupId"], req.route["personId"],
                        req.route["faceId"])


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
