"""The faceId cache on a real Azurite: round trip, many-id lookups, expiry and purge."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from azure.data.tables import UpdateMode

from shared import clock
from shared.inference.recognizer import EMBEDDING_DIM
from shared.storage import clients
from shared.storage.face_ids import TABLE, FaceIdStore, StoredFace, expiry


def _face(ttl: int = 86400, model: str = "recognition_04") -> StoredFace:
    vector = np.random.default_rng().normal(size=EMBEDDING_DIM).astype(np.float32)
    return StoredFace(str(uuid.uuid4()), vector / np.linalg.norm(vector), model,
                      (10, 20, 30, 40), expiry(ttl))


@pytest.fixture
def store(azurite):
    yield FaceIdStore()
    clock.reset()


def test_round_trip_keeps_every_field(store):
    face = _face()
    store.save([face])
    found = store.find([face.face_id.upper()])[face.face_id.upper()]
    assert found.face_id == face.face_id
    assert np.array_equal(found.embedding, face.embedding)
    assert found.embedding.dtype == np.float32
    assert found.recognition_model == "recognition_04"
    assert found.rectangle == (10, 20, 30, 40)
    assert abs((found.expires_at - face.expires_at).total_seconds()) < 0.01


def test_find_many_ids_returns_only_known_ones(store):
    faces = [_face() for _ in range(300)]
    store.save(faces)
    unknown = [str(uuid.uuid4()) for _ in range(50)]
    found = store.find([f.face_id for f in faces] + unknown)
    assert set(found) == {f.face_id for f in faces}


def test_expired_faces_are_invisible_and_deleted_when_read(store):
    short = [_face(ttl=60) for _ in range(150)]     # more than one transaction per partition
    long = _face(ttl=3600)
    store.save(short + [long])
    ids = [face.face_id for face in short] + [long.face_id]
    clock.shift(59)
    assert set(store.find(ids)) == set(ids)
    clock.shift(2)
    assert set(store.find(ids)) == {long.face_id}
    clock.reset()      # back in time the short ones would be valid again: only if deleted
    assert set(store.find(ids)) == {long.face_id}


def test_faces_from_another_embedding_space_count_as_expired(store):
    """A faceId detected before a recognizer upgrade (no version, or another one) is refused
    and deleted, never compared with today's vectors."""
    old, other, current = _face(), _face(), _face()
    store.save([old, other, current])
    table = clients.table(TABLE)
    for face, version in ((old, None), (other, "facenet-128")):
        entity = table.get_entity(face.face_id[0], face.face_id)
        if version is None:
            del entity["EmbeddingVersion"]
        else:
            entity["EmbeddingVersion"] = version
        table.upsert_entity(entity, mode=UpdateMode.REPLACE)
    ids = [old.face_id, other.face_id, current.face_id]
    assert set(store.find(ids)) == {current.face_id}
    assert [e["RowKey"] for e in table.query_entities(
        "RowKey eq @a or RowKey eq @b", parameters={"a": old.face_id, "b": other.face_id})] == []


def test_expired_faces_that_nobody_reads_are_purged(store):
    short = [_face(ttl=60) for _ in range(150)]
    long = _face(ttl=3600)
    store.save(short + [long])
    clock.shift(61)
    assert store.purge_expired() >= 150
    clock.reset()
    assert set(store.find([face.face_id for face in short + [long]])) == {long.face_id}


def test_the_purge_runs_every_minute():
    """An unread expired embedding is kept a minute at most (README, "faceIds")."""
    import function_app
    from devhost.registry import function_metadata
    [trigger] = [binding for binding in function_metadata(function_app.app)["face_id_purge"]
                 ["bindings"] if binding["type"] == "timerTrigger"]
    assert trigger["schedule"] == "0 * * * * *"
