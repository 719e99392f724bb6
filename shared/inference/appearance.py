"""What a face wears: mask, glasses, sunglasses, headwear, as probabilities.

The mask probability is the face-mask classifier's own (shared/inference/mask.py). Glasses,
sunglasses and headwear come from small heads of our own: logistic regressions on the same
classifier's pooled features of the same crop (whole face, band above the brows, band of the
eyes; models/mask.py), so all of them cost one MobileNetV2 run per face. The heads are fitted by
`python -m models.train_heads` on photos labelled by inspection (models/labels/README.md) and
committed as models/appearance_heads.json, tied to the sha256 of the mask model whose features
they read:
  - glasses:    any eyewear (reading glasses or sunglasses) against none;
  - sunglasses: among faces with eyewear, dark lenses against clear ones (few examples: see
                models/labels/README.md);
  - headwear:   hat, cap, helmet, beret, headscarf against a bare head."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.inference.mask import MaskReading

HEADS = ("glasses", "sunglasses", "headwear")


@dataclass(frozen=True)
class Appearance:
    mask: float
    glasses: float
    sunglasses: float
    headwear: float
    size: float            # the face's side in image pixels (small faces tell less)


@dataclass(frozen=True)
class Head:
    """p = sigmoid(((x - mean) / scale) . weights + bias)"""
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def probability(self, features: np.ndarray) -> float:
        z = float(((features - self.mean) / self.scale) @ self.weights + self.bias)
        return float(1 / (1 + np.exp(-np.clip(z, -30, 30))))


class Heads:
    def __init__(self, heads: dict[str, Head]):
        self.heads = heads

    def read(self, reading: MaskReading, size: float) -> Appearance:
        values = {name: head.probability(reading.features) for name, head in self.heads.items()}
        return Appearance(mask=reading.mask_probability, size=size, **values)


def load(path: Path, mask_sha256: str) -> Heads:
    data = json.loads(path.read_text())
    if data["mask_model_sha256"] != mask_sha256:
        raise ValueError(f"{path.name} was fitted on another mask model: run "
                         "`python -m models.train_heads`")
    shared = {k: np.asarray(data[k], np.float32) for k in ("mean", "scale")}
    return Heads({name: Head(weights=np.asarray(data["heads"][name]["weights"], np.float32),
                             bias=float(data["heads"][name]["bias"]), **shared)
                  for name in HEADS})
