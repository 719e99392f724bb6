"""Two recognizers fused at the score level: FaceNet Inception-ResNet-v1 (int8) and dlib's ResNet.

Each face gets one unit vector that joins the two descriptors:
    vector = [sqrt(FACENET_SHARE) * facenet, sqrt(1 - FACENET_SHARE) * dlib]
with both parts unit length, so that the dot product of two vectors is the weighted sum of the
two cosine similarities: score-level fusion that every search (one-to-one, identify, find
similar, group) gets for free.

- FaceNet takes a 160x160 chip (padding 0.3) and standardises it itself.
- dlib takes a 150x150 chip (padding 0.25, the chip it was trained on), plus its mirror image
  (flip fusion: the sum of the two unit descriptors). Both chips put the template at 100 px per
  unit, so dlib's is the centre of FaceNet's: one warp serves both.
- Both run as the static int8 graphs the build makes (models/quantize.py): about 9 and 2.6 ms
  per chip on one core of this project's machines (quiet), against 30 and 7.5 ms in float32,
  with the same LFW accuracy once fused. FaceNet runs in a side thread while dlib runs its
  chip and mirror: one face embeds in about 10 ms. Mirroring the FaceNet chip as well costs a
  second FaceNet run and gained nothing once fused (LFW, bench/evaluate.py).
- FACENET_SHARE: the two cosines are weighted by the inverse spread of their different-person
  scores, so each counts by how far it separates people from its own noise: over every
  different-person pair of the LFW photos the standard deviations are 0.142 (FaceNet) and
  0.035 (dlib), hence 0.035 / (0.035 + 0.142) = 0.2. No same-person label went into it.
  Fused, on LFW: 99.58% verification accuracy (threshold cross-validated over the folds) and
  97.8% identification rank-1 (bench/lfw_identification.py), against 99.3% and 97.2% for the
  int8 FaceNet alone and 99.4% and 93.4% for dlib alone (the latter two measured on the same
  chips outside the service)."""
from __future__ import annotations

from concurrent.futures import Executor
from typing import Sequence

import numpy as np

from shared.inference import align

PART_DIM = 128
EMBEDDING_DIM = 2 * PART_DIM
FACENET_SHARE = 0.2
FACENET_CHIP = (160, 0.3)          # side, padding
DLIB_CHIP = (150, 0.25)
# Where dlib's chip starts inside FaceNet's: the template's offsets differ by the paddings, at
# the common scale of side / (1 + 2 * padding) pixels per unit.
_SCALE = FACENET_CHIP[0] / (1 + 2 * FACENET_CHIP[1])
assert _SCALE == DLIB_CHIP[0] / (1 + 2 * DLIB_CHIP[1])
DLIB_OFFSET = round((FACENET_CHIP[1] - DLIB_CHIP[1]) * _SCALE)
# Faces per run of the graphs. Larger batches are barely faster per chip on CPU and their
# activations cost memory (100 faces would need gigabytes).
BATCH_FACES = 8
# FaceNet's chip costs about 9 ms of one core, dlib's chip and mirror 5: the side thread's
# share of FaceNet runs that splits a batch's 14 ms per face evenly over two threads.
SIDE_SHARE = 0.8


class Recognizer:
    def __init__(self, facenet_session, dlib_session, side_threads: Executor):
        """`side_threads` runs FaceNet while the calling thread runs dlib: two one-thread
        runs side by side cost less, in time and in CPU, than each run on two cores."""
        self.facenet = facenet_session
        self.dlib = dlib_session
        self.side_threads = side_threads

    def embed(self, image: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """(n, EMBEDDING_DIM) float32 unit vectors, one per face, in batches of BATCH_FACES."""
        if not landmarks:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        return self.embed_chips(np.stack([align.chip(image, points, *FACENET_CHIP)
                                          for points in landmarks]))

    def embed_chips(self, facenet_chips: np.ndarray) -> np.ndarray:
        """(n, 160, 160, 3) uint8 chips aligned as FACENET_CHIP -> (n, EMBEDDING_DIM) unit
        vectors."""
        end = DLIB_OFFSET + DLIB_CHIP[0]
        dlib_chips = facenet_chips[:, DLIB_OFFSET:end, DLIB_OFFSET:end]
        parts = []
        for start in range(0, len(facenet_chips), BATCH_FACES):
            faces = facenet_chips[start:start + BATCH_FACES]
            # The side thread runs FaceNet on the first SIDE_SHARE of the faces, this thread
            # dlib on all of them, then FaceNet on the rest: equal work for both.
            beside = max(1, round(len(faces) * SIDE_SHARE))
            facenet_run = self.side_threads.submit(_run, self.facenet, faces[:beside])
            chips = dlib_chips[start:start + BATCH_FACES]
            both = _run(self.dlib, np.concatenate([chips, chips[:, :, ::-1]]))
            dlib = normalise(both[: len(chips)] + both[len(chips):])
            rest = [_run(self.facenet, faces[beside:])] if beside < len(faces) else []
            facenet = np.concatenate([facenet_run.result(), *rest])
            parts.append(np.hstack([np.sqrt(FACENET_SHARE) * facenet,
                                    np.sqrt(1 - FACENET_SHARE) * dlib]))
        return np.concatenate(parts).astype(np.float32)


def _run(session, chips: np.ndarray) -> np.ndarray:
    """Unit descriptors of (n, side, side, 3) uint8 chips."""
    batch = chips.transpose(0, 3, 1, 2).astype(np.float32)
    return normalise(session.run(None, {session.get_inputs()[0].name: batch})[0])


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
