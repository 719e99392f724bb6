"""Comparing faces: verification results and find-similar ranking (contract §3.2).

Pure functions over embeddings; `confidence` maps cosine similarity to the calibrated [0, 1]
scale where 0.5 is the same-person threshold (the engine's `confidence`)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from shared.errors import bad_argument

Confidence = Callable[[np.ndarray], np.ndarray]
MODES = ("matchPerson", "matchFace")
SAME_PERSON = 0.5


def _rounded(confidence: float) -> float:
    return round(float(confidence), 5)


def verification(best_similarity: float, confidence: Confidence) -> dict:
    """`{isIdentical, confidence}`; isIdentical exactly when the returned confidence >= 0.5."""
    value = _rounded(confidence(np.float64(best_similarity)))
    return {"isIdentical": value >= SAME_PERSON, "confidence": value}


def ranked(query: np.ndarray, candidates: np.ndarray, mode: str, limit: int,
           confidence: Confidence) -> list[tuple[int, float]]:
    """(candidate index, confidence) best first: the `limit` most similar, and in matchPerson
    mode only those that pass the same-person threshold."""
    if len(candidates) == 0:
        return []
    values = np.asarray(confidence(candidates @ query), dtype=np.float64)
    order = np.argsort(-values, kind="stable")[:limit]
    results = [(int(i), _rounded(values[i])) for i in order]
    if mode == "matchPerson":
        results = [(i, value) for i, value in results if value >= SAME_PERSON]
    return results


def require_model(expected: str, models: list[str]) -> None:
    """Faces compared with each other must come from the same recognition model (§10)."""
    if any(model != expected for model in models):
        raise bad_argument("'recognitionModel' is incompatible.")
