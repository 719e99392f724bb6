"""Model-based tests of the collections, the way storage engines are tested.

Hypothesis generates random sequences of create / add face / delete face / add and delete
person / train / identify or find-similar / list / delete collection for each of the four
kinds, runs them against the real storage code on a real Azurite and against a plain in-memory
model, and after every step checks that they agree on the collection the step used (the `list`
step, and the end of each sequence, check every collection, with the integrity check too):
- the collection listing, the persons with their faces (or the list's faces) and the face rows
  equal the model;
- the shards hold exactly the model's live embeddings, each in its owner's shard (none lost,
  none left behind);
- identify / find-similar answer what the model predicts: the trained snapshot (or, for face
  lists, the live faces) minus what was deleted since, ranked by similarity; a face's own
  vector finds its owner first, and nothing deleted comes back.

Embeddings are synthetic unit vectors stored through the same function add-face uses after
detection, so the face models do not run thousands of times. Shard counts are small so that
owners share shards. Training runs synchronously (the queue is drained in-process). The
operation sequences are seeded (derandomize); the ids the service makes are random."""
from __future__ import annotations

import dataclasses
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)

from shared.collections import administration, integrity, repository, shards
from shared.collections import search as collection_search
from shared.collections import faces as persisted_faces
from shared.collections.kinds import (FACE_LIST, LARGE_FACE_LIST, LARGE_PERSON_GROUP,
                                      PERSON_GROUP, Kind)
from shared.errors import FaceError
from tests.collections_support import cached_face, random_vector, run_queue, unit

# --- adapters: every call into the domain (issue 15's refactor may rename these) -----------


def create_collection(kind: Kind, collection_id: str) -> str:
    """Creates the collection; returns its storage id."""
    administration.create_collection(kind, collection_id, collection_id)
    return repository.get_collection(kind, collection_id).storage_id


def delete_collection(kind: Kind, collection_id: str) -> None:
    administration.delete_collection(kind, collection_id)


def collection_ids(kind: Kind, prefix: str) -> list[str]:
    listed = administration.list_collections(kind, prefix, 1000, False)
    return [c[kind.id_field] for c in listed if c[kind.id_field].startswith(prefix)]


def add_person(kind: Kind, collection_id: str) -> str:
    return administration.create_person(kind, collection_id, "p")["personId"]


def delete_person(kind: Kind, collection_id: str, person_id: str) -> None:
    persisted_faces.delete_person(kind, collection_id, person_id)


def add_face(kind: Kind, collection_id: str, person_id: str | None, vector: np.ndarray) -> str:
    """add-face after detection: the same lookups, then the embedding is stored."""
    collection = repository.get_collection(kind, collection_id)
    if person_id is not None:
        repository.get_person(collection.storage_id, person_id)
    return persisted_faces.store_face(collection, person_id, vector, None)


def delete_face(kind: Kind, collection_id: str, person_id: str | None, face_id: str) -> None:
    persisted_faces.delete_face(kind, collection_id, person_id, face_id)


def listing(kind: Kind, collection_id: str) -> dict[str, set[str]]:
    """{owner: its faces}: persons with their persistedFaceIds, or a list's faces."""
    if kind.has_persons:
        return {p["personId"]: set(p["persistedFaceIds"])
                for p in administration.list_persons(kind, collection_id, None, 1000)}
    return {face: {face} for face in face_rows(kind, collection_id)}


def face_rows(kind: Kind, collection_id: str) -> set[str]:
    return {f["persistedFaceId"] for f in persisted_faces.list_faces(kind, collection_id, None, 1000)}


def stored_records(storage_id: str) -> list[tuple[int, str, str, np.ndarray]]:
    """(shard, face, owner, vector) of every record in the collection's shards."""
    return [(shard, shards.uuid_text(r["face"]), shards.uuid_text(r["owner"]), r["vector"])
            for shard in shards.existing_shards(storage_id)
            for r in shards.read(storage_id, shard)[0]]


def integrity_report(storage_id: str) -> integrity.Report:
    return integrity.check(storage_id)


def train(kind: Kind, collection_id: str) -> str:
    """Requests a training and runs the queued work at once; returns the final status."""
    administration.train(kind, collection_id)
    run_queue()
    return administration.training_status(kind, collection_id)["status"]


def search(kind: Kind, collection_id: str, probes: list[str],
           top: int) -> list[list[tuple[str, float]]]:
    """(owner, confidence) best first for each probe faceId: identify's persons (no
    threshold) or find-similar's faces (matchFace)."""
    if kind.has_persons:
        return [[(c["personId"], c["confidence"]) for c in result["candidates"]]
                for result in collection_search.identify(kind, collection_id, probes, top, 0.0)]
    return [[(s["persistedFaceId"], s["confidence"])
             for s in collection_search.find_similar(kind, collection_id, probe, top, "matchFace")]
            for probe in probes]


# --- the model ------------------------------------------------------------------------------

# Small shard counts so that owners share shards (the real counts are 64, 256, 1 and 256).
KINDS = [dataclasses.replace(PERSON_GROUP, shard_count=2),
         dataclasses.replace(LARGE_PERSON_GROUP, shard_count=3),
         FACE_LIST,
         dataclasses.replace(LARGE_FACE_LIST, shard_count=2)]
MAX_COLLECTIONS, MAX_OWNERS, MAX_FACES_EACH = 2, 8, 4
PROBES_PER_CHECK = 3
STALE = 0.15             # share of deletes and adds that name a deleted person or face
TOLERANCE = 0.02         # int8 snapshots change similarities by < 0.01


@dataclass
class ModelCollection:
    kind: Kind
    storage_id: str
    # person (or, in face lists, the face itself) -> {faceId: vector}
    owners: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    snapshot: dict[str, dict[str, np.ndarray]] | None = None   # owners at the last training
    deleted_since_training: set[str] = field(default_factory=set)
    gone_owners: list[str] = field(default_factory=list)
    gone_faces: list[tuple[str, str]] = field(default_factory=list)   # (owner, face)
    known_faces: list[str] = field(default_factory=list)              # every face ever added

    def live_faces(self) -> dict[str, tuple[str, np.ndarray]]:
        return {face: (owner, vector) for owner, faces in self.owners.items()
                for face, vector in faces.items()}

    def searchable(self) -> dict[str, dict[str, np.ndarray]] | str:
        """What a search sees, or the error code it must answer."""
        if not self.kind.needs_training:
            return self.owners if self.owners else "FaceListNotReady"
        if self.snapshot is None:
            return f"{self.kind.label}NotTrained"
        return {owner: faces for owner, faces in self.snapshot.items()
                if owner not in self.deleted_since_training}

    def listed(self) -> dict[str, set[str]]:
        return {owner: set(faces) for owner, faces in self.owners.items()}

    def forget(self, owner: str, face: str | None = None) -> None:
        """A person (face None) or one face is deleted."""
        if face is None or not self.kind.has_persons:
            for gone in self.owners.pop(owner):
                self.gone_faces.append((owner, gone))
            self.gone_owners.append(owner)
            self.deleted_since_training.add(owner)
        else:
            del self.owners[owner][face]
            self.gone_faces.append((owner, face))


# Relative frequency of each operation (those that cannot run in the current state, or do not
# exist for the kind, are left out). One rule picks from these with a generator seeded by
# Hypothesis, rather than one rule per operation: Hypothesis picks rules unevenly and turns
# some off for whole sequences (swarm testing), which left adds and deletes of faces, the
# operations that share shards, rare.
OPERATIONS = {"add_face": 36, "delete_face": 16, "add_person": 10, "delete_person": 4,
              "train": 5, "search_every_face": 4, "list_everything": 3, "create": 2,
              "create_existing": 2, "delete": 1}


class CollectionMachine(RuleBasedStateMachine):
    """The model and the real collections of one kind, step by step."""
    kind: Kind = KINDS[0]
    counts: Counter = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"m{uuid.uuid4().hex[:8]}-"
        self.created = 0
        self.collections: dict[str, ModelCollection] = {}
        self.touched: str | None = None                # the collection the step used
        self.vectors: dict[str, np.ndarray] = {}      # face -> its vector
        self.probes: dict[str, str] = {}              # face -> a cached faceId of its vector
        self.steps = 0
        self.random = random.Random()

    @initialize(seed=st.integers(0, 2**32 - 1))
    def start(self, seed: int) -> None:
        self.random.seed(seed)
        self.create()

    @rule(data=st.data())
    def step(self, data) -> None:
        possible = [operation for operation in OPERATIONS if self.can(operation)]
        operation = self.random.choices(possible, [OPERATIONS[o] for o in possible])[0]
        data.draw(st.just(operation), label="operation")     # shown in a failure's steps
        getattr(self, operation)(data)

    def stale(self, gone: list) -> bool:
        """Whether to use a deleted person or face (its error is checked) this time."""
        return bool(gone) and self.random.random() < STALE

    def can(self, operation: str) -> bool:
        kind, collections = self.kind, self.collections.values()
        return {"add_face": bool(self.addable()),
                "delete_face": any(c.live_faces() or c.gone_faces for c in collections),
                "add_person": kind.has_persons and bool(self.with_room()),
                "delete_person": kind.has_persons and any(c.owners or c.gone_owners
                                                          for c in collections),
                "train": kind.needs_training and bool(collections),
                "search_every_face": any(c.known_faces for c in collections),
                "create": len(collections) < MAX_COLLECTIONS}.get(operation, bool(collections))

    # --- helpers --------------------------------------------------------------------------

    def count(self, operation: str) -> None:
        self.counts[operation] += 1
        self.counts["operations"] += 1

    def pick(self, data, choices, label: str):
        return data.draw(st.sampled_from(sorted(choices)), label=label)

    def use(self, data, choices) -> tuple[str, ModelCollection]:
        """One of the collections `choices`, checked after the step."""
        self.touched = self.pick(data, choices, "collection")
        return self.touched, self.collections[self.touched]

    def expect_error(self, code: str, action) -> None:
        with pytest.raises(FaceError) as raised:
            action()
        assert raised.value.code == code

    def with_room(self) -> list[str]:
        return [cid for cid, c in self.collections.items() if len(c.owners) < MAX_OWNERS]

    def addable(self) -> list[str]:
        if self.kind.has_persons:
            return [cid for cid, c in self.collections.items()
                    if any(len(faces) < MAX_FACES_EACH for faces in c.owners.values())
                    or c.gone_owners]
        return self.with_room()

    # --- collections ----------------------------------------------------------------------

    def create(self, data=None) -> None:
        self.created += 1
        self.touched = f"{self.prefix}{self.created:03d}"
        self.collections[self.touched] = ModelCollection(
            self.kind, create_collection(self.kind, self.touched))
        self.check_collection_ids()
        self.count("create collection")

    def create_existing(self, data) -> None:
        collection_id, _ = self.use(data, self.collections)
        self.expect_error(f"{self.kind.label}Exists",
                          lambda: create_collection(self.kind, collection_id))
        self.count("create existing collection")

    def delete(self, data) -> None:
        collection_id, model = self.use(data, self.collections)
        delete_collection(self.kind, collection_id)
        del self.collections[collection_id]
        self.touched = None
        assert stored_records(model.storage_id) == [], "embeddings kept after the delete"
        self.check_collection_ids()
        self.count("delete collection")

    def list_everything(self, data) -> None:
        """Every collection of the kind in full: listings, face rows, shards, integrity."""
        self.check_collection_ids()
        for collection_id, model in self.collections.items():
            check_everything(self.kind, collection_id, model)
        self.count("list")

    def check_collection_ids(self) -> None:
        assert collection_ids(self.kind, self.prefix) == sorted(self.collections)

    # --- persons --------------------------------------------------------------------------

    def add_person(self, data) -> None:
        collection_id, model = self.use(data, self.with_room())
        model.owners[add_person(self.kind, collection_id)] = {}
        self.count("add person")

    def delete_person(self, data) -> None:
        collection_id, model = self.use(data, [cid for cid, c in self.collections.items()
                                               if c.owners or c.gone_owners])
        if self.stale(model.gone_owners) or not model.owners:
            person = self.pick(data, model.gone_owners, "deleted person")
            self.expect_error("PersonNotFound",
                              lambda: delete_person(self.kind, collection_id, person))
        else:
            person = self.pick(data, model.owners, "person")
            delete_person(self.kind, collection_id, person)
            model.forget(person)
        self.count("delete person")

    # --- faces ----------------------------------------------------------------------------

    def new_vector(self, data, model: ModelCollection) -> np.ndarray:
        """A random direction, or one close to an existing face (a near rival in rankings)."""
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        live = model.live_faces()
        if live and data.draw(st.booleans(), label="near an existing face"):
            _, like = live[self.pick(data, live, "like")]
            return unit(like + 0.5 * random_vector(seed))     # similarity about 0.9
        return random_vector(seed)

    def add_face(self, data) -> None:
        collection_id, model = self.use(data, self.addable())
        vector = self.new_vector(data, model)
        if not self.kind.has_persons:
            face = add_face(self.kind, collection_id, None, vector)
            model.owners[face] = {face: vector}
        else:
            room = [p for p, faces in model.owners.items() if len(faces) < MAX_FACES_EACH]
            if self.stale(model.gone_owners) or not room:
                person = self.pick(data, model.gone_owners, "deleted person")
                self.expect_error("PersonNotFound",
                                  lambda: add_face(self.kind, collection_id, person, vector))
                self.count("add face to a deleted person")
                return
            person = self.pick(data, room, "person")
            face = add_face(self.kind, collection_id, person, vector)
            model.owners[person][face] = vector
        self.vectors[face] = vector
        model.known_faces.append(face)
        self.count("add face")

    def delete_face(self, data) -> None:
        collection_id, model = self.use(data, [cid for cid, c in self.collections.items()
                                               if c.live_faces() or c.gone_faces])
        faces = {face: owner for face, (owner, _) in model.live_faces().items()}
        if self.stale(model.gone_faces) or not faces:
            owner, face = model.gone_faces[self.pick(data, range(len(model.gone_faces)),
                                                     "deleted face")]
            person = owner if self.kind.has_persons else None
            self.expect_error("PersistedFaceNotFound",
                              lambda: delete_face(self.kind, collection_id, person, face))
        else:
            face = self.pick(data, faces, "face")
            person = faces[face] if self.kind.has_persons else None
            delete_face(self.kind, collection_id, person, face)
            model.forget(faces[face], face)
        self.count("delete face")

    # --- training and search --------------------------------------------------------------

    def train(self, data) -> None:
        collection_id, model = self.use(data, self.collections)
        assert train(self.kind, collection_id) == "succeeded"
        model.snapshot = {owner: dict(faces) for owner, faces in model.owners.items() if faces}
        model.deleted_since_training = set()
        self.count("train")

    def search_every_face(self, data) -> None:
        """Identify / find-similar with every face the collection ever had, deleted ones too,
        and a random number of candidates."""
        collection_id, model = self.use(data, [cid for cid, c in self.collections.items()
                                               if c.known_faces])
        top = data.draw(st.integers(1, MAX_OWNERS + 1), label="top")
        for start in range(0, len(model.known_faces), 10):   # identify takes 10 at most
            self.check_search(collection_id, model.known_faces[start:start + 10], top)
        self.count("identify" if self.kind.has_persons else "find similar")

    def probe(self, face: str) -> str:
        if face not in self.probes:
            self.probes[face] = cached_face(self.vectors[face])
        return self.probes[face]

    def check_search(self, collection_id: str, faces: list[str], top: int) -> None:
        model = self.collections[collection_id]
        expected = model.searchable()
        probes = [self.probe(face) for face in faces]
        if isinstance(expected, str):
            self.expect_error(expected, lambda: search(self.kind, collection_id, probes, top))
            return
        for face, found in zip(faces, search(self.kind, collection_id, probes, top)):
            check_ranking(face, self.vectors[face], expected, found, top)
        self.counts["search results checked"] += len(faces)

    # --- after every step -----------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        """The collection the step used: its listing, shards and a few searches (one
        identify call, or find-similar calls, with faces taken in turn)."""
        self.steps += 1
        if self.touched not in self.collections:
            return
        model = self.collections[self.touched]
        assert listing(self.kind, self.touched) == model.listed()
        check_shards(model)
        if model.known_faces:
            probes = PROBES_PER_CHECK if self.kind.has_persons else 1
            first = self.steps * probes % len(model.known_faces)
            faces = (model.known_faces * 2)[first:first + probes]
            self.check_search(self.touched, list(dict.fromkeys(faces)), 3)

    def teardown(self) -> None:
        """Every collection in full, then deleted."""
        for collection_id, model in self.collections.items():
            check_everything(self.kind, collection_id, model)
            delete_collection(self.kind, collection_id)
        run_queue()      # the purges


def check_everything(kind: Kind, collection_id: str, model: ModelCollection) -> None:
    assert listing(kind, collection_id) == model.listed()
    assert face_rows(kind, collection_id) == set(model.live_faces()), "face rows differ"
    check_shards(model)
    report = integrity_report(model.storage_id)
    assert report.consistent, report


def check_shards(model: ModelCollection) -> None:
    records = stored_records(model.storage_id)
    stored = {face: (owner, vector) for _, face, owner, vector in records}
    expected = model.live_faces()
    lost, ghosts = set(expected) - set(stored), set(stored) - set(expected)
    assert not lost and not ghosts, f"lost {sorted(lost)}, ghosts {sorted(ghosts)}"
    assert len(records) == len(stored), "a face has two records"
    for shard, face, owner, vector in records:
        assert owner == expected[face][0] and np.array_equal(vector, expected[face][1])
        assert shard == shards.shard_of(owner, model.kind.shard_count)


def check_ranking(face: str, query: np.ndarray, searchable: dict[str, dict[str, np.ndarray]],
                  found: list[tuple[str, float]], top: int) -> None:
    """`found` is the model's ranking of `searchable` owners for `query`, up to quantisation:
    the best `top` owners, best first; a face finds its own owner first."""
    scores = {owner: max(float(query @ v) for v in faces.values())
              for owner, faces in searchable.items()}
    owners = [owner for owner, _ in found]
    context = f"searching with face {face}: {found}"
    assert set(owners) <= set(scores), f"deleted or unknown owners returned, {context}"
    assert len(owners) == len(set(owners)) == min(top, len(scores)), context
    ranked = [scores[owner] for owner in owners]
    assert all(a >= b - TOLERANCE for a, b in zip(ranked, ranked[1:])), context
    left_out = [score for owner, score in scores.items() if owner not in owners]
    if ranked and left_out:
        assert min(ranked) >= max(left_out) - TOLERANCE, context
    if scores and max(scores.values()) > 0.99:      # the face itself is searchable
        assert ranked[0] > 0.99 - TOLERANCE and found[0][1] >= 0.99, f"lost: {context}"


# --- the runs -------------------------------------------------------------------------------

# No shrinking: replaying sequences against storage took over five minutes per failure; the
# failing sequence is printed step by step as it ran.
RUN = settings(max_examples=10, stateful_step_count=65, deadline=None, derandomize=True,
               database=None, phases=[Phase.explicit, Phase.generate],
               suppress_health_check=list(HealthCheck), print_blob=False)
MIN_OPERATIONS = 500     # per kind: ≥ 2,000 across the four (sequences may end early)


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_collections_agree_with_the_model(azurite, figures, kind):
    machine = type(f"{kind.label}Machine", (CollectionMachine,),
                   {"kind": kind, "counts": Counter()})
    run_state_machine_as_test(machine, settings=RUN)
    counts = machine.counts
    details = ", ".join(f"{name} {number}" for name, number in sorted(counts.items())
                        if name != "operations")
    figures.append(f"model-based {kind.name} (shards {kind.shard_count}): "
                   f"{counts['operations']} operations, zero disagreement ({details})")
    assert counts["operations"] >= MIN_OPERATIONS
