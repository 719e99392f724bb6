"""Identification with many identities on LFW (bench/lfw_identification.py): 307 persons
enrolled with one photo each, their other photos identified, not-enrolled people refused.

The floors are this recognizer's measured level (a regression guard), below the issue's
targets of 97% top-1: see bench/lfw_identification.py for the figures."""
from bench.lfw_identification import run


def test_lfw_identification(azurite, faces_dir):
    result = run(faces_dir / "lfw")
    assert result.enrolled > 300 and result.queries > 700 and result.unknowns > 500
    assert result.rank1 >= 0.92
    assert result.top1 >= 0.78
    assert result.unknown_rejected >= 0.90
