"""Collections and their persons: create, read, list, update, delete, and training requests.

Every function takes the collection `Kind` first, so person groups, large person groups, face
lists and large face lists share one implementation; ids and texts arrive validated
(functions/arguments.py). Results are the contract's JSON shapes. Deleting a person touches
embeddings and lives with the faces (shared/collections/faces.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from shared import settings
from shared.collections import galleries, repository, shards, snapshots, training
from shared.collections.kinds import FACE_LIST, Kind
from shared.collections.repository import Collection
from shared.errors import quota_exceeded

# An argument of an update left as it is (None is a value: it clears userData).
KEEP: Any = object()


def _columns(name: Any, user_data: Any) -> dict:
    return {column: value for column, value in (("Name", name), ("UserData", user_data))
            if value is not KEEP}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def with_user_data(shape: dict, user_data: str | None) -> dict:
    return {**shape, "userData": user_data} if user_data is not None else shape


# --- collections ---------------------------------------------------------------------------

def collection_json(collection: Collection, return_model: bool) -> dict[str, Any]:
    shape = with_user_data({collection.kind.id_field: collection.collection_id,
                            "name": collection.name}, collection.user_data)
    return {**shape, "recognitionModel": collection.recognition_model} if return_model else shape


def create_collection(kind: Kind, collection_id: str, name: str, user_data: str | None = None,
                      recognition_model: str = "recognition_01") -> None:
    _check_collection_count(kind)
    repository.create_collection(kind, collection_id, name, user_data, recognition_model)


def _check_collection_count(kind: Kind) -> None:
    """Face lists are few (64 in Azure, setting FACE_FACELIST_LIMIT). Two creates racing for the
    last place may both pass: a soft limit, like Azure's quotas."""
    if kind is not FACE_LIST:
        return
    limit = int(settings.get("FACE_FACELIST_LIMIT"))
    if len(repository.list_collections(kind, None, limit)) >= limit:
        raise quota_exceeded(f"The number of face lists has reached the limit of {limit}.")


def get_collection(kind: Kind, collection_id: str, return_model: bool) -> dict:
    return collection_json(repository.get_collection(kind, collection_id), return_model)


def list_collections(kind: Kind, start: str | None, top: int, return_model: bool) -> list[dict]:
    return [collection_json(c, return_model)
            for c in repository.list_collections(kind, start, top)]


def update_collection(kind: Kind, collection_id: str, name: Any = KEEP,
                      user_data: Any = KEEP) -> None:
    repository.update_collection(kind, collection_id, _columns(name, user_data))


def delete_collection(kind: Kind, collection_id: str) -> None:
    """Gone before this returns: the row, then every embedding blob; rows are purged by the
    queue (they are keyed by the collection's storage id, so nothing can see them)."""
    collection = repository.get_collection(kind, collection_id)
    state = training.state(collection.storage_id)
    if state is not None and state.status.active:
        raise kind.training_not_finished(collection_id)
    repository.delete_collection(kind, collection_id)
    shards.delete_collection_blobs(collection.storage_id)
    snapshots.forget(collection.storage_id)
    galleries.forget(collection.storage_id)
    training.request_purge(collection.storage_id)


# --- persons -------------------------------------------------------------------------------

def _person_json(person: repository.Person) -> dict:
    return with_user_data({"personId": person.person_id, "name": person.name},
                          person.user_data) | {"persistedFaceIds": person.face_ids}


def create_person(kind: Kind, collection_id: str, name: str,
                  user_data: str | None = None) -> dict:
    collection = repository.get_collection(kind, collection_id)
    repository.change_members(kind, collection_id, 1)
    try:
        person = repository.create_person(collection.storage_id, name, user_data)
    except Exception:
        repository.change_members(kind, collection_id, -1)
        raise
    return {"personId": person.person_id}


def get_person(kind: Kind, collection_id: str, person_id: str) -> dict:
    collection = repository.get_collection(kind, collection_id)
    return _person_json(repository.get_person(collection.storage_id, person_id))


def list_persons(kind: Kind, collection_id: str, start: str | None, top: int) -> list[dict]:
    collection = repository.get_collection(kind, collection_id)
    return [_person_json(p) for p in repository.list_persons(collection.storage_id, start, top)]


def update_person(kind: Kind, collection_id: str, person_id: str, name: Any = KEEP,
                  user_data: Any = KEEP) -> None:
    collection = repository.get_collection(kind, collection_id)
    repository.update_person(collection.storage_id, person_id, _columns(name, user_data))


# --- training ------------------------------------------------------------------------------

def train(kind: Kind, collection_id: str) -> None:
    collection = repository.get_collection(kind, collection_id)
    training.request(collection.storage_id)


def training_status(kind: Kind, collection_id: str) -> dict:
    collection = repository.get_collection(kind, collection_id)
    state = training.state(collection.storage_id)
    if state is None:
        raise kind.not_trained(collection_id, status=404)
    return {"status": state.status.value, "createdDateTime": iso(collection.created_at),
            "lastActionDateTime": iso(state.last_action),
            "lastSuccessfulTrainingDateTime": iso(state.last_success),
            "message": state.message}
