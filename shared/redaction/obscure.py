"""What redaction does to a face: the options of a request and the pixel work on one box.

A face box from the detector is enlarged by `margin` (a fraction of its width and height on
every side, so hair and ears go too) and clipped to the picture; only pixels inside it change.
The methods destroy the face's detail rather than hide it under a reversible filter: `blur`
shrinks the box to about BLUR_CELLS pixels across and smooths it back up (a very wide blur at
the cost of two small resizes, cheap enough for every frame of a video), `pixelate` keeps
about PIXELATE_CELLS blocks across, `fill` paints the box one colour."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
from PIL import Image, ImageFilter

from shared.errors import bad_argument
from shared.inference import Face

MARGIN_RANGE = (0.0, 1.0)
MIN_FACE_RANGE = (16, 4096)
DEFAULT_MIN_FACE = 36          # the smallest face detect reports
BLUR_CELLS = 2                 # pixels across the box's shorter side once shrunk: with more,
#                                the blurred faces of a crowd can form a new face-like pattern
PIXELATE_CELLS = 6             # blocks across the box's shorter side


class Method(str, Enum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    FILL = "fill"


@dataclass(frozen=True)
class RedactOptions:
    method: Method = Method.BLUR
    margin: float = 0.2
    min_face: int = DEFAULT_MIN_FACE


def method(raw: str | None) -> Method:
    if not raw:
        return Method.BLUR
    try:
        return Method(raw.lower())
    except ValueError:
        raise bad_argument("Invalid argument method: must be blur, pixelate or fill.") from None


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int      # exclusive
    bottom: int     # exclusive

    def scaled(self, factor: float) -> "Box":
        """The box on a plane of another resolution (video chroma planes: 0.5), rounded out."""
        return Box(math.floor(self.left * factor), math.floor(self.top * factor),
                   math.ceil(self.right * factor), math.ceil(self.bottom * factor))


def enlarge(left: float, top: float, width: float, height: float, margin: float,
            size: tuple[int, int]) -> Box:
    """The face box grown by `margin` on every side and clipped to a `size` (w, h) picture."""
    grow_x, grow_y = width * margin, height * margin
    return Box(max(0, math.floor(left - grow_x)), max(0, math.floor(top - grow_y)),
               min(size[0], math.ceil(left + width + grow_x)),
               min(size[1], math.ceil(top + height + grow_y)))


def face_box(face: Face, margin: float, size: tuple[int, int]) -> Box:
    return enlarge(face.left, face.top, face.width, face.height, margin, size)


def obscure(pixels: np.ndarray, box: Box, method: Method, fill: int = 0) -> None:
    """Obscure `box` of an (H, W) or (H, W, C) uint8 array in place. `fill` is the colour of
    Method.FILL: 0 for black pixels, a plane's black for video planes (16 luma, 128 chroma)."""
    region = pixels[box.top:box.bottom, box.left:box.right]
    height, width = region.shape[:2]
    if height == 0 or width == 0:
        return
    if method is Method.FILL:
        region[...] = fill
        return
    picture = Image.fromarray(region)
    cells = BLUR_CELLS if method is Method.BLUR else PIXELATE_CELLS
    cell = max(1, math.ceil(min(width, height) / cells))
    small = picture.resize((max(1, width // cell), max(1, height // cell)), Image.BOX)
    if method is Method.BLUR:
        small = small.filter(ImageFilter.GaussianBlur(1))
    region[...] = np.asarray(small.resize((width, height),
                                          Image.BICUBIC if method is Method.BLUR
                                          else Image.NEAREST))
