"""Identification with many identities on LFW (bench/lfw_identification.py): 307 persons
enrolled with one photo each, their other photos identified, not-enrolled people refused.

Top-1 is held to issue 5's target (97%; measured 97.4%). The other two floors sit just under
this recognizer's measured level (90.1% right and 94.8% of unknown people refused at the
default threshold), as a regression guard."""
from bench.lfw_identification import run


def test_lfw_identification(azurite, faces_dir):
    result = run(faces_dir / "lfw")
    assert result.enrolled > 300 and result.queries > 700 and result.unknowns > 500
    assert result.rank1 >= 0.97
    assert result.top1 >= 0.88
    assert result.unknown_rejected >= 0.93
