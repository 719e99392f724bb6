"""Face quality attributes: blur, exposure, noise, head pose and qualityForRecognition.

All are measured on the face box (grey levels, Rec. 601 luma) and the 5 landmarks:
- blur: variance of the Laplacian of the face (shrunk to 112 px if larger), relative to the
  variance of the face itself (so contrast does not count); value = 1 / (1 + ratio /
  BLUR_RATIO_HALF).
- exposure: mean luma of the inner face / 255 (a dark face < 0.25 is underExposure,
  a washed-out one >= 0.75 overExposure).
- noise: sigma of the pixel noise at the original resolution, estimated robustly (median) with
  Immerkaer's Laplacian-difference mask, which flat skin makes reliable; value = sigma / 20.
- headPose from the 5 landmarks under weak perspective, the eyes and mouth corners taken as
  one plane with the nose tip standing out of it by NOSE_DEPTH: roll is the angle of the eye
  line (> 0: tilted clockwise in the image); with the roll undone, the nose's sideways offset
  from the face's midline over the eye distance is tan(yaw) times a constant (> 0: turned
  towards the image-right), and its height between eyes and mouth, compared with the frontal
  template, gives tan(pitch) (> 0: face up).
- qualityForRecognition: high needs a face of at least 100 px, low blur, good exposure,
  low noise and |yaw|, |pitch| <= 25; low is a face under 50 px, high blur, high noise or
  |yaw|, |pitch| > 45; medium otherwise (bad exposure alone makes a face medium).

How the constants were set: on the 34 faces of the Azure sample photos, which are sharp, well
lit, clean stock photos, blur comes out 0.03-0.19, noise 0.04-0.17 and exposure 0.36-0.70;
BLUR_RATIO_HALF and NOISE_SIGMA_FULL put those in the low levels with a margin, and degraded
copies of the same photos land in the matching levels (Gaussian blur of radius 4: blur high
31/34; pixel values x0.25: underExposure 34/34; +130: overExposure on all 31 faces still
found; Gaussian noise of sigma 25: noise high 34/34). qualityForRecognition then gives 17 high
(faces of 100 px or more) and 17 medium (smaller faces, and detection3.jpg, turned about 40
degrees away). `python -m bench.evaluate` prints these counts again."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from shared.inference import align
from shared.inference.detector import Face

BLUR_RATIO_HALF = 0.02
BLUR_SIDE = 112
NOISE_SIGMA_FULL = 20.0
POSE_HIGH, POSE_LOW = 25.0, 45.0
SIZE_HIGH, SIZE_LOW = 100.0, 50.0

# The frontal face of the chip template (align.TEMPLATE units) and how far the nose tip
# stands out of the plane of eyes and mouth (about 0.42 eye distances on adult faces).
EYE_DISTANCE = align.TEMPLATE[1, 0] - align.TEMPLATE[0, 0]
EYES_TO_MOUTH = align.TEMPLATE[3, 1] - align.TEMPLATE[0, 1]
NOSE_RATIO = (align.TEMPLATE[2, 1] - align.TEMPLATE[0, 1]) / EYES_TO_MOUTH
NOSE_DEPTH = 0.42 * EYE_DISTANCE


@dataclass(frozen=True)
class FaceQuality:
    blur: float
    blur_level: str
    exposure: float
    exposure_level: str
    noise: float
    noise_level: str
    yaw: float
    pitch: float
    roll: float
    recognition: str


def assess(image: np.ndarray, face: Face) -> FaceQuality:
    grey = _face_grey(image, face)
    blur = _blur(grey)
    exposure = _exposure(grey)
    noise = _noise(grey)
    yaw, pitch, roll = head_pose(face.landmarks)
    levels = (_level(blur, 0.25, 0.75, ("low", "medium", "high")),
              _level(exposure, 0.25, 0.75, ("underExposure", "goodExposure", "overExposure")),
              _level(noise, 0.3, 0.7, ("low", "medium", "high")))
    recognition = _recognition(min(face.width, face.height), *levels, abs(yaw), abs(pitch))
    return FaceQuality(blur, levels[0], exposure, levels[1], noise, levels[2],
                       yaw, pitch, roll, recognition)


def _face_grey(image: np.ndarray, face: Face) -> np.ndarray:
    # At least 3x3 pixels, so the 3x3 filters below have something to work on even for a box
    # mostly outside the image.
    height, width = image.shape[:2]
    left = min(int(face.left), width - 3)
    top = min(int(face.top), height - 3)
    right = max(int(np.ceil(face.left + face.width)), left + 3)
    bottom = max(int(np.ceil(face.top + face.height)), top + 3)
    # float32: the statistics below need no more, and the noise median runs twice as fast.
    crop = image[max(top, 0):bottom, max(left, 0):right].astype(np.float32)
    return crop @ np.array([0.299, 0.587, 0.114], np.float32)


def _laplacian(grey: np.ndarray) -> np.ndarray:
    return (grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
            - 4 * grey[1:-1, 1:-1])


def _blur(grey: np.ndarray) -> float:
    # Larger faces are shrunk to BLUR_SIDE, so that many pixels do not by themselves look sharp;
    # smaller ones are measured as they are (upsampling would blur them): size is judged apart.
    height, width = grey.shape
    scale = min(1.0, BLUR_SIDE / max(height, width))
    picture = Image.fromarray(grey.astype(np.float32))
    if scale < 1:
        picture = picture.resize((max(3, round(width * scale)), max(3, round(height * scale))),
                                 Image.BILINEAR)
    face = np.asarray(picture)
    ratio = _laplacian(face).var() / max(face.var(), 1e-6)
    return float(1.0 / (1.0 + ratio / BLUR_RATIO_HALF))


def _exposure(grey: np.ndarray) -> float:
    height, width = grey.shape
    inner = grey[height // 5: height - height // 5, width // 5: width - width // 5]
    return float(np.clip(inner.mean() / 255.0, 0.0, 1.0))


def _noise(grey: np.ndarray) -> float:
    # Immerkaer's mask (difference of two Laplacians) cancels smooth shading; its response to
    # Gaussian noise has standard deviation 6 sigma, and the median ignores edges. It is taken
    # at every other row and column: a quarter of the work, and thousands of samples remain.
    def at(dy: int, dx: int) -> np.ndarray:
        """The neighbour (dy, dx) of every other interior pixel."""
        height, width = grey.shape
        return grey[1 + dy:height - 1 + dy:2, 1 + dx:width - 1 + dx:2]

    response = (at(-1, -1) + at(-1, 1) + at(1, -1) + at(1, 1)
                - 2 * (at(-1, 0) + at(1, 0) + at(0, -1) + at(0, 1)) + 4 * at(0, 0))
    sigma = np.median(np.abs(response)) / 0.6745 / 6.0
    return float(np.clip(sigma / NOISE_SIGMA_FULL, 0.0, 1.0))


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """yaw, pitch, roll in degrees (see the module docstring for the model)."""
    eyes, nose, mouth = landmarks[:2].astype(np.float64), landmarks[2], landmarks[3:]
    eye_line = eyes[1] - eyes[0]
    roll = np.arctan2(eye_line[1], eye_line[0])
    # Undo the roll: then x runs along the eye line and y down the face.
    undo = np.array([[np.cos(roll), np.sin(roll)], [-np.sin(roll), np.cos(roll)]])
    eye_mid, nose, mouth_mid = (undo @ p for p in (eyes.mean(0), nose, mouth.mean(0)))
    eye_distance = np.linalg.norm(eye_line)
    midline_x = (eye_mid[0] + mouth_mid[0]) / 2
    yaw = np.arctan2((nose[0] - midline_x) * EYE_DISTANCE, NOSE_DEPTH * eye_distance)
    nose_ratio = (nose[1] - eye_mid[1]) / max(mouth_mid[1] - eye_mid[1], 1e-6)
    pitch = np.arctan((NOSE_RATIO - nose_ratio) * EYES_TO_MOUTH / NOSE_DEPTH)
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(np.degrees(roll))


def _level(value: float, medium: float, high: float, names: tuple[str, str, str]) -> str:
    return names[0] if value < medium else names[1] if value < high else names[2]


def _recognition(size: float, blur: str, exposure: str, noise: str,
                 yaw: float, pitch: float) -> str:
    if size < SIZE_LOW or blur == "high" or noise == "high" or max(yaw, pitch) > POSE_LOW:
        return "low"
    if (size >= SIZE_HIGH and blur == "low" and exposure == "goodExposure" and noise == "low"
            and max(yaw, pitch) <= POSE_HIGH):
        return "high"
    return "medium"
