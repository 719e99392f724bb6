"""The faceId cache on a real Azurite: round trip, many-id lookups, expiry and purge; the
direct write of one face (types, replace, threads, a restarted Azurite, a refused write,
storage that does not answer, a proxy); random operations checked against a dictionary, and
writer processes killed mid-write."""
from __future__ import annotations

import base64
import random
import socket
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, UpdateMode

from shared import clock
from shared.inference.recognizer import EMBEDDING_DIM
from shared.storage import clients
from shared.storage.direct_upsert import DirectUpsert
from shared.storage.face_ids import TABLE, FaceIdStore, StoredFace, _to_entity, expiry
from tests.collections_support import random_vector, run_worker


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


# --- the direct write (shared/storage/direct_upsert.py) --------------------------------------

WHEN = expiry(3600)


def _entity(row_key: str) -> dict:
    return {"PartitionKey": "p'1 é", "RowKey": row_key, "Text": "naïve 'quoted'",
            "Small": -7, "Large": 2**31 - 1, "Flag": True, "Blob": bytes(range(256)),
            "When": WHEN}


def test_a_direct_write_reads_back_as_the_sdks_own(store):
    """Every value type the faceId rows use (and booleans, quotes and non-ASCII keys) comes
    back from the SDK with the same value and type as from an entity the SDK wrote."""
    table = clients.table(TABLE)
    direct = DirectUpsert.for_client(table, 3)
    ours, sdks = _entity(f"direct {uuid.uuid4()}"), _entity(f"sdk {uuid.uuid4()}")
    assert direct.upsert(ours)
    table.upsert_entity(sdks, mode=UpdateMode.REPLACE)
    read_ours = table.get_entity(ours["PartitionKey"], ours["RowKey"])
    read_sdks = table.get_entity(sdks["PartitionKey"], sdks["RowKey"])
    for name in ("Text", "Small", "Large", "Flag", "Blob", "When"):
        assert read_ours[name] == read_sdks[name], name
        assert type(read_ours[name]) is type(read_sdks[name]), name
    assert read_ours["When"] == ours["When"]
    with pytest.raises(TypeError):          # an Int64 needs the SDK's EntityProperty, as there
        direct.upsert({**ours, "Large": 2**31})


def test_a_direct_write_replaces_the_whole_entity(store):
    table = clients.table(TABLE)
    direct = DirectUpsert.for_client(table, 3)
    first = _entity(str(uuid.uuid4()))
    assert direct.upsert(first)
    assert direct.upsert({"PartitionKey": first["PartitionKey"], "RowKey": first["RowKey"],
                          "Text": "second"})
    read = table.get_entity(first["PartitionKey"], first["RowKey"])
    assert read["Text"] == "second" and "Blob" not in read


def test_direct_writes_from_eight_threads_all_land(store):
    direct = DirectUpsert.for_client(clients.table(TABLE), 3)
    faces = [_face() for _ in range(160)]
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda face: direct.upsert(_to_entity(face)), faces))
    found = store.find([face.face_id for face in faces])
    assert {face_id: found[face_id].embedding.tobytes() for face_id in found} == \
        {face.face_id: face.embedding.tobytes() for face in faces}
    assert len(direct._idle) <= 8       # connections are kept and shared, not one per write


def test_a_direct_write_reconnects_after_azurite_restarts(azurite, store):
    """The kept-open connections die with the server; the next write opens a new one."""
    direct = DirectUpsert.for_client(clients.table(TABLE), 3)
    before, after = _face(), _face()
    assert direct.upsert(_to_entity(before))
    azurite.restart()
    assert direct.upsert(_to_entity(after))
    assert set(store.find([before.face_id, after.face_id])) == {before.face_id, after.face_id}


def test_a_refused_direct_write_is_left_to_the_sdk(store):
    """A wrong key gets 403: `upsert` says so and stores nothing; the SDK then raises, as
    before the direct path existed."""
    table = clients.table(TABLE)
    name, _ = table.credential.named_key
    wrong = TableClient(table.url, TABLE, credential=AzureNamedKeyCredential(
        name, base64.b64encode(b"not the key").decode()))
    face = _face()
    assert DirectUpsert.for_client(wrong, 3).upsert(_to_entity(face)) is False
    assert store.find([face.face_id]) == {}
    with pytest.raises(HttpResponseError) as refused:
        FaceIdStore(wrong).save([face])
    assert refused.value.status_code == 403


def test_clients_without_an_account_key_always_use_the_sdk(store):
    table = clients.table(TABLE)
    with_sas = TableClient(table.url, TABLE, credential=AzureSasCredential("sv=2019-02-02&sig=x"))
    assert DirectUpsert.for_client(with_sas, 3) is None


def test_after_a_failed_connection_the_direct_path_stands_aside(store):
    """Storage that does not answer: the next writes go to the SDK at once, without another
    connection attempt of their own."""
    with socket.socket() as probe:          # a port with nothing listening, then a listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        direct = DirectUpsert(f"http://127.0.0.1:{port}/devstoreaccount1", "devstoreaccount1",
                              base64.b64encode(b"key").decode(), TABLE, 3)
        assert direct.upsert(_to_entity(_face())) is False       # refused
        probe.listen()
        probe.settimeout(0.5)
        assert direct.upsert(_to_entity(_face())) is False       # resting: not even tried
        with pytest.raises(TimeoutError):
            probe.accept()


def test_clients_behind_a_proxy_use_the_sdk(store, monkeypatch):
    table = clients.table(TABLE)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    assert DirectUpsert.for_client(table, 3) is None
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert DirectUpsert.for_client(table, 3) is not None


# --- random operations against a model, and killed writers -----------------------------------

def test_random_operations_agree_with_a_dictionary(store, figures):
    """Saves of one face (direct) and of several (transactions), rewrites of known faceIds,
    lookups of known, unknown and expired ids, time passing and purges, in a random order:
    every lookup returns exactly the unexpired faces a dictionary holds, with their vectors."""
    rng = random.Random(11)
    held: dict[str, StoredFace] = {}
    counts: Counter = Counter()

    def new(face_id: str | None = None) -> StoredFace:
        vector = random_vector(rng.randrange(1 << 30))
        return StoredFace(face_id or str(uuid.uuid4()), vector, "recognition_04",
                          (rng.randrange(100), 2, 3, 4), expiry(rng.choice([60, 120, 3600])))

    for _ in range(400):
        roll = rng.random()
        if roll < 0.35:
            faces, kind = [new()], "save one"
        elif roll < 0.5:
            faces, kind = [new() for _ in range(rng.randint(2, 30))], "save many"
        elif roll < 0.6 and held:
            faces, kind = [new(rng.choice(sorted(held)))], "rewrite"
        else:
            faces, kind = [], None
        if kind:
            store.save(faces)
            held.update({face.face_id: face for face in faces})
            counts[kind] += 1
        elif roll < 0.85:
            asked = rng.sample(sorted(held), min(len(held), rng.randint(1, 40)))
            asked += [str(uuid.uuid4()) for _ in range(rng.randint(0, 3))]
            found = store.find(asked)
            now = clock.now()
            assert set(found) == {i for i in asked if i in held and held[i].expires_at > now}
            for face_id, face in found.items():
                assert np.array_equal(face.embedding, held[face_id].embedding)
                assert face.rectangle == held[face_id].rectangle
            counts["lookups"] += 1
        elif roll < 0.95:
            clock.shift(rng.choice([10, 30, 70]))
            counts["time passes"] += 1
        else:
            store.purge_expired()
            counts["purges"] += 1
    figures.append(f"faceId cache, model-based: {dict(counts)}, zero disagreement")
    assert counts["lookups"] >= 50 and counts["save one"] >= 50 and counts["rewrite"] >= 10


def test_killed_writers_lose_no_faceid_they_acknowledged(store, figures):
    """SIGKILL lands mid-write (one face or a transaction): every faceId the worker printed,
    as a client would have been given it, is found with its vector."""
    acknowledged: dict[str, int] = {}
    pauses = random.Random(3)
    for kill in range(4):
        lines = run_worker("tests.face_id_worker", [str(kill + 1)], pauses.uniform(0.5, 2.0))
        acknowledged.update({face_id: int(seed) for word, *rest in lines if word == "saved"
                             for face_id, seed in [rest]})
    found = store.find(sorted(acknowledged))
    assert len(acknowledged) >= 40                                  # the workers did write
    assert set(found) == set(acknowledged)
    for face_id, seed in acknowledged.items():
        assert np.array_equal(found[face_id].embedding, random_vector(seed))
    figures.append(f"faceId cache, 4 writers killed: {len(acknowledged)} acknowledged, "
                   f"all found")
