"""Fuzzing every HTTP route of the app (enumerated from its function registrations) with
malformed requests: corrupt, truncated, huge and bomb images, bad JSON and wrong types,
out-of-range parameters, bad ids, unicode, path traversal, odd methods and headers.

No answer may be a 5xx; every error must be the Azure envelope with a JSON content type; and
nothing stored may change: a person group, a large person group, a face list and a large face
list, with their persons, faces, training and search results, are compared before and after.
Requests that would be valid changes (a delete or a train of an existing collection, a good
body for an existing target) are never generated: every mutation carries a defect.

Seeded (FACE_FUZZ_SEED, default 12) and bounded: FUZZ_REQUESTS requests or FUZZ_SECONDS,
whichever comes first. The counts by status are printed (pytest -s shows them)."""
from __future__ import annotations

import io
import json
import os
import random
import re
import socket
import struct
import time
import uuid
import zlib
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TEST_KEY

FUZZ_REQUESTS = 1200
FUZZ_SECONDS = 90
MIN_REQUESTS = 1000
SEED = int(os.environ.get("FACE_FUZZ_SEED", "12"))
MODEL = "recognition_04"
STATELESS = {"detect", "verify", "identify", "findsimilars", "group"}
KIND_ROUTES = ("persongroups", "largepersongroups", "facelists", "largefacelists")
ZERO_ID = "00000000-0000-0000-0000-000000000000"


# ---------------------------------------------------------------- the state that must not change

def call(client, method: str, path: str, **kwargs):
    response = client.session.request(method, client.url(path), timeout=60, **kwargs)
    assert response.status_code < 300, (method, path, response.text)
    return response.json() if response.content else None


def train(client, targets: list[str]) -> None:
    """Train the collections at `targets` ('<route>/<id>') side by side."""
    for target in targets:
        call(client, "POST", f"{target}/train")
    deadline = time.monotonic() + 60
    for target in targets:
        while call(client, "GET", f"{target}/training")["status"] != "succeeded":
            assert time.monotonic() < deadline, "training did not finish"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def world(client, folder):
    """One collection of each kind with two members; a query faceId to search them with."""
    photos = {name: (folder / f"Family1-{name}.jpg").read_bytes() for name in ("Dad1", "Mom1")}
    ids = {route: f"fuzz-{route}-{uuid.uuid4().hex[:6]}" for route in KIND_ROUTES}
    persons: dict[str, list[str]] = {}
    faces: dict[str, list[str]] = {}
    for route, collection_id in ids.items():
        call(client, "PUT", f"{route}/{collection_id}",
             json={"name": "fuzz", "userData": "keep", "recognitionModel": MODEL})
        persons[route], faces[route] = [], []
        for name, data in photos.items():
            target = f"{route}/{collection_id}"
            if route in ("persongroups", "largepersongroups"):
                person = call(client, "POST", f"{target}/persons", json={"name": name})
                persons[route].append(person["personId"])
                target += f"/persons/{person['personId']}"
            added = call(client, "POST", f"{target}/persistedfaces", data=data,
                         params={"detectionModel": "detection_03", "userData": name},
                         headers={"Content-Type": "application/octet-stream"})
            faces[route].append(added["persistedFaceId"])
    train(client, [f"{route}/{ids[route]}" for route in KIND_ROUTES if route != "facelists"])
    query = client.detect((folder / "Family1-Dad2.jpg").read_bytes(), returnFaceId="true",
                          recognitionModel=MODEL, detectionModel="detection_03",
                          faceIdTimeToLive="86400").json()[0]["faceId"]
    return {"ids": ids, "persons": persons, "faces": faces, "query": query}


def snapshot(client, world) -> dict:
    """Everything a client can read about the stored collections, searches included."""
    state: dict = {}
    for route in KIND_ROUTES:
        state[f"list {route}"] = sorted(json.dumps(c, sort_keys=True)
                                        for c in call(client, "GET", route))
    for route, collection_id in world["ids"].items():
        base = f"{route}/{collection_id}"
        state[base] = call(client, "GET", base, params={"returnRecognitionModel": "true"})
        if route in ("persongroups", "largepersongroups"):
            state[f"{base}/persons"] = call(client, "GET", f"{base}/persons")
            for person, face in zip(world["persons"][route], world["faces"][route]):
                path = f"{base}/persons/{person}/persistedfaces/{face}"
                state[path] = call(client, "GET", path)
            state[f"{base} identify"] = call(client, "POST", "identify", json={
                "faceIds": [world["query"]], _id_field(route): collection_id,
                "confidenceThreshold": 0.0, "maxNumOfCandidatesReturned": 5})
        else:
            state[f"{base} similar"] = call(client, "POST", "findsimilars", json={
                "faceId": world["query"], _id_field(route): collection_id,
                "mode": "matchFace", "maxNumOfCandidatesReturned": 5})
        if route == "largefacelists":
            state[f"{base}/persistedfaces"] = call(client, "GET", f"{base}/persistedfaces")
        if route != "facelists":
            status = call(client, "GET", f"{base}/training")
            state[f"{base}/training"] = (status["status"],
                                         status.get("lastSuccessfulTrainingDateTime"))
    return state


def _id_field(route: str) -> str:
    return {"persongroups": "personGroupId", "largepersongroups": "largePersonGroupId",
            "facelists": "faceListId", "largefacelists": "largeFaceListId"}[route]


# ---------------------------------------------------------------- hostile material

def _png(width: int, height: int, bit_depth: int = 8) -> bytes:
    """A valid PNG of black pixels whose header claims `width` x `height` (a bomb when big)."""
    row = bytes(1 + width * bit_depth // 8)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                             bit_depth, 0, 0, 0, 0))
            + chunk(b"tEXt", b"pad\0" + b"x" * 1024) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _claiming(data: bytes, offset: int, packed: bytes) -> bytes:
    return data[:offset] + packed + data[offset + len(packed):]


@pytest.fixture(scope="module")
def images(folder) -> dict[str, list[bytes]]:
    """`refused`: images no add-face can accept; `risky`: corrupt ones that might decode."""
    rng = np.random.default_rng(SEED)
    photo = (folder / "Family1-Son1.jpg").read_bytes()
    crowd = (folder / "identification1.jpg").read_bytes()
    noise = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1)))
    gif = _encoded(noise.convert("P"), "GIF")
    bmp = _encoded(noise, "BMP")
    refused = [
        b"", b"\xff\xd8\xff", photo[:900], photo[: len(photo) // 2], photo[:-2000],
        bytes(6 * 1024 * 1024 + 1), rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        _png(8192, 4882), _png(4097, 100), _png(5000, 3000, 16), _png(100, 65535),
        _claiming(gif, 6, struct.pack("<HH", 65535, 65535)),
        _claiming(bmp, 18, struct.pack("<ii", 50000, 50000)),
        _encoded(noise, "WEBP"), _encoded(noise, "TIFF"), _encoded(noise, "ICO"),
        b"GIF89a" + bytes(2000), b"BM" + bytes(3000), b"\x89PNG\r\n\x1a\n" + bytes(3000),
        "ünïcødé, not an image ✓".encode() * 100, b"<svg xmlns='http://www.w3.org/2000/svg'/>" * 50,
        _encoded(gradient, "PNG"), crowd,
    ]
    risky = []
    for _ in range(12):
        flipped = bytearray(photo)
        for position in rng.integers(200, len(photo), 20):
            flipped[position] ^= 0xFF
        risky.append(bytes(flipped))
    return {"refused": refused, "risky": risky, "photo": [photo]}


UNICODE = ["ünïcødé", "名前", "😀" * 40, "\u202eevil", "\ud7ff", "a\u0000b", "\ufeff", "Ω" * 200]
# No bare "..": the HTTP client would resolve it (`persons/..` is the group itself).
BAD_SEGMENTS = [
    "%0A", "abc%0A", "abc%00", "ABC", "a b", "%2e%2e", ".%2e", "..%2F..%2Fetc%2Fpasswd",
    "%2F", "x" * 65, "x" * 5000, "%F0%9F%98%80", "%C3%A9", "%FF%FE", "%", "%zz", "{id}",
    "null", "-", "_", "a.b", "a;b", "a%3Fb", "a%23b", "*", "%7F", "%1B[31m", "' or 1=1 --",
    "\\..\\windows", "%5C", "\u00e9".encode().decode("latin-1"),
]
BAD_UUIDS = [ZERO_ID + "0", ZERO_ID[:-1], ZERO_ID + "%0A", " " + ZERO_ID[1:], "+" + ZERO_ID[1:],
             ZERO_ID.replace("0", "g"), "{" + ZERO_ID, ZERO_ID.replace("-", "_"), "1_2" * 11]
BAD_VALUES = ["", "-1", "0", "99999999999999999999", "1e309", "NaN", "true", "yes", "[]",
              "{}", "null", "%00", "\n", "x" * 3000, "1,2,3", "-5,-5,10,10", "1,2,3,4,5",
              "0,0,0,0", "100000,100000,10,10", "recognition_99", "detection_00", "ünï"]
PARAMS = ["returnFaceId", "returnFaceLandmarks", "returnFaceAttributes", "recognitionModel",
          "detectionModel", "returnRecognitionModel", "faceIdTimeToLive", "targetFace",
          "userData", "start", "top", "zz", "returnfaceid"]
# All but the last are refused by any create or update (the last names a lone surrogate).
JSON_TEXTS = [b"", b"{", b"[", b"nul", b"{'a': 1}", b'{"a":}', b"\xff\xfe{}", b"\x00" * 10,
              b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000,
              b'{"a": 1} trailing', b"1e999999", b"9" * 5000, b'"just a string"', b"[]",
              b"null", b"true", b"123", b'{"name": "x", "name": 1}',
              '{"name": "\ud800"}'.encode("utf-8", "surrogatepass")]
ID_FIELDS = ["faceId", "faceId1", "faceId2", "faceIds", "personId", "personGroupId",
             "largePersonGroupId", "faceListId", "largeFaceListId", "dynamicPersonGroupId",
             "personIds"]


class Fuzzer:
    def __init__(self, world: dict, images: dict, routes: list[tuple[str, str]]):
        self.rng = random.Random(SEED)
        self.world = world
        self.images = images
        self.routes = routes

    def pick(self, items):
        return items[self.rng.randrange(len(items))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # --- values

    def junk(self, depth: int = 0):
        """A JSON value of a random type, nested a little."""
        makers = [lambda: None, lambda: True, lambda: -1, lambda: 2 ** 70, lambda: 1e308,
                  lambda: -0.5, lambda: self.pick(UNICODE), lambda: "x" * 20000, lambda: [],
                  lambda: {}]
        if depth < 3:
            makers += [lambda: [self.junk(depth + 1)],
                       lambda: {self.pick(ID_FIELDS): self.junk(depth + 1)}]
        return self.pick(makers)()

    def uuid_or_junk(self):
        return self.pick([self.world["query"], ZERO_ID, self.new_uuid(), self.pick(BAD_UUIDS),
                          self.junk(), self.world["query"].upper()])

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def json_object(self, strict: bool) -> dict:
        """An object body; when `strict`, one that every create or update must refuse."""
        body: dict = {}
        for _ in range(self.rng.randrange(1, 5)):
            field = self.pick(ID_FIELDS + ["name", "userData", "recognitionModel", "mode",
                                           "maxNumOfCandidatesReturned", "confidenceThreshold",
                                           "url", "zz"])
            body[field] = self.pick([self.junk(), self.uuid_or_junk(),
                                     [self.uuid_or_junk() for _ in range(self.rng.randrange(
                                         0, 12))], self.pick(self.collection_ids())])
        if strict:   # both invalid: each update validates the one it changes before writing
            body["name"] = self.pick(["", "n" * 129, 7, None, {"a": 1}, ["x"]])
            body["userData"] = self.pick(["u" * 16385, ["x"], 3, {"a": "b"}])
        return body

    def collection_ids(self) -> list[str]:
        return list(self.world["ids"].values()) + [f"missing-{self.rng.getrandbits(32):08x}"]

    def body(self, endpoint: str, strict: bool, stateless: bool) -> tuple[bytes, str]:
        """(body, content type) for a POST / PUT / PATCH; `strict`: refused by any write."""
        takes_image = endpoint in ("detect", "persistedfaces")
        if takes_image and self.chance(0.6):
            pool = "refused" if strict else self.pick(["refused", "risky", "refused"])
            return self.pick(self.images[pool]), self.pick(
                ["application/octet-stream"] * 4 + ["image/jpeg", "", "text/plain"])
        if takes_image and self.chance(0.5):
            url = self.pick([
                "http://127.0.0.1:1/a.jpg", "http://169.254.169.254/latest/meta-data/",
                "http://[2002:a9fe:a9fe::1]/", "http://[fec0::1]/", "http://[::ffff:10.0.0.1]/",
                "http://[64:ff9b::a9fe:a9fe]/", "file:///etc/passwd", "gopher://127.0.0.1/",
                "http://exa\u0000mple.com/", "http://localhost/", "http://user:pw@10.0.0.1/",
                "ftp://1.2.3.4/x", "http://0/", "http://[::1]/", "http://2130706433/",
                "http://10.0.0.1:99999/", "javascript:alert(1)", "", " ", "http://", "x" * 5000])
            return json.dumps({"url": url}).encode(), "application/json"
        if self.chance(0.3):
            return self.pick(JSON_TEXTS[:-1] if strict else JSON_TEXTS), self.pick(
                ["application/json"] * 3 + ["application/json; charset=utf-16", "text/plain", ""])
        body = self.json_object(strict)
        if stateless and self.chance(0.3):
            body = self.plausible_search()
        text = json.dumps(body, ensure_ascii=self.chance(0.5), allow_nan=True)
        return text.encode("utf-8", "surrogatepass"), self.pick(
            ["application/json"] * 5 + ["application/octet-stream", "text/json", ""])

    def plausible_search(self) -> dict:
        """A nearly right search body with one field out of range or of the wrong type."""
        route = self.pick(KIND_ROUTES)
        body = {"faceId": self.world["query"], "faceIds": [self.world["query"]],
                _id_field(route): self.world["ids"][route]}
        field, value = self.pick([
            ("maxNumOfCandidatesReturned", 0), ("maxNumOfCandidatesReturned", 1001),
            ("maxNumOfCandidatesReturned", "5"), ("maxNumOfCandidatesReturned", True),
            ("confidenceThreshold", 1.5), ("confidenceThreshold", -0.1),
            ("confidenceThreshold", float("nan")), ("confidenceThreshold", "0.5"),
            ("mode", "matchAll"), ("faceIds", [self.world["query"]] * 1001), ("faceIds", []),
            ("faceIds", [ZERO_ID] * 11), ("faceId", ZERO_ID), ("personId", "nobody"),
            ("faceId2", self.world["query"]), ("personIds", ["*"]),
            (_id_field(route), self.world["ids"][route] + "\n")])
        body[field] = value
        return body

    # --- requests

    def segment(self, name: str, existing: str) -> tuple[str, str]:
        """(value, how) for one route parameter: 'existing', 'missing' or 'malformed'."""
        how = self.pick(["existing", "existing", "missing", "malformed"])
        if how == "existing":
            return existing, how
        if how == "missing":
            return (self.new_uuid() if name in ("personId", "faceId")
                    else f"missing-{self.rng.getrandbits(32):08x}"), how
        # (An upper-case UUID is the same UUID: only an upper-case collection id is malformed.)
        variants = [existing + "%0A", existing + "%00", existing + "%20"]
        if name == "groupId":
            variants.append(existing.upper())
        return self.pick(BAD_SEGMENTS + BAD_UUIDS + variants), how

    def fill(self, route: str) -> tuple[str, bool]:
        """The path for a route template, and whether every parameter names something that
        exists."""
        kind = route.split("/")[1] if "/" in route else ""
        index = self.rng.randrange(2)
        known = {"groupId": self.world["ids"].get(kind, "missing"),
                 "personId": (self.world["persons"].get(kind) or [ZERO_ID] * 2)[index],
                 "faceId": (self.world["faces"].get(kind) or [ZERO_ID] * 2)[index]}
        version = self.pick(["v1.0", "v1.2", "v1.2-preview.1"] * 15 + [
            "v9.9", "V1.2", "v1.2%0A", "%2e%2e", "%00"])
        exists = version in ("v1.0", "v1.2", "v1.2-preview.1")
        values = {"apiVersion": version}
        for name in re.findall(r"\{\*?(\w+)\}", route):
            if name == "path":    # the catch-all
                values[name] = "/".join(self.pick(BAD_SEGMENTS + ["persongroups", "x"])
                                        for _ in range(self.rng.randrange(1, 4)))
            elif name != "apiVersion":
                # Parameters of routes without a pre-made world (the Person Directory's
                # persons, operations, dynamic groups) get a well-formed id that names nothing.
                existing = known.get(name, "recognition_04" if name == "recognitionModel"
                                     else ZERO_ID)
                values[name], how = self.segment(name, existing)
                exists = exists and how == "existing"
        return re.sub(r"\{\*?(\w+)\}", lambda m: values[m.group(1)], route), exists

    def route(self) -> tuple[str, str]:
        """Any registered route; the few that take images and faceIds weigh as much as the
        many collection routes together."""
        stateless = [r for r in self.routes if r[0].split("/")[1:2] and
                     r[0].split("/")[1] in STATELESS]
        return self.pick(stateless if self.chance(0.4) else self.routes)

    def request(self) -> tuple[str, str, dict, bytes, dict]:
        route, method = self.route()
        last = route.split("/")[-1]
        endpoint = "member" if last.startswith("{") else last
        family = route.split("/")[1] if "/" in route else "{*path}"
        stateless = family in STATELESS
        path, exists = self.fill(route)
        mutating = method != "GET" and family in KIND_ROUTES
        if mutating and exists and (method == "DELETE" or endpoint == "train"):
            # A valid delete or train would change the state: break the collection id.
            path = path.replace(self.world["ids"][family], "%0A", 1)
        # Creates (PUT) succeed for new ids too: their bodies are always invalid.
        strict = mutating and (exists or method == "PUT")
        if self.chance(0.05):
            method = self.pick(["FOO", "PROPFIND", "TRACE", "OPTIONS", "CONNECT", "HEAD"])
        params = {self.pick(PARAMS): self.pick(BAD_VALUES + UNICODE)
                  for _ in range(self.rng.randrange(0, 4))}
        if endpoint == "persistedfaces" and strict and not params:
            params = {"targetFace": self.pick(["1,2,3", "-1,-1,5,5", "0,0,99999,99999",
                                               "a,b,c,d"])}
        headers = {"Ocp-Apim-Subscription-Key": TEST_KEY}
        if self.chance(0.04):
            headers["Ocp-Apim-Subscription-Key"] = self.pick(["", "wrong", TEST_KEY + "\t",
                                                              "ü" * 10])
        if self.chance(0.05):
            headers[self.pick(["X-Junk", "Accept", "Accept-Encoding", "Range", "If-Match",
                               "X-Forwarded-Host"])] = self.pick(["*", "x" * 4000, "bytes=0-1",
                                                                  "gzip;q=0", "\u00ff"])
        body = b""
        if method in ("POST", "PUT", "PATCH") or self.chance(0.05):
            body, content_type = self.body(endpoint, strict, stateless)
            if content_type:
                headers["Content-Type"] = content_type
        # Characters outside printable ASCII go out percent-encoded, as a client would send them.
        path = "".join(c if 32 < ord(c) < 127 else "".join(f"%{b:02X}" for b in c.encode())
                       for c in path)
        return method, "/face/" + path, params, body, headers


def routes_of_the_app() -> list[tuple[str, str]]:
    """(route template under /face/, method) for every Face API function the app registers."""
    import function_app
    from devhost.registry import function_metadata
    found = []
    for metadata in function_metadata(function_app.app).values():
        for binding in metadata["bindings"]:
            if binding["type"] == "httpTrigger" and binding["route"].startswith("face/"):
                found += [(binding["route"][len("face/"):], method.upper())
                          for method in binding["methods"]]
    return found


def check(response, method: str) -> str | None:
    """What is wrong with an answer, or None."""
    if response.status_code >= 500:
        return f"status {response.status_code}"
    if response.status_code < 400 or method == "HEAD":
        return None
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        return f"content type {response.headers.get('Content-Type')!r}"
    try:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str)
    except (ValueError, KeyError, TypeError, AssertionError):
        return "not the error envelope"
    return None


def raw_exchange(address, data: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


RAW_REQUESTS = [
    b"GET /face/v1.2/health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /face/v1.2/detect HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFF\r\n",
    b"POST /face/v1.2/verify HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"GET /face/v1.2/health HTTP/9.9\r\n\r\n", b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n",
    b"GET /face/v1.2/he\x00alth HTTP/1.1\r\n\r\n", b"GET /face/v1.2/health HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET /face/v1.2/health HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
    b"PUT /face/v1.2/persongroups/abc%0A HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
]


def test_malformed_requests_never_fail_the_service_nor_change_what_is_stored(
        client, world, images):
    before = snapshot(client, world)
    fuzzer = Fuzzer(world, images, routes_of_the_app())
    address = re.match(r"http://([^:]+):(\d+)", client.base_url).groups()
    statuses: Counter = Counter()
    problems: list[str] = []
    started = time.monotonic()
    sent = 0
    for data in RAW_REQUESTS:
        answer = raw_exchange((address[0], int(address[1])), data)
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0
        statuses[status] += 1
        sent += 1
        if not 400 <= status < 500 or b'{"error": {"code": ' not in answer:
            problems.append(f"raw {data[:60]!r}: {answer[:200]!r}")
    while sent < FUZZ_REQUESTS and time.monotonic() - started < FUZZ_SECONDS:
        method, path, params, body, headers = fuzzer.request()
        response = client.session.request(method, client.base_url + path, params=params,
                                          data=body, headers=headers, timeout=60)
        sent += 1
        statuses[response.status_code] += 1
        problem = check(response, method)
        if problem:
            problems.append(f"{method} {path[:120]} {str(params)[:80]} body {body[:60]!r}: "
                            f"{problem}: {response.text[:200]}")
    elapsed = time.monotonic() - started
    print(f"\nfuzz (seed {SEED}): {sent} requests in {elapsed:.1f} s; by status: "
          + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))
    assert not problems, f"{len(problems)} bad answers:\n" + "\n".join(problems[:30])
    assert sent >= MIN_REQUESTS, f"only {sent} requests in {FUZZ_SECONDS} s"
    assert snapshot(client, world) == before
