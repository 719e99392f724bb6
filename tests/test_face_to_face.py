"""Verify, find similar and group on faceIds, and the faceId time to live, over HTTP."""
from __future__ import annotations

import uuid

from azure.functions.timer import TimerRequest
import pytest

from shared import clock
from shared.storage import clients
from shared.storage.face_ids import TABLE
from tests.service import error_code, running_service

FAMILY = ("Dad1", "Dad2", "Dad3", "Mom1", "Mom2", "Son1", "Son2", "Daughter1", "Daughter2",
          "Daughter3")


@pytest.fixture(scope="module")
def service(azurite):
    with running_service() as running:
        yield running


@pytest.fixture(scope="module")
def client(service):
    return service[1]


def _face_id(client, path, **params) -> str:
    response = client.detect(path.read_bytes(), recognitionModel="recognition_04", **params)
    assert response.status_code == 200, response.text
    return response.json()[0]["faceId"]


@pytest.fixture(scope="module")
def family(client, folder) -> dict[str, str]:
    """faceId of each single-face Family1 photo, by name (Dad1, Mom2...)."""
    return {name: _face_id(client, folder / f"Family1-{name}.jpg") for name in FAMILY}


def _verify(client, first, second, version="v1.2"):
    return client.post("verify", version, json={"faceId1": first, "faceId2": second})


@pytest.mark.parametrize("version", ["v1.0", "v1.2", "v1.2-preview.1"])
def test_verify_same_and_different_people(client, family, version):
    same = _verify(client, family["Dad1"], family["Dad2"], version).json()
    other = _verify(client, family["Dad1"], family["Mom1"], version).json()
    assert same["isIdentical"] is True and same["confidence"] >= 0.5
    assert other["isIdentical"] is False and 0 <= other["confidence"] < 0.5


def test_verify_errors(client, family):
    unknown = str(uuid.uuid4())
    assert error_code(_verify(client, family["Dad1"], unknown)) == (404, "FaceNotFound")
    assert error_code(_verify(client, family["Dad1"], "not-a-uuid")) == (400, "BadArgument")
    assert error_code(client.post("verify", json={"faceId1": family["Dad1"]})) == \
        (400, "BadArgument")
    assert error_code(client.post("verify", data=b"{", headers={
        "Content-Type": "application/json"})) == (400, "BadArgument")
    assert error_code(client.post("verify", data=b'{"faceId1": 1}', headers={
        "Content-Type": "text/plain"})) == (400, "BadArgument")


def test_recognition_models_do_not_mix(client, family, folder):
    older = client.detect((folder / "Family1-Dad2.jpg").read_bytes()).json()[0]["faceId"]
    response = _verify(client, family["Dad1"], older)
    assert error_code(response) == (400, "BadArgument")
    assert response.json()["error"]["message"] == "'recognitionModel' is incompatible."


@pytest.mark.parametrize("scope,code", [
    ({"personGroupId": "family"}, "PersonGroupNotFound"),
    ({"largePersonGroupId": "family"}, "LargePersonGroupNotFound"),
    ({}, "PersonNotFound"),
])
def test_verify_against_a_missing_person(client, family, scope, code):
    body = {"faceId": family["Dad1"], "personId": str(uuid.uuid4()), **scope}
    assert error_code(client.post("verify", json=body)) == (400, code)


def _similar(client, body, version="v1.2"):
    return client.post("findsimilars", version, json=body)


def test_find_similar_match_person_returns_only_the_same_person(client, family):
    others = [family[name] for name in FAMILY if name != "Dad1"]
    response = _similar(client, {"faceId": family["Dad1"], "faceIds": others})
    assert response.status_code == 200, response.text
    found = response.json()
    assert {item["faceId"] for item in found} == {family["Dad2"], family["Dad3"]}
    confidences = [item["confidence"] for item in found]
    assert confidences == sorted(confidences, reverse=True) and min(confidences) >= 0.5


def test_find_similar_match_face_ranks_everyone(client, family):
    others = [family[name] for name in FAMILY if name != "Mom1"]
    found = _similar(client, {"faceId": family["Mom1"], "faceIds": others, "mode": "matchFace",
                              "maxNumOfCandidatesReturned": 5}, "v1.0").json()
    assert len(found) == 5
    assert found[0]["faceId"] == family["Mom2"]
    assert [f["confidence"] for f in found] == sorted((f["confidence"] for f in found),
                                                      reverse=True)


@pytest.mark.parametrize("change,code", [
    ({"mode": "matchAll"}, "BadArgument"),
    ({"maxNumOfCandidatesReturned": 0}, "BadArgument"),
    ({"maxNumOfCandidatesReturned": 1001}, "BadArgument"),
    ({"maxNumOfCandidatesReturned": "5"}, "BadArgument"),
    ({"faceIds": []}, "BadArgument"),
    ({"faceIds": "x"}, "BadArgument"),
    ({"faceIds": [str(uuid.uuid4()) for _ in range(1001)]}, "BadArgument"),
    ({"faceIds": [str(uuid.uuid4())]}, "FaceNotFound"),
    ({"faceId": str(uuid.uuid4())}, "FaceNotFound"),
    ({"faceListId": "family"}, "BadArgument"),               # together with faceIds
])
def test_find_similar_errors(client, family, change, code):
    body = {"faceId": family["Dad1"], "faceIds": [family["Dad2"]], **change}
    assert error_code(_similar(client, body)) == (400, code)


@pytest.mark.parametrize("scope,code", [
    ({"faceListId": "family"}, "FaceListNotFound"),
    ({"largeFaceListId": "family"}, "LargeFaceListNotFound"),
    ({"faceListId": "Bad Id"}, "BadArgument"),
    ({}, "BadArgument"),
])
def test_find_similar_in_missing_lists(client, family, scope, code):
    assert error_code(_similar(client, {"faceId": family["Dad1"], **scope})) == (400, code)


def test_group_family_with_the_four_faces_of_identification1(client, family, folder):
    response = client.detect((folder / "identification1.jpg").read_bytes(),
                             recognitionModel="recognition_04")
    crowd = [face["faceId"] for face in response.json()]
    assert len(crowd) == 4
    response = client.post("group", json={"faceIds": list(family.values()) + crowd})
    assert response.status_code == 200, response.text
    result = response.json()
    names = {face_id: name.rstrip("0123456789") for name, face_id in family.items()}
    grouped = [sorted(names.get(face_id, "crowd") for face_id in group)
               for group in result["groups"]]
    for person in ("Dad", "Mom", "Son", "Daughter"):
        [group] = [g for g in grouped if person in g]
        assert set(group) == {person, "crowd"}, grouped
        assert group.count("crowd") == 1
        assert group.count(person) == list(names.values()).count(person)
    sizes = [len(group) for group in result["groups"]]
    assert sizes == sorted(sizes, reverse=True)
    assert result["messyGroup"] == []
    again = client.post("group", json={"faceIds": list(family.values()) + crowd}).json()
    assert again == result


def test_group_leaves_strangers_in_the_messy_group(client, family):
    response = client.post("group", "v1.0", json={"faceIds": [family["Dad1"], family["Mom1"]]})
    assert response.json() == {"groups": [], "messyGroup": [family["Dad1"], family["Mom1"]]}


@pytest.mark.parametrize("face_ids", [lambda f: [f["Dad1"]],
                                      lambda f: [str(uuid.uuid4()) for _ in range(1001)],
                                      lambda f: [f["Dad1"], "nope"],
                                      lambda f: None])
def test_group_bad_arguments(client, family, face_ids):
    response = client.post("group", json={"faceIds": face_ids(family)})
    assert error_code(response) == (400, "BadArgument")


def test_group_unknown_face(client, family):
    response = client.post("group", json={"faceIds": [family["Dad1"], str(uuid.uuid4())]})
    assert error_code(response) == (400, "FaceNotFound")


def _purge(service) -> None:
    host, _ = service
    [entry] = [e for e in host.functions if e.name == "face_id_purge"]
    entry.invoke(TimerRequest(past_due=False), reason="test")


def test_face_id_expires_after_its_time_to_live_and_is_purged(service, client, folder):
    short = _face_id(client, folder / "Family1-Son1.jpg", faceIdTimeToLive="60")
    other = _face_id(client, folder / "Family1-Son2.jpg")
    try:
        clock.shift(50)
        assert _verify(client, short, other).json()["isIdentical"] is True
        clock.shift(11)
        assert error_code(_verify(client, short, other)) == (404, "FaceNotFound")
        similar = _similar(client, {"faceId": other, "faceIds": [short]})
        assert error_code(similar) == (400, "FaceNotFound")
        _purge(service)
    finally:
        clock.reset()
    table = clients.table_service().get_table_client(TABLE)
    stored = {e["RowKey"] for e in table.query_entities(
        "RowKey eq @a or RowKey eq @b", parameters={"a": short, "b": other})}
    assert stored == {other}
    assert error_code(_verify(client, short, other)) == (404, "FaceNotFound")
