"""The Person Directory (contract §3.7, §11): persons independent of any group, their faces per
recognition model, and the long-running operations that change them.

It is built from the collection mechanism: the collection PERSONS of kind PERSON_DIRECTORY
holds the persons (name, userData), and one collection per recognition model (id = the model's
name, created with its first face) holds that model's faces, with a person row per person that
has faces there. Model collections need no training: searches read their live shards.

Creating a person, adding or deleting a face and deleting a person are operations
(shared/operations.py): the request checks what it can, records the operation and answers; the
queue does the write (`WORK`, run by operations.run). Deleting a person hides it at once (its
row is claimed), then the queue removes its embeddings from every model collection, then its
rows; only then does the operation report succeeded.

A client's retry gets the operation of its first request (operations.py): deletes are keyed by
their target, so deleting the same person or face again answers the same operation, pending or
done; creations are keyed by `request_key` (the edge's digest of the request), and the new
person's or face's id is derived from the same key, so a retry answers the same id too."""
from __future__ import annotations

import base64
import uuid
from typing import Any

import numpy as np
from azure.core.exceptions import ResourceExistsError

from shared import operations
from shared.operations import Status
from shared.collections import faces, memberships, repository, search, shards
from shared.collections.administration import KEEP, with_user_data
from shared.collections.kinds import PERSON_DIRECTORY, face_not_found, person_not_found
from shared.collections.repository import Collection
from shared.errors import FaceError, bad_argument
from shared.storage.face_ids import load_faces

PERSONS = "persons"
# The recognition models the Person Directory supports (contract §3.7).
MODELS = ("recognition_02", "recognition_03", "recognition_04")


def check_model(model: str) -> str:
    if model not in MODELS:
        raise bad_argument("Recognition model is not supported for this feature.")
    return model


def _collection(collection_id: str, model: str = "recognition_04") -> Collection:
    """The directory collection, created on first use (two first uses may race: one wins)."""
    try:
        return repository.get_collection(PERSON_DIRECTORY, collection_id)
    except FaceError:
        try:
            return repository.create_collection(PERSON_DIRECTORY, collection_id,
                                                collection_id, None, model)
        except FaceError:
            return repository.get_collection(PERSON_DIRECTORY, collection_id)


def gallery(model: str) -> Collection:
    """The collection of one recognition model's faces, created on first use."""
    return _collection(model, model)


def _existing(model: str) -> Collection | None:
    try:
        return repository.get_collection(PERSON_DIRECTORY, model)
    except FaceError:
        return None


def _persons() -> Collection:
    return _collection(PERSONS)


# --- persons -------------------------------------------------------------------------------

def _person_json(person: repository.Person) -> dict:
    return with_user_data({"personId": person.person_id, "name": person.name},
                          person.user_data)


def _creation(request_key: str | None, kind: str) -> tuple[str | None, str]:
    """(operation key, id of what is created): derived from the request, or new."""
    if request_key is None:
        return None, str(uuid.uuid4())
    key = operations.same_request(f"{kind}/{request_key}")
    return key, operations.derived_id(key, kind)


def create_person(name: str, user_data: str | None,
                  request_key: str | None = None) -> tuple[str, str]:
    """Queue the creation of a person: (personId, operationId)."""
    key, person_id = _creation(request_key, "createPerson")
    operation_id = operations.start({"op": "createPerson", "person": person_id, "name": name,
                                     "userData": user_data}, key)
    return person_id, operation_id


def person_exists(person_id: str) -> bool:
    try:
        repository.get_person(_persons().storage_id, person_id)
    except FaceError:
        return False
    return True


def get_person(person_id: str, status: int = 404) -> dict:
    return _person_json(repository.get_person(_persons().storage_id, person_id, status))


def list_persons(start: str | None, top: int) -> list[dict]:
    return [_person_json(p) for p in repository.list_persons(_persons().storage_id, start, top)]


def update_person(person_id: str, name: Any = KEEP, user_data: Any = KEEP) -> None:
    sid = _persons().storage_id
    repository.get_person(sid, person_id)
    changes = {column: value for column, value in (("Name", name), ("UserData", user_data))
               if value is not KEEP}
    repository.update_person(sid, person_id, changes)


def delete_person(person_id: str) -> str:
    """Queue the removal of the person's faces and rows and hide it now; the operationId (the
    same for every delete of this person)."""
    key = f"deletePerson/{person_id}"
    if operations.status(key) is None:
        get_person(person_id)
    operation_id = operations.start({"op": "deletePerson", "person": person_id}, key)
    try:
        repository.claim_person_deletion(_persons().storage_id, person_id)
    except FaceError:
        pass        # hidden already by a concurrent delete, or gone: the queue was quicker
    return operation_id


# --- faces ---------------------------------------------------------------------------------

def add_face(person_id: str, model: str, embedding: np.ndarray, user_data: str | None,
             request_key: str | None = None) -> tuple[str, str]:
    """Queue the storing of a face already embedded (so image errors answer the request):
    (persistedFaceId, operationId)."""
    repository.get_person(_persons().storage_id, person_id)
    key, face_id = _creation(request_key and f"{person_id}/{model}/{request_key}", "addFace")
    if key and operations.status(key) is Status.SUCCEEDED and \
            face_id not in list_faces(person_id, model)["persistedFaceIds"]:
        key, face_id = _creation(None, "addFace")   # added, then deleted: a new add now
    vector = base64.b64encode(embedding.astype(np.float32).tobytes()).decode()
    operation_id = operations.start({"op": "addFace", "person": person_id, "model": model,
                                     "face": face_id, "embedding": vector,
                                     "userData": user_data}, key)
    return face_id, operation_id


def _model_person(person_id: str, model: str) -> tuple[Collection | None, repository.Person | None]:
    """The model collection and the person's row there (None, None: no faces of that model)."""
    repository.get_person(_persons().storage_id, person_id)
    collection = _existing(model)
    if collection is None:
        return None, None
    try:
        return collection, repository.get_person(collection.storage_id, person_id)
    except FaceError:
        return collection, None


def list_faces(person_id: str, model: str) -> dict:
    _, person = _model_person(person_id, model)
    return {"personId": person_id, "persistedFaceIds": person.face_ids if person else []}


def _face_collection(person_id: str, model: str, face_id: str) -> Collection:
    collection, person = _model_person(person_id, model)
    if person is None or face_id not in person.face_ids:
        raise face_not_found(face_id)
    return collection


def get_face(person_id: str, model: str, face_id: str) -> dict:
    _face_collection(person_id, model, face_id)
    return faces.get_face(PERSON_DIRECTORY, model, person_id, face_id)


def update_face(person_id: str, model: str, face_id: str, user_data: str | None) -> None:
    _face_collection(person_id, model, face_id)
    faces.update_face(PERSON_DIRECTORY, model, person_id, face_id, user_data)


def delete_face(person_id: str, model: str, face_id: str) -> str:
    """Queue the removal of a face; the operationId (the same for every delete of it)."""
    key = f"deleteFace/{person_id}/{model}/{face_id}"
    if operations.status(key) is None:
        _face_collection(person_id, model, face_id)
    return operations.start({"op": "deleteFace", "person": person_id, "model": model,
                             "face": face_id}, key)


# --- searches ------------------------------------------------------------------------------

def identify(face_ids: list[str], person_ids: list[str] | None, top: int,
             threshold: float | None) -> list[dict]:
    """Identify among the given persons (None: the whole directory), in the gallery of the
    faces' recognition model."""
    # The gallery's row is read with the faces (one query for every model's: at most a few),
    # though which one is needed is only known from the faces.
    faces_found, galleries = search.parallel(
        lambda: load_faces(face_ids, 400),
        lambda: repository.list_collections(PERSON_DIRECTORY, None, 100))
    model = check_model(faces_found[face_ids[0]].recognition_model)
    collection = next((c for c in galleries if c.collection_id == model), None)
    if collection is None:      # no face of this model yet: nobody to find
        return [{"faceId": face_id, "candidates": []} for face_id in face_ids]
    only = set(person_ids) if person_ids is not None else None
    return search.identify_in(collection, face_ids, top, threshold, only, faces_found)


def person_faces(person_id: str, model: str) -> np.ndarray:
    """The (n, shards.DIM) embeddings of a person's faces of one model, for verify (400 errors)."""
    repository.get_person(_persons().storage_id, person_id, 400)
    collection = _existing(check_model(model))
    if collection is None:
        return np.zeros((0, shards.DIM), np.float32)
    try:
        return search.person_faces(PERSON_DIRECTORY, model, person_id)[1]
    except FaceError:           # no face of this model
        return np.zeros((0, shards.DIM), np.float32)


# --- the queued work -----------------------------------------------------------------------

def _gallery_changed(model: str, person_id: str) -> None:
    """After every change of a gallery's shard (the person's), before its operation succeeds:
    searches then refresh their cached gallery (galleries.live)."""
    repository.new_gallery_version(PERSON_DIRECTORY, model,
                                   shards.shard_of(person_id, PERSON_DIRECTORY.shard_count))


def _create_person(message: dict) -> None:
    try:
        repository.create_person(_persons().storage_id, message["name"], message["userData"],
                                 message["person"])
    except ResourceExistsError:
        pass                    # a repeated delivery


def _store_face(message: dict) -> None:
    person_id, model = message["person"], message["model"]
    repository.get_person(_persons().storage_id, person_id)     # not deleted meanwhile
    collection = gallery(model)
    try:
        repository.create_person(collection.storage_id, "", None, person_id)
    except ResourceExistsError:
        pass                    # the person already has faces of this model
    embedding = np.frombuffer(base64.b64decode(message["embedding"]), np.float32)
    faces.store_face(collection, person_id, embedding, message["userData"], message["face"])
    if not person_exists(person_id):     # deleted while we stored: take the face away again
        faces.delete_person(PERSON_DIRECTORY, model, person_id)
        raise person_not_found(person_id)
    _gallery_changed(model, person_id)


def _delete_face(message: dict) -> None:
    try:
        faces.delete_face(PERSON_DIRECTORY, message["model"], message["person"],
                          message["face"])
    except FaceError as err:
        if err.status != 404:       # already gone: a repeated delivery
            raise
    _gallery_changed(message["model"], message["person"])


def _delete_person(message: dict) -> None:
    """Embeddings first (every model), then the group memberships and the rows: the operation
    succeeds only after."""
    person_id = message["person"]
    for model in MODELS:
        collection = _existing(model)
        if collection is None:
            continue
        # Unconditionally, so that a repeated delivery after a half-done delete (the person
        # row already claimed) still removes every embedding.
        shards.remove(collection.storage_id,
                      shards.shard_of(person_id, PERSON_DIRECTORY.shard_count), owners={person_id})
        try:
            faces.delete_person(PERSON_DIRECTORY, model, person_id)
        except FaceError as err:
            if err.code != person_not_found(person_id).code:
                raise
        _gallery_changed(model, person_id)
    memberships.forget_person(person_id)
    repository.delete_person(_persons().storage_id, person_id)


WORK = {"createPerson": _create_person, "addFace": _store_face, "deleteFace": _delete_face,
         "deletePerson": _delete_person}
