"""Image input: body kinds and the SSRF-safe URL client against a loopback image server."""
from __future__ import annotations

import ipaddress
import json
import ssl
import time
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from functions.arguments import image_bytes
from shared import image_input
from shared.errors import FaceError
from shared.image_input import MAX_IMAGE_BYTES
from tests.image_server import ImageServer, redirect, send

PICTURE = b"\xff\xd8\xff" + b"x" * 5000


@pytest.fixture(scope="module")
def server():
    server = ImageServer()
    server.routes.update({
        "/face.jpg": send(PICTURE, headers={"Content-Type": "image/jpeg"}),
        "/f%C3%A4ce%20one.jpg?size=big%20one": send(PICTURE),
        "/hop": redirect("/face.jpg"),
        "/loop": redirect("/loop"),
        "/to-private": redirect("http://10.1.2.3/face.jpg"),
        "/to-loopback-alias": redirect("http://127.0.0.2/face.jpg"),
        "/huge-declared": send(b"x" * 10, headers={"Content-Length": str(MAX_IMAGE_BYTES + 1)},
                               length=False),
        "/huge-streamed": send(b"x" * (MAX_IMAGE_BYTES + 1), length=False),
        "/error": send(b"boom", 500),
    })
    yield server
    server.close()


@pytest.fixture
def loopback_allowed(monkeypatch):
    monkeypatch.setenv("FACE_URL_ALLOWLIST", "127.0.0.1/32")


def _url_body(url: str) -> bytes:
    return json.dumps({"url": url}).encode()


def _error(body: bytes, content_type: str = "application/json") -> FaceError:
    with pytest.raises(FaceError) as caught:
        image_bytes(body, content_type)
    return caught.value


def test_octet_stream_body_is_the_image():
    assert image_bytes(PICTURE, "application/octet-stream") == PICTURE
    assert image_bytes(PICTURE, "Application/Octet-Stream; charset=binary") == PICTURE


@pytest.mark.parametrize("content_type", ["", "text/plain", "image/jpeg", "multipart/form-data"])
def test_other_media_types_are_bad_arguments(content_type):
    assert _error(PICTURE, content_type).code == "BadArgument"


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"uri": "http://x"}', b'{"url": 5}',
                                  b'{"url": ""}'])
def test_json_without_a_url_is_a_bad_argument(body):
    assert _error(body).code == "BadArgument"


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "not a url",
                                 "http://", "http://user:pw@example.com/a.jpg",
                                 "http://example.com:99999/a.jpg", "http://nothing.invalid/a.jpg",
                                 "http://exa\u0000mple.com/a.jpg", "http://" + "a" * 300 + ".com/"])
def test_malformed_or_unreachable_urls_are_invalid(url):
    assert _error(_url_body(url)).code == "InvalidURL"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.0.0.8", "192.168.1.1",
                                  "172.16.5.5", "169.254.169.254", "[::1]", "0.0.0.0",
                                  "[::ffff:127.0.0.1]", "100.64.0.1", "224.0.0.1",
                                  "168.63.129.16", "[fe80::1]", "240.0.0.1"])
def test_private_and_metadata_hosts_are_refused(server, host):
    assert _error(_url_body(server.url("/face.jpg", host))).code == "InvalidURL"


@pytest.mark.parametrize("address,forbidden", [
    ("8.8.8.8", False), ("2606:4700::1111", False), ("127.0.0.1", True), ("fd00:ec2::254", True),
    ("::ffff:10.0.0.1", True), ("255.255.255.255", True),
    ("fec0::1", True), ("feff:ffff::1", True),                       # site-local
    ("2002:a9fe:a9fe::1", True), ("2002:0a00:0001::1", True),        # 6to4 of link-local, private
    ("2002:7f00:1::1", True), ("2002:0808:0808::1", False),          # ...loopback; of 8.8.8.8
    ("64:ff9b::a9fe:a9fe", True), ("64:ff9b::7f00:1", True),         # NAT64
    ("64:ff9b:1::a00:1", True),
    ("::169.254.169.254", True), ("::ffff:0:a9fe:a9fe", True),       # compatible, translated
    ("2001:0:4136:e378:8000:63bf:5601:5656", True),                  # Teredo, client 169.254.169.169
    ("::ffff:8.8.8.8", False)])
def test_forbidden_address_classes(address, forbidden):
    assert image_input._forbidden(ipaddress.ip_address(address)) is forbidden


@pytest.mark.parametrize("url", ["http://exa\x00mple.com/a.jpg", "http://a\tb.com/x.jpg",
                                 "http://8.8.8.8\x00/a.jpg", "http://8.8.8.8\x7f/a.jpg",
                                 "http://[2002:a9fe:a9fe::1]/latest/meta-data",
                                 "http://[fec0::1]/a.jpg", "http://[::ffff:169.254.169.254]/"])
def test_hostile_hosts_are_invalid_urls(url):
    assert _error(_url_body(url)).code == "InvalidURL"


def trickle(handler) -> None:
    """Response headers at one byte every 0.2 s: each read is quick, the whole is not."""
    for byte in b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\nX-Padding: " + b"x" * 200:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.2)


def test_one_deadline_bounds_the_whole_fetch(server, loopback_allowed, monkeypatch):
    server.routes["/trickle"] = trickle
    monkeypatch.setattr(image_input, "FETCH_TIMEOUT", 2.0)
    started = time.monotonic()
    error = _error(_url_body(server.url("/trickle")))
    assert error.code == "InvalidURL" and "too slow" in error.message
    assert time.monotonic() - started < 3.5


def test_allow_listed_loopback_is_fetched(server, loopback_allowed):
    assert image_bytes(_url_body(server.url("/face.jpg")), "application/json") == PICTURE


def test_paths_are_percent_encoded(server, loopback_allowed):
    url = server.url("/fäce one.jpg?size=big one")
    assert image_bytes(_url_body(url), "application/json") == PICTURE


def test_redirects_are_followed_and_checked(server, loopback_allowed):
    assert image_bytes(_url_body(server.url("/hop")), "application/json") == PICTURE
    assert _error(_url_body(server.url("/loop"))).code == "InvalidURL"
    assert _error(_url_body(server.url("/to-private"))).code == "InvalidURL"
    assert _error(_url_body(server.url("/to-loopback-alias"))).code == "InvalidURL"


def test_download_failures_are_invalid_urls(server, loopback_allowed):
    assert _error(_url_body(server.url("/missing"))).code == "InvalidURL"
    assert _error(_url_body(server.url("/error"))).code == "InvalidURL"
    closed_port = server.url("/face.jpg").replace(str(server.port), "1")
    assert _error(_url_body(closed_port)).code == "InvalidURL"


@pytest.mark.parametrize("path", ["/huge-declared", "/huge-streamed"])
def test_oversize_downloads_stop_at_the_cap(server, loopback_allowed, path):
    assert _error(_url_body(server.url(path))).code == "InvalidImageSize"


def test_allow_listed_host_name_is_fetched_from_whichever_address_answers(server, monkeypatch):
    # localhost may resolve to ::1 first; the server listens on 127.0.0.1 only.
    monkeypatch.setenv("FACE_URL_ALLOWLIST", "localhost")
    url = server.url("/face.jpg", "localhost")
    assert image_bytes(_url_body(url), "application/json") == PICTURE
    assert _error(_url_body(server.url("/face.jpg"))).code == "InvalidURL"   # 127.0.0.1 is not


def _self_signed(folder) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 'localhost' and the path of its certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(hours=1))
                   .not_valid_after(now + timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, str(cert_file)


def test_https_checks_the_certificate_of_the_host_name(tmp_path, monkeypatch):
    context, cert_file = _self_signed(tmp_path)
    server = ImageServer(tls=context)
    server.routes["/face.jpg"] = send(PICTURE)
    monkeypatch.setenv("FACE_URL_ALLOWLIST", "localhost")
    try:
        url = _url_body(server.url("/face.jpg", "localhost"))
        assert _error(url).code == "InvalidURL"                 # not a trusted certificate
        monkeypatch.setenv("SSL_CERT_FILE", cert_file)          # trust it
        assert image_bytes(url, "application/json") == PICTURE
    finally:
        server.close()
