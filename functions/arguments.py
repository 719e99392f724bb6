"""The contract's request arguments, parsed once at the edge with the contract's error messages.

Every `functions/<operation>.py` turns its request into typed values with these (query values
through `ApiRequest`), then calls the domain; nothing under `shared/` sees a body. Body
helpers take the parsed JSON object and the field's wire name."""
from __future__ import annotations

import json
import re
from typing import Any

from shared import model_names
from shared.collections.kinds import valid_id
from shared.errors import FaceError, bad_argument
from shared.image_input import fetch

_UUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)


# --- bodies --------------------------------------------------------------------------------

def parse_object(body: bytes | None) -> dict[str, Any]:
    """The JSON object in `body`; BadArgument when absent, malformed or not an object."""
    try:
        value = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        raise bad_argument("Request body is invalid JSON.") from None
    except RecursionError:   # arrays or objects nested about a thousand deep
        raise bad_argument("Request body is nested too deeply.") from None
    if not isinstance(value, dict):
        raise bad_argument("Request body must be a JSON object.")
    return value


def require_json(content_type: str) -> None:
    if content_type != "application/json":
        raise bad_argument("Invalid Media Type: the body must be application/json.")


def image_bytes(body: bytes, content_type: str) -> bytes:
    """The image of a detect / add-face request: the body itself (application/octet-stream)
    or the download of its JSON `url` (application/json), on the same route (contract §1)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/octet-stream":
        return body or b""
    if media == "application/json":
        url = parse_object(body).get("url")
        if not isinstance(url, str) or not url.strip():
            raise bad_argument("Invalid argument url: a non-empty string is required.")
        return fetch(url.strip())
    raise bad_argument("Invalid Media Type: use application/json with {\"url\": ...} "
                       "or application/octet-stream with the image bytes.")


# --- values --------------------------------------------------------------------------------

def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def route_uuid(value: str, error: FaceError) -> str:
    """An id from the route, lower-cased; `error` (the contract's not-found) if it is none."""
    if not is_uuid(value):
        raise error
    return value.lower()


def uuid_field(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None:
        raise bad_argument(f"Invalid argument {name}: it is required.")
    if not is_uuid(value):
        raise bad_argument(f"Invalid argument {name}: must be a UUID.")
    return value.lower()


def uuid_list(body: dict, name: str, low: int, high: int) -> list[str]:
    """A list of UUIDs of `low`..`high` items, duplicates removed (first kept)."""
    value = body.get(name)
    if not isinstance(value, list):
        raise bad_argument(f"Invalid argument {name}: a list of UUIDs is required.")
    if not low <= len(value) <= high:
        raise bad_argument(f"Invalid argument {name}: must hold {low} to {high} items.")
    if not all(is_uuid(item) for item in value):
        raise bad_argument(f"Invalid argument {name}: every item must be a UUID.")
    return list(dict.fromkeys(item.lower() for item in value))


def int_field(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_argument(f"Invalid argument {name}: must be an integer from {low} to {high}.")
    return value


def number_field(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not low <= value <= high:
        raise bad_argument(f"Invalid argument {name}: must be a number from {low:g} to "
                           f"{high:g}.")
    return float(value)


def container_id(body: dict, name: str) -> str:
    """A collection id named in a body (personGroupId, faceListId, ...)."""
    value = body.get(name)
    if not valid_id(value):
        raise bad_argument(f"Invalid argument {name}: 1-64 characters of a-z, 0-9, '-', '_'.")
    return value


def text_field(body: dict, name: str, limit: int, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_argument(f"Invalid argument {name}: it is required.")
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise bad_argument(f"Invalid argument {name}: a string of at most {limit} characters "
                           "is expected.")
    return value


def choice(value: Any, allowed: tuple[str, ...], parameter: str) -> str:
    """One of `allowed`, compared case-insensitively and returned as spelt there; the first
    is the default."""
    if value is None or value == "":
        return allowed[0]
    for option in allowed:
        if isinstance(value, str) and value.lower() == option.lower():
            return option
    raise bad_argument(f"Invalid argument {parameter}: must be one of {', '.join(allowed)}.")


def detection_model(value: Any) -> str:
    return choice(value, model_names.DETECTION_MODELS, "detectionModel")


def recognition_model(value: Any) -> str:
    return choice(value, model_names.RECOGNITION_MODELS, "recognitionModel")


def rectangle(text: str | None, name: str) -> tuple[int, int, int, int] | None:
    """`left,top,width,height` in pixels (targetFace), None when not given."""
    if not text:
        return None
    try:
        left, top, width, height = (int(v) for v in text.split(","))
    except ValueError:
        raise bad_argument(f"Invalid argument {name}.") from None
    if left < 0 or top < 0 or width <= 0 or height <= 0:
        raise bad_argument(f"Invalid argument {name}.")
    return left, top, width, height
