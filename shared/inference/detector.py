"""YuNet (2023mar) face detector: boxes, scores and 5 landmarks.

The graph takes BGR float 0-255 NCHW of any size that is a multiple of 32 and returns, per
stride 8/16/32, class and objectness scores, box offsets and keypoint offsets for every cell.
YuNet is trained on faces of roughly 10-300 px, so the image is scaled to a long side of 640
for large faces. The contract promises 36 px faces in images up to 1920x1080 (proportionally
larger faces beyond): when the first scale makes such a face much smaller than SMALLEST_SEEN
px, a second pass looks at the image at the scale that makes it that size (1280x720 for a
1920x1080 photo)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

STRIDES = (8, 16, 32)
# YuNet's own default (0.9) misses real faces of the Azure sample photos (0.88, 0.90).
SCORE_THRESHOLD = 0.6
NMS_IOU = 0.3
MAX_FACES = 100
MIN_FACE = 36
COARSE_SIDE = 640
# Faces of this many pixels are still found reliably: the Azure sample portraits shrunk to
# 36-40 px in a 1920x1080 photo all score 0.8-0.9 with the second pass at 2/3 scale; at
# 1/2 scale (18 px) some are missed.
SMALLEST_SEEN = 24
CONTRACT_SIDE = 1920


@dataclass(frozen=True, eq=False)
class Face:
    left: float
    top: float
    width: float
    height: float
    score: float
    # (5, 2) float32: eye on image-left, eye on image-right, nose tip, mouth corners left, right.
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return self.width * self.height


class Detector:
    def __init__(self, session, spinning_session=None):
        """`spinning_session`, a second session of the graph, serves runs that have the cores
        to themselves (shared/inference/engine.py, open_session)."""
        self.session = session
        self.spinning_session = spinning_session or session
        self.input_name = session.get_inputs()[0].name

    def detect(self, image: np.ndarray, min_face: int | None = None,
               alone: bool = False) -> list[Face]:
        """Faces of at least MIN_FACE px, largest first, at most MAX_FACES. With `min_face`,
        faces of at least that many pixels in this image, whatever its size (redaction).
        `alone`: nothing else runs a model in this process."""
        picture = Image.fromarray(image)
        session = self.spinning_session if alone else self.session
        rows = np.concatenate([self._run(session, picture, scale)
                               for scale in scales(picture.size, min_face)])
        rows = rows[_nms(rows[:, :5])]
        faces = [_to_face(row, image.shape) for row in rows]
        faces = [f for f in faces if max(f.width, f.height) >= (min_face or MIN_FACE)]
        return sorted(faces, key=lambda f: f.area, reverse=True)[:MAX_FACES]

    def _run(self, session, image: Image.Image, scale: float) -> np.ndarray:
        """Rows of x1, y1, x2, y2, score, 10 landmark coordinates, in original pixels."""
        blob = _blob(image, scale)
        outputs = session.run(None, {self.input_name: blob})
        rows = _decode(outputs, blob.shape[2], blob.shape[3])
        rows[:, [0, 1, 2, 3] + list(range(5, 15))] /= scale
        return rows


def scales(size: tuple[int, int], min_face: int | None = None) -> list[float]:
    """One pass at the coarse scale, or a little above it when that is enough for the smallest
    face; otherwise a second pass at the fine scale."""
    long_side = max(size)
    coarse = min(1.0, COARSE_SIDE / long_side)
    smallest_face = min_face or MIN_FACE * max(1.0, long_side / CONTRACT_SIDE)
    fine = min(1.0, SMALLEST_SEEN / smallest_face)
    if fine <= coarse * 1.25:
        return [max(coarse, fine)]
    return [coarse, fine]


def _blob(image: Image.Image, scale: float) -> np.ndarray:
    """Scaled, BGR, zero-padded to multiples of 32, NCHW float32."""
    width, height = (max(1, round(side * scale)) for side in image.size)
    if (width, height) != image.size:
        # Box-average by an integer factor first (reducing_gap): far cheaper on large photos.
        image = image.resize((width, height), Image.BILINEAR, reducing_gap=1.0)
    blob = np.zeros((1, 3, -(-height // 32) * 32, -(-width // 32) * 32), np.float32)
    for channel, plane in enumerate(reversed(image.split())):
        blob[0, channel, :height, :width] = np.asarray(plane)
    return blob


def _decode(outputs: list[np.ndarray], height: int, width: int) -> np.ndarray:
    # Output order of the graph: cls x3, obj x3, bbox x3, kps x3, each ordered by stride.
    cls, obj, bbox, kps = (outputs[i:i + 3] for i in range(0, 12, 3))
    rows = []
    for i, stride in enumerate(STRIDES):
        score = np.sqrt(np.clip(cls[i][0, :, 0], 0, 1) * np.clip(obj[i][0, :, 0], 0, 1))
        keep = np.flatnonzero(score >= SCORE_THRESHOLD)
        cols = width // stride
        anchor = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)
        box, points = bbox[i][0, keep], kps[i][0, keep].reshape(-1, 5, 2)
        centre = (anchor + box[:, :2]) * stride
        size = np.exp(box[:, 2:]) * stride
        points = (anchor[:, None, :] + points) * stride
        rows.append(np.concatenate([centre - size / 2, centre + size / 2, score[keep, None],
                                    points.reshape(-1, 10)], axis=1))
    return np.concatenate(rows).astype(np.float32)


def _nms(rows: np.ndarray) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    x1, y1, x2, y2, score = rows.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-score)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])
        height = np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])
        inter = np.clip(width, 0, None) * np.clip(height, 0, None)
        order = rest[inter / (areas[best] + areas[rest] - inter) <= NMS_IOU]
    return np.array(keep, dtype=int)


def _to_face(row: np.ndarray, shape: tuple[int, ...]) -> Face:
    """The box clipped to the image; landmarks as predicted."""
    height, width = shape[:2]
    x1, x2 = np.clip(row[[0, 2]], 0, width)
    y1, y2 = np.clip(row[[1, 3]], 0, height)
    return Face(float(x1), float(y1), float(x2 - x1), float(y2 - y1), float(row[4]),
                row[5:15].reshape(5, 2).astype(np.float32))
