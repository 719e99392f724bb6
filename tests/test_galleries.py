"""Live galleries refreshed incrementally (shared/collections/galleries.py), over a real Azurite.

A seeded random sequence of adds, face deletes and owner deletes on a collection with a few
shards, segments made tiny so that they regroup as the gallery grows, each change's new version
naming its shard or not (so both ways of refreshing run): after every step the incrementally
refreshed gallery holds exactly the model's faces, and regularly it scores exactly like one
built from scratch from every shard (as the previous full rebuild did). Then
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

    def changed(self, shard: int, named: bool) -> None:
        """The new gallery version, naming the changed shard (as the directory's writers do)
        or not (as after a bulk load): a search then reads that shard, or lists them all."""
        repository.new_gallery_version(KIND, self.id, shard if named else None)

    def add(self, owner: str, vector: np.ndarray, named: bool = True) -> str:
        face = str(uuid.uuid4())
        shard = shards.shard_of(owner, KIND.shard_count)
        shards.append(self.sid, shard, shards.records([face], [owner], vector[None, :]))
        self.changed(shard, named)
        with self.lock:
            self.faces[face] = (owner, vector)
        return face

    def delete(self, face: str | None = None, owner: str | None = None,
               named: bool = True) -> None:
        owner = owner or self.faces[face][0]
        shard = shards.shard_of(owner, KIND.shard_count)
        shards.remove(self.sid, shard, owners={owner} if face is None else set(),
                      faces={face} if face else set())
        self.changed(shard, named)
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
    spans, by_name = set(), 0
    for step in range(160):
        roll, named = rng.random(), rng.random() < 0.7
        if directory.faces and roll < 0.25:
            directory.delete(face=rng.choice(sorted(directory.faces)), named=named)
        elif directory.faces and roll < 0.32:
            directory.delete(owner=rng.choice(sorted({o for o, _ in directory.faces.values()})),
                             named=named)
        else:
            directory.add(rng.choice(owners), unit(vectors.normal(size=shards.DIM)), named)
        live = directory.live()
        cached = galleries._galleries[directory.sid]
        spans.add(cached.span)
        # A shard read because the row named it has no ETag yet; a listing gives all theirs.
        by_name += any(shard.etag == "" for shard in cached.shards().values())
        assert live.face_count == len(directory.faces)
        assert {shards.uuid_text(o) for o in live.owners} == \
            {o for o, _ in directory.faces.values()}
        if step % 4 == 0:
            assert scores(live, queries) == scores(directory.from_scratch(), queries)
            for owner, vector in list(directory.faces.values())[:5]:
                assert live.best_owners(vector[None, :], 1)[0][0][0] == owner
    assert len(spans) >= 2, spans         # the segments regrouped as the gallery grew
    assert 60 < by_name < 150, by_name    # both ways of refreshing ran


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
                shard = shards.shard_of(face, KIND.shard_count)
                shards.append(directory.sid, shard, shards.records(
                    [face], [face], unit(vectors.normal(size=(1, shards.DIM)))))
                directory.changed(shard, named=True)
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
