"""Table storage for collection metadata: the collections, their persons and persisted faces.

Tables and keys:
- `collections`: PartitionKey = kind name, RowKey = collection id. Each collection gets a fresh
  `StorageId` when created; every other row and blob of the collection is keyed by it, so a
  deleted and re-created collection never sees the old one's leftovers, whatever state a purge
  is in.
- `persons` / `persistedfaces`: PartitionKey = `<storageId>_<first two hex digits of the id>`,
  RowKey = person / face id. 256 partitions per collection spread the writes of a million-person
  group; point reads name their partition; the bucket is the id's own prefix, so one range query
  over the partitions returns ids in ascending order (list paging with `start`).

Writes that must not lose each other (member counts, a person's face list) are read-modify-write
loops with ETag conditions (shared/storage/tables.py)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Callable, Iterable

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared import clock
from shared.collections.kinds import FACES_PER_PERSON, Kind, face_not_found, person_not_found
from shared.errors import quota_exceeded
from shared.storage import tables
from shared.storage.clients import table

COLLECTIONS, PERSONS, FACES = "collections", "persons", "persistedfaces"


def _bucket(storage_id: str, item_id: str) -> str:
    return f"{storage_id}_{item_id[:2]}"


def _rows(name: str, storage_id: str, start: str = "", page_size: int = 1000) -> Iterable:
    """Rows of one collection with RowKey > start, ascending."""
    return table(name).query_entities(
        "PartitionKey ge @low and PartitionKey le @high and RowKey gt @start",
        parameters={"low": _bucket(storage_id, start) if start else f"{storage_id}_00",
                    "high": f"{storage_id}_ff", "start": start},
        results_per_page=page_size)


def _page(name: str, storage_id: str, start: str | None, top: int) -> list:
    """Rows of one collection with RowKey > start, ascending, at most `top`."""
    return list(islice(_rows(name, storage_id, start or "", min(top, 1000)), top))


def _delete_rows(name: str, storage_id: str) -> int:
    """Delete every row of one collection in one table, a partition batch at a time."""
    client = table(name)
    rows = client.query_entities(
        "PartitionKey ge @low and PartitionKey le @high",
        parameters={"low": f"{storage_id}_00", "high": f"{storage_id}_ff"},
        select=["PartitionKey", "RowKey"])
    return tables.delete_entities(client, rows)


# --- collections ---------------------------------------------------------------------------

@dataclass
class Collection:
    kind: Kind
    collection_id: str
    name: str
    user_data: str | None
    recognition_model: str
    created_at: datetime
    storage_id: str
    members: int = 0        # persons of a group, faces of a list
    # Changed after each change of the shards, by the writers that keep it (the directory):
    # a search then knows its cached gallery is current from this row alone. When the change
    # was to one shard, the version it followed and that shard: a search holding that version
    # reads only that shard.
    gallery_version: str | None = None
    gallery_change: tuple[str, int] | None = None


def _collection(kind: Kind, entity) -> Collection:
    return Collection(kind, entity["RowKey"], entity["Name"], entity.get("UserData"),
                      entity["RecognitionModel"], entity["CreatedAt"], entity["StorageId"],
                      entity.get("Members", 0), entity.get("GalleryVersion"),
                      _gallery_change(entity))


def _gallery_change(entity) -> tuple[str, int] | None:
    previous, shard = entity.get("PreviousGalleryVersion"), entity.get("ChangedShard", -1)
    return (previous, shard) if previous and shard >= 0 else None


def create_collection(kind: Kind, collection_id: str, name: str, user_data: str | None,
                      recognition_model: str) -> Collection:
    entity = {"PartitionKey": kind.name, "RowKey": collection_id, "Name": name,
              "UserData": user_data, "RecognitionModel": recognition_model,
              "CreatedAt": clock.now(), "StorageId": uuid.uuid4().hex, "Members": 0}
    try:
        table(COLLECTIONS).create_entity(entity)
    except ResourceExistsError:
        raise kind.exists(collection_id) from None
    return _collection(kind, entity)


def _collection_entity(kind: Kind, collection_id: str, status: int = 404):
    kind.check_id(collection_id, status)
    try:
        return table(COLLECTIONS).get_entity(kind.name, collection_id)
    except ResourceNotFoundError:
        raise kind.not_found(collection_id, status) from None


def get_collection(kind: Kind, collection_id: str, status: int = 404) -> Collection:
    """The collection; `<Kind>NotFound` with `status` (404 in CRUD, 400 when referenced)."""
    return _collection(kind, _collection_entity(kind, collection_id, status))


def update_collection(kind: Kind, collection_id: str, changes: dict) -> None:
    """Merge `{"Name": ..., "UserData": ...}` changes; fails if the collection is gone."""
    _collection_entity(kind, collection_id)
    tables.merge_existing(table(COLLECTIONS), kind.name, collection_id, changes,
                          kind.not_found(collection_id))


def delete_collection(kind: Kind, collection_id: str) -> None:
    table(COLLECTIONS).delete_entity(kind.name, collection_id)   # no error when already gone


def list_collections(kind: Kind, start: str | None, top: int) -> list[Collection]:
    entities = table(COLLECTIONS).query_entities(
        "PartitionKey eq @kind and RowKey gt @start",
        parameters={"kind": kind.name, "start": start or ""}, results_per_page=top)
    return [_collection(kind, e) for e in islice(entities, top)]


def new_gallery_version(kind: Kind, collection_id: str, shard: int | None = None) -> None:
    """A new version of the collection's gallery after a change of `shard` (None: of any
    shards), noting the version it follows (ETag-conditional, so the note is exact)."""
    def attempt() -> None:
        entity = _collection_entity(kind, collection_id)
        entity["PreviousGalleryVersion"] = entity.get("GalleryVersion") or ""
        entity["ChangedShard"] = -1 if shard is None else shard
        entity["GalleryVersion"] = uuid.uuid4().hex
        tables.update_if_unchanged(table(COLLECTIONS), entity)
    tables.retry_on_conflict(attempt)


def change_members(kind: Kind, collection_id: str, delta: int) -> None:
    """Count a person or face in (delta 1, refused at the kind's limit) or out (delta -1)."""
    def attempt() -> None:
        entity = _collection_entity(kind, collection_id)
        members = entity.get("Members", 0) + delta
        if delta > 0 and members > kind.max_members:
            raise quota_exceeded(f"The number of {'persons' if kind.has_persons else 'faces'} "
                                 f"in the {kind.words} exceeds the limit {kind.max_members}.")
        entity["Members"] = max(members, 0)
        tables.update_if_unchanged(table(COLLECTIONS), entity)
    tables.retry_on_conflict(attempt)


# --- persons -------------------------------------------------------------------------------

@dataclass
class Person:
    person_id: str
    name: str
    user_data: str | None
    face_ids: list[str] = field(default_factory=list)
    deleting: bool = False       # a delete has claimed the person; it is no longer visible


def _person(entity) -> Person:
    faces = entity.get("FaceIds") or ""
    return Person(entity["RowKey"], entity["Name"], entity.get("UserData"),
                  faces.split(",") if faces else [], bool(entity.get("Deleting")))


def create_person(storage_id: str, name: str, user_data: str | None,
                  person_id: str | None = None) -> Person:
    """A new person (ResourceExistsError if `person_id` is given and taken)."""
    person = Person(person_id or str(uuid.uuid4()), name, user_data)
    table(PERSONS).create_entity({"PartitionKey": _bucket(storage_id, person.person_id),
                                  "RowKey": person.person_id, "Name": name,
                                  "UserData": user_data, "FaceIds": ""})
    return person


def _person_entity(storage_id: str, person_id: str, status: int = 404):
    """The person's row; a person being deleted is already gone."""
    person_id = person_id.lower()
    entity = tables.entity_or_none(PERSONS, _bucket(storage_id, person_id), person_id)
    if entity is None or entity.get("Deleting"):
        raise person_not_found(person_id, status)
    return entity


def get_person(storage_id: str, person_id: str, status: int = 404) -> Person:
    return _person(_person_entity(storage_id, person_id, status))


def update_person(storage_id: str, person_id: str, changes: dict) -> None:
    tables.merge_existing(table(PERSONS), _bucket(storage_id, person_id), person_id, changes,
                          person_not_found(person_id))


def claim_person_deletion(storage_id: str, person_id: str) -> Person:
    """Mark the person as being deleted, so that of concurrent deletes exactly one goes on
    (the others, and any add-face from now on, find no person)."""
    def attempt() -> Person:
        entity = _person_entity(storage_id, person_id)
        entity["Deleting"] = True
        tables.update_if_unchanged(table(PERSONS), entity)
        return _person(entity)
    return tables.retry_on_conflict(attempt)


def delete_person(storage_id: str, person_id: str) -> None:
    table(PERSONS).delete_entity(_bucket(storage_id, person_id), person_id)


def list_persons(storage_id: str, start: str | None, top: int) -> list[Person]:
    return [_person(e) for e in _page(PERSONS, storage_id, start, top) if not e.get("Deleting")]


def _edit_person_faces(storage_id: str, person_id: str,
                       edit: Callable[[list[str]], list[str]]) -> None:
    """Change a person's face list; adds and deletes on one person serialise on its ETag."""
    def attempt() -> None:
        entity = _person_entity(storage_id, person_id)
        entity["FaceIds"] = ",".join(edit(_person(entity).face_ids))
        tables.update_if_unchanged(table(PERSONS), entity)
    tables.retry_on_conflict(attempt)


def attach_face(storage_id: str, person_id: str, face_id: str) -> None:
    def add(faces: list[str]) -> list[str]:
        if face_id in faces:        # a repeated delivery of the same add
            return faces
        if len(faces) >= FACES_PER_PERSON:
            raise quota_exceeded(f"The number of persisted faces of the person exceeds the "
                                 f"limit {FACES_PER_PERSON}.")
        return faces + [face_id]
    _edit_person_faces(storage_id, person_id, add)


def detach_face(storage_id: str, person_id: str, face_id: str) -> None:
    def remove(faces: list[str]) -> list[str]:
        if face_id not in faces:
            raise face_not_found(face_id)
        return [f for f in faces if f != face_id]
    _edit_person_faces(storage_id, person_id, remove)


# --- persisted faces -----------------------------------------------------------------------

@dataclass
class FaceRecord:
    face_id: str
    person_id: str | None      # None in face lists
    user_data: str | None


def _face(entity) -> FaceRecord:
    return FaceRecord(entity["RowKey"], entity.get("PersonId") or None, entity.get("UserData"))


def put_face(storage_id: str, face: FaceRecord) -> None:
    table(FACES).upsert_entity({"PartitionKey": _bucket(storage_id, face.face_id),
                                "RowKey": face.face_id, "PersonId": face.person_id or "",
                                "UserData": face.user_data})


def get_face(storage_id: str, face_id: str) -> FaceRecord:
    face_id = face_id.lower()
    try:
        return _face(table(FACES).get_entity(_bucket(storage_id, face_id), face_id))
    except ResourceNotFoundError:
        raise face_not_found(face_id) from None


def update_face(storage_id: str, face_id: str, user_data: str | None) -> None:
    tables.merge_existing(table(FACES), _bucket(storage_id, face_id), face_id,
                          {"UserData": user_data}, face_not_found(face_id))


def delete_faces(storage_id: str, face_ids: Iterable[str]) -> None:
    client = table(FACES)
    rows = sorted(({"PartitionKey": _bucket(storage_id, f), "RowKey": f} for f in face_ids),
                  key=lambda row: row["PartitionKey"])
    tables.delete_entities(client, rows)


def list_faces(storage_id: str, start: str | None, top: int) -> list[FaceRecord]:
    return [_face(e) for e in _page(FACES, storage_id, start, top)]


def all_faces(storage_id: str) -> Iterable[FaceRecord]:
    return (_face(e) for e in _rows(FACES, storage_id))


def all_persons(storage_id: str) -> Iterable[Person]:
    """Every person, those being deleted included (they are skipped by the callers that must)."""
    return (_person(e) for e in _rows(PERSONS, storage_id))


def purge(storage_id: str) -> int:
    """Delete every person and face row of a deleted collection; returns the rows deleted."""
    return _delete_rows(PERSONS, storage_id) + _delete_rows(FACES, storage_id)
