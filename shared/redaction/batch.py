"""Batch redaction: blob `redaction-input/<name>` -> `redaction-output/<name>` (the photo or
video with the faces obscured) and `redaction-output/<name>.json` (the report, see `report`).

Nothing is held whole in memory: the blob is streamed to a temporary file, the video is
processed frame by frame into another, and that file is uploaded in blocks that are committed
at the end, so the output appears complete or not at all. Bad input (an unsupported type, a
corrupt or too large file, a codec FFmpeg cannot decode) is a `failed` report, not an error;
anything else (storage unreachable) raises, after giving up the claim, so the host retries."""
from __future__ import annotations

import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path, PurePosixPath

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobProperties, ContentSettings

from shared import settings
from shared.errors import FaceError
from shared.redaction import image, report, video
from shared.redaction.obscure import RedactOptions
from shared.redaction.report import FAILED, OUTPUT, SUCCEEDED, Claim, Superseded
from shared.storage import clients

INPUT = "redaction-input"
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
               ".bmp": "image/bmp", ".gif": "image/gif", ".webp": "image/webp"}
VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
               ".webm": "video/webm"}
MAX_IMAGE_BYTES = 50 * 1024 * 1024
TRANSFER_CONCURRENCY = 2
log = logging.getLogger("face.redaction")


def redact_blob(name: str, options: RedactOptions = RedactOptions()) -> dict | None:
    """Redact blob `name` of the input container; the final report, or None when there was
    nothing to do (done before, being done by another run, deleted or replaced since)."""
    source = clients.container(INPUT).get_blob_client(name)
    try:
        properties = source.get_blob_properties()
    except ResourceNotFoundError:
        return None
    claim = report.claim(name, properties.etag)
    if claim is None:
        log.info("redaction of %s (%s) is done or under way", name, properties.etag)
        return None
    try:
        outcome = _outcome(source, properties, claim, options)
        claim.finish(outcome)
        return claim.report
    except Superseded:
        return None
    except BaseException:
        claim.release()
        raise


def _outcome(source: BlobClient, properties: BlobProperties, claim: Claim,
             options: RedactOptions) -> dict:
    started = time.perf_counter()
    try:
        details = _redact(source, properties, claim, options)
        status = {"status": SUCCEEDED, "output": claim.name}
    except FaceError as err:
        details = {"error": {"code": err.code, "message": err.message}}
        status = {"status": FAILED}
    return {**status, "method": options.method.value, **details,
            "seconds": round(time.perf_counter() - started, 3)}


def _redact(source: BlobClient, properties: BlobProperties, claim: Claim,
            options: RedactOptions) -> dict:
    suffix = PurePosixPath(claim.name).suffix.lower()
    media_type = IMAGE_TYPES.get(suffix) or VIDEO_TYPES.get(suffix)
    if media_type is None:
        raise FaceError("UnsupportedMedia", f"Unsupported file type '{suffix}': photos must be "
                        f"{', '.join(IMAGE_TYPES)}; videos {', '.join(VIDEO_TYPES)}.", 415)
    limit = MAX_IMAGE_BYTES if suffix in IMAGE_TYPES else _max_video_bytes()
    if properties.size > limit:
        raise FaceError("TooLarge", f"The file is {properties.size} bytes; the limit is "
                        f"{limit} bytes.", 413)
    with tempfile.TemporaryDirectory(prefix="redaction-") as folder:
        local_in, local_out = Path(folder) / f"in{suffix}", Path(folder) / f"out{suffix}"
        _download(source, properties.etag, local_in)
        if suffix in IMAGE_TYPES:
            details = _redact_image(local_in, local_out, options)
        else:
            details = _redact_video(local_in, local_out, options, claim)
        # Still ours? A run that took over must not have its output overwritten by this one.
        claim.heartbeat(every=timedelta(0))
        with local_out.open("rb") as data:
            clients.container(OUTPUT).upload_blob(
                claim.name, data, overwrite=True, max_concurrency=TRANSFER_CONCURRENCY,
                content_settings=ContentSettings(content_type=media_type))
    return details


def _max_video_bytes() -> int:
    return int(settings.get("FACE_REDACTION_MAX_MB")) * 1024 * 1024


def _download(source: BlobClient, etag: str, path: Path) -> None:
    """Stream the blob version `etag` to `path`; Superseded when it was replaced since."""
    try:
        with path.open("wb") as file:
            source.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified,
                                 max_concurrency=TRANSFER_CONCURRENCY).readinto(file)
    except (ResourceModifiedError, ResourceNotFoundError):
        raise Superseded(source.blob_name) from None


def _redact_image(source: Path, target: Path, options: RedactOptions) -> dict:
    redacted = image.redact_image(source.read_bytes(), options, MAX_IMAGE_BYTES)
    target.write_bytes(redacted.data)
    return {"kind": "image", "frames": 1, "facesPerFrame": [len(redacted.boxes)]}


def _redact_video(source: Path, target: Path, options: RedactOptions, claim: Claim) -> dict:
    result = video.redact_video(source, target, options, progress=lambda _: claim.heartbeat())
    faces = result.faces_per_frame
    return {"kind": "video", "width": result.width, "height": result.height,
            "frameRate": round(result.frame_rate, 3), "frames": result.frames,
            "framesWithFaces": sum(1 for count in faces if count),
            "maxFacesInAFrame": max(faces, default=0), "audioStreams": result.audio_streams,
            "framesPerSecond": round(result.frames / max(result.seconds, 1e-9), 1),
            "facesPerFrame": faces}
