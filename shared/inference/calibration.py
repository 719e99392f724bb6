"""Similarity -> confidence in [0, 1]: a scale of false-match rates, 0.5 at the verify threshold.

The confidence of a score says how rarely two *different* people score that high: it is read
off the impostor curve, the share of different-person comparisons (false-match rate, FAR) that
reach a given similarity, measured over every pair of LFW photos of different people (about
1.25 million pairs; `bench/evaluate.py --calibrate` refits it). The scale runs linearly in
decades of FAR:

    confidence   0.0   0.125   0.25   0.375   0.5    0.583   0.667   0.75   0.833   1.0
    FAR          1     1e-1    1e-2   1e-3    1e-4   1e-5    1e-6    1e-7   1e-8    1e-10

so 0.5, the verify threshold (isIdentical), is the score that one pair of different people in
10,000 reaches (the operating point NIST's FRVT reports for photos taken in the wild); a user
who asks for 0.75 instead accepts a false match in 10 million comparisons and misses more true
ones. The curve is measured down to 1e-6 (0.667); above that it is extended along its last
decade, so confidences above 0.667 are an extrapolation: they still order scores correctly.
Confidence is monotone in similarity and is not a probability of "same person" (on LFW, which
is half same-person pairs, that probability is almost always 0 or 1, which says nothing about
how strict a threshold is).

For 1:N search, the same curve gives identify's default threshold: a gallery of N faces gives
an unknown person N chances of a false match (`similarity_at_far`)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
FILE_NAME = "calibration.json"
# The verify threshold, as a false-match rate.
VERIFY_FAR = 1e-4
# (decades of FAR, confidence) knots of the scale; linear in between.
SCALE = ((0.0, 0.0), (4.0, 0.5), (10.0, 1.0))
CURVE_FARS = (0.5, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


@dataclass(frozen=True)
class Calibration:
    recognizer_sha256: str
    # ((far, similarity), ...): the similarity that a share `far` of impostor pairs reaches.
    impostor_far: tuple[tuple[float, float], ...]

    def _knots(self) -> tuple[np.ndarray, np.ndarray]:
        """Similarities (increasing) and their decades of FAR."""
        fars, similarities = zip(*sorted(self.impostor_far, reverse=True))
        return np.array(similarities), -np.log10(fars)

    def decades(self, similarity) -> np.ndarray:
        """-log10 FAR of a similarity, interpolated along the curve and extended linearly past
        both of its ends."""
        x, y = self._knots()
        s = np.asarray(similarity, np.float64)
        low = y[0] + (s - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
        high = y[-1] + (s - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
        return np.where(s < x[0], low, np.where(s > x[-1], high, np.interp(s, x, y)))

    def confidence(self, similarity):
        knots, values = zip(*SCALE)
        value = np.interp(self.decades(similarity), knots, values)
        return float(value) if np.ndim(value) == 0 else value

    def similarity_at_far(self, far: float) -> float:
        """The similarity that a share `far` of impostor comparisons reaches (interpolated in
        log FAR, extended past the measured ends)."""
        x, y = self._knots()
        d = -np.log10(far)
        if d > y[-1]:
            return float(x[-1] + (d - y[-1]) * (x[-1] - x[-2]) / (y[-1] - y[-2]))
        return float(np.interp(d, y, x))

    @property
    def threshold(self) -> float:
        """The verify threshold: the similarity whose confidence is 0.5."""
        return self.similarity_at_far(VERIFY_FAR)

    def save(self, folder: Path, **details) -> None:
        data = {"recognizer_sha256": self.recognizer_sha256,
                "impostor_far": self.impostor_far, "threshold": self.threshold, **details}
        (folder / FILE_NAME).write_text(json.dumps(data, indent=2) + "\n")


def load(folder: Path, recognizer_sha256: str) -> Calibration:
    data = json.loads((folder / FILE_NAME).read_text())
    calibration = Calibration(data["recognizer_sha256"], tuple(map(tuple, data["impostor_far"])))
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


def fit(impostors: np.ndarray, recognizer_sha256: str) -> Calibration:
    """The calibration from different-person similarities (FARs below 1/len are left out)."""
    ordered = np.sort(impostors)[::-1]
    curve = tuple((far, float(ordered[int(far * len(ordered))]))
                  for far in CURVE_FARS if far * len(ordered) >= 1)
    return Calibration(recognizer_sha256, curve)
