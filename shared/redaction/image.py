"""One photo in, the same format out, with every detected face obscured.

The picture is decoded with the same checks as detect (plus WebP); its pixels are changed only
inside the enlarged face boxes and it is saved again at its own size. JPEG and WebP are
re-encoded at quality 95; PNG, BMP and GIF stay lossless (GIF within its palette). EXIF is not
carried over: its embedded thumbnail would still show the faces (the orientation is applied to
the pixels instead, as detect does). The ICC profile and resolution are kept."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shared.errors import invalid_image
from shared.inference import get_engine, images
from shared.redaction.obscure import Box, RedactOptions, face_box, obscure

FORMATS = images.FORMATS | {"WEBP"}
MEDIA_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png",
               "GIF": "image/gif", "BMP": "image/bmp", "WEBP": "image/webp"}
QUALITY = 95


@dataclass(frozen=True)
class RedactedImage:
    data: bytes
    media_type: str
    boxes: list[Box]        # the obscured regions


def redact_image(data: bytes, options: RedactOptions,
                 max_bytes: int = images.MAX_BYTES) -> RedactedImage:
    picture = images.load(data, FORMATS, max_bytes)
    if picture.frames > 1:
        raise invalid_image("Animated images are not supported: convert them to a video "
                            "(MP4, MOV or WebM) for batch redaction.")
    image = _working_copy(picture.image)
    pixels = np.array(image)
    boxes = _redact_pixels(pixels, images.rgb(picture.image), options)
    output = _encode(Image.fromarray(pixels, image.mode), picture)
    return RedactedImage(output, MEDIA_TYPES[picture.format], boxes)


def _redact_pixels(pixels: np.ndarray, rgb: np.ndarray, options: RedactOptions) -> list[Box]:
    """Obscure, in `pixels`, every face detected in `rgb` (the same picture as RGB)."""
    size = (rgb.shape[1], rgb.shape[0])
    boxes = [face_box(face, options.margin, size)
             for face in get_engine().detect(rgb, options.min_face)]
    for box in boxes:
        obscure(pixels, box, options.method)
    return boxes


def _working_copy(image: Image.Image) -> Image.Image:
    """Grey stays grey; transparency is kept; everything else (palette, CMYK, 16 bit) is RGB."""
    if image.mode == "L":
        return image
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if transparent else "RGB")


def _encode(image: Image.Image, picture: images.Picture) -> bytes:
    fmt = "JPEG" if picture.format == "MPO" else picture.format
    options: dict = {key: picture.info[key] for key in ("icc_profile", "dpi")
                     if key in picture.info and fmt in ("JPEG", "PNG", "WEBP")}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = QUALITY
    if fmt == "JPEG" and image.mode == "RGBA":
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()
