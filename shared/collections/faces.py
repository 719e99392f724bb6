"""Persisted faces: add (detect, embed, store), read, list, update, delete; and deleting a
person, which removes its faces' embeddings.

Ordering of multi-step writes, so that a failure half-way never exposes or loses a face:
- add face: the face row and the limit check (a person's face list or a list's face count,
  ETag-serialised), ordered so that a half-done add is invisible, then the embedding; a
  person or collection deleted meanwhile gets the embedding removed again.
- delete person: the person row is claimed (concurrent deletes and add-faces then find no
  person), a "deleted" mark is written (searches of the current snapshot filter it at once),
  then the embeddings, face rows and person row go. Deleting a face-list face: the mark, the
  embedding, the row. A training drops marked owners from the shards too, so even an
  interrupted delete is completed by the next training.

Ids and options arrive validated (functions/arguments.py); results are the contract's JSON
shapes."""
from __future__ import annotations

import uuid

import numpy as np

from shared.collections import repository, shards, training
from shared.collections.administration import with_user_data
from shared.collections.kinds import Kind, face_not_found
from shared.collections.repository import Collection
from shared.errors import FaceError, bad_argument, invalid_image
from shared.inference import pipeline
from shared.inference.pipeline import MAX_FACE, MIN_FACE


def embed_single_face(image_data: bytes, target: tuple[int, int, int, int] | None) -> np.ndarray:
    """The embedding of the one face in the image (or inside `target`)."""
    found = pipeline.find_faces(image_data)
    if target is not None:
        left, top, width, height = target
        if left + width > found.size[0] or top + height > found.size[1]:
            raise bad_argument("Invalid argument targetFace: outside the image.")
        found = found.where(lambda f: left <= f.left + f.width / 2 <= left + width
                            and top <= f.top + f.height / 2 <= top + height)
    if not found.faces:
        raise invalid_image("No face detected in the image or in the specified targetFace area.")
    if len(found.faces) > 1:
        raise invalid_image("There is more than 1 face in the image or in the specified "
                            "targetFace area.")
    if not pipeline.fits(found.faces[0]):
        raise invalid_image(f"The face is smaller than {MIN_FACE}x{MIN_FACE} or larger than "
                            f"{MAX_FACE}x{MAX_FACE} pixels.")
    return found.embed()[0]


def add_face(kind: Kind, collection_id: str, person_id: str | None, image_data: bytes,
             target: tuple[int, int, int, int] | None, user_data: str | None) -> dict:
    """Detect, embed and store the one face of an image (or inside `target`); `person_id` None
    for face lists."""
    collection = repository.get_collection(kind, collection_id)
    if person_id is not None:
        repository.get_person(collection.storage_id, person_id)
    face_id = store_face(collection, person_id, embed_single_face(image_data, target), user_data)
    return {"persistedFaceId": face_id}


def store_face(collection: Collection, person_id: str | None, embedding: np.ndarray,
               user_data: str | None, face_id: str | None = None) -> str:
    """Persist one face (embedding given; `face_id` chosen beforehand by a queued add);
    returns its persistedFaceId."""
    face_id = face_id or str(uuid.uuid4())
    owner = person_id.lower() if person_id else face_id
    _reserve(collection, person_id and owner, face_id, user_data)
    shard = shards.shard_of(owner, collection.kind.shard_count)
    try:
        shards.append(collection.storage_id, shard,
                      shards.records([face_id], [owner], embedding[None, :]))
    except Exception:
        _undo_face(collection, person_id, face_id)
        raise
    _drop_if_collection_deleted(collection)
    if person_id:
        _drop_if_person_deleted(collection, owner, shard)
    return face_id


def _reserve(collection: Collection, person_id: str | None, face_id: str,
             user_data: str | None) -> None:
    """The face's row and its place under the limits, in the order that leaves nothing
    visible if we stop half-way: a group's face row is only reached through the person's face
    list, a list's rows are listed directly (so the count, invisible, goes first)."""
    sid, face = collection.storage_id, repository.FaceRecord(face_id, person_id, user_data)
    if person_id:
        repository.put_face(sid, face)
        try:
            repository.attach_face(sid, person_id, face_id)
        except Exception:
            repository.delete_faces(sid, [face_id])
            raise
    else:
        repository.change_members(collection.kind, collection.collection_id, 1)
        try:
            repository.put_face(sid, face)
        except Exception:
            repository.change_members(collection.kind, collection.collection_id, -1)
            raise


def _undo_face(collection: Collection, person_id: str | None, face_id: str) -> None:
    if person_id:
        repository.detach_face(collection.storage_id, person_id.lower(), face_id)
    else:
        repository.change_members(collection.kind, collection.collection_id, -1)
    repository.delete_faces(collection.storage_id, [face_id])


def _drop_if_collection_deleted(collection: Collection) -> None:
    """A collection deleted while a face was being added must not keep the new embedding: its
    delete (and perhaps its purge) removed the blobs before our write landed."""
    try:
        current = repository.get_collection(collection.kind, collection.collection_id)
    except FaceError:
        current = None
    if current is None or current.storage_id != collection.storage_id:
        shards.delete_collection_blobs(collection.storage_id)
        raise collection.kind.not_found(collection.collection_id)


def _drop_if_person_deleted(collection: Collection, person_id: str, shard: int) -> None:
    """A person deleted while its face was being added must not keep the new embedding."""
    try:
        repository.get_person(collection.storage_id, person_id)
    except FaceError:
        shards.remove(collection.storage_id, shard, owners={person_id})
        raise


def _face_of(collection: Collection, person_id: str | None,
             face_id: str) -> repository.FaceRecord:
    face = repository.get_face(collection.storage_id, face_id)
    if person_id is not None and face.person_id != person_id:
        # The face exists but belongs to another person (or the person is unknown).
        repository.get_person(collection.storage_id, person_id)
        raise face_not_found(face_id)
    return face


def get_face(kind: Kind, collection_id: str, person_id: str | None, face_id: str) -> dict:
    collection = repository.get_collection(kind, collection_id)
    face = _face_of(collection, person_id, face_id)
    return with_user_data({"persistedFaceId": face.face_id}, face.user_data)


def list_faces(kind: Kind, collection_id: str, start: str | None, top: int) -> list[dict]:
    collection = repository.get_collection(kind, collection_id)
    return [with_user_data({"persistedFaceId": f.face_id}, f.user_data)
            for f in repository.list_faces(collection.storage_id, start, top)]


def update_face(kind: Kind, collection_id: str, person_id: str | None, face_id: str,
                user_data: str | None) -> None:
    collection = repository.get_collection(kind, collection_id)
    face = _face_of(collection, person_id, face_id)
    repository.update_face(collection.storage_id, face.face_id, user_data)


def delete_face(kind: Kind, collection_id: str, person_id: str | None, face_id: str) -> None:
    collection = repository.get_collection(kind, collection_id)
    sid = collection.storage_id
    face = _face_of(collection, person_id, face_id)
    owner = face.person_id or face.face_id
    if face.person_id:
        repository.detach_face(sid, face.person_id, face.face_id)
    else:
        _forget_owner(collection, face.face_id)
    shards.remove(sid, shards.shard_of(owner, kind.shard_count), faces={face.face_id})
    repository.delete_faces(sid, [face.face_id])
    if not face.person_id:
        repository.change_members(kind, collection_id, -1)



def delete_person(kind: Kind, collection_id: str, person_id: str) -> None:
    collection = repository.get_collection(kind, collection_id)
    sid = collection.storage_id
    person = repository.claim_person_deletion(sid, person_id)
    _forget_owner(collection, person.person_id)
    shards.remove(sid, shards.shard_of(person.person_id, kind.shard_count),
                  owners={person.person_id})
    repository.delete_faces(sid, person.face_ids)
    repository.delete_person(sid, person.person_id)
    repository.change_members(kind, collection_id, -1)


def _forget_owner(collection: Collection, owner_id: str) -> None:
    if collection.kind.needs_training:
        training.mark_deleted(collection.storage_id, [owner_id])


