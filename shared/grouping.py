"""Group faces by likely identity (POST /group): agglomerative clustering with average
linkage, stopped when no two clusters are a confident match.

Average linkage merges two clusters only when their faces are similar *on average*, so one
look-alike pair cannot chain two people together (single linkage / connected components can).
A merge joins whole clusters, so its mistakes compound: it needs a strict GROUP_CONFIDENCE.
With the calibration of models/calibration.json (a scale of false-match rates) verify's own 0.5
(one different-person pair in 10,000) is that: it sits where the best F1 was measured under
the earlier logistic calibration (confidence 0.9999 there, a false-match rate of about 1e-4;
pairwise precision / recall 0.99 / 0.93 on 1000 LFW faces of 410 people, bench/http_bench.py;
not yet re-measured with the fused recognizer of issue 14).
Ties are broken by index, so the same input gives the
same groups."""
from __future__ import annotations

from typing import Callable

import numpy as np

GROUP_CONFIDENCE = 0.5


def similarity_at(confidence: Callable[[float], float], target: float) -> float:
    """The cosine similarity whose calibrated confidence is `target` (the calibration is
    increasing, so bisection finds it whatever its form)."""
    low, high = -1.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if confidence(middle) < target else (low, middle)
    return (low + high) / 2


def cluster(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Clusters of row indices of `vectors` (L2-normalised), in no particular order."""
    count = len(vectors)
    similarity = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    np.fill_diagonal(similarity, -np.inf)
    sizes = np.ones(count)
    members = [[index] for index in range(count)]
    links = _BestLinks(similarity)
    while count > 1:     # each pass merges two clusters or stops
        row = int(np.argmax(links.value))
        if links.value[row] < threshold:
            break
        keep, gone = sorted((row, int(links.column[row])))
        _merge(similarity, sizes, keep, gone)
        members[keep] += members[gone]
        members[gone] = []
        links.after_merge(similarity, keep, gone)
        count -= 1
    return [group for group in members if group]


def _merge(similarity: np.ndarray, sizes: np.ndarray, keep: int, gone: int) -> None:
    """Average-linkage update: the merged cluster's similarity to every other cluster is the
    size-weighted mean of its two parts'."""
    total = sizes[keep] + sizes[gone]
    merged = (sizes[keep] * similarity[keep] + sizes[gone] * similarity[gone]) / total
    similarity[keep], similarity[:, keep] = merged, merged
    similarity[gone], similarity[:, gone] = -np.inf, -np.inf
    similarity[keep, keep] = -np.inf
    sizes[keep] = total


class _BestLinks:
    """Each row's most similar other cluster, kept current in O(n) per merge instead of
    rescanning the whole matrix."""

    def __init__(self, similarity: np.ndarray):
        self.column = np.argmax(similarity, axis=1) if len(similarity) else np.zeros(0, int)
        self.value = similarity.max(axis=1, initial=-np.inf)

    def after_merge(self, similarity: np.ndarray, keep: int, gone: int) -> None:
        stale = np.flatnonzero(np.isin(self.column, (keep, gone)))
        gained = similarity[:, keep] > self.value
        self.column[gained], self.value[gained] = keep, similarity[gained, keep]
        for row in np.append(stale, (keep, gone)):
            self.column[row] = np.argmax(similarity[row])
            self.value[row] = similarity[row, self.column[row]]


def groups_and_messy(ids: list[str], clusters: list[list[int]]) -> dict:
    """The wire result: groups of 2+ faces, largest first (then by first input position), and
    the faces that matched nobody."""
    groups = sorted((c for c in clusters if len(c) > 1), key=lambda c: (-len(c), c[0]))
    messy = sorted(c[0] for c in clusters if len(c) == 1)
    return {"groups": [[ids[i] for i in group] for group in groups],
            "messyGroup": [ids[i] for i in messy]}
