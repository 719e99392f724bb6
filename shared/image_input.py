"""The picture at the `{"url": ...}` of a detect / add-face request (contract §1, §10); the
request itself is read by functions/arguments.py.

URLs are fetched by a deliberately strict client, because the service would otherwise let any
caller reach hosts only the service can see (SSRF): http/https only; the host name is resolved
once and every address checked (private, loopback, link-local, site-local, multicast, reserved,
cloud metadata, and IPv6 forms that embed such an IPv4 address, are refused unless
FACE_URL_ALLOWLIST lists them); the connection goes to the checked address (no second DNS
lookup); redirects are followed a few times, each hop checked again; downloads stop at the size
cap; one deadline bounds the whole fetch (connects, headers and bodies of every hop), so a
server that trickles its headers a byte at a time cannot hold the request."""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from shared import settings
from shared.errors import invalid_image_size, invalid_url

MAX_IMAGE_BYTES = 6 * 1024 * 1024
MAX_REDIRECTS = 3
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0         # per read; FETCH_TIMEOUT bounds a server that trickles bytes
FETCH_TIMEOUT = 30.0        # the whole fetch, redirects included
_CHUNK = 64 * 1024
# Cloud metadata / host endpoints that are public addresses (link-local ones are refused anyway).
_METADATA = {ipaddress.ip_address("168.63.129.16")}   # Azure WireServer
# IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64 (well-known and local-use),
# IPv4-translated and the deprecated IPv4-compatible form.
_IPV4_SUFFIX = [ipaddress.ip_network(net) for net in
                ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")]
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
    if any(ord(char) <= 32 or ord(char) == 127 for char in host):
        raise invalid_url("Invalid image URL: control characters in the host.")
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


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (6to4, Teredo, NAT64, mapped...): traffic to
    it may reach them, so they are checked too ([2002:a9fe:a9fe::1] is 169.254.169.254)."""
    found = [address.sixtofour, *(address.teredo or ())]
    if any(address in network for network in _IPV4_SUFFIX):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ipv4 for ipv4 in found if ipv4 is not None]


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return _forbidden(address.ipv4_mapped)
        if address.is_site_local or any(map(_forbidden, _embedded_ipv4(address))):
            return True
    return (not address.is_global or address.is_multicast or address.is_reserved
            or address in _METADATA)


def resolve_checked(host: str, port: int) -> list[str]:
    """The addresses to connect to for `host`, after checking every address it resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
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
    Host header. `abort()` (from another thread) ends whatever it is waiting for."""

    def __init__(self, host: str, port: int, addresses: list[str]):
        super().__init__(host, port, timeout=READ_TIMEOUT)
        self._addresses = addresses
        self._aborted = False

    def connect(self) -> None:
        error: OSError = OSError("no address")
        for address in self._addresses:
            if self._aborted:
                break
            try:
                self.sock = socket.create_connection((address, self.port), CONNECT_TIMEOUT)
                self.sock.settimeout(READ_TIMEOUT)
                if self._aborted:   # the deadline passed while connecting
                    raise OSError("aborted")
                return
            except OSError as failure:
                error = failure
        raise error

    def abort(self) -> None:
        self._aborted = True
        try:
            if self.sock:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _PinnedHTTPS(_PinnedHTTP):
    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


def fetch(url: str) -> bytes:
    """Download an image, following up to MAX_REDIRECTS checked redirects, within
    FETCH_TIMEOUT."""
    deadline = time.monotonic() + FETCH_TIMEOUT
    for _ in range(MAX_REDIRECTS + 1):
        target = _parse(url)
        status, location, data = _get(target, resolve_checked(target.host, target.port),
                                      deadline)
        if status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        if status != 200:
            raise invalid_url(f"Failed to download the image from the URL (HTTP {status}).")
        return data
    raise invalid_url("Failed to download the image from the URL: too many redirects.")


def _get(target: _Target, addresses: list[str],
         deadline: float) -> tuple[int, str | None, bytes]:
    connection = _connection(target, addresses)
    # Socket timeouts bound each wait, not the sum of them: a watchdog ends the fetch at the
    # deadline whatever it is waiting for.
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), connection.abort)
    watchdog.start()
    try:
        connection.request("GET", target.path, headers={"Accept": "image/*",
                                                         "User-Agent": "face-api-image-fetch"})
        response = connection.getresponse()
        if response.status != 200:
            return response.status, response.getheader("Location"), b""
        data = _read_capped(response)
    except (OSError, http.client.HTTPException, ValueError):
        if time.monotonic() >= deadline:
            raise _too_slow() from None
        raise invalid_url("Failed to download the image from the URL.") from None
    finally:
        watchdog.cancel()
        connection.close()
    if time.monotonic() >= deadline:   # a body without a length, cut short by the watchdog
        raise _too_slow()
    return 200, None, data


def _too_slow():
    return invalid_url("Failed to download the image from the URL: too slow.")


def _read_capped(response: http.client.HTTPResponse) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
        raise invalid_image_size("Image size is too big (more than 6 MB).")
    data = bytearray()
    while chunk := response.read1(_CHUNK):
        data += chunk
        if len(data) > MAX_IMAGE_BYTES:
            raise invalid_image_size("Image size is too big (more than 6 MB).")
    return bytes(data)
