"""Hostile requests at the HTTP edge of the app on the local runtime, over raw sockets: the key
and the size limit are enforced before a body is read, broken framing is a 400 envelope and
closes the connection, the stdlib's own refusals are JSON envelopes, never HTML or a 5xx."""
from __future__ import annotations

import json
import socket
import time

import pytest

from tests.conftest import TEST_KEY
from tests.service import error_code

MB = 1024 * 1024


@pytest.fixture(scope="module")
def address(azurite):
    from tests.service import running_service
    with running_service() as (host, _):
        yield host.http.server.server_address[:2]


class Raw:
    """One TCP connection: send bytes, read one HTTP response (status, headers, body)."""

    def __init__(self, address, timeout: float = 10.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> "Raw":
        self.sock.sendall(data)
        return self

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status_line = self.file.readline()
        assert status_line.startswith(b"HTTP/1."), status_line
        headers = {}
        while (line := self.file.readline().rstrip(b"\r\n")):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.file.read(int(headers.get("content-length", 0)))
        return int(status_line.split()[1]), headers, body

    def closed_by_server(self) -> bool:
        """True when the server closes instead of reading what is left as a new request."""
        try:
            return self.file.read(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in {"Host": "127.0.0.1", **headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_envelope(status: int, headers: dict, body: bytes, expected: int) -> dict:
    assert status == expected, body
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error["code"] and error["message"]
    return error


KEY = {"Ocp-Apim-Subscription-Key": TEST_KEY}
DETECT = "/face/v1.2/detect"


def test_a_huge_body_without_a_key_is_refused_before_it_is_read(address):
    """90 MB announced (under the limit), 1 MB sent: the 401 comes at once, without waiting
    for the rest."""
    raw = Raw(address)
    try:
        started = time.monotonic()
        raw.send(request("POST", DETECT, {"Content-Type": "application/octet-stream",
                                          "Content-Length": str(90 * MB)}, b"\0" * MB))
        status, headers, body = raw.response()
        assert_envelope(status, headers, body, 401)
        assert headers["connection"] == "close" and time.monotonic() - started < 5
    finally:
        raw.close()


def test_a_huge_chunk_without_a_key_is_refused_before_it_is_read(address):
    raw = Raw(address)
    try:
        raw.send(request("POST", DETECT, {"Transfer-Encoding": "chunked"},
                         b"%x\r\n" % (300 * MB) + b"\0" * MB))
        assert_envelope(*raw.response(), 401)
    finally:
        raw.close()


@pytest.mark.parametrize("headers", [{"Content-Length": str(300 * MB)},
                                     {"Transfer-Encoding": "chunked"}])
def test_a_body_over_the_limit_is_refused_before_it_is_read(address, headers):
    raw = Raw(address)
    try:
        chunk = b"%x\r\n" % (300 * MB) if "Transfer-Encoding" in headers else b""
        raw.send(request("POST", DETECT, {**KEY, "Content-Type": "application/octet-stream",
                                          **headers}, chunk + b"\0" * MB))
        assert_envelope(*raw.response(), 413)
    finally:
        raw.close()


SMUGGLED = request("GET", "/face/v1.2/health", KEY)
BAD_FRAMING = [
    ({"Content-Length": "-1"}, b""),
    ({"Content-Length": "12abc"}, b""),
    ({"Content-Length": "+5"}, b"12345"),
    ({"Content-Length": "5", "Transfer-Encoding": "chunked"}, b"0\r\n\r\n"),
    ({"Content-Length": "5, 6"}, b"12345"),
    ({"Transfer-Encoding": "gzip"}, b""),
    ({"Transfer-Encoding": "chunked"}, b"zz\r\nabc\r\n0\r\n\r\n"),
    ({"Transfer-Encoding": "chunked"}, b"FFFFFFFFFFFFFFFFFF\r\n"),
    ({"Transfer-Encoding": "chunked"}, b"-1\r\n"),
    ({"Transfer-Encoding": "chunked"}, b"3\r\nabcdef\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("headers, body", BAD_FRAMING)
def test_malformed_framing_is_a_400_and_closes_the_connection(address, headers, body):
    """Nothing after the broken request is parsed as a new one (no request smuggling)."""
    raw = Raw(address)
    try:
        raw.send(request("POST", "/face/v1.2/verify", {**KEY, "Content-Type": "application/json",
                                                       **headers}, body) + SMUGGLED)
        assert_envelope(*raw.response(), 400)
        assert raw.closed_by_server()
    finally:
        raw.close()


def test_a_chunk_size_over_the_limit_is_a_413_and_closes_the_connection(address):
    raw = Raw(address)
    try:
        raw.send(request("POST", "/face/v1.2/verify", {**KEY, "Transfer-Encoding": "chunked",
                                                       "Content-Type": "application/json"},
                         b"FFFFFFFFFF\r\n") + SMUGGLED)
        assert_envelope(*raw.response(), 413)
        assert raw.closed_by_server()
    finally:
        raw.close()


def test_a_small_unread_body_keeps_the_connection(address):
    raw = Raw(address)
    try:
        raw.send(request("POST", DETECT, {"Content-Length": "5000"}, b"x" * 5000) + SMUGGLED)
        assert_envelope(*raw.response(), 401)
        assert raw.response()[0] in (200, 503)    # the health check, on the same connection
    finally:
        raw.close()


def test_expect_continue_is_answered_only_when_the_body_is_read(address):
    raw = Raw(address)
    try:
        raw.send(request("POST", DETECT, {"Content-Length": "4096", "Expect": "100-continue"}))
        status, headers, body = raw.response()
        assert_envelope(status, headers, body, 401)     # no "100 Continue" before it
    finally:
        raw.close()


@pytest.mark.parametrize("line, status", [
    (b"GET /face/v1.2/health HTTP/1.1 extra\r\n\r\n", 400),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /face/v1.2/health HTTP/2.0\r\n\r\n", 400),
    (b"GET /face/v1.2/health HTTP/x.y\r\n\r\n", 400),
    (b"GET /face/v1.2/health\r\n\r\n", 400),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 200 + b"\r\n", 431),
])
def test_malformed_request_lines_and_headers_get_the_envelope(address, line, status):
    raw = Raw(address)
    try:
        assert_envelope(*raw.send(line).response(), status)
    finally:
        raw.close()


@pytest.mark.parametrize("method, status", [("FOO", 405), ("PROPFIND", 405), ("TRACE", 405),
                                            ("OPTIONS", 405), ("BREW", 404)])
def test_unknown_methods_get_the_envelope(address, method, status):
    path = "/face/v1.2/detect" if status == 405 else "/elsewhere"
    raw = Raw(address)
    try:
        assert_envelope(*raw.send(request(method, path, KEY)).response(), status)
    finally:
        raw.close()


@pytest.mark.parametrize("path", ["/face/v1.2/persongroups/abc%00", "/face/v1.2/persongroups/%0A",
                                  "/face/v1.2/facelists/a%01b", "/face/v1.2/largefacelists/%7F",
                                  "/face/v1.2/persongroups/x/persons/%00"])
def test_control_characters_in_the_path_are_client_errors(address, path):
    raw = Raw(address)
    try:
        status, headers, body = raw.send(request("GET", path, KEY)).response()
        assert 400 <= status < 500
        assert_envelope(status, headers, body, status)
    finally:
        raw.close()


def test_a_nul_in_the_host_header_is_harmless(address):
    raw = Raw(address)
    try:
        status, headers, body = raw.send(
            request("PUT", "/face/v1.2/persongroups/nul-host", {**KEY, "Host": "a\0b",
                                                               "Content-Length": "2"}, b"{}")
        ).response()
        assert_envelope(status, headers, body, 400)
    finally:
        raw.close()


def test_paths_match_in_any_case(client):
    group = f"case-{time.monotonic_ns()}"
    assert client.session.put(client.url(f"persongroups/{group}"), json={"name": "x"},
                              timeout=10).status_code == 200
    response = client.session.post(f"{client.base_url}/FACE/v1.2/PersonGroups/{group}/TRAIN",
                                   timeout=10)
    assert response.status_code == 202
    assert response.headers["operation-Location"].endswith(
        f"/face/v1.2/persongroups/{group}/training")


# ---------------------------------------------------------------- ids and JSON

KINDS = ("persongroups", "largepersongroups", "facelists", "largefacelists")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%00", "%20"])
def test_an_id_with_a_trailing_newline_is_refused_on_every_kind(client, kind, suffix):
    created = client.session.put(client.url(f"{kind}/abc{suffix}"), json={"name": "x"},
                                 timeout=10)
    assert error_code(created) == (400, "BadArgument")
    assert client.session.get(client.url(f"{kind}/abc{suffix}"), timeout=10).status_code == 404


DEEP = b"[" * 1000 + b"]" * 1000
NESTED = b'{"a":' * 1000 + b"1" + b"}" * 1000
JSON_ROUTES = [
    ("POST", "detect"), ("POST", "verify"), ("POST", "identify"), ("POST", "findsimilars"),
    ("POST", "group"), ("PUT", "persongroups/deep"), ("PATCH", "largepersongroups/deep"),
    ("POST", "persongroups/deep/persons"),
    ("PATCH", "persongroups/deep/persons/00000000-0000-0000-0000-000000000000"),
    ("POST", "largefacelists/deep/persistedfaces"),
    ("PATCH", "largefacelists/deep/persistedfaces/00000000-0000-0000-0000-000000000000"),
]


@pytest.mark.parametrize("method, path", JSON_ROUTES)
@pytest.mark.parametrize("body", [DEEP, NESTED], ids=["arrays", "objects"])
def test_json_nested_a_thousand_deep_is_a_bad_argument(client, method, path, body):
    response = client.session.request(method, client.url(path), data=body, timeout=10,
                                      headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"]


# ---------------------------------------------------------------- storage down

@pytest.fixture
def storage_down(azurite):
    """The app, started against Azurite, whose storage then points at a closed loopback port."""
    import os

    from devhost.azurite import connection_string, free_port
    from shared.storage import clients as storage_clients
    from tests.service import running_service
    with running_service() as (_, client):
        saved = os.environ["AzureWebJobsStorage"]
        os.environ["AzureWebJobsStorage"] = connection_string(free_port(), free_port(),
                                                              free_port())
        storage_clients.reset()
        try:
            yield client
        finally:
            os.environ["AzureWebJobsStorage"] = saved
            storage_clients.reset()


def test_storage_down_is_a_quick_503(storage_down):
    client = storage_down
    started = time.monotonic()
    health = client.session.get(client.url("health"), timeout=30)
    assert health.status_code == 503 and health.json()["storage"]["reachable"] is False
    assert time.monotonic() - started < 2.5
    face = "00000000-0000-0000-0000-000000000000"
    for method, path, body in [("PUT", "persongroups/down", {"name": "x"}),
                               ("GET", "largepersongroups", None),
                               ("POST", "verify", {"faceId1": face, "faceId2": face}),
                               ("POST", "persongroups/down/train", None)]:
        started = time.monotonic()
        response = client.session.request(method, client.url(path), json=body, timeout=30)
        assert error_code(response) == (503, "ServiceUnavailable"), (path, response.text)
        assert time.monotonic() - started < 2.5, path
