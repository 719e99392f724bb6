"""The collections engine over a real Azurite, with synthetic normalised embeddings written
through the same storage code as add-face: training through the queue, snapshot switching,
deletion semantics, concurrency, faults."""
from __future__ import annotations

import dataclasses
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from shared.collections import (administration, faces, galleries, integrity, repository,
                                search, shards, snapshots, training)
from shared.collections.kinds import FACE_LIST, LARGE_FACE_LIST, LARGE_PERSON_GROUP, PERSON_GROUP
from shared.errors import FaceError
from shared.storage import clients
from tests.collections_support import cached_face, run_queue, unit

RNG = np.random.default_rng(7)


def near(vector: np.ndarray, noise: float = 0.57) -> np.ndarray:
    """`vector` plus random noise of about that length (cosine about 0.87 for noise 0.57)."""
    return unit(vector + RNG.normal(0, noise / np.sqrt(vector.shape[-1]), vector.shape))


def make_group(kind, persons: int, faces_each: int = 2):
    """A collection with persons, each around its own random direction; returns
    (collection, {personId: direction})."""
    group_id = f"g-{uuid.uuid4().hex[:12]}"
    administration.create_collection(kind, group_id, "group")
    collection = repository.get_collection(kind, group_id)
    centres = {}
    for _ in range(persons):
        person_id = administration.create_person(kind, group_id, "p")["personId"]
        centres[person_id] = unit(RNG.normal(size=shards.DIM))
        for _ in range(faces_each):
            faces.store_face(collection, person_id, near(centres[person_id]), None)
    return collection, centres


def train(collection) -> training.TrainingState:
    training.request(collection.storage_id)
    run_queue()
    return training.state(collection.storage_id)


def add_persons(collection, count: int) -> dict:
    """`count` new persons with one face each; returns {personId: direction}."""
    added = {}
    for _ in range(count):
        person_id = administration.create_person(collection.kind, collection.collection_id,
                                                 "x")["personId"]
        added[person_id] = unit(RNG.normal(size=shards.DIM))
        faces.store_face(collection, person_id, added[person_id], None)
    return added


def best_person(collection, vector: np.ndarray) -> str | None:
    snapshot, excluded = search._searchable(collection)
    found = snapshot.best_owners(vector[None, :], 1, excluded)[0]
    return found[0][0] if found else None


def test_training_fans_out_and_search_finds_each_person(azurite):
    collection, centres = make_group(LARGE_PERSON_GROUP, persons=40)
    assert len(shards.existing_shards(collection.storage_id)) > training.SHARDS_PER_PART
    state = train(collection)
    assert state.status == "succeeded" and state.snapshot == state.job
    snapshot = snapshots.trained(collection.storage_id, state.snapshot)
    assert snapshot.face_count == 80 and len(snapshot.owners) == 40
    for person_id, centre in centres.items():
        assert best_person(collection, centre) == person_id


def test_changes_are_invisible_until_the_next_training(azurite):
    collection, centres = make_group(PERSON_GROUP, persons=3)
    train(collection)
    newcomer = administration.create_person(PERSON_GROUP, collection.collection_id,
                                            "late")["personId"]
    direction = unit(RNG.normal(size=shards.DIM))
    faces.store_face(collection, newcomer, direction, None)
    assert best_person(collection, direction) != newcomer
    train(collection)
    assert best_person(collection, direction) == newcomer


def test_untrained_group_is_not_searchable(azurite):
    collection, _ = make_group(PERSON_GROUP, persons=1)
    with pytest.raises(FaceError) as raised:
        search._searchable(collection)
    assert raised.value.code == "PersonGroupNotTrained"


def test_deleted_person_disappears_at_once_and_from_the_shards(azurite):
    collection, centres = make_group(LARGE_PERSON_GROUP, persons=5)
    train(collection)
    victim, direction = next(iter(centres.items()))
    faces.delete_person(LARGE_PERSON_GROUP, collection.collection_id, victim)
    assert best_person(collection, direction) != victim
    shard = shards.shard_of(victim, LARGE_PERSON_GROUP.shard_count)
    records, _ = shards.read(collection.storage_id, shard)
    assert victim not in {shards.uuid_text(owner) for owner in records["owner"]}
    train(collection)
    assert training.deleted_owners(collection.storage_id) == set()
    assert best_person(collection, direction) != victim


def test_failed_part_leaves_previous_snapshot_serving_and_retry_loses_nothing(
        azurite, monkeypatch):
    collection, centres = make_group(LARGE_PERSON_GROUP, persons=30, faces_each=1)
    first = train(collection)
    extra = add_persons(collection, 10)

    real_write = snapshots.write_part

    def crash_on_second_part(storage_id, version, index, part):
        if index == 1:
            raise RuntimeError("worker died mid-way")
        real_write(storage_id, version, index, part)
    monkeypatch.setattr(snapshots, "write_part", crash_on_second_part)
    training.request(collection.storage_id)
    assert run_queue(poison_after=5) == 5

    failed = training.state(collection.storage_id)
    assert failed.status == "failed" and failed.message
    assert failed.snapshot == first.snapshot            # the previous snapshot still serves
    names = [b.name for b in shards.container().list_blobs(f"{collection.storage_id}/snapshots/")]
    assert names and all(f"/{first.snapshot}/" in name for name in names)
    for person_id, centre in centres.items():
        assert best_person(collection, centre) == person_id

    monkeypatch.setattr(snapshots, "write_part", real_write)
    retried = train(collection)
    assert retried.status == "succeeded" and retried.snapshot != first.snapshot
    snapshot = snapshots.trained(collection.storage_id, retried.snapshot)
    assert snapshot.face_count == 40
    for person_id, centre in {**centres, **extra}.items():
        assert best_person(collection, centre) == person_id


def test_azurite_restart_mid_training_loses_nothing(azurite):
    collection, centres = make_group(LARGE_PERSON_GROUP, persons=30, faces_each=1)
    first = train(collection)
    extra = add_persons(collection, 10)
    training.request(collection.storage_id)
    queue = clients.queue(training.QUEUE)
    message = next(iter(queue.receive_messages(max_messages=1)))
    training.process(json.loads(message.content))          # the job starts, then storage goes
    queue.delete_message(message)
    azurite.restart()

    assert training.state(collection.storage_id).status == "running"
    for person_id, centre in centres.items():                # the previous snapshot serves
        assert best_person(collection, centre) == person_id
    assert run_queue() == 0
    state = training.state(collection.storage_id)
    assert state.status == "succeeded" and state.snapshot != first.snapshot
    assert snapshots.trained(collection.storage_id, state.snapshot).face_count == 40
    for person_id, centre in {**centres, **extra}.items():
        assert best_person(collection, centre) == person_id


def test_redelivered_messages_change_nothing(azurite):
    collection, centres = make_group(LARGE_PERSON_GROUP, persons=30, faces_each=1)
    first = train(collection)
    training.request(collection.storage_id)
    queue = clients.queue(training.QUEUE)
    while messages := list(queue.receive_messages(max_messages=32)):
        for message in messages:            # at-least-once: each one delivered twice
            body = json.loads(message.content)
            training.process(body)
            training.process(body)
            queue.delete_message(message)
    state = training.state(collection.storage_id)
    assert state.status == "succeeded" and state.snapshot != first.snapshot
    assert snapshots.trained(collection.storage_id, state.snapshot).face_count == 30
    names = [b.name for b in shards.container().list_blobs(f"{collection.storage_id}/snapshots/")]
    assert all(f"/{state.snapshot}/" in name for name in names)


def test_concurrent_adds_and_deletes_lose_no_face(azurite):
    collection, centres = make_group(PERSON_GROUP, persons=4, faces_each=0)
    people = list(centres)

    def add(i: int) -> str:
        person_id = people[i % len(people)]
        return faces.store_face(collection, person_id, near(centres[person_id]), str(i))
    with ThreadPoolExecutor(8) as pool:
        added = list(pool.map(add, range(40)))
    doomed = added[:6]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda f: faces.delete_face(
            PERSON_GROUP, collection.collection_id, None, f), doomed))
    kept = set(added) - set(doomed)

    stored = {shards.uuid_text(face) for shard in shards.existing_shards(collection.storage_id)
              for face in shards.read(collection.storage_id, shard)[0]["face"]}
    listed = {f for p in people for f in repository.get_person(collection.storage_id, p).face_ids}
    assert stored == kept and listed == kept


def test_concurrent_list_adds_respect_the_limit_and_count(azurite):
    small = dataclasses.replace(FACE_LIST, max_members=20)
    list_id = f"l-{uuid.uuid4().hex[:12]}"
    administration.create_collection(small, list_id, "list")
    collection = repository.get_collection(small, list_id)

    def add(_) -> str | None:
        try:
            return faces.store_face(collection, None, unit(RNG.normal(size=shards.DIM)), None)
        except FaceError as err:
            assert err.code == "QuotaExceeded"
            return None
    with ThreadPoolExecutor(8) as pool:
        added = {face for face in pool.map(add, range(24)) if face}
    assert len(added) == 20
    assert repository.get_collection(small, list_id).members == 20
    snapshot = galleries.live(repository.get_collection(small, list_id))
    assert {shards.uuid_text(o) for o in snapshot.owners} == added


def test_person_paging_is_ascending_and_exclusive(azurite):
    collection, centres = make_group(LARGE_PERSON_GROUP, persons=25, faces_each=0)
    everyone = sorted(centres)
    first = administration.list_persons(LARGE_PERSON_GROUP, collection.collection_id, None, 10)
    rest = administration.list_persons(LARGE_PERSON_GROUP, collection.collection_id,
                                first[-1]["personId"], 1000)
    assert [p["personId"] for p in first + rest] == everyone


def test_deleting_a_group_removes_blobs_then_rows(azurite):
    collection, _ = make_group(LARGE_PERSON_GROUP, persons=3)
    train(collection)
    administration.delete_collection(LARGE_PERSON_GROUP, collection.collection_id)
    assert not list(shards.container().list_blobs(f"{collection.storage_id}/"))
    run_queue()
    assert repository.list_persons(collection.storage_id, None, 10) == []
    assert training.state(collection.storage_id) is None


def test_a_training_group_cannot_be_deleted(azurite):
    collection, _ = make_group(PERSON_GROUP, persons=1)
    training.request(collection.storage_id)
    with pytest.raises(FaceError) as raised:
        administration.delete_collection(PERSON_GROUP, collection.collection_id)
    assert (raised.value.status, raised.value.code) == (409, "PersonGroupTrainingNotFinished")
    run_queue()
    administration.delete_collection(PERSON_GROUP, collection.collection_id)


def test_person_limit_of_the_kind(azurite):
    small = dataclasses.replace(PERSON_GROUP, max_members=3)
    group_id = f"g-{uuid.uuid4().hex[:12]}"
    administration.create_collection(small, group_id, "group")
    people = [administration.create_person(small, group_id, "p") for _ in range(3)]
    with pytest.raises(FaceError) as raised:
        administration.create_person(small, group_id, "one too many")
    assert (raised.value.status, raised.value.code) == (403, "QuotaExceeded")
    faces.delete_person(small, group_id, people[0]["personId"])
    administration.create_person(small, group_id, "fits again")


@pytest.mark.parametrize("kind", [FACE_LIST, LARGE_FACE_LIST])
def test_face_lists_search_without_persons(azurite, kind):
    list_id = f"l-{uuid.uuid4().hex[:12]}"
    administration.create_collection(kind, list_id, "list")
    collection = repository.get_collection(kind, list_id)
    if kind is FACE_LIST:
        with pytest.raises(FaceError) as raised:
            search.find_similar(kind, list_id, cached_face(unit(RNG.normal(size=shards.DIM))), 3,
                                "matchFace")
        assert raised.value.code == "FaceListNotReady"
    vectors = unit(RNG.normal(size=(6, shards.DIM)))
    face_ids = [faces.store_face(collection, None, v, None) for v in vectors]
    probe = cached_face(near(vectors[2], 0.01))
    if kind.needs_training:
        with pytest.raises(FaceError) as raised:
            search.find_similar(kind, list_id, probe, 3, "matchFace")
        assert raised.value.code == "LargeFaceListNotTrained"
        train(collection)
    similar = search.find_similar(kind, list_id, probe, 3, "matchFace")
    assert len(similar) == 3 and similar[0]["persistedFaceId"] == face_ids[2]
    assert [s["persistedFaceId"] for s in search.find_similar(
        kind, list_id, probe, 3, "matchPerson")] == [face_ids[2]]
    faces.delete_face(kind, list_id, None, face_ids[2])
    after = search.find_similar(kind, list_id, probe, 10, "matchFace")
    assert face_ids[2] not in [s["persistedFaceId"] for s in after] and len(after) == 5
    assert [f["persistedFaceId"] for f in faces.list_faces(kind, list_id, None, 10)] == \
        sorted(set(face_ids) - {face_ids[2]})


def test_person_faces_for_verify(azurite):
    collection, centres = make_group(PERSON_GROUP, persons=2)
    person = next(iter(centres))
    model, vectors = search.person_faces(PERSON_GROUP, collection.collection_id, person)
    assert model == "recognition_01" and vectors.shape == (2, shards.DIM)
    assert (vectors @ centres[person]).min() > 0.8
    with pytest.raises(FaceError) as raised:
        search.person_faces(PERSON_GROUP, collection.collection_id, str(uuid.uuid4()))
    assert (raised.value.status, raised.value.code) == (400, "PersonNotFound")
    with pytest.raises(FaceError) as raised:
        search.person_faces(PERSON_GROUP, "no-such-group", person)
    assert (raised.value.status, raised.value.code) == (400, "PersonGroupNotFound")


def test_concurrent_deletes_of_one_person_count_once(azurite):
    collection, centres = make_group(PERSON_GROUP, persons=3, faces_each=1)
    victim = next(iter(centres))

    def delete(_) -> str:
        try:
            faces.delete_person(PERSON_GROUP, collection.collection_id, victim)
            return "deleted"
        except FaceError as err:
            return err.code
    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(delete, range(4)))
    assert outcomes == ["PersonNotFound"] * 3 + ["deleted"]
    assert repository.get_collection(PERSON_GROUP, collection.collection_id).members == 2
    with pytest.raises(FaceError):
        faces.store_face(collection, victim, centres[victim], None)


def test_many_writers_on_one_row_all_land_and_count_once(azurite):
    """Every person created or deleted counts on the group's row. 128 threads counting in at
    once all race for that row; losers retry after growing random pauses, so none gives up
    and the count is exact. (Retrying at once, 8 of 384 gave up, and it took 3x as long.)"""
    group_id = f"g-{uuid.uuid4().hex[:12]}"
    administration.create_collection(LARGE_PERSON_GROUP, group_id, "crowd")

    def count_in(_) -> None:
        repository.change_members(LARGE_PERSON_GROUP, group_id, 1)
    with ThreadPoolExecutor(128) as pool:
        list(pool.map(count_in, range(384)))
    assert repository.get_collection(LARGE_PERSON_GROUP, group_id).members == 384


# --- shard writes keep every record (issue 12) ---------------------------------------------

def _records(count: int) -> np.ndarray:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    return shards.records(ids, ids, unit(RNG.normal(size=(count, shards.DIM))))


def _faces_in(storage_id: str, shard: int) -> set[str]:
    return {shards.uuid_text(face) for face in shards.read(storage_id, shard)[0]["face"]}


def test_add_after_a_removal_keeps_every_record(azurite):
    """The reported loss: a removal rewrote the shard without a block list, and the next add
    committed only its own block."""
    storage_id = uuid.uuid4().hex
    first, second, third = _records(1), _records(1), _records(1)
    shards.append(storage_id, 0, first)
    shards.append(storage_id, 0, second)
    shards.remove(storage_id, 0, faces={shards.uuid_text(second["face"][0])})
    shards.append(storage_id, 0, third)
    assert _faces_in(storage_id, 0) == {shards.uuid_text(r["face"]) for r in (first[0], third[0])}


def test_a_shard_written_by_put_blob_is_kept_on_the_next_add(azurite):
    """Shards that an older version left without a committed block list lose nothing."""
    storage_id, old, new = uuid.uuid4().hex, _records(3), _records(1)
    shards.container().upload_blob(f"{shards.shards_prefix(storage_id)}000", old.tobytes())
    shards.append(storage_id, 0, new)
    assert _faces_in(storage_id, 0) == {shards.uuid_text(f) for f in
                                        np.concatenate([old, new])["face"]}
    shards.append(storage_id, 0, _records(1))
    assert len(_faces_in(storage_id, 0)) == 5


def test_the_face_list_reproducer_keeps_the_first_face(azurite):
    administration.create_collection(FACE_LIST, list_id := f"l-{uuid.uuid4().hex[:8]}", "l")
    collection = repository.get_collection(FACE_LIST, list_id)
    dad, mom, son = (unit(RNG.normal(size=shards.DIM)) for _ in range(3))
    dad_id = faces.store_face(collection, None, dad, None)
    mom_id = faces.store_face(collection, None, mom, None)
    faces.delete_face(FACE_LIST, list_id, None, mom_id)
    son_id = faces.store_face(collection, None, son, None)
    assert _faces_in(collection.storage_id, 0) == {dad_id, son_id}
    assert best_person(collection, near(dad)) == dad_id


# --- integrity check -----------------------------------------------------------------------

def test_integrity_check_reports_missing_and_removes_orphan_embeddings(azurite):
    collection, centres = make_group(PERSON_GROUP, persons=3, faces_each=2)
    sid = collection.storage_id
    assert integrity.check(sid).consistent
    person_id = next(iter(centres))
    lost_face = repository.get_person(sid, person_id).face_ids[0]
    shard = shards.shard_of(person_id, PERSON_GROUP.shard_count)
    shards.remove(sid, shard, faces={lost_face})
    orphan = str(uuid.uuid4())
    shards.append(sid, shard, shards.records([orphan], [person_id], unit(RNG.normal(size=(1, shards.DIM)))))

    report = integrity.check(sid, repair=True)
    assert report.missing_embeddings == [lost_face]
    assert report.orphan_embeddings == [orphan] and report.repaired
    assert "must be deleted and added again" in report.summary() and lost_face in report.summary()
    assert orphan not in _faces_in(sid, shard)
    assert integrity.check(sid).orphan_embeddings == []


def test_training_reports_faces_without_embedding_in_its_status(azurite):
    collection, centres = make_group(LARGE_PERSON_GROUP, persons=2, faces_each=1)
    person_id = next(iter(centres))
    lost_face = repository.get_person(collection.storage_id, person_id).face_ids[0]
    shards.remove(collection.storage_id, shards.shard_of(person_id, LARGE_PERSON_GROUP.shard_count),
                  faces={lost_face})
    state = train(collection)
    assert state.status == "succeeded"
    assert lost_face in state.message and "added again" in state.message


def test_integrity_command_exit_status(azurite):
    collection, _ = make_group(LARGE_PERSON_GROUP, persons=2, faces_each=1)
    assert integrity.main(["largePersonGroup", collection.collection_id]) == 0
    shards.append(collection.storage_id, 0, _records(1))
    assert integrity.main(["largePersonGroup", collection.collection_id]) == 1


# --- no snapshot outlives its use ----------------------------------------------------------

def _snapshot_versions(storage_id: str) -> set[str]:
    prefix = f"{storage_id}/snapshots/"
    return {b.name[len(prefix):].split("/")[0] for b in shards.container().list_blobs(prefix)}


def _run_one(op: str) -> None:
    """Process the first queued training message of kind `op`, leaving the others queued."""
    queue = clients.queue(training.QUEUE)
    for message in queue.receive_messages(max_messages=32, visibility_timeout=1):
        body = json.loads(message.content)
        if body["op"] == op:
            training.process(body)
            queue.delete_message(message)
            return
    raise AssertionError(f"no {op} message queued")


def test_superseded_training_leaves_no_snapshot_blobs(azurite):
    collection, centres = make_group(LARGE_PERSON_GROUP, persons=40, faces_each=1)
    sid = collection.storage_id
    first = training.request(sid)
    _run_one("start")
    _run_one("part")                       # the first job has written a part of its snapshot
    assert first in _snapshot_versions(sid)
    second = train(collection).job         # supersedes it, then commits
    assert _snapshot_versions(sid) == {second}
    victim = next(iter(centres))
    faces.delete_person(LARGE_PERSON_GROUP, collection.collection_id, victim)
    third = train(collection).job
    assert _snapshot_versions(sid) == {third}
    snapshot = snapshots.trained(sid, third)
    assert victim not in {shards.uuid_text(owner) for owner in snapshot.owners}


def test_a_face_added_while_its_collection_is_deleted_leaves_no_embedding(azurite):
    collection, _ = make_group(LARGE_FACE_LIST, persons=0)
    administration.delete_collection(LARGE_FACE_LIST, collection.collection_id)
    with pytest.raises(FaceError) as raised:     # the add had read the collection
        faces.store_face(collection, None, unit(RNG.normal(size=shards.DIM)), None)
    assert raised.value.code == "LargeFaceListNotFound"
    assert list(shards.container().list_blobs(f"{collection.storage_id}/")) == []
