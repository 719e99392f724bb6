"""Large face lists through the official SDK (azure-ai-vision-face 1.0.0b2; it has no FaceList
client) against the local service, on the Azure sample photos: every labelled single-face
photo in one list, the administration surface, search after training, and the contract's
errors as the SDK raises them. The Family1-only quickstart is in test_sdk_collections.py."""
from __future__ import annotations

import uuid

import pytest
from azure.ai.vision.face.models import FindSimilarMatchMode
from azure.core.exceptions import HttpResponseError

from tests.image_server import ImageServer, send
from tests.service import DETECTION, RECOGNITION
from tests.service import sdk_detect as detect

# Every photo of one known person (labels.tsv); findsimilar.jpg is a copy of Family1-Dad2.
SINGLE_FACES = ("Family1-Dad1", "Family1-Dad2", "Family1-Dad3", "Family1-Mom1", "Family1-Mom2",
                "Family1-Son1", "Family1-Son2", "Family1-Daughter1", "Family1-Daughter2",
                "Family1-Daughter3", "Family2-Lady1", "Family2-Lady2", "Family2-Man1",
                "Family2-Man2")
DADS = {"Family1-Dad1", "Family1-Dad2", "Family1-Dad3"}


def error_code(call) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as raised:
        call()
    return raised.value.status_code, raised.value.error.code


@pytest.fixture(scope="module")
def samples(clients, folder) -> tuple[str, dict[str, str]]:
    """A trained large face list of SINGLE_FACES: (largeFaceListId, {persistedFaceId: photo})."""
    admin, _ = clients
    list_id = f"samples-{uuid.uuid4().hex[:8]}"
    admin.large_face_list.create(list_id, name="samples", user_data="azure samples",
                                 recognition_model=RECOGNITION)
    owner = {}
    for name in SINGLE_FACES:
        added = admin.large_face_list.add_face(list_id, (folder / f"{name}.jpg").read_bytes(),
                                               detection_model=DETECTION, user_data=name)
        owner[added.persisted_face_id] = name
    admin.large_face_list.begin_train(list_id, polling_interval=0.2).result()
    yield list_id, owner
    admin.large_face_list.delete(list_id)


@pytest.fixture(scope="module")
def query(clients, folder) -> str:
    [face_id] = detect(clients[1], (folder / "findsimilar.jpg").read_bytes())
    return face_id


def test_find_similar_in_both_modes(clients, samples, query):
    _, face = clients
    list_id, owner = samples
    same_person = face.find_similar_from_large_face_list(
        face_id=query, large_face_list_id=list_id, mode=FindSimilarMatchMode.MATCH_PERSON)
    assert {owner[match.persisted_face_id] for match in same_person} == DADS
    assert owner[same_person[0].persisted_face_id] == "Family1-Dad2"    # the same photo

    ranked = face.find_similar_from_large_face_list(
        face_id=query, large_face_list_id=list_id, mode=FindSimilarMatchMode.MATCH_FACE,
        max_num_of_candidates_returned=6)
    confidences = [match.confidence for match in ranked]
    assert len(ranked) == 6 and confidences == sorted(confidences, reverse=True)
    assert {owner[match.persisted_face_id] for match in ranked[:3]} == DADS


def test_administration_surface(clients, samples):
    admin, _ = clients
    list_id, owner = samples
    lists = admin.large_face_list
    got = lists.get(list_id, return_recognition_model=True)
    assert (got.name, got.user_data, got.recognition_model) == \
        ("samples", "azure samples", RECOGNITION)
    lists.update(list_id, name="renamed")
    assert lists.get(list_id).name == "renamed"
    assert list_id in {item.large_face_list_id for item in lists.get_large_face_lists()}
    after = lists.get_large_face_lists(start=list_id, top=1000)
    assert all(item.large_face_list_id > list_id for item in after)

    first = lists.get_faces(list_id, top=5)
    rest = lists.get_faces(list_id, start=first[-1].persisted_face_id)
    assert [face.persisted_face_id for face in first + rest] == sorted(owner)
    assert {face.persisted_face_id: face.user_data for face in first + rest} == owner
    some_face = first[0].persisted_face_id
    lists.update_face(list_id, some_face, user_data="patched")
    assert lists.get_face(list_id, some_face).user_data == "patched"
    lists.update_face(list_id, some_face, user_data=owner[some_face])
    assert lists.get_training_status(list_id).status == "succeeded"


def test_new_faces_wait_for_training_deleted_faces_go_at_once(clients, folder, query,
                                                             monkeypatch):
    admin, face = clients
    list_id = f"dads-{uuid.uuid4().hex[:8]}"
    admin.large_face_list.create(list_id, name="dads", recognition_model=RECOGNITION)
    dad1 = admin.large_face_list.add_face(list_id, (folder / "Family1-Dad1.jpg").read_bytes(),
                                          detection_model=DETECTION).persisted_face_id
    admin.large_face_list.begin_train(list_id, polling_interval=0.2).result()

    server = ImageServer()
    server.routes["/dad3.jpg"] = send((folder / "Family1-Dad3.jpg").read_bytes())
    monkeypatch.setenv("FACE_URL_ALLOWLIST", "127.0.0.1/32")
    try:
        dad3 = admin.large_face_list.add_face_from_url(
            list_id, url=server.url("/dad3.jpg"), detection_model=DETECTION).persisted_face_id
    finally:
        server.close()

    def found() -> list[str]:
        return [match.persisted_face_id for match in face.find_similar_from_large_face_list(
            face_id=query, large_face_list_id=list_id)]
    assert found() == [dad1]                         # the last training did not have Dad3
    admin.large_face_list.begin_train(list_id, polling_interval=0.2).result()
    assert sorted(found()) == sorted([dad1, dad3])
    admin.large_face_list.delete_face(list_id, dad1)
    assert found() == [dad3]                         # gone before any retraining
    admin.large_face_list.delete(list_id)
    assert error_code(lambda: admin.large_face_list.get(list_id)) == \
        (404, "LargeFaceListNotFound")


def test_errors_as_the_sdk_raises_them(clients, folder, query):
    admin, face = clients
    lists = admin.large_face_list
    list_id = f"errors-{uuid.uuid4().hex[:8]}"
    lists.create(list_id, name="errors", recognition_model=RECOGNITION)
    assert error_code(lambda: lists.create(list_id, name="again")) == \
        (409, "LargeFaceListExists")
    assert error_code(lambda: lists.get_training_status(list_id)) == \
        (404, "LargeFaceListNotTrained")
    assert error_code(lambda: face.find_similar_from_large_face_list(
        face_id=query, large_face_list_id=list_id)) == (400, "LargeFaceListNotTrained")
    assert error_code(lambda: lists.update(list_id)) == (400, "BadArgument")
    assert error_code(lambda: lists.get_face(list_id, str(uuid.uuid4()))) == \
        (404, "PersistedFaceNotFound")
    assert error_code(lambda: lists.add_face(
        list_id, (folder / "identification1.jpg").read_bytes())) == (400, "InvalidImage")
    assert error_code(lambda: lists.get_faces(list_id, top=0)) == (400, "BadArgument")
    lists.delete(list_id)
    assert error_code(lambda: face.find_similar_from_large_face_list(
        face_id=query, large_face_list_id=list_id)) == (400, "LargeFaceListNotFound")
