"""Image bytes -> RGB pixels, with the contract's limits (spec §1, §6).

JPEG, PNG, GIF (first frame) and BMP between 1 KB and 6 MB, at most 4096 pixels a side (Azure's
limit). The dimensions are checked from the header, before a pixel is decoded: a 40 KB PNG can
claim 8192x4882 pixels (a decompression bomb), and file bytes say nothing about memory. Such an
image is InvalidImageSize; anything Pillow cannot open or a truncated file is InvalidImage
(400), never an unhandled error."""
from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import FaceError, invalid_image, invalid_image_size

MIN_BYTES = 1024
MAX_BYTES = 6 * 1024 * 1024
# MPO is how Pillow names multi-picture JPEGs straight from many phone cameras.
FORMATS = {"JPEG", "MPO", "PNG", "GIF", "BMP"}
# At most 64 MB decoded (4 bytes a pixel in the widest mode Pillow gives these formats) and
# 50 MB as RGB, well below Pillow's own bomb limit (89 Mpx).
MAX_SIDE = 4096


def decode(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB with the EXIF orientation applied."""
    pixels = _decode_jpeg(data)
    return pixels if pixels is not None else rgb(load(data).image)


def _decode_jpeg(data: bytes) -> np.ndarray | None:
    """A complete RGB or grey JPEG (most photos) decoded by OpenCV, after the same checks as
    load(); None for anything else, which load() decodes or refuses with its error. Both
    decode with libjpeg-turbo to the same pixels and orientation (checked on 274 photos and
    all 8 EXIF orientations), but OpenCV's path costs 0.9 ms for a 640x480 photo where
    Pillow's (decode, then copy to an array) costs 2.6. OpenCV decodes what it has of a
    truncated file without a word, so the file must hold an end-of-image marker after its
    first scan (_complete_jpeg)."""
    if not MIN_BYTES <= len(data) <= MAX_BYTES:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_header(image, FORMATS)
            if image.format not in ("JPEG", "MPO") or image.mode not in ("RGB", "L"):
                return None
    except Exception:  # noqa: BLE001 - load() says what is wrong with the file
        return None
    if not _complete_jpeg(data):
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)


def _complete_jpeg(data: bytes) -> bool:
    """Whether an end-of-image marker follows the image's first scan. The segments before the
    scan are walked by their lengths (an EXIF thumbnail in APP1 has markers of its own);
    entropy-coded bytes cannot hold the marker (0xFF is escaped there)."""
    position = 2                                    # after start-of-image
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:                          # fill byte
            position += 1
        elif marker == 0xDA:                        # start of scan
            return data.find(b"\xff\xd9", position) != -1
        else:
            position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return False


@dataclass(frozen=True)
class Picture:
    image: Image.Image      # the first frame, EXIF orientation applied
    format: str             # Pillow's name: JPEG, PNG, ...
    frames: int             # more than one for animations
    info: dict              # Pillow's file details (ICC profile, ...)


def load(data: bytes, formats: set[str] = FORMATS, max_bytes: int = MAX_BYTES) -> Picture:
    """The decoded picture after the checks above; `formats` and `max_bytes` widen them for
    redaction."""
    if not MIN_BYTES <= len(data) <= max_bytes:
        raise invalid_image_size(f"Image size is too small or too big "
                                 f"(1 KB to {max_bytes // (1024 * 1024)} MB).")
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_header(image, formats)
            image.load()
            return Picture(ImageOps.exif_transpose(image), image.format,
                           getattr(image, "n_frames", 1), dict(image.info))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own check, at open, for sizes far beyond ours (the warning is an error where
        # warnings are).
        raise _too_large() from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        # OSError covers truncated data; SyntaxError and ValueError are what some Pillow
        # plugins raise on malformed headers.
        raise invalid_image(f"Decoding error, image format unsupported or corrupt: {err}") from None


def rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit grey: Pillow's own conversion would clip everything above 255 to white.
        grey = (np.asarray(image) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def _check_header(image: Image.Image, formats: set[str]) -> None:
    if image.format not in formats:
        raise invalid_image(f"Image format {image.format} is not supported.")
    width, height = image.size
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise _too_large(f" ({width}x{height} pixels)")


def _too_large(detail: str = "") -> FaceError:
    return invalid_image_size(f"Image dimensions are too big{detail}: at most "
                              f"{MAX_SIDE}x{MAX_SIDE} pixels are supported.")
