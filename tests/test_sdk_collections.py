"""The Azure quickstarts through the official SDK (azure-ai-vision-face 1.0.0b2,
FaceAdministrationClient + FaceClient) against the local service, on the Azure sample photos:
a large person group (train, identify, verify face-to-person) and a large face list (train,
find similar in both modes)."""
from __future__ import annotations

import time
import uuid

from azure.ai.vision.face.models import FindSimilarMatchMode

from tests.service import DETECTION, RECOGNITION
from tests.service import sdk_detect as detect

FAMILY = {"Dad": ("Dad1", "Dad3"), "Mom": ("Mom1", "Mom2"), "Son": ("Son1", "Son2"),
          "Daughter": ("Daughter1", "Daughter2", "Daughter3")}


def photo(folder, name: str) -> bytes:
    return (folder / f"Family1-{name}.jpg").read_bytes()


def test_large_person_group_quickstart(clients, folder):
    admin, face = clients
    group_id = f"family-{uuid.uuid4().hex[:8]}"
    admin.large_person_group.create(group_id, name="Family 1", recognition_model=RECOGNITION)
    persons = {}
    for name, photos in FAMILY.items():
        persons[name] = admin.large_person_group.create_person(group_id, name=name).person_id
        for picture in photos:
            admin.large_person_group.add_face(group_id, persons[name], photo(folder, picture),
                                              detection_model=DETECTION)
    admin.large_person_group.begin_train(group_id, polling_interval=0.2).result()
    assert admin.large_person_group.get_training_status(group_id).status == "succeeded"

    crowd = detect(face, (folder / "identification1.jpg").read_bytes())
    results = face.identify_from_large_person_group(face_ids=crowd,
                                                    large_person_group_id=group_id)
    best = {result.face_id: result.candidates[0].person_id for result in results}
    assert sorted(best.values()) == sorted(persons.values())

    [dad] = detect(face, (folder / "Family1-Dad2.jpg").read_bytes())
    same = face.verify_from_large_person_group(face_id=dad, large_person_group_id=group_id,
                                               person_id=persons["Dad"])
    other = face.verify_from_large_person_group(face_id=dad, large_person_group_id=group_id,
                                                person_id=persons["Mom"])
    assert same.is_identical and same.confidence >= 0.5
    assert not other.is_identical and other.confidence < 0.5
    admin.large_person_group.delete(group_id)


def test_large_face_list_find_similar(clients, folder):
    admin, face = clients
    list_id = f"samples-{uuid.uuid4().hex[:8]}"
    admin.large_face_list.create(list_id, name="samples", recognition_model=RECOGNITION)
    owner = {}
    for photos in FAMILY.values():
        for picture in photos:
            added = admin.large_face_list.add_face(list_id, photo(folder, picture),
                                                   detection_model=DETECTION, user_data=picture)
            owner[added.persisted_face_id] = picture
    admin.large_face_list.begin_train(list_id, polling_interval=0.2).result()

    [query] = detect(face, (folder / "findsimilar.jpg").read_bytes())
    same_person = face.find_similar_from_large_face_list(
        face_id=query, large_face_list_id=list_id, mode=FindSimilarMatchMode.MATCH_PERSON)
    assert {owner[match.persisted_face_id] for match in same_person} == {"Dad1", "Dad3"}

    ranked = face.find_similar_from_large_face_list(
        face_id=query, large_face_list_id=list_id, mode=FindSimilarMatchMode.MATCH_FACE,
        max_num_of_candidates_returned=5)
    confidences = [match.confidence for match in ranked]
    assert len(ranked) == 5 and confidences == sorted(confidences, reverse=True)
    assert {owner[match.persisted_face_id] for match in ranked[:2]} == {"Dad1", "Dad3"}
    admin.large_face_list.delete(list_id)


def test_begin_train_result_is_quick(clients, folder):
    """The poller honours Retry-After: 1 (its default wait is 30 s)."""
    admin, _ = clients
    group_id = f"quick-{uuid.uuid4().hex[:8]}"
    admin.large_person_group.create(group_id, name="quick", recognition_model=RECOGNITION)
    person = admin.large_person_group.create_person(group_id, name="Dad").person_id
    admin.large_person_group.add_face(group_id, person, photo(folder, "Dad1"),
                                      detection_model=DETECTION)
    started = time.monotonic()
    admin.large_person_group.begin_train(group_id).result()
    assert time.monotonic() - started < 5
    assert admin.large_person_group.get_training_status(group_id).status == "succeeded"
    admin.large_person_group.delete(group_id)
