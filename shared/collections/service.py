"""Collection operations as the HTTP functions call them: validate, store, search.

Every function takes the collection `Kind` first, so person groups, large person groups, face
lists and large face lists share one implementation. Results are the contract's JSON shapes.

Ordering of multi-step writes, so that a failure half-way never exposes or loses a face:
- add face: the face row and the limit check (a person's face list or a list's face count,
  ETag-serialised), ordered so that a half-done add is invisible, then the embedding; a
  person deleted meanwhile gets the embedding removed again.
- delete person: the person row is claimed (concurrent deletes and add-faces then find no
  person), a "deleted" mark is written (searches of the current snapshot filter it at once),
  then the embeddings, face rows and person row go. Deleting a face-list face: the mark, the
  embedding, the row. A training drops marked owners from the shards too, so even an
  interrupted delete is completed by the next training."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import numpy as np
from azure.core.exceptions import ResourceNotFoundError

from shared import settings
from shared.collections import repository, shards, snapshots, training
from shared.collections.kinds import (FACE_LIST, ID_PATTERN, LARGE_FACE_LIST, LARGE_PERSON_GROUP,
                                      Kind, check_recognition_model, face_not_found,
                                      person_not_found)
from shared.collections.repository import Collection
from shared.detection import DETECTION_MODELS
from shared.errors import FaceError, bad_argument, invalid_image, quota_exceeded
from shared.inference import get_engine
from shared.similarity import SAME_PERSON, require_model
from shared.storage.face_ids import load_faces

MAX_NAME, MAX_USER_DATA, MAX_FACE_USER_DATA = 128, 16_384, 1_024
MIN_FACE, MAX_FACE = 36, 4096


# --- validation ----------------------------------------------------------------------------

def _text(body: dict, field: str, limit: int, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise bad_argument(f"Invalid argument {field}: it is required.")
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise bad_argument(f"Invalid argument {field}: a string of at most {limit} characters "
                           "is expected.")
    return value


def _changes(kind: Kind, body: dict) -> dict:
    """The Name / UserData a PATCH body sets; the others are left unchanged."""
    changes = {}
    if "name" in body:
        changes["Name"] = _text(body, "name", MAX_NAME, required=True)
    if "userData" in body:
        changes["UserData"] = _text(body, "userData", MAX_USER_DATA)
    if not changes and kind in (LARGE_PERSON_GROUP, LARGE_FACE_LIST):
        raise bad_argument("Both 'name' and 'userData' are empty.")
    return changes


def check_uuid(value: str, error: FaceError) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise error from None


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _with_user_data(shape: dict, user_data: str | None) -> dict:
    return {**shape, "userData": user_data} if user_data is not None else shape


# --- collections ---------------------------------------------------------------------------

def collection_json(collection: Collection, return_model: bool) -> dict[str, Any]:
    shape = _with_user_data({collection.kind.id_field: collection.collection_id,
                             "name": collection.name}, collection.user_data)
    return {**shape, "recognitionModel": collection.recognition_model} if return_model else shape


def create_collection(kind: Kind, collection_id: str, body: dict) -> None:
    if not ID_PATTERN.match(collection_id or ""):
        raise bad_argument(f"Invalid argument {kind.id_field}.")
    model = body.get("recognitionModel") or "recognition_01"
    check_recognition_model(model)
    _check_collection_count(kind)
    repository.create_collection(kind, collection_id, _text(body, "name", MAX_NAME, True),
                                 _text(body, "userData", MAX_USER_DATA), model)


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


def update_collection(kind: Kind, collection_id: str, body: dict) -> None:
    repository.update_collection(kind, collection_id, _changes(kind, body))


def delete_collection(kind: Kind, collection_id: str) -> None:
    """Gone before this returns: the row, then every embedding blob; rows are purged by the
    queue (they are keyed by the collection's storage id, so nothing can see them)."""
    collection = repository.get_collection(kind, collection_id)
    state = training.state(collection.storage_id)
    if state is not None and state.status in ("notStarted", "running"):
        raise kind.training_not_finished(collection_id)
    repository.delete_collection(kind, collection_id)
    shards.delete_collection_blobs(collection.storage_id)
    snapshots.forget(collection.storage_id)
    training.request_purge(collection.storage_id)


# --- persons -------------------------------------------------------------------------------

def _person_json(person: repository.Person) -> dict:
    return _with_user_data({"personId": person.person_id, "name": person.name},
                           person.user_data) | {"persistedFaceIds": person.face_ids}


def _person_id(person_id: str, status: int = 404) -> str:
    return check_uuid(person_id, person_not_found(person_id, status))


def create_person(kind: Kind, collection_id: str, body: dict) -> dict:
    name, user_data = _text(body, "name", MAX_NAME, True), _text(body, "userData", MAX_USER_DATA)
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
    return _person_json(repository.get_person(collection.storage_id, _person_id(person_id)))


def list_persons(kind: Kind, collection_id: str, start: str | None, top: int) -> list[dict]:
    collection = repository.get_collection(kind, collection_id)
    return [_person_json(p) for p in repository.list_persons(collection.storage_id, start, top)]


def update_person(kind: Kind, collection_id: str, person_id: str, body: dict) -> None:
    collection = repository.get_collection(kind, collection_id)
    repository.update_person(collection.storage_id, _person_id(person_id), _changes(kind, body))


def delete_person(kind: Kind, collection_id: str, person_id: str) -> None:
    collection = repository.get_collection(kind, collection_id)
    sid = collection.storage_id
    person = repository.claim_person_deletion(sid, _person_id(person_id))
    _forget_owner(collection, person.person_id)
    shards.remove(sid, shards.shard_of(person.person_id, kind.shard_count),
                  owners={person.person_id})
    repository.delete_faces(sid, person.face_ids)
    repository.delete_person(sid, person.person_id)
    repository.change_members(kind, collection_id, -1)


def _forget_owner(collection: Collection, owner_id: str) -> None:
    if collection.kind.needs_training:
        training.mark_deleted(collection.storage_id, [owner_id])


# --- persisted faces -----------------------------------------------------------------------

def parse_target_face(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    try:
        left, top, width, height = (int(v) for v in text.split(","))
    except ValueError:
        raise bad_argument("Invalid argument targetFace.") from None
    if left < 0 or top < 0 or width <= 0 or height <= 0:
        raise bad_argument("Invalid argument targetFace.")
    return left, top, width, height


def check_face_options(detection_model: str | None, user_data: str | None) -> None:
    if detection_model and detection_model not in DETECTION_MODELS:
        raise bad_argument("Invalid argument detectionModel.")
    if user_data is not None and len(user_data) > MAX_FACE_USER_DATA:
        raise bad_argument(f"Invalid argument userData: at most {MAX_FACE_USER_DATA} "
                           "characters.")


def embed_single_face(image_data: bytes, target: tuple[int, int, int, int] | None) -> np.ndarray:
    """The embedding of the one face in the image (or inside `target`)."""
    engine = get_engine()
    image = engine.decode(image_data)
    faces = engine.detect(image)
    if target is not None:
        left, top, width, height = target
        if left + width > image.shape[1] or top + height > image.shape[0]:
            raise bad_argument("Invalid argument targetFace: outside the image.")
        faces = [f for f in faces if left <= f.left + f.width / 2 <= left + width
                 and top <= f.top + f.height / 2 <= top + height]
    if not faces:
        raise invalid_image("No face detected in the image or in the specified targetFace area.")
    if len(faces) > 1:
        raise invalid_image("There is more than 1 face in the image or in the specified "
                            "targetFace area.")
    if not MIN_FACE <= min(faces[0].width, faces[0].height) <= MAX_FACE:
        raise invalid_image(f"The face is smaller than {MIN_FACE}x{MIN_FACE} or larger than "
                            f"{MAX_FACE}x{MAX_FACE} pixels.")
    return engine.embed(image, faces)[0]


def add_face(kind: Kind, collection_id: str, person_id: str | None, image_data: bytes,
             target_face: str | None, detection_model: str | None,
             user_data: str | None) -> dict:
    """Detect, embed and store the one face of an image; `person_id` None for face lists."""
    check_face_options(detection_model, user_data)
    target = parse_target_face(target_face)
    collection = repository.get_collection(kind, collection_id)
    if person_id is not None:
        repository.get_person(collection.storage_id, _person_id(person_id))
    face_id = store_face(collection, person_id, embed_single_face(image_data, target), user_data)
    return {"persistedFaceId": face_id}


def store_face(collection: Collection, person_id: str | None, embedding: np.ndarray,
               user_data: str | None) -> str:
    """Persist one face (embedding given); returns its persistedFaceId."""
    face_id = str(uuid.uuid4())
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


def _drop_if_person_deleted(collection: Collection, person_id: str, shard: int) -> None:
    """A person deleted while its face was being added must not keep the new embedding."""
    try:
        repository.get_person(collection.storage_id, person_id)
    except FaceError:
        shards.remove(collection.storage_id, shard, owners={person_id})
        raise


def _face_id(face_id: str) -> str:
    return check_uuid(face_id, face_not_found(face_id))


def _face_of(collection: Collection, person_id: str | None,
             face_id: str) -> repository.FaceRecord:
    face = repository.get_face(collection.storage_id, _face_id(face_id))
    if person_id is not None and face.person_id != _person_id(person_id):
        # The face exists but belongs to another person (or the person is unknown).
        repository.get_person(collection.storage_id, _person_id(person_id))
        raise face_not_found(face_id)
    return face


def get_face(kind: Kind, collection_id: str, person_id: str | None, face_id: str) -> dict:
    collection = repository.get_collection(kind, collection_id)
    face = _face_of(collection, person_id, face_id)
    return _with_user_data({"persistedFaceId": face.face_id}, face.user_data)


def list_faces(kind: Kind, collection_id: str, start: str | None, top: int) -> list[dict]:
    collection = repository.get_collection(kind, collection_id)
    return [_with_user_data({"persistedFaceId": f.face_id}, f.user_data)
            for f in repository.list_faces(collection.storage_id, start, top)]


def update_face(kind: Kind, collection_id: str, person_id: str | None, face_id: str,
                body: dict) -> None:
    user_data = _text(body, "userData", MAX_FACE_USER_DATA)
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


# --- training ------------------------------------------------------------------------------

def train(kind: Kind, collection_id: str) -> None:
    collection = repository.get_collection(kind, collection_id)
    training.request(collection.storage_id)


def training_status(kind: Kind, collection_id: str) -> dict:
    collection = repository.get_collection(kind, collection_id)
    state = training.state(collection.storage_id)
    if state is None:
        raise kind.not_trained(collection_id, status=404)
    return {"status": state.status, "createdDateTime": _iso(collection.created_at),
            "lastActionDateTime": _iso(state.last_action),
            "lastSuccessfulTrainingDateTime": _iso(state.last_success),
            "message": state.message}


# --- search --------------------------------------------------------------------------------

def _parallel(*reads):
    """Independent storage reads at once (each is a round trip); results in order, and the
    first one's error wins, as if they had run one after the other."""
    with ThreadPoolExecutor(len(reads)) as pool:
        futures = [pool.submit(read) for read in reads]
    return [future.result() for future in futures]


def _searchable(collection: Collection) -> tuple[snapshots.Snapshot, set[str]]:
    """The snapshot searches use and the owners deleted since it was trained."""
    kind, sid = collection.kind, collection.storage_id
    if not kind.needs_training:
        return snapshots.live(sid), set()
    for _ in range(2):
        state, excluded = _parallel(lambda: training.state(sid),
                                    lambda: training.deleted_owners(sid))
        if state is None or state.snapshot is None:
            if state is not None and state.status in ("notStarted", "running"):
                raise kind.training_not_finished(collection.collection_id)
            raise kind.not_trained(collection.collection_id)
        try:
            return snapshots.trained(sid, state.snapshot), excluded
        except ResourceNotFoundError:
            continue    # a newer training replaced this snapshot while we loaded it
    raise kind.training_not_finished(collection.collection_id)


def _confidences(found: list[tuple[str, float]], minimum: float) -> list[tuple[str, float]]:
    """(owner, rounded confidence) of the matches whose confidence reaches `minimum`."""
    if not found:
        return []
    values = np.atleast_1d(get_engine().confidence(np.array([s for _, s in found])))
    scored = [(owner, round(float(value), 5)) for (owner, _), value in zip(found, values)]
    return [(owner, value) for owner, value in scored if value >= minimum]


def _query(collection: Collection, face_ids: list[str]) -> np.ndarray:
    """The cached faces' embeddings, checked against the collection's recognition model."""
    faces = load_faces(face_ids, 400)
    require_model(collection.recognition_model, [faces[f].recognition_model for f in face_ids])
    return np.stack([faces[f].embedding for f in face_ids]).astype(np.float32)


def identify(kind: Kind, collection_id: str, face_ids: list[str], top: int,
             threshold: float | None) -> list[dict]:
    """Candidates per face, best first: persons whose best face is similar enough."""
    collection = repository.get_collection(kind, collection_id, status=400)
    queries, (snapshot, excluded) = _parallel(lambda: _query(collection, face_ids),
                                              lambda: _searchable(collection))
    minimum = _default_identify_confidence(snapshot) if threshold is None else threshold
    return [{"faceId": face_id,
             "candidates": [{"personId": person, "confidence": confidence}
                            for person, confidence in _confidences(found, minimum)]}
            for face_id, found in zip(face_ids, snapshot.best_owners(queries, top, excluded))]


def _default_identify_confidence(snapshot: snapshots.Snapshot) -> float:
    """Azure's default is "model-internal": here the confidence at which an unknown person
    is matched in about 5% of searches of a gallery this size (see Engine.identify_similarity)."""
    engine = get_engine()
    return engine.confidence(engine.identify_similarity(snapshot.face_count))


def person_faces(kind: Kind, collection_id: str, person_id: str) -> tuple[str, np.ndarray]:
    """(recognition model, (n, 128) embeddings) of a person's current faces (no training
    needed), for face-to-person verify. Unknown group or person: the 400 errors verify answers."""
    collection = repository.get_collection(kind, collection_id, status=400)
    person = repository.get_person(collection.storage_id, _person_id(person_id, 400), 400)
    records, _ = shards.read(collection.storage_id,
                             shards.shard_of(person.person_id, kind.shard_count))
    mine = records["owner"] == shards.uuid_bytes([person.person_id])[0]
    return collection.recognition_model, records["vector"][mine]


def find_similar(kind: Kind, collection_id: str, face_id: str, top: int,
                 mode: str) -> list[dict]:
    """Faces of a face list most similar to `face_id`, best first; matchPerson keeps only
    same-person matches, matchFace ranks by similarity alone."""
    collection = repository.get_collection(kind, collection_id, status=400)
    query, (snapshot, excluded) = _parallel(lambda: _query(collection, [face_id]),
                                            lambda: _searchable(collection))
    if kind is FACE_LIST and snapshot.face_count == 0:
        raise FaceError("FaceListNotReady", f"Face list '{collection_id}' is empty.", 400)
    found = snapshot.best_owners(query, top, excluded)[0]
    minimum = SAME_PERSON if mode == "matchPerson" else 0.0
    return [{"persistedFaceId": owner, "confidence": confidence}
            for owner, confidence in _confidences(found, minimum)]
