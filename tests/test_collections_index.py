"""Large galleries searched through the approximate index (shared/collections/ann.py): the
same results as exact search, deletes that never come back, the index in the trained
snapshot and its version. FACE_ANN_MIN_FACES is lowered so that a few thousand faces count
as large; the storage tests run over a real Azurite."""
from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest

from shared.collections import (administration, faces, galleries, repository, search, shards,
                                snapshots)
from shared.collections.kinds import FACE_LIST, LARGE_PERSON_GROUP, PERSON_DIRECTORY
from shared.errors import FaceError
from tests.collections_support import cached_face, unit
from tests.test_collections_storage import train

RNG = np.random.default_rng(19)
PERSONS = 1500
FACES_EACH = 2


@pytest.fixture(autouse=True)
def small_minimum(monkeypatch):
    monkeypatch.setenv("FACE_ANN_MIN_FACES", "1000")


def faces_of(persons: int, faces_each: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(owner of each face, the faces, each person's direction): faces near their person's
    direction, people spread around a common mean as real embeddings are."""
    mean = unit(RNG.normal(size=shards.DIM))
    centres = unit(mean + 1.2 * unit(RNG.normal(size=(persons, shards.DIM))))
    people = [str(uuid.uuid4()) for _ in range(persons)]
    owners = [people[i // faces_each] for i in range(persons * faces_each)]
    vectors = near(np.repeat(centres, faces_each, axis=0))
    return owners, vectors, centres


def near(vectors: np.ndarray) -> np.ndarray:
    """Other photos of the same people: cosine about 0.85 to `vectors`."""
    return unit(vectors + 0.6 * unit(RNG.normal(size=vectors.shape)))


def parts_of(owners: list[str], vectors: np.ndarray, count: int = 3) -> list[snapshots.Part]:
    records = shards.records([str(uuid.uuid4()) for _ in owners], owners, vectors)
    part_of = np.array([int(uuid.UUID(o)) % count for o in owners])
    return [snapshots.Part.from_records(records[part_of == p]) for p in range(count)]


def test_index_finds_what_exact_search_finds_with_the_same_scores():
    owners, vectors, centres = faces_of(PERSONS, FACES_EACH)
    parts = parts_of(owners, vectors)
    exact = snapshots.Snapshot("v", parts)
    indexed = snapshots.IndexedSnapshot("v", iter(parts), len(owners))
    queries = near(centres[:100])
    for by_index, by_scan in zip(indexed.best_owners(queries, 5), exact.best_owners(queries, 5)):
        assert by_index[0] == by_scan[0]            # same person, bit-identical score
        scanned = dict(by_scan)
        assert all(scanned[o] == s for o, s in by_index if o in scanned)
    gone = {exact.best_owners(queries[:1], 1)[0][0][0]}
    assert (indexed.best_owners(queries[:1], 5, excluded=gone)
            == exact.best_owners(queries[:1], 5, excluded=gone))
    chosen = set(owners[::97])
    assert indexed.best_owners(queries, 3, only=chosen) == exact.best_owners(queries, 3,
                                                                              only=chosen)
    assert exact.best_owners(queries, 3, only=chosen) == filtered_by_hand(exact, queries, 3,
                                                                          chosen)
    # Resident: the index only, far below the 260 B per face of an exact snapshot.
    assert indexed.nbytes < exact.nbytes


def filtered_by_hand(snapshot: snapshots.Snapshot, queries: np.ndarray, top: int,
                     only: set[str]) -> list[list[tuple[str, float]]]:
    """What a search among `only` must give: every face scored, each owner's best kept,
    the owners outside `only` dropped (the filtered search scores only theirs)."""
    owners = [shards.uuid_text(o) for o in snapshot.owners]
    best = np.maximum.reduceat(snapshot.similarities(queries), snapshot.starts, axis=1)
    return [sorted(((o, float(s)) for o, s in zip(owners, row) if o in only),
                   key=lambda pair: -pair[1])[:top] for row in best]


def bulk_group(persons: int, faces_each: int):
    """A large person group whose shards hold `persons` x `faces_each` faces (rows of the
    persons written only for the first 10: training reads shards, not rows)."""
    group_id = f"ann-{uuid.uuid4().hex[:12]}"
    administration.create_collection(LARGE_PERSON_GROUP, group_id, "ann")
    collection = repository.get_collection(LARGE_PERSON_GROUP, group_id)
    owners, vectors, centres = faces_of(persons, faces_each)
    for person in dict.fromkeys(owners[:10 * faces_each]):
        repository.create_person(collection.storage_id, "p", None, person)
    records = shards.records([str(uuid.uuid4()) for _ in owners], owners, vectors)
    shard = np.array([shards.shard_of(o, LARGE_PERSON_GROUP.shard_count) for o in owners])
    for number in np.unique(shard):
        shards.append(collection.storage_id, int(number), records[shard == number])
    return collection, list(dict.fromkeys(owners)), centres


def identify(collection, vector: np.ndarray, top: int = 3) -> list[dict]:
    found = search.identify(LARGE_PERSON_GROUP, collection.collection_id,
                            [cached_face(vector)], top, 0.0)
    return found[0]["candidates"]


def test_trained_index_identifies_as_exact_search_and_deletes_never_come_back(azurite):
    collection, people, centres = bulk_group(PERSONS, FACES_EACH)
    state = train(collection)
    snapshot = snapshots.trained(collection.storage_id, state.snapshot)
    assert isinstance(snapshot, snapshots.IndexedSnapshot)
    manifest = json.loads(shards.container().download_blob(
        f"{snapshots.prefix(collection.storage_id, state.snapshot)}manifest.json").readall())
    exact = snapshots.Snapshot("exact", [snapshots.read_part(collection.storage_id,
                                                             state.snapshot, i)
                                         for i in range(manifest["parts"])])
    queries = near(centres[:10])
    for query, person in zip(queries, people):
        candidates = identify(collection, query)
        assert candidates[0]["personId"] == person
        assert [c["personId"] for c in candidates] == [o for o, _ in
                                                        exact.best_owners(query[None], 3)[0]]

    # Deleted: the index still holds the person's faces until the next training, and never
    # returns them (their owner is filtered after exact scoring).
    faces.delete_person(LARGE_PERSON_GROUP, collection.collection_id, people[0])
    assert people[0] not in [c["personId"] for c in identify(collection, queries[0], 10)]
    assert identify(collection, queries[1])[0]["personId"] == people[1]


def test_a_snapshot_indexed_by_another_index_version_must_be_trained_again(azurite):
    collection, _, centres = bulk_group(600, 2)
    state = train(collection)
    name = f"{snapshots.prefix(collection.storage_id, state.snapshot)}manifest.json"
    manifest = json.loads(shards.container().download_blob(name).readall())
    assert manifest["index"] == snapshots.ann.VERSION
    manifest["index"] = "ivf-older-layout"
    shards.container().upload_blob(name, json.dumps(manifest), overwrite=True)
    snapshots.forget(collection.storage_id)
    with pytest.raises(FaceError) as raised:
        identify(collection, centres[0])
    assert raised.value.code == "LargePersonGroupNotTrained"


def live_gallery(persons: int):
    """A Person Directory gallery (searched live, without training) of `persons` x 2 faces."""
    collection_id = f"ann-live-{uuid.uuid4().hex[:8]}"
    repository.create_collection(PERSON_DIRECTORY, collection_id, "ann", None, "recognition_04")
    owners, vectors, centres = faces_of(persons, 2)
    collection = repository.get_collection(PERSON_DIRECTORY, collection_id)
    records = shards.records([str(uuid.uuid4()) for _ in owners], owners, vectors)
    shard = np.array([shards.shard_of(o, PERSON_DIRECTORY.shard_count) for o in owners])
    for number in np.unique(shard):
        shards.append(collection.storage_id, int(number), records[shard == number])
    repository.new_gallery_version(PERSON_DIRECTORY, collection_id)
    return collection_id, list(dict.fromkeys(owners)), centres


def change(collection_id: str, shard: int, person: str, vectors: np.ndarray | None) -> None:
    """What the directory's writers do: change one shard (add `vectors` as `person`'s faces,
    or delete the person), then give the gallery a new version naming that shard."""
    storage_id = repository.get_collection(PERSON_DIRECTORY, collection_id).storage_id
    if vectors is None:
        shards.remove(storage_id, shard, owners={person})
    else:
        shards.append(storage_id, shard, shards.records(
            [str(uuid.uuid4()) for _ in vectors], [person] * len(vectors), vectors))
    repository.new_gallery_version(PERSON_DIRECTORY, collection_id, shard)


def searched(collection_id: str):
    return galleries.live(repository.get_collection(PERSON_DIRECTORY, collection_id))


def indexed(collection_id: str, previous=None):
    """The gallery's layered search once an index (another than `previous`) is in it."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        search_now = searched(collection_id)
        if isinstance(search_now, galleries.Layered) and search_now.index is not previous:
            return search_now
        time.sleep(0.2)
    raise AssertionError("the gallery was not indexed within 2 minutes")


def test_a_large_live_gallery_is_indexed_and_every_change_stays_exact(azurite):
    collection_id, people, centres = live_gallery(PERSONS)
    assert isinstance(searched(collection_id), snapshots.Snapshot)     # exact until indexed
    layered = indexed(collection_id)
    queries = near(centres[:50])
    assert layered.best_owners(queries, 3) == layered.exact.best_owners(queries, 3)

    # A deleted person is never returned, an added one is found at once: their shards are
    # scored exactly, the index answers for the others.
    gone_shard = shards.shard_of(people[0], PERSON_DIRECTORY.shard_count)
    change(collection_id, gone_shard, people[0], None)
    newcomer, direction = str(uuid.uuid4()), unit(RNG.normal(size=shards.DIM))
    new_shard = shards.shard_of(newcomer, PERSON_DIRECTORY.shard_count)
    change(collection_id, new_shard, newcomer, near(np.array([direction, direction])))
    after = searched(collection_id)
    assert after.index is layered.index and len(after.recent.owners) > 0
    assert people[0] not in [o for o, _ in after.best_owners(queries[:1], 10)[0]]
    assert after.best_owners(near(direction[None]), 1)[0][0][0] == newcomer
    assert after.best_owners(queries, 3) == after.exact.best_owners(queries, 3)

    # Once more than 1/REINDEX_SHARE of the shards changed, a new index replaces the old.
    for person in people[1:1 + PERSON_DIRECTORY.shard_count // galleries.REINDEX_SHARE + 4]:
        change(collection_id, shards.shard_of(person, PERSON_DIRECTORY.shard_count),
               person, None)
    searched(collection_id)         # starts the new index, from the gallery of now
    # A delete while it is built: the new index still holds the person, and never returns him.
    late = people[40]
    change(collection_id, shards.shard_of(late, PERSON_DIRECTORY.shard_count), late, None)
    assert late not in [o for o, _ in searched(collection_id).best_owners(queries[40:41], 10)[0]]
    renewed = indexed(collection_id, previous=after.index)
    assert late not in [o for o, _ in renewed.best_owners(queries[40:41], 10)[0]]
    assert renewed.best_owners(queries, 3) == renewed.exact.best_owners(queries, 3)
    assert len(renewed.recent.owners) < 2 * PERSONS // PERSON_DIRECTORY.shard_count + 10

    # A bulk change (past 1/LAYERED_SHARE of the shards): exact search at once, until the
    # next index.
    bulk = people[100:100 + 2 * PERSON_DIRECTORY.shard_count // galleries.LAYERED_SHARE]
    for person in bulk:
        change(collection_id, shards.shard_of(person, PERSON_DIRECTORY.shard_count),
               person, None)
    assert isinstance(searched(collection_id), snapshots.Snapshot)
    final = indexed(collection_id, previous=renewed.index)
    asked = near(centres[100:100 + len(bulk)])    # each deleted person's own likeness
    assert not set(bulk) & {o for found in final.best_owners(asked, 10) for o, _ in found}
    assert final.best_owners(queries, 3) == final.exact.best_owners(queries, 3)
