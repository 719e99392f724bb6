"""The in-memory search of a snapshot (pure logic, no storage): int8 scores against exact
cosine similarities, the best-face-per-person rule, exclusions and ordering."""
from __future__ import annotations

import uuid

import numpy as np

from shared.collections import shards, snapshots

RNG = np.random.default_rng(3)


def units(count: int) -> np.ndarray:
    vectors = RNG.standard_normal((count, shards.DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def snapshot_of(owners: list[str], vectors: np.ndarray, parts: int = 3) -> snapshots.Snapshot:
    """Records split into parts with disjoint owners, as training writes them."""
    records = shards.records([str(uuid.uuid4()) for _ in owners], owners, vectors)
    groups = sorted(set(owners))
    part_of = {owner: i % parts for i, owner in enumerate(groups)}
    chosen = np.array([part_of[o] for o in owners])
    return snapshots.Snapshot("v1", [snapshots.Part.from_bytes(
        snapshots.Part.from_records(records[chosen == p]).to_bytes()) for p in range(parts)])


def test_scores_match_exact_cosine_within_quantisation_error():
    people = [str(uuid.uuid4()) for _ in range(5000)]
    vectors = units(5000)
    snapshot = snapshot_of(people, vectors)
    queries = units(4)
    exact = queries @ vectors.T
    for query_index, found in enumerate(snapshot.best_owners(queries, 5000)):
        assert len(found) == 5000
        errors = [abs(score - exact[query_index, people.index(person)])
                  for person, score in found[:200]]
        assert max(errors) < 0.01


def test_person_score_is_the_best_of_its_faces_and_order_is_best_first():
    people = [str(uuid.uuid4()) for _ in range(50)]
    owners = [people[i % 50] for i in range(400)]
    vectors = units(400)
    snapshot = snapshot_of(owners, vectors)
    query = units(1)
    exact = query[0] @ vectors.T
    best = {p: max(exact[i] for i, o in enumerate(owners) if o == p) for p in people}
    found = snapshot.best_owners(query, 10)[0]
    # The k-th person found is the k-th best up to the int8 scoring's error (near-ties of
    # 256-d random vectors may swap).
    expected = sorted(best.values(), reverse=True)[:10]
    assert np.allclose([best[p] for p, _ in found], expected, atol=0.01)
    assert all(abs(score - best[p]) < 0.01 for p, score in found)
    assert [score for _, score in found] == sorted((score for _, score in found), reverse=True)


def test_excluded_owners_are_never_returned():
    people = [str(uuid.uuid4()) for _ in range(20)]
    vectors = units(20)
    snapshot = snapshot_of(people, vectors)
    found = snapshot.best_owners(vectors[:1], 20, excluded={people[0], people[5]})[0]
    assert {p for p, _ in found} == set(people) - {people[0], people[5]}


def test_empty_snapshot_finds_nothing():
    snapshot = snapshots.Snapshot("v0", [])
    assert snapshot.face_count == 0
    assert snapshot.best_owners(units(2), 5) == [[], []]
