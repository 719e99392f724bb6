"""HTTP triggers on a threaded stdlib server: route matching with the host's precedence, a real
`func.HttpRequest` in (its body read only when the function asks, see request_body), the
function's `func.HttpResponse` out, Azure error envelopes for every refusal (malformed request
lines, oversized headers, bad framing, 404 / 405 / 413 / 500), and a graceful stop that lets
in-flight requests finish."""
from __future__ import annotations

import json
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
from devhost.request_body import Aborted, RequestBody, linger
from devhost.routing import RouteTemplate
from functions.api import error_response

log = logging.getLogger("face.runtime")

IDLE_KEEPALIVE_SECONDS = 15


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

    def __getattr__(self, name: str):
        # Every method reaches the routes (`do_<METHOD>`), so an unknown one is a 404 / 405
        # envelope like any other, not the stdlib's 501 page.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":   # no headers: no key, no body size
            self.send_error(400, "HTTP/0.9 requests are not supported")
            return False
        return True

    def handle_expect_100(self) -> bool:
        return True   # "100 Continue" only once the function reads the body (RequestBody)

    def send_continue(self) -> None:
        self.send_response_only(100)
        self.end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """The stdlib's refusals (malformed request line, oversized headers...) in the API's
        JSON envelope instead of an HTML page. A malformed request is the client's fault, so
        the stdlib's 5xx answers (HTTP version not supported) become 400."""
        status = code if code < 500 else 400
        if self.request_version == "HTTP/0.9":   # the default when the request line is bad
            self.request_version = "HTTP/1.0"    # answer with a status line all the same
        reason = message or self.responses.get(code, ("Bad request",))[0]
        response = error_response(status, str(status), f"{reason}.", str(uuid.uuid4()))
        self.send(response, closing=True)

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
        body = None
        try:
            try:
                body = RequestBody(handler.rfile, handler.headers, handler.send_continue)
                response = self._respond(handler, body)
            except Aborted as aborted:
                body = None   # the framing is broken: what follows is not another request
                response = error_response(aborted.status, str(aborted.status), aborted.message,
                                          str(uuid.uuid4()))
            except Exception:  # noqa: BLE001 - a runtime fault still answers with the envelope
                log.exception("%s %s failed in the local runtime", handler.command, handler.path)
                response = _internal_error(str(uuid.uuid4()))
            keep = body is not None and body.finish()   # False: the body is not all read
            handler.send(response, closing=not keep or self._stopping)
            if not keep:
                linger(handler.connection)
        except ConnectionError:
            handler.close_connection = True  # the client went away; nothing to answer
        finally:
            self.requests.end()

    def _respond(self, handler: _Handler, body: RequestBody) -> func.HttpResponse:
        request_id = str(uuid.uuid4())
        method = handler.command.upper()
        url = urlsplit(handler.path)
        match = resolve(self.routes, method, url.path)
        if match.route is None:
            if match.path_matched:
                return error_response(405, "405", f"The requested resource does not support "
                                      f"http method '{method}'.", request_id)
            return error_response(404, "404", "Resource not found.", request_id)
        request = _StreamedRequest(
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


class _StreamedRequest(func.HttpRequest):
    """A `func.HttpRequest` whose body is read from the connection on first use."""

    def __init__(self, *, body: RequestBody, **parts):
        super().__init__(body=b"", **parts)
        self._stream = body

    def get_body(self) -> bytes:
        return self._stream.read()

    def get_json(self):
        return json.loads(self.get_body().decode("utf-8"))


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
