"""Cosine similarity -> confidence in [0, 1], with 0.5 exactly at the same-person threshold.

confidence = sigmoid(slope * (similarity - threshold)). `bench/evaluate.py --calibrate` fits it
on LFW folds 1-2 (`fit`): the threshold is the one with the best verification accuracy, the
slope the maximum-likelihood logistic slope with that threshold held fixed, so the confidence
is also an honest probability. models/calibration.json keeps the result together with the
sha256 of the recognizer it was fitted for.

For 1:N search it also keeps the impostor curve: the similarity that a given share of
different-person comparisons reaches (`impostor_far`, [[far, similarity], ...], measured over
every cross-identity pair of the LFW photos). A gallery of N faces gives an unknown person N
chances of a false match, so identify's default threshold comes from this curve
(`similarity_at_far`), not from the one-to-one threshold alone."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
FILE_NAME = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    threshold: float
    slope: float
    recognizer_sha256: str
    impostor_far: tuple[tuple[float, float], ...] = ()

    def confidence(self, similarity):
        value = 1.0 / (1.0 + np.exp(-self.slope * (np.asarray(similarity, np.float64)
                                                   - self.threshold)))
        return float(value) if np.ndim(value) == 0 else value

    def similarity_at_far(self, far: float) -> float:
        """The similarity that a share `far` of impostor comparisons reaches (interpolated in
        log FAR; clamped to the measured range). Without a curve: the one-to-one threshold."""
        if not self.impostor_far:
            return self.threshold
        fars, similarities = zip(*sorted(self.impostor_far))
        return float(np.interp(np.log10(far), np.log10(fars), similarities))

    def save(self, folder: Path, **details) -> None:
        text = json.dumps({**asdict(self), **details}, indent=2)
        (folder / FILE_NAME).write_text(text + "\n")


def load(folder: Path, recognizer_sha256: str) -> Calibration:
    data = json.loads((folder / FILE_NAME).read_text())
    calibration = Calibration(data["threshold"], data["slope"], data["recognizer_sha256"],
                              tuple(map(tuple, data.get("impostor_far", ()))))
    if calibration.recognizer_sha256 != recognizer_sha256:
        log.warning("%s was fitted for another recognizer; run `make eval` with --calibrate",
                    FILE_NAME)
    return calibration


def best_threshold(similarities: np.ndarray, same: np.ndarray) -> float:
    """The similarity threshold with the highest accuracy (midway between two scores)."""
    order = np.sort(similarities)
    candidates = np.concatenate([[order[0] - 1e-3], (order[1:] + order[:-1]) / 2])
    accuracy = [np.mean((similarities >= t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def impostor_curve(impostors: np.ndarray, fars=(1e-2, 1e-3, 1e-4, 1e-5, 1e-6)) -> tuple:
    """[[far, similarity]] from impostor similarities; FARs below 1/len are left out."""
    ordered = np.sort(impostors)[::-1]
    return tuple((far, float(ordered[int(far * len(ordered))]))
                 for far in fars if far * len(ordered) >= 1)


def fit(similarities: np.ndarray, same: np.ndarray, recognizer_sha256: str,
        impostors: np.ndarray) -> Calibration:
    threshold = best_threshold(similarities, same)
    x, y = similarities - threshold, same.astype(np.float64)
    slope = 10.0
    for _ in range(50):  # Newton steps on the log-likelihood of one parameter
        p = 1.0 / (1.0 + np.exp(-slope * x))
        gradient, curvature = np.sum((y - p) * x), np.sum(p * (1 - p) * x * x)
        slope += gradient / max(curvature, 1e-12)
    return Calibration(threshold, float(slope), recognizer_sha256, impostor_curve(impostors))
