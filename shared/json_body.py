"""Request bodies that must be a JSON object, with the contract's BadArgument otherwise."""
from __future__ import annotations

import json
from typing import Any

from shared.errors import bad_argument


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
