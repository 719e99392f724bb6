"""The FaceNet recognizer (InceptionResNetV1, as ONNX): aligned 160x160 chips -> 128-d vectors.

The graph takes RGB float 0-255 [N, 3, 160, 160] (it standardises each chip itself) and returns
FaceNet's raw descriptors. Each face is embedded as the sum of the unit descriptors of its chip
and of the mirrored chip (flip fusion: +0.25 points of LFW verification accuracy and of rank-1
identification, for twice the compute), normalised so that a dot product is a cosine
similarity."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from shared.inference import align

EMBEDDING_DIM = 128
# Faces per run of the graph (twice as many chips with the mirrors). Larger batches are barely
# faster per chip on CPU and their activations cost memory (100 faces would need gigabytes).
BATCH_FACES = 8


class Recognizer:
    def __init__(self, session):
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def embed(self, image: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 128) float32 unit vectors, one per face, in batches of BATCH_FACES."""
        if not landmarks:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        picture = Image.fromarray(image)
        chips = np.stack([align.chip(picture, points) for points in landmarks])
        return self.embed_chips(chips)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(n, CHIP_SIZE, CHIP_SIZE, 3) uint8 chips -> (n, 128) unit vectors."""
        return np.concatenate([self._embed_batch(chips[i:i + BATCH_FACES])
                               for i in range(0, len(chips), BATCH_FACES)])

    def _embed_batch(self, chips: np.ndarray) -> np.ndarray:
        # Chips and their mirrors in one run.
        both = np.concatenate([chips, chips[:, :, ::-1]])
        batch = both.transpose(0, 3, 1, 2).astype(np.float32)
        vectors = normalise(self.session.run(None, {self.input_name: batch})[0])
        return normalise(vectors[: len(chips)] + vectors[len(chips):])


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
