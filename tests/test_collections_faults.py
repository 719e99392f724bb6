"""Concurrency and faults on one group and one shard: threads racing, the process killed
(SIGKILL) mid-add and mid-training, Azurite restarted mid-operation. Afterwards nothing
acknowledged is lost, nothing deleted comes back, the rows and the shards agree (the
integrity check names any face a kill left half-added), training succeeds and the last good
snapshot serves meanwhile. Each test adds its figures to the end-of-run summary.

The domain runs in-process (threads) or in a worker process (tests/collections_worker.py),
with synthetic embeddings, over the session's real Azurite (tests/test_collections_storage.py
has the single-fault cases: a failed training part, Azurite restarted between training steps,
redelivered messages)."""
from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from shared.collections import (administration, integrity, repository, shards, snapshots,
                                training)
from shared.collections import search as collection_search
from shared.collections import faces as persisted_faces
from shared.collections.kinds import LARGE_PERSON_GROUP, PERSON_GROUP, Kind
from shared.errors import FaceError
from tests.collections_support import cached_face, random_vector, run_queue, run_worker
from tests.collections_worker import VISIBILITY

WORKER = "tests.collections_worker"
ONE_SHARD = dataclasses.replace(PERSON_GROUP, shard_count=1)    # every person in one shard
THREADS, SECONDS = 8, 60


@dataclass
class Ledger:
    """What the clients were told: faces acknowledged as added (with person and vector) and as
    deleted, and faces whose delete was in flight when it failed or was killed."""
    added: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    in_flight_deletes: set[str] = field(default_factory=set)
    counts: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self) -> dict[str, tuple[str, np.ndarray]]:
        with self.lock:
            return {face: added for face, added in self.added.items()
                    if face not in self.deleted and face not in self.in_flight_deletes}

    def take_live_face(self, rng: random.Random) -> tuple[str, str] | None:
        """A live face for one client to delete (no two clients delete the same face)."""
        with self.lock:
            candidates = sorted(set(self.added) - self.deleted - self.in_flight_deletes)
            if not candidates:
                return None
            face = rng.choice(candidates)
            self.in_flight_deletes.add(face)
            return face, self.added[face][0]


def new_group(kind: Kind, persons: int) -> tuple[str, list[str]]:
    group_id = f"f-{uuid.uuid4().hex[:12]}"
    administration.create_collection(kind, group_id, "faults")
    return group_id, [administration.create_person(kind, group_id, "p")["personId"]
                      for _ in range(persons)]


def storage_id(kind: Kind, group_id: str) -> str:
    return repository.get_collection(kind, group_id).storage_id


def train(kind: Kind, group_id: str) -> str:
    administration.train(kind, group_id)
    run_queue()
    return administration.training_status(kind, group_id)["status"]


# --- the invariants ------------------------------------------------------------------------

def stored(kind: Kind, group_id: str) -> dict[str, tuple[str, np.ndarray]]:
    sid = storage_id(kind, group_id)
    return {shards.uuid_text(r["face"]): (shards.uuid_text(r["owner"]), r["vector"])
            for shard in shards.existing_shards(sid) for r in shards.read(sid, shard)[0]}


def listed(kind: Kind, group_id: str) -> dict[str, str]:
    return {face: person["personId"]
            for person in administration.list_persons(kind, group_id, None, 1000)
            for face in person["persistedFaceIds"]}


def lost_and_ghosts(kind: Kind, group_id: str, ledger: Ledger) -> tuple[list[str], list[str]]:
    """Acknowledged faces missing from the shards or the listing (or stored wrong), and
    acknowledged deletions still in either."""
    held, shown = stored(kind, group_id), listed(kind, group_id)
    lost = [face for face, (person, vector) in ledger.live().items()
            if face not in held or held[face][0] != person
            or not np.array_equal(held[face][1], vector) or shown.get(face) != person]
    ghosts = [face for face in ledger.deleted if face in held or face in shown]
    return lost, ghosts


def identify(kind: Kind, group_id: str, vectors: list[np.ndarray],
             threshold: float) -> list[list[tuple[str, float]]]:
    probes = [cached_face(vector) for vector in vectors]
    found = []
    for start in range(0, len(probes), 10):
        found += [[(c["personId"], c["confidence"]) for c in result["candidates"]]
                  for result in collection_search.identify(kind, group_id, probes[start:start + 10], 3,
                                                 threshold)]
    return found


def misidentified(kind: Kind, group_id: str, faces: dict[str, tuple[str, np.ndarray]]) -> int:
    """How many of `faces` do not find their own person first, with full confidence."""
    found = identify(kind, group_id, [vector for _, vector in faces.values()], 0.0)
    return sum(not best or best[0][0] != person or best[0][1] < 0.99
               for (person, _), best in zip(faces.values(), found))


def still_found(kind: Kind, group_id: str, vectors: list[np.ndarray]) -> int:
    """How many deleted faces' vectors are still found as themselves (confidence 0.99, a
    similarity near 1: random vectors of other faces reach the same-person threshold of 0.36
    about once in 60,000 pairs, so that would not tell a ghost from chance)."""
    return sum(bool(found) for found in identify(kind, group_id, vectors, 0.99))


def settle(kind: Kind, group_id: str, ledger: Ledger, vectors: dict[str, np.ndarray]) -> dict:
    """After faults: retry the deletes that were in flight (as their clients would), run the
    integrity check with repair, delete the faces it says must be added again, train, and
    search. Returns what was found."""
    for face in sorted(ledger.in_flight_deletes):
        try:
            persisted_faces.delete_face(kind, group_id, ledger.added[face][0], face)
        except FaceError as err:
            assert err.code == "PersistedFaceNotFound"
        ledger.deleted.add(face)
    ledger.in_flight_deletes.clear()
    report = integrity.check(storage_id(kind, group_id), repair=True)
    for face in report.missing_embeddings:       # half-added by a killed or failed add
        assert face not in ledger.added, "an acknowledged face lost its embedding"
        persisted_faces.delete_face(kind, group_id, listed(kind, group_id)[face], face)
    assert train(kind, group_id) == "succeeded"
    assert integrity.check(storage_id(kind, group_id)).consistent
    lost, ghosts = lost_and_ghosts(kind, group_id, ledger)
    return {"lost": len(lost), "ghosts": len(ghosts),
            "half-added (integrity check)": len(report.missing_embeddings),
            "orphan embeddings repaired": len(report.orphan_embeddings),
            "not identified": misidentified(kind, group_id, ledger.live()),
            "deleted still found": still_found(kind, group_id,
                                               [vectors[face] for face in ledger.deleted])}


# --- threads -------------------------------------------------------------------------------

def churn(kind: Kind, group_id: str, persons: list[str], ledger: Ledger, seed: int,
          until: float, train_share: float) -> None:
    """Add, delete and (with `train_share`) train until `until`, recording what was
    acknowledged; errors are counted, and the face of a failed delete is in flight."""
    rng = random.Random(seed)
    collection = repository.get_collection(kind, group_id)
    while time.monotonic() < until:
        roll, taken = rng.random(), None
        try:
            if roll < train_share:
                administration.train(kind, group_id)
                run_queue()
                ledger.counts["trainings"] += 1
            elif roll < train_share + 0.35 and (taken := ledger.take_live_face(rng)):
                face, person = taken
                persisted_faces.delete_face(kind, group_id, person, face)
                with ledger.lock:
                    ledger.in_flight_deletes.discard(face)
                    ledger.deleted.add(face)
                ledger.counts["deletes"] += 1
            else:
                person, vector = rng.choice(persons), random_vector(rng.getrandbits(32))
                face = persisted_faces.store_face(collection, person, vector, None)
                with ledger.lock:
                    ledger.added[face] = (person, vector)
                ledger.counts["adds"] += 1
        except FaceError as err:
            ledger.counts[f"refused {err.code}"] += 1
        except Exception as err:        # storage unreachable, contention: not acknowledged
            ledger.counts[f"error {type(err).__name__}"] += 1


def run_threads(count: int, work) -> None:
    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def vectors_of(ledger: Ledger) -> dict[str, np.ndarray]:
    return {face: vector for face, (_, vector) in ledger.added.items()}


def test_eight_threads_on_one_shard_lose_nothing(azurite, figures):
    group_id, persons = new_group(ONE_SHARD, 16)
    ledger = Ledger()
    until = time.monotonic() + SECONDS
    run_threads(THREADS, lambda index: churn(ONE_SHARD, group_id, persons, ledger, index,
                                             until, train_share=0.05))
    errors = {name: n for name, n in ledger.counts.items() if name.startswith("error")}
    lost, ghosts = lost_and_ghosts(ONE_SHARD, group_id, ledger)
    held, shown = stored(ONE_SHARD, group_id), listed(ONE_SHARD, group_id)
    outcome = settle(ONE_SHARD, group_id, ledger, vectors_of(ledger))
    figures.append(f"concurrency: {THREADS} threads x {SECONDS} s on one group and one shard: "
                   f"{dict(ledger.counts)}; {len(ledger.live())} faces kept; "
                   f"lost {len(lost)}, ghosts {len(ghosts)}; after training {outcome}")
    assert not errors
    assert not lost and not ghosts
    assert set(held) == set(shown) == set(ledger.live())
    assert outcome["not identified"] == outcome["deleted still found"] == 0
    assert ledger.counts["adds"] >= 50 and ledger.counts["deletes"] >= 20     # it did run


def test_azurite_restart_during_adds_and_deletes(azurite, figures):
    group_id, persons = new_group(ONE_SHARD, 4)
    ledger = Ledger()
    until = time.monotonic() + 12
    worker = threading.Thread(target=run_threads, args=(
        4, lambda index: churn(ONE_SHARD, group_id, persons, ledger, 100 + index, until,
                               train_share=0.0)))
    worker.start()
    time.sleep(3)
    azurite.restart()
    worker.join()
    lost, ghosts = lost_and_ghosts(ONE_SHARD, group_id, ledger)
    outcome = settle(ONE_SHARD, group_id, ledger, vectors_of(ledger))
    figures.append(f"Azurite restarted during 4 threads of adds/deletes: {dict(ledger.counts)}; "
                   f"lost {len(lost)}, ghosts {len(ghosts)}; after repair and training "
                   f"{outcome}")
    assert not lost and not ghosts
    assert outcome["lost"] == outcome["ghosts"] == 0
    assert outcome["not identified"] == outcome["deleted still found"] == 0


# --- killed processes ----------------------------------------------------------------------

def record_worker(lines: list[list[str]], ledger: Ledger) -> None:
    for word, *rest in lines:
        if word == "added":
            face, person, vector_seed = rest
            ledger.added[face] = (person, random_vector(int(vector_seed)))
        elif word == "deleting":
            ledger.in_flight_deletes.add(rest[0])
        elif word == "deleted":
            ledger.in_flight_deletes.discard(rest[0])
            ledger.deleted.add(rest[0])
    ledger.counts["kills"] += 1
    ledger.counts["killed mid-operation"] += lines[-1][0] in ("adding", "deleting")


def test_killed_mid_add_and_delete_loses_nothing(azurite, figures):
    kind = dataclasses.replace(PERSON_GROUP, shard_count=2)
    group_id, persons = new_group(kind, 4)
    ledger, pauses = Ledger(), random.Random(5)
    for kill in range(8):
        record_worker(run_worker(WORKER, ["churn", kind.name, "2", group_id, str(kill + 1)],
                                 pauses.uniform(0.5, 2.5)), ledger)
        lost, ghosts = lost_and_ghosts(kind, group_id, ledger)
        report = integrity.check(storage_id(kind, group_id))
        assert not lost and not ghosts, (kill, lost, ghosts)
        # Only the operation in flight at each kill may be half done.
        assert len(report.missing_embeddings) + len(report.orphan_embeddings) <= kill + 1
    ledger.counts["adds"], ledger.counts["deletes"] = len(ledger.added), len(ledger.deleted)
    outcome = settle(kind, group_id, ledger, vectors_of(ledger))
    figures.append(f"SIGKILL mid-add/delete: {dict(ledger.counts)}; lost 0, ghosts 0 after "
                   f"every kill; after repair and training {outcome}")
    assert outcome["lost"] == outcome["ghosts"] == 0
    assert outcome["not identified"] == outcome["deleted still found"] == 0


def test_killed_mid_training_keeps_the_last_snapshot_serving(azurite, figures):
    group_id, persons = new_group(LARGE_PERSON_GROUP, 40)      # 256 shards: several parts
    collection = repository.get_collection(LARGE_PERSON_GROUP, group_id)
    faces = {}
    for index, person in enumerate(persons):
        vector = random_vector(7_000 + index)
        faces[persisted_faces.store_face(collection, person, vector, None)] = (person, vector)
    assert train(LARGE_PERSON_GROUP, group_id) == "succeeded"
    sample = dict(list(faces.items())[:10])
    counts, pauses = Counter(), random.Random(9)
    for _ in range(6):
        lines = run_worker(WORKER, ["train", "largePersonGroup", "256", group_id],
                           pauses.uniform(0.3, 3.0))
        counts["kills"] += 1
        counts["killed mid-training"] += lines[-1][0] == "training"
        counts["trainings finished before a kill"] += sum(w[0] == "trained" for w in lines)
        assert misidentified(LARGE_PERSON_GROUP, group_id, sample) == 0
    time.sleep(VISIBILITY + 1)     # the killed workers' messages are delivered again
    run_queue()
    assert train(LARGE_PERSON_GROUP, group_id) == "succeeded"
    state = training.state(collection.storage_id)
    prefix = f"{collection.storage_id}/snapshots/"
    versions = {b.name[len(prefix):].split("/")[0]
                for b in shards.container().list_blobs(prefix)}
    left = misidentified(LARGE_PERSON_GROUP, group_id, faces)
    figures.append(f"SIGKILL mid-training: {dict(counts)}; identify served from the last "
                   f"snapshot after each kill; then training succeeded, {left} of "
                   f"{len(faces)} persons not identified, snapshot versions kept "
                   f"{len(versions)}")
    assert counts["killed mid-training"] >= 3
    assert left == 0
    assert versions == {state.snapshot}
    assert snapshots.trained(collection.storage_id, state.snapshot).face_count == len(faces)
