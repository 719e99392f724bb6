"""Person groups, large person groups, training and identify over HTTP, served by the local
runtime (training runs in its queue-triggered functions) against a real Azurite."""
from __future__ import annotations

import time
import uuid

import numpy as np
import pytest

from shared.collections import faces, repository, shards
from shared.collections.kinds import FACES_PER_PERSON, KINDS
from shared.errors import FaceError
from shared.inference import get_engine
from shared.storage.face_ids import StoredFace, default_store, expiry
from tests.service import error_code

ROUTES = ("persongroups", "largepersongroups")
KIND_OF = {kind.route: kind for kind in KINDS.values()}
RNG = np.random.default_rng(11)


def call(client, method: str, path: str, version: str = "v1.2", **kwargs):
    return client.session.request(method, client.url(path, version), timeout=60, **kwargs)


def new_group(client, route: str, version: str = "v1.2", **body) -> str:
    group_id = f"g-{uuid.uuid4().hex[:10]}"
    response = call(client, "PUT", f"{route}/{group_id}", version,
                    json={"name": "family", **body})
    assert response.status_code == 200, response.text
    return group_id


def new_person(client, route: str, group_id: str, name: str = "someone",
               version: str = "v1.2") -> str:
    response = call(client, "POST", f"{route}/{group_id}/persons", version, json={"name": name})
    assert response.status_code == 200, response.text
    return response.json()["personId"]


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def at_similarity(centre: np.ndarray, similarity: float) -> np.ndarray:
    """A unit vector whose cosine similarity to the unit vector `centre` is `similarity`."""
    other = RNG.normal(size=centre.shape)
    other = unit(other - (other @ centre) * centre)
    return unit(similarity * centre + np.sqrt(1 - similarity ** 2) * other)


def enrol(route: str, group_id: str, person_id: str, vector: np.ndarray) -> str:
    """A persisted face with a synthetic embedding, through the same storage code."""
    collection = repository.get_collection(KIND_OF[route], group_id)
    return faces.store_face(collection, person_id, vector, None)


def cached_face(vector: np.ndarray, model: str = "recognition_01") -> str:
    face_id = str(uuid.uuid4())
    default_store().save([StoredFace(face_id, vector, model, (0, 0, 100, 100), expiry(600))])
    return face_id


def train_and_wait(client, route: str, group_id: str, version: str = "v1.2") -> dict:
    response = call(client, "POST", f"{route}/{group_id}/train", version)
    assert response.status_code == 202 and response.content == b""
    status_url = response.headers["operation-Location"]
    assert status_url.endswith(f"/face/{version}/{route}/{group_id}/training")
    return final_status(client, status_url)


def final_status(client, status_url: str) -> dict:
    """Poll a training or operation status until it has finished."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.session.get(status_url, timeout=30).json()
        if status["status"] in ("succeeded", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError("the job did not finish")


@pytest.mark.parametrize("route", ROUTES)
def test_group_crud_and_paging(client, route):
    kind = KIND_OF[route]
    group_id = new_group(client, route, userData="ud", recognitionModel="recognition_04")
    again = call(client, "PUT", f"{route}/{group_id}", json={"name": "x"})
    assert error_code(again) == (409, f"{kind.label}Exists")

    got = call(client, "GET", f"{route}/{group_id}", params={"returnRecognitionModel": "true"})
    assert got.json() == {kind.id_field: group_id, "name": "family", "userData": "ud",
                          "recognitionModel": "recognition_04"}
    assert call(client, "PATCH", f"{route}/{group_id}", json={"name": "renamed"}).status_code \
        == 200
    assert call(client, "GET", f"{route}/{group_id}").json() == {
        kind.id_field: group_id, "name": "renamed", "userData": "ud"}

    more = sorted([group_id, new_group(client, route), new_group(client, route)])
    listed = [g[kind.id_field] for g in call(client, "GET", route).json()]
    assert [g for g in listed if g in more] == more
    page = call(client, "GET", route, params={"start": more[0], "top": 1}).json()
    assert [g[kind.id_field] for g in page] == [listed[listed.index(more[0]) + 1]]

    assert call(client, "DELETE", f"{route}/{group_id}").status_code == 200
    assert error_code(call(client, "GET", f"{route}/{group_id}")) == (404, f"{kind.label}NotFound")
    assert error_code(call(client, "DELETE", f"{route}/{group_id}")) == \
        (404, f"{kind.label}NotFound")


@pytest.mark.parametrize("path,method,body,expected", [
    ("Bad_Id", "PUT", {"name": "x"}, (400, "BadArgument")),
    ("g" * 65, "PUT", {"name": "x"}, (400, "BadArgument")),
    ("ok-id", "PUT", {}, (400, "BadArgument")),
    ("ok-id", "PUT", {"name": "x" * 129}, (400, "BadArgument")),
    ("ok-id", "PUT", {"name": "x", "userData": "u" * 16_385}, (400, "BadArgument")),
    ("ok-id", "PUT", {"name": "x", "recognitionModel": "recognition_09"}, (400, "BadArgument")),
    ("missing", "GET", None, (404, "LargePersonGroupNotFound")),
    ("missing", "PATCH", {"name": "x"}, (404, "LargePersonGroupNotFound")),
    ("missing/persons", "POST", {"name": "x"}, (404, "LargePersonGroupNotFound")),
    ("missing/training", "GET", None, (404, "LargePersonGroupNotFound")),
])
def test_group_errors(client, path, method, body, expected):
    assert error_code(call(client, method, f"largepersongroups/{path}", json=body)) == expected


def test_list_paging_arguments_are_checked(client):
    assert error_code(call(client, "GET", "persongroups", params={"top": 0})) == \
        (400, "BadArgument")
    assert error_code(call(client, "GET", "persongroups", params={"top": 1001})) == \
        (400, "BadArgument")
    assert error_code(call(client, "GET", "persongroups", params={"start": "s" * 65})) == \
        (400, "BadArgument")


@pytest.mark.parametrize("route", ROUTES)
def test_person_crud_and_paging(client, route):
    group_id = new_group(client, route)
    people = sorted(new_person(client, route, group_id, f"p{i}") for i in range(5))
    base = f"{route}/{group_id}/persons"
    assert [p["personId"] for p in call(client, "GET", base).json()] == people
    page = call(client, "GET", base, params={"start": people[1], "top": 2}).json()
    assert [p["personId"] for p in page] == people[2:4]

    person = people[0]
    face = enrol(route, group_id, person, unit(RNG.normal(size=shards.DIM)))
    assert call(client, "PATCH", f"{base}/{person}", json={"userData": "d"}).status_code == 200
    assert call(client, "GET", f"{base}/{person}").json()["persistedFaceIds"] == [face]
    assert call(client, "GET", f"{base}/{person}").json()["userData"] == "d"

    face_url = f"{base}/{person}/persistedfaces/{face}"
    assert call(client, "PATCH", face_url, json={"userData": "f" * 1024}).status_code == 200
    assert call(client, "GET", face_url).json() == {"persistedFaceId": face,
                                                    "userData": "f" * 1024}
    assert error_code(call(client, "PATCH", face_url, json={"userData": "f" * 1025})) == \
        (400, "BadArgument")
    assert error_code(call(client, "GET", f"{base}/{people[1]}/persistedfaces/{face}")) == \
        (404, "PersistedFaceNotFound")
    assert call(client, "DELETE", face_url).status_code == 200
    assert error_code(call(client, "GET", face_url)) == (404, "PersistedFaceNotFound")

    assert call(client, "DELETE", f"{base}/{person}").status_code == 200
    assert error_code(call(client, "GET", f"{base}/{person}")) == (404, "PersonNotFound")
    assert error_code(call(client, "GET", f"{base}/not-a-uuid")) == (404, "PersonNotFound")
    assert error_code(call(client, "POST", base, json={"name": ""})) == (400, "BadArgument")


def test_faces_per_person_limit(client):
    group_id = new_group(client, "persongroups")
    person = new_person(client, "persongroups", group_id)
    vector = unit(RNG.normal(size=shards.DIM))
    collection = repository.get_collection(KIND_OF["persongroups"], group_id)
    for _ in range(FACES_PER_PERSON):
        repository.attach_face(collection.storage_id, person, str(uuid.uuid4()))
    with pytest.raises(FaceError) as raised:
        enrol("persongroups", group_id, person, vector)
    assert (raised.value.status, raised.value.code) == (403, "QuotaExceeded")


def test_training_over_the_queue_then_identify(client):
    route = "largepersongroups"
    group_id = new_group(client, route)
    assert error_code(call(client, "GET", f"{route}/{group_id}/training")) == \
        (404, "LargePersonGroupNotTrained")
    centres = {new_person(client, route, group_id): unit(RNG.normal(size=shards.DIM))
               for _ in range(6)}
    for person, centre in centres.items():
        enrol(route, group_id, person, centre)
    probe = cached_face(next(iter(centres.values())))
    untrained = call(client, "POST", "identify", json={"faceIds": [probe],
                                                       "largePersonGroupId": group_id})
    assert error_code(untrained) == (400, "LargePersonGroupNotTrained")

    status = train_and_wait(client, route, group_id)
    assert status["status"] == "succeeded" and status["lastSuccessfulTrainingDateTime"]
    assert status["createdDateTime"] <= status["lastActionDateTime"]

    faces = {person: cached_face(centre) for person, centre in centres.items()}
    response = call(client, "POST", "identify", json={
        "faceIds": list(faces.values()), "largePersonGroupId": group_id,
        "maxNumOfCandidatesReturned": 3})
    assert response.status_code == 200, response.text
    for person, result in zip(faces, response.json()):
        assert result["faceId"] == faces[person]
        assert result["candidates"][0]["personId"] == person
        assert result["candidates"][0]["confidence"] > 0.9

    victim = next(iter(centres))
    assert call(client, "DELETE", f"{route}/{group_id}/persons/{victim}").status_code == 200
    after = call(client, "POST", "identify", json={"faceIds": [faces[victim]],
                                                   "largePersonGroupId": group_id}).json()
    assert victim not in [c["personId"] for c in after[0]["candidates"]]


def test_identify_defaults_and_threshold(client):
    route = "persongroups"
    group_id = new_group(client, route)
    centre = unit(RNG.normal(size=shards.DIM))
    people = [new_person(client, route, group_id) for _ in range(3)]
    # Three matches of falling confidence, all above the same-person threshold.
    threshold = get_engine().same_person_similarity
    for person, share in zip(people, (0.9, 0.5, 0.15)):
        enrol(route, group_id, person, at_similarity(centre, threshold + share * (1 - threshold)))
    train_and_wait(client, route, group_id)
    body = {"faceIds": [cached_face(centre)], "personGroupId": group_id,
            "confidenceThreshold": 0}
    everyone = call(client, "POST", "identify", json=body).json()[0]["candidates"]
    assert [c["personId"] for c in everyone] == people
    confidences = [c["confidence"] for c in everyone]
    assert confidences == sorted(confidences, reverse=True) and confidences[1] > confidences[2]
    assert len(call(client, "POST", "identify", "v1.0", json=body).json()[0]["candidates"]) == 1
    strict = call(client, "POST", "identify", json={**body,
                                                    "confidenceThreshold": confidences[1]})
    assert strict.json()[0]["candidates"] == everyone[:2]


@pytest.mark.parametrize("body,expected", [
    ({"personGroupId": "a", "largePersonGroupId": "b"},
     "PersonGroupIdAndLargePersonGroupIdBothNotNull"),
    ({}, "PersonGroupIdAndLargePersonGroupIdBothNull"),
    ({"personGroupId": "a", "personIds": ["*"]},
     "IncompatibleIdentificationScopeParametersCombination"),
    ({"personGroupId": "nope"}, "PersonGroupNotFound"),
    ({"personGroupId": "a", "faceIds": []}, "BadArgument"),
    ({"personGroupId": "a", "faceIds": [str(uuid.uuid4()) for _ in range(11)]}, "BadArgument"),
    ({"personGroupId": "a", "maxNumOfCandidatesReturned": 101}, "BadArgument"),
    ({"personGroupId": "a", "confidenceThreshold": 1.5}, "BadArgument"),
])
def test_identify_errors(client, body, expected):
    request = {"faceIds": [str(uuid.uuid4())], **body}
    assert error_code(call(client, "POST", "identify", json=request)) == (400, expected)


def test_identify_checks_faces_and_models(client):
    group_id = new_group(client, "persongroups", recognitionModel="recognition_04")
    body = {"personGroupId": group_id}
    missing = call(client, "POST", "identify", json={**body, "faceIds": [str(uuid.uuid4())]})
    assert error_code(missing) == (400, "FaceNotFound")
    other_model = cached_face(unit(RNG.normal(size=shards.DIM)), "recognition_01")
    mismatch = call(client, "POST", "identify", json={**body, "faceIds": [other_model]})
    assert error_code(mismatch) == (400, "BadArgument")
    assert mismatch.json()["error"]["message"] == "'recognitionModel' is incompatible."


FAMILY = {"Dad": ("Dad1", "Dad2", "Dad3"), "Mom": ("Mom1", "Mom2"), "Son": ("Son1", "Son2"),
          "Daughter": ("Daughter1", "Daughter2", "Daughter3")}


def add_photo(client, route: str, group_id: str, person: str, data: bytes,
              version: str = "v1.2", **params):
    return call(client, "POST", f"{route}/{group_id}/persons/{person}/persistedfaces", version,
                data=data, params=params, headers={"Content-Type": "application/octet-stream"})


@pytest.mark.parametrize("route,version", [("largepersongroups", "v1.2"),
                                           ("persongroups", "v1.0")])
def test_family_photos_are_identified(client, faces_dir, route, version):
    """The Azure quickstart: enrol the Family1 photos, train, identify identification1.jpg."""
    folder, scope = faces_dir / "azure-samples", KIND_OF[route].id_field
    group_id = new_group(client, route, version, recognitionModel="recognition_04")
    persons = {}
    for name, photos in FAMILY.items():
        persons[name] = new_person(client, route, group_id, name, version)
        for photo in photos:
            added = add_photo(client, route, group_id, persons[name],
                              (folder / f"Family1-{photo}.jpg").read_bytes(), version,
                              detectionModel="detection_03", userData=photo)
            assert added.status_code == 200, added.text
    assert len(call(client, "GET", f"{route}/{group_id}/persons/{persons['Dad']}",
                    version).json()["persistedFaceIds"]) == 3
    assert train_and_wait(client, route, group_id, version)["status"] == "succeeded"

    crowd = client.detect((folder / "identification1.jpg").read_bytes(), version,
                          recognitionModel="recognition_04").json()
    response = call(client, "POST", "identify", version, json={
        "faceIds": [face["faceId"] for face in crowd], scope: group_id})
    assert response.status_code == 200, response.text
    best = [result["candidates"][0]["personId"] for result in response.json()]
    assert sorted(best) == sorted(persons.values())

    # Verify face-to-person: each crowd face is its identified person, and not another one.
    for face, person in zip(crowd, best):
        other = next(p for p in persons.values() if p != person)
        for candidate, identical in ((person, True), (other, False)):
            verdict = call(client, "POST", "verify", version, json={
                "faceId": face["faceId"], "personId": candidate, scope: group_id})
            assert verdict.status_code == 200, verdict.text
            assert verdict.json()["isIdentical"] is identical


def test_add_face_image_errors(client, faces_dir):
    folder, route = faces_dir / "azure-samples", "persongroups"
    group_id = new_group(client, route)
    person = new_person(client, route, group_id)
    crowd = (folder / "identification1.jpg").read_bytes()
    several = add_photo(client, route, group_id, person, crowd)
    assert error_code(several) == (400, "InvalidImage")
    assert several.json()["error"]["message"].startswith("There is more than 1 face")
    empty_corner = add_photo(client, route, group_id, person, crowd, targetFace="0,0,40,40")
    assert error_code(empty_corner) == (400, "InvalidImage")
    assert empty_corner.json()["error"]["message"].startswith("No face detected")
    for target in ("1,2,3", "a,b,c,d", "0,0,99999,10"):
        assert error_code(add_photo(client, route, group_id, person, crowd,
                                    targetFace=target)) == (400, "BadArgument")
    assert error_code(add_photo(client, route, group_id, person, crowd,
                                detectionModel="detection_09")) == (400, "BadArgument")
    assert error_code(add_photo(client, route, group_id, person, b"not an image" * 100)) == \
        (400, "InvalidImage")
    assert call(client, "GET", f"{route}/{group_id}/persons/{person}").json()[
        "persistedFaceIds"] == []


def person_in_shard_of(client, route: str, group_id: str, other: str) -> str:
    """A new person whose embeddings share a shard with `other`'s (persons are made until one
    hashes there: about one in `shard_count`)."""
    shard_count = KIND_OF[route].shard_count
    for _ in range(40 * shard_count):
        person = new_person(client, route, group_id)
        if shards.shard_of(person, shard_count) == shards.shard_of(other, shard_count):
            return person
    raise AssertionError("no person hashed to the shard")


@pytest.mark.parametrize("route", ROUTES)
def test_a_deleted_face_takes_no_other_persons_face_with_it(client, folder, route):
    """Issue 12's person-group twin: Dad and Mom share a shard; deleting Mom's face, then
    adding another one, must leave Dad identifiable and verifiable."""
    scope = KIND_OF[route].id_field
    group_id = new_group(client, route, recognitionModel="recognition_04")
    dad = new_person(client, route, group_id, "Dad")
    mom = person_in_shard_of(client, route, group_id, dad)
    photo = {name: (folder / f"Family1-{name}.jpg").read_bytes()
             for name in ("Dad1", "Dad3", "Mom1", "Mom2", "Dad2")}
    for name in ("Dad1", "Dad3"):
        assert add_photo(client, route, group_id, dad, photo[name]).status_code == 200
    mom1 = add_photo(client, route, group_id, mom, photo["Mom1"]).json()["persistedFaceId"]
    assert call(client, "DELETE",
                f"{route}/{group_id}/persons/{mom}/persistedfaces/{mom1}").status_code == 200
    assert add_photo(client, route, group_id, mom, photo["Mom2"]).status_code == 200
    assert train_and_wait(client, route, group_id)["status"] == "succeeded"

    storage_id = repository.get_collection(KIND_OF[route], group_id).storage_id
    records, _ = shards.read(storage_id, shards.shard_of(dad, KIND_OF[route].shard_count))
    owners = [shards.uuid_text(owner) for owner in records["owner"]]
    assert (owners.count(dad), owners.count(mom)) == (2, 1)
    dad2 = client.detect(photo["Dad2"], recognitionModel="recognition_04").json()[0]["faceId"]
    identified = call(client, "POST", "identify", json={"faceIds": [dad2], scope: group_id})
    best = identified.json()[0]["candidates"][0]
    assert best["personId"] == dad and best["confidence"] >= 0.5, identified.text
    verdict = call(client, "POST", "verify", json={"faceId": dad2, "personId": dad,
                                                   scope: group_id}).json()
    assert verdict["isIdentical"] and verdict["confidence"] >= 0.5, verdict
