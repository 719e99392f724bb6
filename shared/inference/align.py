"""Face chips for the recognizer: the 5 landmarks mapped onto a mean-face template, 160x160.

A similarity transform puts the landmarks on TEMPLATE (dlib's mean face at YuNet's five
points, in a unit square from the brows to the chin) with PADDING of that square on each
side. FaceNet was trained on loose crops around a detector's box (MTCNN, 44 px of margin at
160 px); on LFW (bench/evaluate.py, bench/lfw_identification.py) a padding of 0.3 gave the
best verification and identification together (0.25: 0.25 points less verification accuracy;
0.35-0.4: 0.5-0.7 points less rank-1). Sampling is bicubic: LFW faces are about 70 px, so
the chip is mostly upsampled."""
from __future__ import annotations

import numpy as np
from PIL import Image

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


def chip(image: Image.Image, landmarks: np.ndarray, padding: float = PADDING,
         size: int = CHIP_SIZE) -> np.ndarray:
    """(size, size, 3) uint8 RGB chip of one face."""
    forward = similarity(landmarks.astype(np.float64), chip_points(padding, size))
    # Sampling a large face down by more than 2x would alias; shrink the image by an integer
    # factor first (Pillow's reduce averages blocks).
    factor = int(1 / np.sqrt(abs(np.linalg.det(forward[:, :2]))))
    if factor >= 2:
        image = image.reduce(factor)
        forward = forward @ np.diag([factor, factor, 1.0])
    inverse = np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]
    warped = image.transform((size, size), Image.AFFINE, inverse.ravel(),
                             resample=Image.BICUBIC)
    return np.asarray(warped)
