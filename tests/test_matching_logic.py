"""Pure logic of find similar and group: ranking, modes, clustering (synthetic vectors)."""
from __future__ import annotations

import numpy as np
import pytest

from shared import grouping, similarity
from shared.errors import FaceError


def _identity(values):
    return values


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _people(count: int, per_person: int, spread: float, seed: int = 0):
    """Vectors of `count` synthetic people, `per_person` noisy faces each, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count, 128))
    labels = np.repeat(np.arange(count), per_person)
    return _unit(centres[labels] + rng.normal(size=(len(labels), 128)) * spread), labels


def _naive_average_linkage(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    clusters = [[i] for i in range(len(vectors))]
    sims = vectors @ vectors.T
    while len(clusters) > 1:
        score, a, b = max((sims[np.ix_(clusters[a], clusters[b])].mean(), a, b)
                          for a in range(len(clusters)) for b in range(a + 1, len(clusters)))
        if score < threshold:
            break
        clusters[a] += clusters.pop(b)
    return sorted(sorted(c) for c in clusters)


def test_ranked_orders_best_first_and_limits():
    query = np.array([1.0, 0.0])
    candidates = _unit(np.array([[0.2, 1.0], [1.0, 0.1], [1.0, 1.0], [0.0, 1.0]]))
    ranked = similarity.ranked(query, candidates, "matchFace", 3, _identity)
    assert [i for i, _ in ranked] == [1, 2, 0]
    assert ranked[0][1] == pytest.approx(0.99504, abs=1e-5)


def test_match_person_drops_candidates_below_the_threshold():
    query = np.array([1.0, 0.0])
    candidates = _unit(np.array([[0.2, 1.0], [1.0, 0.1], [1.0, 1.0]]))
    assert [i for i, _ in similarity.ranked(query, candidates, "matchPerson", 20,
                                            _identity)] == [1, 2]


def test_verification_is_identical_exactly_from_half():
    assert similarity.verification(0.5, _identity) == {"isIdentical": True, "confidence": 0.5}
    assert similarity.verification(0.49999, _identity)["isIdentical"] is False


def test_mixed_recognition_models_are_refused():
    similarity.require_model("recognition_04", ["recognition_04"])
    with pytest.raises(FaceError) as caught:
        similarity.require_model("recognition_04", ["recognition_04", "recognition_01"])
    assert (caught.value.code, caught.value.message) == ("BadArgument",
                                                         "'recognitionModel' is incompatible.")


@pytest.mark.parametrize("seed", range(8))
def test_clustering_equals_naive_average_linkage(seed):
    vectors, _ = _people(6, 5, spread=0.9, seed=seed)
    assert sorted(sorted(c) for c in grouping.cluster(vectors, 0.45)) == \
        _naive_average_linkage(vectors, 0.45)


def test_clustering_recovers_people_and_leaves_strangers_messy():
    people, labels = _people(20, 4, spread=0.5)
    strangers, _ = _people(5, 1, spread=0.0, seed=99)
    ids = [f"id{i}" for i in range(len(people) + len(strangers))]
    result = grouping.groups_and_messy(
        ids, grouping.cluster(np.vstack([people, strangers]), 0.6))
    expected = {frozenset(f"id{i}" for i in np.flatnonzero(labels == p)) for p in range(20)}
    assert {frozenset(g) for g in result["groups"]} == expected
    assert result["messyGroup"] == ids[len(people):]


def test_a_look_alike_pair_does_not_chain_two_people():
    a, b = np.eye(128)[0], np.eye(128)[1]
    bridge = _unit(np.array([a + b]))[0]          # 0.71 to both people
    vectors = np.vstack([a, a, a, bridge, b, b, b])
    clusters = sorted(sorted(c) for c in grouping.cluster(vectors, 0.6))
    assert [0, 1, 2] in clusters or [0, 1, 2, 3] in clusters
    assert not any({0, 6} <= set(c) for c in clusters)


def test_groups_are_ordered_by_size_then_input_position():
    ids = list("abcdefg")
    result = grouping.groups_and_messy(ids, [[5, 6], [0], [1, 2, 4], [3]])
    assert result == {"groups": [["b", "c", "e"], ["f", "g"]], "messyGroup": ["a", "d"]}


def test_clustering_is_deterministic_and_handles_tiny_inputs():
    vectors, _ = _people(10, 3, spread=0.8)
    assert grouping.cluster(vectors, 0.5) == grouping.cluster(vectors.copy(), 0.5)
    assert grouping.cluster(vectors[:1], 0.5) == [[0]]


def test_similarity_at_inverts_an_increasing_calibration():
    def logistic(similarity):
        return 1 / (1 + np.exp(-50 * (similarity - 0.6)))
    assert grouping.similarity_at(logistic, 0.5) == pytest.approx(0.6, abs=1e-9)
    assert logistic(grouping.similarity_at(logistic, 0.97)) == pytest.approx(0.97, abs=1e-9)
