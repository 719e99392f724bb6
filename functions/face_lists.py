"""Face lists and large face lists over HTTP (contract §3.5, §3.6): lists of persisted faces
without persons. The list-level handlers are the person-group ones (same shapes, same domain
functions); the face handlers here pass no person. Face lists are searchable at once; large face lists
after training, as in Azure."""
from __future__ import annotations

from typing import Any, Callable

import azure.functions as func

from functions.api import ApiRequest
from functions.person_groups import (create_group, delete_group, face_id, face_user_data,
                                     get_group, group_id, list_groups, new_face, paging, register,
                                     train, training_status, update_group)
from shared.collections import administration, faces
from shared.collections.kinds import FACE_LIST, LARGE_FACE_LIST, Kind

bp = func.Blueprint()
# One Table page: all of a face list's faces (1,000 at most) and all face lists (the
# FACE_FACELIST_LIMIT setting, 64 by default).
ALL = 1000


def list_face_lists(kind: Kind, req: ApiRequest) -> list[dict]:
    """GET /facelists has no paging: every list."""
    return administration.list_collections(kind, None, ALL,
                                           req.query_bool("returnRecognitionModel", False))


def get_face_list(kind: Kind, req: ApiRequest) -> dict:
    """A face list comes with its faces (a large face list does not: they are paged)."""
    face_list = get_group(kind, req)
    return {**face_list, "persistedFaces": faces.list_faces(kind, group_id(req), None, ALL)}


def list_faces(kind: Kind, req: ApiRequest) -> list[dict]:
    start, top = paging(req)
    return faces.list_faces(kind, group_id(req), start, top)


def add_face(kind: Kind, req: ApiRequest) -> dict:
    return faces.add_face(kind, group_id(req), None, *new_face(req))


def get_face(kind: Kind, req: ApiRequest) -> dict:
    return faces.get_face(kind, group_id(req), None, face_id(req))


def update_face(kind: Kind, req: ApiRequest) -> None:
    faces.update_face(kind, group_id(req), None, face_id(req), face_user_data(req))


def delete_face(kind: Kind, req: ApiRequest) -> None:
    faces.delete_face(kind, group_id(req), None, face_id(req))


LIST = "/{groupId}"
FACES = LIST + "/persistedfaces"
FACE = FACES + "/{faceId}"
Routes = list[tuple[str, str, Callable[[Kind, ApiRequest], Any]]]
# What both kinds do alike; a face list adds its own listing and GET (with faces), a large
# face list paging, training and single-face operations.
COMMON_ROUTES: Routes = [
    (LIST, "PUT", create_group),
    (LIST, "PATCH", update_group),
    (LIST, "DELETE", delete_group),
    (FACES, "POST", add_face),
    (FACE, "DELETE", delete_face),
]
FACE_LIST_ROUTES: Routes = COMMON_ROUTES + [
    ("", "GET", list_face_lists),
    (LIST, "GET", get_face_list),
]
LARGE_FACE_LIST_ROUTES: Routes = COMMON_ROUTES + [
    ("", "GET", list_groups),
    (LIST, "GET", get_group),
    (LIST + "/train", "POST", train),
    (LIST + "/training", "GET", training_status),
    (FACES, "GET", list_faces),
    (FACE, "GET", get_face),
    (FACE, "PATCH", update_face),
]

register(bp, FACE_LIST, FACE_LIST_ROUTES)
register(bp, LARGE_FACE_LIST, LARGE_FACE_LIST_ROUTES)
