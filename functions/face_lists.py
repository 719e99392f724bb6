"""Face lists and large face lists over HTTP (contract §3.5, §3.6): lists of persisted faces
without persons. The list-level handlers are the person-group ones (same shapes, same service);
the face handlers here pass no person. Face lists are searchable at once; large face lists
after training, as in Azure."""
from __future__ import annotations

from typing import Any, Callable

import azure.functions as func

from functions.api import ApiRequest
from functions.person_groups import (create_group, delete_group, get_group, list_groups, paging,
                                     register, train, training_status, update_group)
from shared.collections import service
from shared.collections.kinds import FACE_LIST, LARGE_FACE_LIST, Kind
from shared.image_input import image_bytes

bp = func.Blueprint()
ALL = 1000      # a face list holds at most 1,000 faces, and there are at most 64 lists


def list_face_lists(kind: Kind, req: ApiRequest) -> list[dict]:
    """GET /facelists has no paging: every list."""
    return service.list_collections(kind, None, ALL,
                                    req.query_bool("returnRecognitionModel", False))


def get_face_list(kind: Kind, req: ApiRequest) -> dict:
    """A face list comes with its faces (a large face list does not: they are paged)."""
    face_list = get_group(kind, req)
    return {**face_list, "persistedFaces": service.list_faces(kind, req.route["groupId"],
                                                              None, ALL)}


def list_faces(kind: Kind, req: ApiRequest) -> list[dict]:
    start, top = paging(req)
    return service.list_faces(kind, req.route["groupId"], start, top)


def add_face(kind: Kind, req: ApiRequest) -> dict:
    return service.add_face(kind, req.route["groupId"], None,
                            image_bytes(req.body_bytes(), req.content_type()),
                            req.query("targetFace"), req.query("detectionModel"),
                            req.query("userData"))


def get_face(kind: Kind, req: ApiRequest) -> dict:
    return service.get_face(kind, req.route["groupId"], None, req.route["faceId"])


def update_face(kind: Kind, req: ApiRequest) -> None:
    service.update_face(kind, req.route["groupId"], None, req.route["faceId"], req.json())


def delete_face(kind: Kind, req: ApiRequest) -> None:
    service.delete_face(kind, req.route["groupId"], None, req.route["faceId"])


LIST = "/{groupId}"
FACES = LIST + "/persistedfaces"
FACE = FACES + "/{faceId}"
Routes = list[tuple[str, str, Callable[[Kind, ApiRequest], Any]]]
FACE_LIST_ROUTES: Routes = [
    ("", "GET", list_face_lists),
    (LIST, "PUT", create_group),
    (LIST, "GET", get_face_list),
    (LIST, "PATCH", update_group),
    (LIST, "DELETE", delete_group),
    (FACES, "POST", add_face),
    (FACE, "DELETE", delete_face),
]
LARGE_FACE_LIST_ROUTES: Routes = [
    ("", "GET", list_groups),
    (LIST, "PUT", create_group),
    (LIST, "GET", get_group),
    (LIST, "PATCH", update_group),
    (LIST, "DELETE", delete_group),
    (LIST + "/train", "POST", train),
    (LIST + "/training", "GET", training_status),
    (FACES, "GET", list_faces),
    (FACES, "POST", add_face),
    (FACE, "GET", get_face),
    (FACE, "PATCH", update_face),
    (FACE, "DELETE", delete_face),
]

register(bp, FACE_LIST, FACE_LIST_ROUTES)
register(bp, LARGE_FACE_LIST, LARGE_FACE_LIST_ROUTES)
