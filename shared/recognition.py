"""Verify, find similar and group (contract §3.2): body validation, faces from the faceId
cache, and the dispatch by body fields to the other kinds of targets (person groups for
verify, face lists for find similar)."""
from __future__ import annotations

import re

import numpy as np

from shared import grouping, similarity
from shared.collections import service
from shared.collections.kinds import (FACE_LIST, LARGE_FACE_LIST, LARGE_PERSON_GROUP, PERSON_GROUP,
                                      person_not_found, valid_id)
from shared.errors import bad_argument
from shared.inference import get_engine
from shared.storage.face_ids import load_faces

_UUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)

# The body field that names the target container -> its kind.
PERSON_SCOPES = {kind.id_field: kind for kind in (PERSON_GROUP, LARGE_PERSON_GROUP)}
LIST_SCOPES = {kind.id_field: kind for kind in (FACE_LIST, LARGE_FACE_LIST)}


# --- body fields -------------------------------------------------------------------------

def require_json(content_type: str) -> None:
    if content_type != "application/json":
        raise bad_argument("Invalid Media Type: the body must be application/json.")


def uuid_field(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None:
        raise bad_argument(f"Invalid argument {name}: it is required.")
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise bad_argument(f"Invalid argument {name}: must be a UUID.")
    return value.lower()


def uuid_list(body: dict, name: str, low: int, high: int) -> list[str]:
    """A list of UUIDs of `low`..`high` items, duplicates removed (first kept)."""
    value = body.get(name)
    if not isinstance(value, list):
        raise bad_argument(f"Invalid argument {name}: a list of UUIDs is required.")
    if not low <= len(value) <= high:
        raise bad_argument(f"Invalid argument {name}: must hold {low} to {high} items.")
    if not all(isinstance(item, str) and _UUID.fullmatch(item) for item in value):
        raise bad_argument(f"Invalid argument {name}: every item must be a UUID.")
    return list(dict.fromkeys(item.lower() for item in value))


def int_field(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_argument(f"Invalid argument {name}: must be an integer from {low} to {high}.")
    return value


def container_id(body: dict, name: str) -> str:
    value = body.get(name)
    if not valid_id(value):
        raise bad_argument(f"Invalid argument {name}: 1-64 characters of a-z, 0-9, '-', '_'.")
    return value


def _mode(body: dict) -> str:
    value = body.get("mode", "matchPerson")
    for mode in similarity.MODES:
        if isinstance(value, str) and value.lower() == mode.lower():
            return mode
    raise bad_argument("Invalid argument mode: must be matchPerson or matchFace.")


def _present(body: dict, names) -> list[str]:
    return [name for name in names if body.get(name) is not None]


# --- operations ----------------------------------------------------------------------------

def verify(body: dict) -> dict:
    if _present(body, ("faceId1", "faceId2")):
        return _verify_faces(uuid_field(body, "faceId1"), uuid_field(body, "faceId2"))
    face_id, person_id = uuid_field(body, "faceId"), uuid_field(body, "personId")
    scopes = _present(body, PERSON_SCOPES)
    if len(scopes) > 1:
        raise bad_argument("Invalid argument: give only one of personGroupId and "
                           "largePersonGroupId.")
    face = load_faces([face_id], 404)[face_id]
    if not scopes:
        # A person without a group lives in the Person Directory, which this deployment
        # does not hold: no such person exists.
        raise person_not_found(person_id, 400)
    model, vectors = service.person_faces(PERSON_SCOPES[scopes[0]],
                                          container_id(body, scopes[0]), person_id)
    similarity.require_model(face.recognition_model, [model])
    best = float(np.max(vectors @ face.embedding)) if len(vectors) else -1.0
    return similarity.verification(best, get_engine().confidence)


def _verify_faces(first_id: str, second_id: str) -> dict:
    faces = load_faces([first_id, second_id], 404)
    first, second = faces[first_id], faces[second_id]
    similarity.require_model(first.recognition_model, [second.recognition_model])
    return similarity.verification(float(first.embedding @ second.embedding),
                                   get_engine().confidence)


def find_similar(body: dict) -> list[dict]:
    query_id = uuid_field(body, "faceId")
    limit = int_field(body, "maxNumOfCandidatesReturned", 20, 1, 1000)
    mode = _mode(body)
    scopes = _present(body, ("faceIds", *LIST_SCOPES))
    if len(scopes) != 1:
        raise bad_argument("Invalid argument: give exactly one of faceIds, faceListId and "
                           "largeFaceListId.")
    if scopes[0] != "faceIds":
        return service.find_similar(LIST_SCOPES[scopes[0]], container_id(body, scopes[0]),
                                    query_id, limit, mode)
    candidate_ids = uuid_list(body, "faceIds", 1, 1000)
    faces = load_faces([query_id, *candidate_ids], 400)
    query, candidates = faces[query_id], [faces[face_id] for face_id in candidate_ids]
    similarity.require_model(query.recognition_model,
                             [face.recognition_model for face in candidates])
    vectors = np.stack([face.embedding for face in candidates])
    matches = similarity.ranked(query.embedding, vectors, mode, limit, get_engine().confidence)
    return [{"faceId": candidate_ids[index], "confidence": value} for index, value in matches]


def group(body: dict) -> dict:
    face_ids = uuid_list(body, "faceIds", 2, 1000)
    faces = load_faces(face_ids, 400)
    models = [faces[face_id].recognition_model for face_id in face_ids]
    similarity.require_model(models[0], models)
    vectors = np.stack([faces[face_id].embedding for face_id in face_ids])
    threshold = grouping.similarity_at(get_engine().confidence, grouping.GROUP_CONFIDENCE)
    clusters = grouping.cluster(vectors, threshold)
    return grouping.groups_and_messy(face_ids, clusters)
