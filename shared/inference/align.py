"""Face chips for the recognizers: the 5 landmarks mapped onto a mean-face template.

A similarity transform puts the landmarks on TEMPLATE (dlib's mean face at YuNet's five
points, in a unit square from the brows to the chin) with PADDING of that square on each
side. FaceNet was trained on loose crops around a detector's box (MTCNN, 44 px of margin at
160 px); on LFW (bench/evaluate.py, bench/lfw_identification.py) a padding of 0.3 gave the
best verification and identification together (0.25: 0.25 points less verification accuracy;
0.35-0.4: 0.5-0.7 points less rank-1). dlib's recognizer takes its own chip, 150x150 with
padding 0.25 (dlib's `get_face_chip_details(shape, 150, 0.25)`, what it was trained on).

Sampling is OpenCV's warpAffine, bicubic for the chips (LFW faces are about 70 px, so a chip
is mostly upsampled) and bilinear for the landmark models' crops: 0.3 ms for a 160 px chip
where Pillow's transform took 1.2, on every face of every detect, add-face and enrollment.
Its bicubic kernel is not Pillow's (a = -0.75 against
-0.5; the geometry is the same), which the recognizers barely see: over 180 LFW and sample
faces the fused embeddings of the two chips agree to cosine 0.9987 on average (0.9954 at
worst), and LFW verification (99.58%, TAR 99.17% at FAR 1e-3) did not change. Faces embedded
before and after the change are therefore still compared (EMBEDDING_VERSION stays).

The mask classifier's crop is still sampled by Pillow (`pillow_chip`): its int8 calibration
(models/quantize.py) and the appearance heads fitted on its features were made on Pillow's
crops, and moving them means rebuilding the classifier and refitting the heads."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

# OpenCV's own thread pool off (for the whole process): a 160 px warp is too small to split,
# and the engine already runs requests and model chains side by side.
cv2.setNumThreads(1)

CHIP_SIZE = 160
PADDING = 0.3
# Eye on image-left, eye on image-right, nose tip, mouth corners image-left, image-right.
TEMPLATE = np.array([[0.2255, 0.2160], [0.7548, 0.2160], [0.4901, 0.5156],
                     [0.2542, 0.7802], [0.7261, 0.7802]], np.float64)


def chip_points(padding: float = PADDING, size: int = CHIP_SIZE) -> np.ndarray:
    return (TEMPLATE + padding) / (1 + 2 * padding) * size


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity transform taking src points onto dst (Umeyama, no
    reflection)."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / src_c.var(axis=0).sum()
    linear = scale * rotation
    return np.hstack([linear, (dst_mean - linear @ src_mean)[:, None]])


def chip(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE,
         padding: float = PADDING) -> np.ndarray:
    """(size, size, 3) uint8 RGB chip of one face of `image` ((H, W, 3) uint8 RGB)."""
    forward = similarity(landmarks.astype(np.float64), chip_points(padding, size))
    return warp(image, forward, size, cv2.INTER_CUBIC)


def warp(image: np.ndarray, forward: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    """(size, size, 3) uint8: `image` through the 2x3 affine map `forward` (image pixels ->
    output pixels), sampled with OpenCV's `interpolation` (cv2.INTER_CUBIC, INTER_LINEAR)."""
    shrink = _shrink(forward, size)
    if shrink is not None:
        factor, (left, top, right, bottom) = shrink
        # Whole blocks, so that OpenCV's area resize is the plain block average.
        right = left + -(-(right - left) // factor) * factor
        bottom = top + -(-(bottom - top) // factor) * factor
        image = cv2.resize(_crop(image, left, top, right, bottom),
                           ((right - left) // factor, (bottom - top) // factor),
                           interpolation=cv2.INTER_AREA)
        forward = _shrunk(forward, factor, left, top)
    # Output pixel centres -> input pixel centres (OpenCV puts pixel centres on integers,
    # Pillow and the maps here at +0.5).
    inverse = _inverse(forward)
    inverse[:, 2] += inverse[:, :2].sum(axis=1) * 0.5 - 0.5
    return cv2.warpAffine(image, inverse, (size, size),
                          flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def pillow_chip(picture: Image.Image, landmarks: np.ndarray, size: int,
                padding: float) -> np.ndarray:
    """`chip` sampled by Pillow's bicubic transform: the mask classifier's crops (see above)."""
    forward = similarity(landmarks.astype(np.float64), chip_points(padding, size))
    shrink = _shrink(forward, size)
    if shrink is not None:
        factor, box = shrink
        picture = picture.crop(box).reduce(factor)
        forward = _shrunk(forward, factor, *box[:2])
    return np.asarray(picture.transform((size, size), Image.AFFINE,
                                        _inverse(forward).ravel(), resample=Image.BICUBIC))


def _shrink(forward: np.ndarray, size: int) -> tuple[int, tuple[int, int, int, int]] | None:
    """Sampling a large face down by more than 2x would alias: the integer factor to shrink
    the image by first (averaging blocks) and the part of it that the output shows (a phone
    photo is ten times the pixels of a face), or None."""
    factor = int(1 / np.sqrt(abs(np.linalg.det(forward[:, :2]))))
    if factor < 2:
        return None
    corners = _inverse(forward) @ np.array([[0, size, 0, size], [0, 0, size, size],
                                            [1, 1, 1, 1]])
    left, top = np.floor(corners.min(axis=1)).astype(int) - factor
    right, bottom = np.ceil(corners.max(axis=1)).astype(int) + factor
    return factor, (int(left), int(top), int(right), int(bottom))


def _shrunk(forward: np.ndarray, factor: int, left: int, top: int) -> np.ndarray:
    """The map from the shrunk part of the image (see _shrink) to the output."""
    return forward @ np.array([[factor, 0, left], [0, factor, top], [0, 0, 1.0]])


def _crop(image: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """The box of `image`, black where it lies outside (as Pillow's crop)."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if (x0, y0, x1, y1) == (left, top, right, bottom):
        return image[top:bottom, left:right]
    out = np.zeros((bottom - top, right - left, 3), np.uint8)
    if x0 < x1 and y0 < y1:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return out


def _inverse(forward: np.ndarray) -> np.ndarray:
    return np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]
