"""Domain errors, each carrying the Azure Face error code and HTTP status (contract §8).

Code below `functions/` raises these; the HTTP layer turns them into the error envelope."""
from __future__ import annotations


class FaceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def bad_argument(message: str) -> FaceError:
    return FaceError("BadArgument", message, 400)


def invalid_image(message: str) -> FaceError:
    return FaceError("InvalidImage", message, 400)


def invalid_image_size(message: str) -> FaceError:
    return FaceError("InvalidImageSize", message, 400)


def invalid_url(message: str) -> FaceError:
    return FaceError("InvalidURL", message, 400)


def not_found(code: str, message: str) -> FaceError:
    return FaceError(code, message, 404)


def quota_exceeded(message: str) -> FaceError:
    return FaceError("QuotaExceeded", message, 403)
