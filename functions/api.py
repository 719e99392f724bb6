"""Cross-cutting HTTP behaviour for every API operation, in one place.

`operation(bp, route, methods)` registers a handler as an anonymous HTTP function under
`/face/{apiVersion}/<route>` (or another `Api`'s prefix, such as `/redact/v1/`) and wraps it
with: the Ocp-Apim-Subscription-Key check, the API version check, the Azure error envelope
(with `x-ms-error-code`), an `apim-request-id` header and one structured log line per request.
Handlers take an `ApiRequest` and return JSON-able data (200), None (200 with no body) or a
`Reply` (which may carry bytes, such as an image)."""
from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import azure.functions as func
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from functions.arguments import parse_object
from shared import settings
from shared.errors import FaceError, bad_argument
from shared.storage.contention import ContentionError

# v1.1-preview.1 answers as v1.2-preview.1 does (the first azure-ai-vision-face, 1.0.0b1, used it).
API_VERSIONS = ("v1.0", "v1.1-preview.1", "v1.2", "v1.2-preview.1")
KEY_HEADER = "Ocp-Apim-Subscription-Key"
log = logging.getLogger("face.http")


@dataclass(frozen=True)
class Api:
    """A family of routes: the path prefix (host.json has no routePrefix of its own) and the
    API versions the `{apiVersion}` segment may take (none when the prefix has no version)."""
    prefix: str
    versions: tuple[str, ...] = ()


FACE = Api("face/{apiVersion}/", API_VERSIONS)
REDACT = Api("redact/v1/")


@dataclass
class Reply:
    body: Any = None            # JSON-able data, or bytes sent as they are
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


class ApiRequest:
    """The parts of an HTTP request an operation reads, with contract-style validation."""

    def __init__(self, http: func.HttpRequest):
        self.http = http
        self.version: str = http.route_params.get("apiVersion", "")
        self.route: dict[str, str] = dict(http.route_params)

    @property
    def base_url(self) -> str:
        """`scheme://host/face/<version>`, for Location-style headers. Route literals match in
        any case, so the path may say /FACE/."""
        url = self.http.url
        start = url.lower().index("/face/", url.index("://") + 3)
        return f"{url[:start]}/face/{self.version}"

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

    def query_float(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.query(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise bad_argument(f"Invalid argument {name}: expected a number.") from None
        if not low <= value <= high:  # also refuses nan
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
    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body)
    return func.HttpResponse(body, status_code=reply.status, mimetype=reply.media_type,
                             headers=headers)


def _storage_unavailable(err: Exception) -> bool:
    """Storage cannot be reached (connection refused or timed out, no answer) or says it is
    busy: the client should retry, as after Azure's own 503."""
    if isinstance(err, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(err, HttpResponseError) and err.status_code in (500, 503)


def handle(req: func.HttpRequest, handler: Callable[[ApiRequest], Any],
           api: Api = FACE) -> func.HttpResponse:
    request_id = str(uuid.uuid4())
    started = time.perf_counter()
    code = None
    try:
        if not _authorised(req):
            code, response = "401", error_response(
                401, "401", "Access denied due to invalid subscription key or wrong API endpoint. "
                "Make sure to provide a valid key for an active subscription and use a correct "
                "regional API endpoint for your resource.", request_id)
        elif api.versions and req.route_params.get("apiVersion") not in api.versions:
            code, response = "404", error_response(
                404, "404", "Resource not found: unknown API version.", request_id)
        else:
            response = _to_response(handler(ApiRequest(req)), request_id)
    except FaceError as err:
        code, response = err.code, error_response(err.status, err.code, err.message, request_id)
    except ContentionError:
        code, response = "ConcurrentOperationConflict", error_response(
            409, "ConcurrentOperationConflict", "Too many concurrent changes to the same "
            "resource. Please retry later.", request_id)
    except Exception as err:  # noqa: BLE001 - the envelope must never carry a stack trace
        if _storage_unavailable(err):
            log.warning("storage unavailable: %s", type(err).__name__,
                        extra={"requestId": request_id})
            code, response = "ServiceUnavailable", error_response(
                503, "ServiceUnavailable", "The service is temporarily unavailable (its storage "
                "does not answer). Please retry later.", request_id)
        else:
            log.exception("unhandled error", extra={"requestId": request_id})
            code, response = "InternalServerError", error_response(
                500, "InternalServerError", "An internal error occurred.", request_id)
    log.info(json.dumps({
        "requestId": request_id, "method": req.method, "url": req.url.split("?")[0],
        "status": response.status_code, "code": code,
        "ms": round((time.perf_counter() - started) * 1000, 1)}))
    return response


def operation(bp: func.Blueprint, route: str, methods: list[str], api: Api = FACE):
    """Register `handler(ApiRequest)` as the HTTP function `/<api prefix><route>`."""
    def register(handler: Callable[[ApiRequest], Any]):
        def entry(req: func.HttpRequest) -> func.HttpResponse:
            return handle(req, handler, api)
        # The Functions worker reads the entry's name, docstring and parameter annotations.
        entry.__name__ = entry.__qualname__ = handler.__name__
        entry.__doc__ = handler.__doc__
        entry.__module__ = handler.__module__
        bp.route(route=api.prefix + route, methods=methods,
                 auth_level=func.AuthLevel.ANONYMOUS)(entry)
        return handler
    return register
