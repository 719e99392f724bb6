"""The one face pipeline detect, add-face and enrollment share: decode -> detect -> filter ->
embed, behind the engine. Callers keep the faces they want (inside a targetFace, large enough,
good enough) and embed only those.

    found = find_faces(data)                  # InvalidImage if the bytes are no image
    kept = found.where(lambda face: fits(face))
    vectors = kept.embed()                    # one row per kept face, in order"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from shared.inference.detector import MIN_FACE, Face
from shared.inference.appearance import Appearance
from shared.inference.engine import get_engine
from shared.inference.landmarks import FaceLandmarks
from shared.inference.quality import FaceQuality

# The largest face add-face and enrollment accept (contract: 36 to 4096 pixels a side).
MAX_FACE = 4096


def fits(face: Face) -> bool:
    """Within the contract's face size for storing: MIN_FACE to MAX_FACE pixels a side."""
    return MIN_FACE <= min(face.width, face.height) <= MAX_FACE


@dataclass(frozen=True)
class FoundFaces:
    image: np.ndarray
    faces: list[Face]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image."""
        return self.image.shape[1], self.image.shape[0]

    def where(self, keep: Callable[[Face], bool]) -> FoundFaces:
        return FoundFaces(self.image, [face for face in self.faces if keep(face)])

    def quality(self, face: Face) -> FaceQuality:
        return get_engine().quality(self.image, face)

    def embed(self) -> np.ndarray:
        return get_engine().embed(self.image, self.faces)

    def details(self, landmarks: bool, appearance: bool, quality: bool
                ) -> tuple[list[FaceLandmarks] | None, list[Appearance] | None,
                           list[FaceQuality] | None]:
        """The landmarks, the appearance and the quality of each face, each when asked for
        (else None), computed together (Engine.details)."""
        return get_engine().details(self.image, self.faces, landmarks, appearance, quality)


def find_faces(data: bytes) -> FoundFaces:
    engine = get_engine()
    image = engine.decode(data)
    return FoundFaces(image, engine.detect(image))
