"""One enrollment blob `<largePersonGroupId>/<person>/<image file>` -> a persisted face of that
person, or a recorded rejection.

- The large person group is created when missing (named by its id, recognition model
  FACE_ENROLLMENT_RECOGNITION_MODEL).
- The face rule: among the detected faces, those usable for recognition (qualityForRecognition
  not low, size within the add-face limits) count. Exactly one usable face is enrolled, so
  small blurred faces in the background do not stop a portrait; two or more usable faces are
  ambiguous (severalFaces); faces that are all low quality are lowQuality; none is noFace.
- Idempotent: a content row per (group, person, SHA-256 of the bytes) in Table
  `enrollmentindex` is claimed before the face is stored and then names the face. The same
  blob delivered again, or the same bytes under another name for the same person, finds it
  and reports a duplicate with the earlier face. A claim left by a run that died is taken
  over by a retry of the same blob, or by any blob after CLAIM_TIMEOUT.
- Persons are found by external id (the folder name) through a row in the same table, created
  with a conditional insert so concurrent blobs of one new person create one person.

Rejections are outcomes, not errors: the function succeeds and they are not retried. Anything
else raises, so the runtime retries the blob and finally records it as poison."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import numpy as np
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import UpdateMode

from shared import clock, settings
from shared.collections import administration, faces, repository
from shared.collections.kinds import LARGE_PERSON_GROUP, MAX_NAME, valid_id
from shared.model_names import RECOGNITION_MODELS
from shared.collections.repository import Collection
from shared.enrollment import batches, report
from shared.enrollment.report import DUPLICATE, ENROLLED, REJECTED, Outcome
from shared.errors import FaceError
from shared.inference import pipeline
from shared.storage import clients, tables

KIND = LARGE_PERSON_GROUP
INDEX = "enrollmentindex"
# host.json functionTimeout: no live run holds a claim longer.
CLAIM_TIMEOUT = timedelta(minutes=30)

INVALID_PATH, UNREADABLE, NO_FACE = "invalidPath", "unreadableImage", "noFace"
SEVERAL_FACES, LOW_QUALITY, LIMIT_REACHED = "severalFaces", "lowQuality", "limitReached"


class Rejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class Busy(Exception):
    """Another blob with the same bytes for the same person is being enrolled now: retry."""


@dataclass(frozen=True)
class Target:
    group_id: str
    person: str         # the external id: the person folder's name
    path: str           # the blob's path under the group folder: `<person>/<file>`


def parse(name: str) -> Target:
    """The target of a blob name (relative to the container); Rejected if it is not one."""
    group_id, _, path = name.partition("/")
    person, _, file = path.partition("/")
    if not (valid_id(group_id) and person and file and "/" not in file):
        raise Rejected(INVALID_PATH, "Expected <largePersonGroupId>/<person>/<image file>, with "
                                     "a group id of lower-case letters, digits, '-' and '_'.")
    if len(person) > MAX_NAME:
        raise Rejected(INVALID_PATH, f"The person folder's name is longer than "
                                     f"{MAX_NAME} characters.")
    return Target(group_id, person, path)


def enroll(name: str, data: bytes) -> Outcome:
    """Enroll the blob `name` (relative to the container) and record its outcome."""
    group_id, _, path = name.partition("/")
    try:
        outcome = _enroll(parse(name), data)
    except Rejected as rejected:
        outcome = Outcome(REJECTED, rejected.reason, rejected.detail)
    except FaceError as err:
        if err.code != "QuotaExceeded":
            raise
        outcome = Outcome(REJECTED, LIMIT_REACHED, err.message)
    person = path.partition("/")[0] if "/" in path else ""
    report.record(group_id, path or name, person, outcome)
    return outcome


def _enroll(target: Target, data: bytes) -> Outcome:
    collection = _group(target.group_id)
    claim = _claim(collection.storage_id, target, hashlib.sha256(data).hexdigest())
    if claim.face_id:
        return Outcome(DUPLICATE, detail="The same image was enrolled for this person before.",
                       person_id=claim.person_id, face_id=claim.face_id)
    try:
        embedding = usable_face(data)
        person_id = _person(collection, target.person)
        face_id = faces.store_face(collection, person_id, embedding, target.path)
    except BaseException:
        claim.release()
        raise
    claim.complete(person_id, face_id)
    batches.touch(target.group_id)   # before the report row: a reader who sees it sees this
    return Outcome(ENROLLED, person_id=person_id, face_id=face_id)


def _group(group_id: str) -> Collection:
    try:
        return repository.get_collection(KIND, group_id)
    except FaceError as err:
        if err.status != 404:
            raise
    model = settings.get("FACE_ENROLLMENT_RECOGNITION_MODEL")
    if model not in RECOGNITION_MODELS:
        raise ValueError(f"FACE_ENROLLMENT_RECOGNITION_MODEL {model!r} is not a recognition model")
    try:
        administration.create_collection(KIND, group_id, group_id, None, model)
    except FaceError as err:
        if err.status != 409:
            raise   # 409: another blob created it first
    return repository.get_collection(KIND, group_id)


# --- the face ------------------------------------------------------------------------------

def usable_face(data: bytes) -> np.ndarray:
    """The embedding of the one face usable for recognition (see the face rule above)."""
    try:
        found = pipeline.find_faces(data)
    except FaceError as err:
        raise Rejected(UNREADABLE, err.message) from None
    if not found.faces:
        raise Rejected(NO_FACE, "No face was detected.")
    usable = found.where(lambda face: pipeline.fits(face)
                         and found.quality(face).recognition != "low")
    if len(usable.faces) > 1:
        raise Rejected(SEVERAL_FACES, f"{len(usable.faces)} faces are good enough for "
                                      "recognition; exactly one is expected.")
    if not usable.faces:
        raise Rejected(LOW_QUALITY, f"{len(found.faces)} face(s) detected, none of sufficient "
                                    "quality for recognition.")
    return usable.embed()[0]


# --- index rows: persons by external id, enrolled contents ----------------------------------

def _key(text: str) -> str:
    return quote(text, safe="")


def _row(storage_id: str, row_key: str):
    return tables.entity_or_none(INDEX, storage_id, row_key)


def _exists(lookup, *args) -> bool:
    try:
        lookup(*args)
        return True
    except FaceError:
        return False


def _person(collection: Collection, external_id: str) -> str:
    """The id of the person with this external id, created if missing (or deleted since)."""
    sid, row_key = collection.storage_id, "person_" + _key(external_id)
    table = clients.table(INDEX)

    def attempt() -> str:
        row = _row(sid, row_key)
        if row is not None and _exists(repository.get_person, sid, row["PersonId"]):
            return row["PersonId"]
        person_id = administration.create_person(KIND, collection.collection_id, external_id,
                                                 external_id)["personId"]
        entity = {"PartitionKey": sid, "RowKey": row_key, "PersonId": person_id}
        try:
            if row is None:
                table.create_entity(entity)
            else:
                table.update_entity(entity, mode=UpdateMode.REPLACE, **tables.if_unchanged(row))
        except (ResourceExistsError, ResourceModifiedError):
            faces.delete_person(KIND, collection.collection_id, person_id)  # lost the race
            raise
        return person_id
    return tables.retry_on_conflict(attempt)


@dataclass
class Claim:
    storage_id: str
    row_key: str
    etag: str = ""          # set while this run holds the claim
    person_id: str = ""
    face_id: str = ""       # set when the content was enrolled before

    def complete(self, person_id: str, face_id: str) -> None:
        clients.table(INDEX).update_entity(
            {"PartitionKey": self.storage_id, "RowKey": self.row_key, "PersonId": person_id,
             "FaceId": face_id}, mode=UpdateMode.MERGE)

    def release(self) -> None:
        try:
            clients.table(INDEX).delete_entity(
                self.storage_id, self.row_key, etag=self.etag,
                match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            pass    # taken over meanwhile: no longer ours to delete


def _claim(storage_id: str, target: Target, digest: str) -> Claim:
    """This run's claim on enrolling the content, or the earlier enrollment of it."""
    row_key = f"face_{_key(target.person)}_{digest}"
    table = clients.table(INDEX)
    fresh = {"PartitionKey": storage_id, "RowKey": row_key, "Blob": target.path,
             "PersonId": "", "FaceId": "", "ClaimedAt": clock.now()}

    def attempt() -> Claim:
        row = _row(storage_id, row_key)
        if row is None:
            return Claim(storage_id, row_key, table.create_entity(fresh)["etag"])
        if row["FaceId"] and _exists(repository.get_face, storage_id, row["FaceId"]):
            return Claim(storage_id, row_key, person_id=row["PersonId"], face_id=row["FaceId"])
        if not row["FaceId"] and row["Blob"] != target.path \
                and clock.now() - row["ClaimedAt"] < CLAIM_TIMEOUT:
            raise Busy(f"{row['Blob']} with the same content is being enrolled")
        # A dead run's claim, or a face deleted since: enroll the content again.
        metadata = table.update_entity(fresh, mode=UpdateMode.REPLACE,
                                       **tables.if_unchanged(row))
        return Claim(storage_id, row_key, metadata["etag"])
    return tables.retry_on_conflict(attempt)
