"""Azure's 27 face landmarks from MediaPipe's face mesh (468 points) and iris models.

Crops are made as MediaPipe makes them:
- face: a square FACE_SCALE times the long side of the detector's box, centred on the box and
  rotated so that the detector's eyes are level, warped to 192x192 (RGB in [0, 1]);
- eyes: a square EYE_SCALE times the distance between the mesh's eye corners (33-133 on the
  image-left eye, 362-263 on the image-right one), level with them, warped to 64x64. The iris
  model knows one eye only, the one whose outer corner is on the left: the image-right eye is
  flipped horizontally first (the flip is part of its affine map).
The models answer in crop pixels; the inverse of each crop's affine map takes them back to the
image. The pupils are the iris centres (the iris model's first iris point). As MediaPipe's
"refined" face mesh does, the eye and brow points the iris model also finds (its 71 contour
points, on the 64x64 crop) replace the mesh's own: on small faces the mesh's eyes can sit a
few pixels off, the iris model's are placed on the eye itself.

Which point answers each of Azure's names (Azure's "Left" is the image-left, the subject's
right: its own samples have pupilLeft.x < pupilRight.x). Mesh indices are those of MediaPipe's
canonical face mesh; PUPIL_LEFT and PUPIL_RIGHT are the two iris centres, appended after the
468 mesh points; the eye, brow and nose-root points are the iris model's (REFINED). How they
were checked: models/README.md.

  pupilLeft / pupilRight                 iris centre of the image-left / image-right eye
  noseTip                                1
  mouthLeft / mouthRight                 61 / 291     (mouth corners)
  eyebrowLeftOuter / eyebrowLeftInner    70 / 107     eyebrowRightInner / Outer    336 / 300
  eyeLeftOuter / eyeLeftInner            33 / 133     eyeRightInner / Outer        362 / 263
  eyeLeftTop / eyeLeftBottom             159 / 145    eyeRightTop / Bottom         386 / 374
  noseRootLeft / noseRootRight           193 / 417    (sides of the nose bridge, pupil level)
  noseLeftAlarTop / noseRightAlarTop     131 / 360    (upper ends of the alar creases)
  noseLeftAlarOutTip / RightAlarOutTip   64 / 294     (lower outer corners of the wings)
  upperLipTop / upperLipBottom           0 / 13       underLipTop / underLipBottom  14 / 17
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shared.inference import align
from shared.inference.detector import Face

MESH_SIZE, EYE_SIZE = 192, 64
MESH_POINTS = 468
FACE_SCALE = 1.5
EYE_SCALE = 2.3
# Eye corners on the mesh, each pair from image-left to image-right.
LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS = (33, 133), (362, 263)
PUPIL_LEFT, PUPIL_RIGHT = MESH_POINTS, MESH_POINTS + 1
# Iris model contour point -> mesh point it refines, image-left eye and (flipped) image-right
# eye: the few of MediaPipe's 71-point refinement table that Azure's names use (outer corner,
# lower lid, inner corner, upper lid, brow outer end, brow inner end, nose-root side).
REFINED = {0: (33, 263), 4: (145, 374), 8: (133, 362), 12: (159, 386), 64: (70, 300),
           68: (107, 336), 70: (193, 417)}
# Crops per run of either model: batching saves per-run overhead, and the activations of 32
# crops take a few tens of MB.
BATCH_CROPS = 32

AZURE_POINTS = {
    "pupilLeft": PUPIL_LEFT, "pupilRight": PUPIL_RIGHT, "noseTip": 1,
    "mouthLeft": 61, "mouthRight": 291,
    "eyebrowLeftOuter": 70, "eyebrowLeftInner": 107,
    "eyeLeftOuter": 33, "eyeLeftTop": 159, "eyeLeftBottom": 145, "eyeLeftInner": 133,
    "eyebrowRightInner": 336, "eyebrowRightOuter": 300,
    "eyeRightInner": 362, "eyeRightTop": 386, "eyeRightBottom": 374, "eyeRightOuter": 263,
    "noseRootLeft": 193, "noseRootRight": 417,
    "noseLeftAlarTop": 131, "noseRightAlarTop": 360,
    "noseLeftAlarOutTip": 64, "noseRightAlarOutTip": 294,
    "upperLipTop": 0, "upperLipBottom": 13, "underLipTop": 14, "underLipBottom": 17,
}


@dataclass(frozen=True, eq=False)
class FaceLandmarks:
    # (470, 2) float32 image pixels: the 468 mesh points, then the pupils (image-left, -right).
    points: np.ndarray
    # (468,) float32 depth of the mesh points, in pixels of the same scale (smaller is nearer).
    depth: np.ndarray

    def azure(self) -> dict[str, tuple[float, float]]:
        """Azure's 27 named points, (x, y) in image pixels."""
        return {name: (float(self.points[i, 0]), float(self.points[i, 1]))
                for name, i in AZURE_POINTS.items()}


class LandmarkModel:
    def __init__(self, mesh_session, iris_session):
        self.mesh, self.iris = mesh_session, iris_session

    def landmarks(self, image: np.ndarray, faces: list[Face]) -> list[FaceLandmarks]:
        """The points of each face of the (H, W, 3) uint8 RGB image."""
        if not faces:
            return []
        face_maps = [face_crop(face) for face in faces]
        crops = [align.warp(image, forward, MESH_SIZE, cv2.INTER_LINEAR) for forward in face_maps]
        mesh = _run(self.mesh, crops)[0].reshape(len(faces), MESH_POINTS, 3)
        meshes = [to_image(points, forward) for points, forward in zip(mesh, face_maps)]
        eye_maps = [forward for points, _ in meshes for forward in eye_crops(points)]
        eyes = [align.warp(image, forward, EYE_SIZE, cv2.INTER_LINEAR) for forward in eye_maps]
        contours, irises = _run(self.iris, eyes)
        eye_points = [to_image(np.concatenate([iris.reshape(5, 3)[:1], contour.reshape(71, 3)]),
                               forward)[0]
                      for contour, iris, forward in zip(contours, irises, eye_maps)]
        return [_refined(points, depth, eye_points[2 * i: 2 * i + 2])
                for i, (points, depth) in enumerate(meshes)]


def _refined(mesh: np.ndarray, depth: np.ndarray, eyes: list[np.ndarray]) -> FaceLandmarks:
    """The mesh with the REFINED points from each eye's pupil + contour rows, and the pupils."""
    points = np.concatenate([mesh, eyes[0][:1], eyes[1][:1]])
    for contour_index, mesh_indices in REFINED.items():
        for eye, mesh_index in zip(eyes, mesh_indices):
            points[mesh_index] = eye[1 + contour_index]
    return FaceLandmarks(points, depth)


def _run(session, crops: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs over all crops, BATCH_CROPS per run."""
    name = session.get_inputs()[0].name
    runs = [session.run(None, {name: np.stack(crops[i:i + BATCH_CROPS]).astype(np.float32) / 255})
            for i in range(0, len(crops), BATCH_CROPS)]
    return [np.concatenate(outputs) for outputs in zip(*runs)]


def square_map(centre: np.ndarray, angle: float, side: float, size: int) -> np.ndarray:
    """2x3 affine map from image pixels to a size x size crop of the square of `side` pixels
    around `centre`, turned by `angle` (radians) so that its x axis is the crop's."""
    scale = size / side
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.array([[cos, sin], [-sin, cos]])
    return np.hstack([linear, (size / 2 - linear @ centre)[:, None]])


def face_crop(face: Face) -> np.ndarray:
    eye_line = (face.landmarks[1] - face.landmarks[0]).astype(np.float64)
    angle = np.arctan2(eye_line[1], eye_line[0])
    centre = np.array([face.left + face.width / 2, face.top + face.height / 2])
    return square_map(centre, angle, FACE_SCALE * max(face.width, face.height), MESH_SIZE)


def eye_crops(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maps of the image-left eye and of the (flipped) image-right eye."""
    maps = []
    for start, end in (LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS):
        corners = points[[start, end]].astype(np.float64)
        line = corners[1] - corners[0]
        maps.append(square_map(corners.mean(axis=0), np.arctan2(line[1], line[0]),
                               EYE_SCALE * np.hypot(*line), EYE_SIZE))
    flip = np.array([[-1.0, 0, EYE_SIZE], [0, 1, 0], [0, 0, 1]])
    return maps[0], flip[:2] @ np.vstack([maps[1], [0, 0, 1]])


def to_image(points: np.ndarray, forward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop-pixel (x, y, z) rows -> image (x, y) float32 and z scaled like x and y.

    The models and Pillow's warp measure from the pixels' edges (a pixel's centre is at +0.5);
    the detector, and so the face rectangle, counts pixels from their centres: the points are
    given that way too."""
    inverse = np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]
    xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2] - 0.5
    scale = np.sqrt(abs(np.linalg.det(inverse[:, :2])))
    return xy.astype(np.float32), (points[:, 2] * scale).astype(np.float32)
