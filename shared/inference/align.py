"""Face chips for the recognizer: the 5 landmarks mapped onto dlib's 150x150 template.

dlib's recognizer was trained on chips made by `get_face_chip_details(shape, 150, 0.25)`:
a similarity transform putting the landmarks on dlib's mean face, with 25% padding around it.
TEMPLATE is that mean face at YuNet's five points, in the unit square dlib uses. On LFW
(bench/evaluate.py) dlib's own padding of 0.25 stayed best (0.20-0.30 and shifting or scaling
the template lose 0.1-0.5 points), and bicubic sampling beats bilinear by 0.25 points: LFW faces
are about 70 px, so the chip is mostly upsampled."""
from __future__ import annotations

import numpy as np
from PIL import Image

CHIP_SIZE = 150
PADDING = 0.25
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


def chip(image: Image.Image, landmarks: np.ndarray, padding: float = PADDING) -> np.ndarray:
    """(150, 150, 3) uint8 RGB chip of one face."""
    forward = similarity(landmarks.astype(np.float64), chip_points(padding))
    # Sampling a large face down by more than 2x would alias; shrink the image by an integer
    # factor first (Pillow's reduce averages blocks).
    factor = int(1 / np.sqrt(abs(np.linalg.det(forward[:, :2]))))
    if factor >= 2:
        image = image.reduce(factor)
        forward = forward @ np.diag([factor, factor, 1.0])
    inverse = np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]
    warped = image.transform((CHIP_SIZE, CHIP_SIZE), Image.AFFINE, inverse.ravel(),
                             resample=Image.BICUBIC)
    return np.asarray(warped)
