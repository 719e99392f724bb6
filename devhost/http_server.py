"""HTTP triggers on a threaded stdlib server: route matching with the host's precedence, a real
`func.HttpRequest` in, the function's `func.HttpResponse` out, Azure error envelopes for
400 / 404 / 405 / 413 / 500, and a graceful stop that lets in-flight requests finish."""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from devhost.listener import InFlight
from devhost.registry import FunctionEntry
from devhost.routing import RouteTemplate
from functions.api import error_response

log = logging.getLogger("face.runtime")

MAX_BODY = 100 * 1024 * 1024     # the Functions host's request size limit
IDLE_KEEPALIVE_SECONDS = 15
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")


@dataclass
class Route:
    template: RouteTemplate
    methods: frozenset[str] | None      # None: every method
    entry: FunctionEntry


@dataclass
class Match:
    route: Route | None = None
    params: dict[str, str] | None = None
    path_matched: bool = False           # some route matched the path, not the method


def build_routes(entries: list[FunctionEntry], prefix: str) -> list[Route]:
    """HTTP functions' routes (route prefix applied), in the order they are tried."""
    routes = []
    for entry in entries:
        if entry.trigger_type != "httpTrigger":
            continue
        route = entry.trigger.get("route") or entry.name
        methods = entry.trigger.get("methods")
        routes.append(Route(RouteTemplate(f"{prefix}/{route.strip('/')}" if prefix else route),
                            frozenset(m.upper() for m in methods) if methods else None, entry))
    # Stable sort: equal precedence keeps registration order, as the host does.
    return sorted(routes, key=lambda r: r.template.precedence)


def resolve(routes: list[Route], method: str, path: str) -> Match:
    found = Match()
    for route in routes:
        params = route.template.match(path)
        if params is None:
            continue
        if route.methods is None or method in route.methods:
            return Match(route, params, True)
        found.path_matched = True
    return found


def _content_type(response: func.HttpResponse) -> str:
    # The same rule as azure.functions.http.HttpResponseConverter (what the worker sends).
    if response.mimetype.startswith("text/"):
        return f"{response.mimetype}; charset={response.charset}"
    return response.mimetype


def to_http_response(result) -> func.HttpResponse:
    """The function's `$return` as an HttpResponse (the worker also accepts str)."""
    if isinstance(result, func.HttpResponse):
        return result
    if isinstance(result, (str, bytes)):
        return func.HttpResponse(result)
    if result is None:
        return func.HttpResponse(status_code=204)
    raise TypeError(f"an HTTP function returned {type(result).__name__}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_KEEPALIVE_SECONDS
    # Headers and body go out as separate writes; with Nagle's algorithm the body would wait
    # for the client's delayed ACK (~40 ms per response).
    disable_nagle_algorithm = True
    server: "_Server"

    def log_message(self, format, *args):   # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self):
        self.server.frontend.serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = \
        _dispatch

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise OverflowError
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline()
            if len(body) > MAX_BODY:
                raise OverflowError

    def send(self, response: func.HttpResponse, closing: bool) -> None:
        body = response.get_body() or b""
        self.send_response(response.status_code)
        headers = dict(response.headers)
        if not any(name.lower() == "content-type" for name in headers) and body:
            headers["Content-Type"] = _content_type(response)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if closing:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True       # idle keep-alive connections must not block the stop
    frontend: "HttpFrontend"


class HttpFrontend:
    def __init__(self, routes: list[Route], host: str, port: int,
                 after_invoke: Callable[[FunctionEntry, object, dict], None]):
        self.routes = routes
        self.after_invoke = after_invoke     # writes the function's other output bindings
        self.server = _Server((host, port), _Handler)
        self.server.frontend = self
        self.requests = InFlight()
        self._stopping = False
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.1,),
                                        name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop accepting, then wait (bounded) for in-flight requests; True if all finished."""
        self._stopping = True
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        return self.requests.wait(0, timeout)

    def serve(self, handler: _Handler) -> None:
        self.requests.begin()
        try:
            try:
                response = self._respond(handler)
            except Exception:  # noqa: BLE001 - a runtime fault still answers with the envelope
                log.exception("%s %s failed in the local runtime", handler.command, handler.path)
                response = _internal_error(str(uuid.uuid4()))
            handler.send(response, closing=self._stopping)
        except ConnectionError:
            handler.close_connection = True  # the client went away; nothing to answer
        finally:
            self.requests.end()

    def _respond(self, handler: _Handler) -> func.HttpResponse:
        request_id = str(uuid.uuid4())
        try:
            body = handler.read_body()  # always: an unread body would spoil keep-alive
        except OverflowError:
            handler.close_connection = True
            return error_response(413, "413", "The request body is too large.", request_id)
        except ValueError:
            handler.close_connection = True
            return error_response(400, "400", "Malformed request framing.", request_id)
        method = handler.command.upper()
        url = urlsplit(handler.path)
        match = resolve(self.routes, method, url.path)
        if match.route is None:
            if match.path_matched:
                return error_response(405, "405", f"The requested resource does not support "
                                      f"http method '{method}'.", request_id)
            return error_response(404, "404", "Resource not found.", request_id)
        request = func.HttpRequest(
            method=method, url=f"http://{handler.headers.get('Host', 'localhost')}{handler.path}",
            headers=_headers(handler), params=_query(url.query), route_params=match.params,
            body=body)
        return self._invoke(match.route.entry, request, request_id)

    def _invoke(self, entry: FunctionEntry, request: func.HttpRequest,
                request_id: str) -> func.HttpResponse:
        try:
            invocation = entry.invoke(request, reason="This function was programmatically "
                                                      "called via the host APIs.")
            response = to_http_response(invocation.result)
            self.after_invoke(entry, invocation, dict(request.route_params))
            return response
        except Exception:  # noqa: BLE001 - logged by invoke; the client gets the envelope only
            return _internal_error(request_id)


def _internal_error(request_id: str) -> func.HttpResponse:
    return error_response(500, "InternalServerError", "An internal error occurred.", request_id)


def _headers(handler: _Handler) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in handler.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _query(query: str) -> dict[str, str]:
    # The host joins repeated query keys with a comma.
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    return params
