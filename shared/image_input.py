"""The picture at the `{"url": ...}` of a detect / add-face request (contract §1, §10); the
request itself is read by functions/arguments.py.

URLs are fetched by a deliberately strict client, because the service would otherwise let any
caller reach hosts only the service can see (SSRF): http/https only; the host name is resolved
once and every address checked (private, loopback, link-local, multicast, reserved, cloud
metadata are refused unless FACE_URL_ALLOWLIST lists them); the connection goes to the checked
address (no second DNS lookup); redirects are followed a few times, each hop checked again;
downloads stop at the size cap; connect and read time out."""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from shared import settings
from shared.errors import invalid_image_size, invalid_url

MAX_IMAGE_BYTES = 6 * 1024 * 1024
MAX_REDIRECTS = 3
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0         # per read; DOWNLOAD_TIMEOUT bounds a server that trickles bytes
DOWNLOAD_TIMEOUT = 30.0
_CHUNK = 64 * 1024
# Cloud metadata / host endpoints that are public addresses (link-local ones are refused anyway).
_METADATA = {ipaddress.ip_address("168.63.129.16")}   # Azure WireServer
_URL_SAFE = "/%:@!$&'()*+,;=?~-._"


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str           # path + query, as sent in the request line


def _parse(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise invalid_url("Invalid image URL.") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise invalid_url("Invalid image URL: only http and https URLs are accepted.")
    if parts.username or parts.password:
        raise invalid_url("Invalid image URL: credentials in the URL are not accepted.")
    scheme = parts.scheme.lower()
    # Percent-encode what may not travel raw in a request line (spaces, non-ASCII, controls).
    path = quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_URL_SAFE)
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _allowlist() -> tuple[set[str], list]:
    names, networks = set(), []
    for item in settings.get("FACE_URL_ALLOWLIST").split(","):
        item = item.strip().lower()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item)
    return names, networks


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (not address.is_global or address.is_multicast or address.is_reserved
            or address in _METADATA)


def resolve_checked(host: str, port: int) -> list[str]:
    """The addresses to connect to for `host`, after checking every address it resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise invalid_url(f"Invalid image URL: cannot resolve host '{host}'.") from None
    addresses = list(dict.fromkeys(info[4][0].split("%")[0] for info in infos))
    names, networks = _allowlist()
    if host.lower() not in names:
        for address in map(ipaddress.ip_address, addresses):
            allowed = any(address in network for network in networks)
            if _forbidden(address) and not allowed:
                raise invalid_url("Invalid image URL: the host is not publicly reachable.")
    return addresses


def _connection(target: _Target, addresses: list[str]) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPS(target.host, target.port, addresses)
    return _PinnedHTTP(target.host, target.port, addresses)


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the already-checked addresses (first that answers), while sending the real
    Host header."""

    def __init__(self, host: str, port: int, addresses: list[str]):
        super().__init__(host, port, timeout=READ_TIMEOUT)
        self._addresses = addresses

    def connect(self) -> None:
        error: OSError = OSError("no address")
        for address in self._addresses:
            try:
                self.sock = socket.create_connection((address, self.port), CONNECT_TIMEOUT)
                self.sock.settimeout(READ_TIMEOUT)
                return
            except OSError as failure:
                error = failure
        raise error


class _PinnedHTTPS(_PinnedHTTP):
    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


def fetch(url: str) -> bytes:
    """Download an image, following up to MAX_REDIRECTS checked redirects."""
    for _ in range(MAX_REDIRECTS + 1):
        target = _parse(url)
        status, location, data = _get(target, resolve_checked(target.host, target.port))
        if status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        if status != 200:
            raise invalid_url(f"Failed to download the image from the URL (HTTP {status}).")
        return data
    raise invalid_url("Failed to download the image from the URL: too many redirects.")


def _get(target: _Target, addresses: list[str]) -> tuple[int, str | None, bytes]:
    connection = _connection(target, addresses)
    try:
        connection.request("GET", target.path, headers={"Accept": "image/*",
                                                         "User-Agent": "face-api-image-fetch"})
        response = connection.getresponse()
        if response.status != 200:
            return response.status, response.getheader("Location"), b""
        return 200, None, _read_capped(response)
    except (OSError, http.client.HTTPException):
        raise invalid_url("Failed to download the image from the URL.") from None
    finally:
        connection.close()


def _read_capped(response: http.client.HTTPResponse) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
        raise invalid_image_size("Image size is too big (more than 6 MB).")
    data = bytearray()
    deadline = time.monotonic() + DOWNLOAD_TIMEOUT
    while chunk := response.read1(_CHUNK):
        data += chunk
        if len(data) > MAX_IMAGE_BYTES:
            raise invalid_image_size("Image size is too big (more than 6 MB).")
        if time.monotonic() > deadline:
            raise invalid_url("Failed to download the image from the URL: too slow.")
    return bytes(data)
