"""The Person Directory over HTTP (issue 16): persons and their faces through long-running
operations (`GET /operations/{id}`), dynamic person groups, identify with `personIds` or a
dynamic group and verify against a directory person, on the Azure sample photos; deleting a
person removes it from identify and from its groups."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.conftest import ROOT
from tests.service import DETECTION, RECOGNITION, Client, error_code
from tests.test_collections_http import call, final_status

PREVIEW = "v1.2-preview.1"
FAMILY = {"Dad": ("Dad1", "Dad3"), "Mom": ("Mom1", "Mom2"), "Son": ("Son1",)}


def finished(client, response) -> dict:
    """Wait for the operation a 202 answer names; its final status."""
    assert response.status_code == 202, response.text
    assert response.headers["Retry-After"] == "1"
    return final_status(client, response.headers["operation-Location"])


def photo(folder, name: str) -> bytes:
    return (folder / f"Family1-{name}.jpg").read_bytes()


def face_id(client, data: bytes, model: str = RECOGNITION) -> str:
    found = client.detect(data, recognitionModel=model, detectionModel=DETECTION)
    assert found.status_code == 200, found.text
    return found.json()[0]["faceId"]


def add_face(client, person: str, data: bytes, version: str = PREVIEW,
             headers: dict | None = None, **params):
    return call(client, "POST", f"persons/{person}/recognitionModels/{RECOGNITION}/"
                "persistedfaces", version, data=data,
                params={"detectionModel": DETECTION, **params},
                headers={"Content-Type": "application/octet-stream", **(headers or {})})


@pytest.fixture(scope="module")
def family(client, folder) -> dict[str, str]:
    persons = {}
    for name, pictures in FAMILY.items():
        created = call(client, "POST", "persons", PREVIEW, json={"name": name})
        persons[name] = created.json()["personId"]
        assert created.headers["Location"].endswith(f"/{PREVIEW}/persons/{persons[name]}")
        assert finished(client, created)["status"] == "succeeded"
        for picture in pictures:
            added = add_face(client, persons[name], photo(folder, picture), userData=picture)
            assert "persistedFaceId" in added.json()
            assert finished(client, added)["status"] == "succeeded"
    return persons


def test_persons_and_faces(client, family, folder):
    dad = family["Dad"]
    assert call(client, "GET", f"persons/{dad}", PREVIEW).json() == {"personId": dad,
                                                                     "name": "Dad"}
    assert call(client, "PATCH", f"persons/{dad}", PREVIEW,
                json={"userData": "father"}).status_code == 200
    assert call(client, "GET", f"persons/{dad}", "v1.1-preview.1").json()["userData"] == "father"
    listed = call(client, "GET", "persons", PREVIEW).json()
    assert set(family.values()) <= {p["personId"] for p in listed}
    assert [p["personId"] for p in listed] == sorted(p["personId"] for p in listed)

    faces_url = f"persons/{dad}/recognitionModels/{RECOGNITION}/persistedfaces"
    face_ids = call(client, "GET", faces_url, PREVIEW).json()
    assert face_ids["personId"] == dad and len(face_ids["persistedFaceIds"]) == 2
    first = face_ids["persistedFaceIds"][0]
    assert call(client, "GET", f"{faces_url}/{first}", PREVIEW).json()["userData"] == "Dad1"
    assert call(client, "PATCH", f"{faces_url}/{first}", PREVIEW,
                json={"userData": "renamed"}).status_code == 200
    assert call(client, "GET", f"{faces_url}/{first}", PREVIEW).json()["userData"] == "renamed"
    other_model = f"persons/{dad}/recognitionModels/recognition_03/persistedfaces"
    assert call(client, "GET", other_model, PREVIEW).json()["persistedFaceIds"] == []


def test_operation_status_shape(client, folder, family):
    response = add_face(client, family["Son"], photo(folder, "Son2"))
    status = finished(client, response)
    assert set(status) == {"operationId", "status", "createdTime", "lastActionTime",
                           "finishedTime", "message"}
    assert response.headers["operation-Location"].endswith(status["operationId"])
    assert status["createdTime"] <= status["lastActionTime"] <= status["finishedTime"]
    face_url = response.headers["Location"]
    deleted = client.session.delete(face_url, timeout=30)
    assert finished(client, deleted)["status"] == "succeeded"
    assert error_code(client.session.get(face_url, timeout=30)) == (404,
                                                                    "PersistedFaceNotFound")


@pytest.mark.parametrize("version", [PREVIEW, "v1.2"])
def test_identify_and_verify_in_the_directory(client, folder, family, version):
    probe = face_id(client, photo(folder, "Dad2"))
    everyone = call(client, "POST", "identify", version,
                    json={"faceIds": [probe], "personIds": ["*"]})
    assert everyone.status_code == 200, everyone.text
    assert everyone.json()[0]["candidates"][0]["personId"] == family["Dad"]
    others = call(client, "POST", "identify", version, json={
        "faceIds": [probe], "personIds": [family["Mom"], family["Son"]]}).json()
    assert family["Dad"] not in [c["personId"] for c in others[0]["candidates"]]

    same = call(client, "POST", "verify", version,
                json={"faceId": probe, "personId": family["Dad"]}).json()
    other = call(client, "POST", "verify", version,
                 json={"faceId": probe, "personId": family["Mom"]}).json()
    assert same["isIdentical"] and same["confidence"] >= 0.5
    assert not other["isIdentical"]


def test_directory_errors(client, folder, family):
    dad = family["Dad"]
    unsupported = call(client, "GET", f"persons/{dad}/recognitionModels/recognition_01/"
                       "persistedfaces", PREVIEW)
    assert error_code(unsupported) == (400, "BadArgument")
    missing = "00000000-0000-0000-0000-000000000000"
    assert error_code(call(client, "GET", f"persons/{missing}", PREVIEW)) == \
        (404, "PersonNotFound")
    assert error_code(add_face(client, missing, photo(folder, "Dad1"))) == \
        (404, "PersonNotFound")
    assert error_code(call(client, "GET", f"operations/{missing}", PREVIEW))[0] == 404
    for version in ("v1.0", "v1.2"):    # Azure serves the directory's routes in previews only
        assert error_code(call(client, "GET", "persons", version)) == (404, "404")
        assert call(client, "GET", f"dynamicpersongroups/{missing}", version).status_code == 404
    assert error_code(call(client, "POST", "persons", PREVIEW, json={})) == (400, "BadArgument")
    no_face = add_face(client, dad, photo(folder, "Dad1"), targetFace="0,0,10,10")
    assert error_code(no_face) == (400, "InvalidImage")
    probe = face_id(client, photo(folder, "Dad2"))
    assert error_code(call(client, "POST", "verify", json={
        "faceId": probe, "personId": missing})) == (400, "PersonNotFound")


def retried(send) -> tuple:
    """A request and its retry: both answers, which must name the same operation."""
    first, again = send(), send()
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.headers["operation-Location"] == again.headers["operation-Location"]
    assert first.content == again.content
    return first, again


def test_a_retried_request_gets_the_same_operation(client, folder):
    """The retry rule (README, Person Directory): creations by request id (and add-face by
    the photo too), deletes by their target, pending or done."""
    retry_id = {"x-ms-client-request-id": str(uuid.uuid4())}
    created, _ = retried(lambda: call(client, "POST", "persons", PREVIEW,
                                      json={"name": "twin"}, headers=retry_id))
    person = created.json()["personId"]
    assert finished(client, created)["status"] == "succeeded"
    # Without a request id, two persons of the same name are two persons.
    others = {call(client, "POST", "persons", PREVIEW, json={"name": "twin"}).json()["personId"]
              for _ in range(2)}
    assert len(others) == 2 and person not in others

    added, _ = retried(lambda: add_face(client, person, photo(folder, "Son1")))
    assert finished(client, added)["status"] == "succeeded"
    late = add_face(client, person, photo(folder, "Son1"))       # the retry of a done add
    assert late.headers["operation-Location"] == added.headers["operation-Location"]
    assert finished(client, late)["status"] == "succeeded"
    # Two calls with their own request ids are two faces, even of one photo.
    second = [add_face(client, person, photo(folder, "Son2"),
                       headers={"x-ms-client-request-id": str(uuid.uuid4())}) for _ in range(2)]
    assert second[0].json() != second[1].json()
    for response in second:
        assert finished(client, response)["status"] == "succeeded"
    faces_url = f"persons/{person}/recognitionModels/{RECOGNITION}/persistedfaces"
    listed = call(client, "GET", faces_url, PREVIEW).json()["persistedFaceIds"]
    assert sorted(listed) == sorted([added.json()["persistedFaceId"]] +
                                    [r.json()["persistedFaceId"] for r in second])

    face_url = f"{faces_url}/{added.json()['persistedFaceId']}"
    deleted, _ = retried(lambda: call(client, "DELETE", face_url, PREVIEW))
    assert finished(client, deleted)["status"] == "succeeded"
    assert retried(lambda: call(client, "DELETE", face_url, PREVIEW))[0].headers[
        "operation-Location"] == deleted.headers["operation-Location"]
    readded = add_face(client, person, photo(folder, "Son1"))  # deleted since: a new face
    assert readded.json() != added.json()
    assert finished(client, readded)["status"] == "succeeded"
    gone, _ = retried(lambda: call(client, "DELETE", f"persons/{person}", PREVIEW))
    assert finished(client, gone)["status"] == "succeeded"
    after = call(client, "DELETE", f"persons/{person}", PREVIEW)
    assert after.headers["operation-Location"] == gone.headers["operation-Location"]
    assert error_code(call(client, "GET", f"persons/{person}", PREVIEW)) == \
        (404, "PersonNotFound")


@pytest.fixture(scope="module")
def second_instance(azurite):
    """Another instance of the service, in its own process over the same storage: its own
    gallery cache."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port)], cwd=ROOT,
                               env=os.environ.copy(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    other = Client(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if other.session.get(other.url("health"), timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "no second instance"
            time.sleep(0.5)
        yield other
    finally:
        process.terminate()
        process.wait(30)


def candidates(client, probe: str) -> list[str]:
    found = call(client, "POST", "identify", json={"faceIds": [probe], "personIds": ["*"]})
    assert found.status_code == 200, found.text
    return [c["personId"] for c in found.json()[0]["candidates"]]


def test_another_instance_sees_each_change_at_once(client, folder, second_instance):
    """Its cached gallery is refreshed by the next identify after an operation succeeded:
    the added face is found, the deleted person never again."""
    created = call(client, "POST", "persons", PREVIEW, json={"name": "Daughter"})
    daughter = created.json()["personId"]
    assert finished(client, created)["status"] == "succeeded"
    probe = face_id(client, photo(folder, "Daughter2"))
    assert daughter not in candidates(second_instance, probe)      # its cache is warm
    added = add_face(client, daughter, photo(folder, "Daughter1"))
    assert finished(client, added)["status"] == "succeeded"
    assert candidates(second_instance, probe)[0] == daughter
    deleted = call(client, "DELETE", f"persons/{daughter}", PREVIEW)
    assert finished(client, deleted)["status"] == "succeeded"
    assert daughter not in candidates(second_instance, probe)


@pytest.fixture(scope="module")
def parents(client, family) -> str:
    """A dynamic person group of Dad and Mom."""
    created = call(client, "PUT", "dynamicpersongroups/parents", PREVIEW, json={
        "name": "parents", "addPersonIds": [family["Dad"], family["Mom"]]})
    assert finished(client, created)["status"] == "succeeded"
    return "parents"


def test_dynamic_groups(client, family, parents):
    assert call(client, "GET", f"dynamicpersongroups/{parents}", PREVIEW).json() == {
        "dynamicPersonGroupId": parents, "name": parents}
    members = call(client, "GET", f"dynamicpersongroups/{parents}/persons", PREVIEW).json()
    assert members == {"personIds": sorted([family["Dad"], family["Mom"]])}
    references = call(client, "GET", f"persons/{family['Mom']}/dynamicPersonGroupReferences",
                      PREVIEW).json()
    assert references == {"dynamicPersonGroupIds": [parents]}

    empty = call(client, "PUT", "dynamicpersongroups/kids", PREVIEW, json={"name": "kids"})
    assert empty.status_code == 200 and empty.content == b""
    assert error_code(call(client, "PUT", "dynamicpersongroups/kids", PREVIEW,
                           json={"name": "kids"})) == (409, "DynamicPersonGroupExists")
    changed = call(client, "PATCH", "dynamicpersongroups/kids", PREVIEW,
                   json={"userData": "children", "addPersonIds": [family["Son"]]})
    assert finished(client, changed)["status"] == "succeeded"
    assert call(client, "GET", "dynamicpersongroups/kids", PREVIEW).json()["userData"] == \
        "children"
    listed = call(client, "GET", "dynamicpersongroups", PREVIEW).json()
    assert [g["dynamicPersonGroupId"] for g in listed] == ["kids", parents]
    deleted = call(client, "DELETE", "dynamicpersongroups/kids", PREVIEW)
    assert finished(client, deleted)["status"] == "succeeded"
    assert error_code(call(client, "GET", "dynamicpersongroups/kids", PREVIEW)) == \
        (404, "DynamicPersonGroupNotFound")
    assert call(client, "GET", f"persons/{family['Son']}/dynamicPersonGroupReferences",
                PREVIEW).json() == {"dynamicPersonGroupIds": []}
    unknown = "00000000-0000-0000-0000-000000000000"
    assert error_code(call(client, "PATCH", f"dynamicpersongroups/{parents}", PREVIEW,
                           json={"addPersonIds": [unknown]})) == (404, "PersonNotFound")


@pytest.mark.parametrize("version", [PREVIEW, "v1.2"])
def test_identify_in_a_dynamic_group(client, folder, family, parents, version):
    probe = face_id(client, photo(folder, "Dad2"))
    found = call(client, "POST", "identify", version,
                 json={"faceIds": [probe], "dynamicPersonGroupId": parents})
    assert found.status_code == 200, found.text
    assert found.json()[0]["candidates"][0]["personId"] == family["Dad"]
    missing = call(client, "POST", "identify", version,
                   json={"faceIds": [probe], "dynamicPersonGroupId": "nobody"})
    assert error_code(missing) == (400, "DynamicPersonGroupNotFound")


def test_deleting_a_person_removes_it_from_identify(client, folder, family, parents):
    """Runs last: Dad leaves the directory, and his dynamic group."""
    dad = family["Dad"]
    deleted = call(client, "DELETE", f"persons/{dad}", PREVIEW)
    assert error_code(call(client, "GET", f"persons/{dad}", PREVIEW)) == (404, "PersonNotFound")
    assert finished(client, deleted)["status"] == "succeeded"
    probe = face_id(client, photo(folder, "Dad2"))
    result = call(client, "POST", "identify", json={"faceIds": [probe], "personIds": ["*"]})
    assert dad not in [c["personId"] for c in result.json()[0]["candidates"]]
    assert dad not in [p["personId"] for p in call(client, "GET", "persons", PREVIEW).json()]
    members = call(client, "GET", f"dynamicpersongroups/{parents}/persons", PREVIEW).json()
    assert members == {"personIds": [family["Mom"]]}
    in_group = call(client, "POST", "identify", json={"faceIds": [probe],
                                                      "dynamicPersonGroupId": parents})
    assert dad not in [c["personId"] for c in in_group.json()[0]["candidates"]]
