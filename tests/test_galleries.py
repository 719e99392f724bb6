"""Live galleries refreshed incrementally (shared/collections/galleries.py), over a real Azurite.

A seeded random sequence of adds, face deletes and owner deletes on a collection with a few
shards, segments made tiny so that they split and regroup as the gallery grows and shrinks:
after every step the incrementally refreshed gallery scores exactly like one built from scratch
from every shard (as the previous full rebuild did) and holds exactly the model's faces. Then
writers and readers race: a search that starts after a delete has finished never sees the
deleted face, and one that starts after an add has finished always does."""
from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid

import numpy as np
import pytest

from shared.collections import galleries, repository, shards
from shared.collections.kinds import PERSON_DIRECTORY
from shared.collections.snapshots import Part, Snapshot
from tests.collections_support import unit

KIND = dataclasses.replace(PERSON_DIRECTORY, shard_count=8)


class Directory:
    """A collection written at the shard level as the directory's queue does: a shard change,
    then a new gallery version; and the model of what it holds (face -> owner, vector)."""

    def __init__(self):
        self.id = f"g-{uuid.uuid4().hex[:12]}"
        self.sid = repository.create_collection(KIND, self.id, self.id, None,
                                                "recognition_04").storage_id
        self.faces: dict[str, tuple[str, np.ndarray]] = {}
        self.lock = threading.Lock()

    def add(self, owner: str, vector: np.ndarray) -> str:
        face = str(uuid.uuid4())
        shards.append(self.sid, shards.shard_of(owner, KIND.shard_count),
                      shards.records([face], [owner], vector[None, :]))
        repository.new_gallery_version(KIND, self.id)
        with self.lock:
            self.faces[face] = (owner, vector)
        return face

    def delete(self, face: str | None = None, owner: str | None = None) -> None:
        owner = owner or self.faces[face][0]
        shards.remove(self.sid, shards.shard_of(owner, KIND.shard_count),
                      owners={owner} if face is None else set(), faces={face} if face else set())
        repository.new_gallery_version(KIND, self.id)
        with self.lock:
            for gone in [f for f, (o, _) in self.faces.items()
                         if f == face or (face is None and o == owner)]:
                del self.faces[gone]

    def live(self) -> Snapshot:
        return galleries.live(repository.get_collection(KIND, self.id))

    def from_scratch(self) -> Snapshot:
        records = [shards.read(self.sid, n)[0] for n in shards.existing_shards(self.sid)]
        together = np.concatenate(records) if records else np.zeros(0, shards.RECORD)
        return Snapshot("", [Part.from_records(together)] if len(together) else [])


def scores(snapshot: Snapshot, queries: np.ndarray) -> list[dict[str, float]]:
    return [dict(found) for found in snapshot.best_owners(queries, 10_000)]


@pytest.fixture
def tiny_segments(monkeypatch):
    monkeypatch.setattr(galleries, "SEGMENT_ROWS", 12)


def test_incremental_refresh_matches_a_full_rebuild(azurite, tiny_segments):
    rng, vectors = random.Random(7), np.random.default_rng(7)
    directory = Directory()
    owners = [str(uuid.uuid4()) for _ in range(14)]
    queries = unit(vectors.normal(size=(3, shards.DIM)))
    spans = set()
    for step in range(160):
        roll = rng.random()
        if directory.faces and roll < 0.25:
            directory.delete(face=rng.choice(sorted(directory.faces)))
        elif directory.faces and roll < 0.32:
            directory.delete(owner=rng.choice(sorted({o for o, _ in directory.faces.values()})))
        else:
            directory.add(rng.choice(owners), unit(vectors.normal(size=shards.DIM)))
        live = directory.live()
        spans.add(galleries._galleries[directory.sid].span)
        assert live.face_count == len(directory.faces)
        assert {shards.uuid_text(o) for o in live.owners} == \
            {o for o, _ in directory.faces.values()}
        if step % 4 == 0:
            assert scores(live, queries) == scores(directory.from_scratch(), queries)
            for owner, vector in list(directory.faces.values())[:5]:
                assert live.best_owners(vector[None, :], 1)[0][0][0] == owner
    assert len(spans) >= 2, spans         # the segments regrouped as the gallery grew


def test_searches_after_a_change_see_it_while_writers_race(azurite):
    """Each face is its own owner, as in face lists, so presence is one set test."""
    directory = Directory()
    added, deleting, deleted, failures = set(), set(), set(), []
    lock = threading.Lock()
    stop = time.monotonic() + 12
    counts = {"searches": 0, "changes": 0}

    def write(seed: int) -> None:
        rng, vectors = random.Random(seed), np.random.default_rng(seed)
        mine: list[str] = []
        while time.monotonic() < stop:
            if mine and rng.random() < 0.4:
                face = mine.pop(rng.randrange(len(mine)))
                with lock:
                    deleting.add(face)
                directory.delete(owner=face)
                with lock:
                    deleted.add(face)
            else:
                face = str(uuid.uuid4())
                shards.append(directory.sid, shards.shard_of(face, KIND.shard_count),
                              shards.records([face], [face],
                                             unit(vectors.normal(size=(1, shards.DIM)))))
                repository.new_gallery_version(KIND, directory.id)
                mine.append(face)
                with lock:
                    added.add(face)
            counts["changes"] += 1

    def read() -> None:
        while time.monotonic() < stop:
            with lock:
                added_before, deleted_before = set(added), set(deleted)
            seen = {shards.uuid_text(o) for o in directory.live().owners}
            with lock:
                deleting_after = set(deleting)
            lost = added_before - deleting_after - seen
            if seen & deleted_before or lost:
                failures.append((seen & deleted_before, lost))
            counts["searches"] += 1
    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(3)] + \
        [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    assert counts["searches"] > 20 and counts["changes"] > 20, counts
    final = directory.live()
    assert {shards.uuid_text(o) for o in final.owners} == added - deleted
