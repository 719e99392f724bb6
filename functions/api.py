"""Cross-cutting HTTP behaviour for every API operation, in one place.

`operation(bp, route, methods)` registers a handler as an anonymous HTTP function under
`/face/{apiVersion}/<route>` and wraps it with: the Ocp-Apim-Subscription-Key check, the API
version check, the Azure error envelope (with `x-ms-error-code`), an `apim-request-id` header
and one structured log line per request. Handlers take an `ApiRequest` and return JSON-able
data (200), None (200 with no body) or a `Reply`."""
from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import azure.functions as func

from functions.arguments import parse_object
from shared import settings
from shared.errors import FaceError, bad_argument

# v1.1-preview.1 answers as v1.2-preview.1 does (the first azure-ai-vision-face, 1.0.0b1, used it).
API_VERSIONS = ("v1.0", "v1.1-preview.1", "v1.2", "v1.2-preview.1")
KEY_HEADER = "Ocp-Apim-Subscription-Key"
log = logging.getLogger("face.http")


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class ApiRequest:
    """The parts of an HTTP request an operation reads, with contract-style validation."""

    def __init__(self, http: func.HttpRequest):
        self.http = http
        self.version: str = http.route_params.get("apiVersion", "")
        self.route: dict[str, str] = dict(http.route_params)

    @property
    def base_url(self) -> str:
        """`scheme://host/face/<version>`, for Location-style headers."""
        url = self.http.url
        return url[: url.index("/face/") + len("/face/")] + self.version

    def query(self, name: str) -> str | None:
        return self.http.params.get(name)

    def query_bool(self, name: str, default: bool) -> bool:
        raw = self.query(name)
        if raw is None or raw == "":
            return default
        if raw.lower() not in ("true", "false"):
            raise bad_argument(f"Invalid argument {name}: expected true or false.")
        return raw.lower() == "true"

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.query(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_argument(f"Invalid argument {name}: expected an integer.") from None
        if not low <= value <= high:
            raise bad_argument(f"Invalid argument {name}: must be between {low} and {high}.")
        return value

    def content_type(self) -> str:
        return (self.http.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self) -> dict[str, Any]:
        """The JSON object body; BadArgument when absent, malformed or not an object."""
        return parse_object(self.http.get_body())

    def body_bytes(self) -> bytes:
        return self.http.get_body() or b""


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, request_id: str) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(error_body(code, message)), status_code=status, mimetype="application/json",
        headers={"x-ms-error-code": code, "apim-request-id": request_id})


def _authorised(req: func.HttpRequest) -> bool:
    given = (req.headers.get(KEY_HEADER) or "").encode()
    # Compare against every key so timing does not reveal which one nearly matched.
    matches = [hmac.compare_digest(given, key.encode()) for key in settings.api_keys()]
    return bool(given) and any(matches)


def _to_response(result: Any, request_id: str) -> func.HttpResponse:
    reply = result if isinstance(result, Reply) else Reply(result)
    headers = {"apim-request-id": request_id, **reply.headers}
    if reply.body is None:
        return func.HttpResponse(b"", status_code=reply.status, headers=headers)
    return func.HttpResponse(json.dumps(reply.body), status_code=reply.status,
                             mimetype="application/json", headers=headers)


def handle(req: func.HttpRequest, handler: Callable[[ApiRequest], Any]) -> func.HttpResponse:
    request_id = str(uuid.uuid4())
    started = time.perf_counter()
    code = None
    try:
        if not _authorised(req):
            code, response = "401", error_response(
                401, "401", "Access denied due to invalid subscription key or wrong API endpoint. "
                "Make sure to provide a valid key for an active subscription and use a correct "
                "regional API endpoint for your resource.", request_id)
        elif req.route_params.get("apiVersion") not in API_VERSIONS:
            code, response = "404", error_response(
                404, "404", "Resource not found: unknown API version.", request_id)
        else:
            response = _to_response(handler(ApiRequest(req)), request_id)
    except FaceError as err:
        code, response = err.code, error_response(err.status, err.code, err.message, request_id)
    except Exception:  # noqa: BLE001 - the envelope must never carry a stack trace
        log.exception("unhandled error", extra={"requestId": request_id})
        code, response = "InternalServerError", error_response(
            500, "InternalServerError", "An internal error occurred.", request_id)
    log.info(json.dumps({
        "requestId": request_id, "method": req.method, "url": req.url.split("?")[0],
        "status": response.status_code, "code": code,
        "ms": round((time.perf_counter() - started) * 1000, 1)}))
    return response


def operation(bp: func.Blueprint, route: str, methods: list[str]):
    """Register `handler(ApiRequest)` as the HTTP function `/face/{apiVersion}/<route>`."""
    def register(handler: Callable[[ApiRequest], Any]):
        def entry(req: func.HttpRequest) -> func.HttpResponse:
            return handle(req, handler)
        # The Functions worker reads the entry's name, docstring and parameter annotations.
        entry.__name__ = entry.__qualname__ = handler.__name__
        entry.__doc__ = handler.__doc__
        entry.__module__ = handler.__module__
        bp.route(route="{apiVersion}/" + route, methods=methods,
                 auth_level=func.AuthLevel.ANONYMOUS)(entry)
        return handler
    return register
