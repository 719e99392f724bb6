"""LFW with the real models: identification with many identities (bench/lfw_identification.py:
307 persons enrolled with one photo each, their other photos identified, not-enrolled people
refused) and the spread of the calibrated confidence (bench/evaluate.py).

Top-1 is held to issue 5's target (97%; measured 97.8%). The floors at the default threshold
sit just under the measured level (89.9% right, 96.5% of unknown people refused), as a
regression guard. The confidence spread is issue 14's
target: same-person pairs spread over a useful range (interquartile range >= 0.1, at most 20%
of them at 1.0), each fold scored by a calibration fitted on the other fold's photos."""
import numpy as np
import pytest

from bench.evaluate import lfw_pairs, lfw_vectors, spread
from bench.lfw_identification import run
from shared.inference import get_engine


@pytest.fixture(scope="module")
def vectors(faces_dir):
    return lfw_vectors(get_engine())


def test_lfw_identification(azurite, faces_dir, vectors):
    result = run(faces_dir / "lfw", vectors)
    assert result.enrolled > 300 and result.queries > 700 and result.unknowns > 500
    assert result.rank1 >= 0.97
    assert result.top1 >= 0.88
    assert result.unknown_rejected >= 0.95


def test_same_person_confidences_are_graded(vectors):
    similarity, same, pairs = lfw_pairs(vectors)
    confidences = spread(vectors, similarity, same, pairs)
    q1, q3 = np.percentile(confidences, [25, 75])
    assert q3 - q1 >= 0.1
    assert np.mean(confidences >= 1.0) <= 0.2
    assert np.median(confidences) > 0.5
