"""The four collection kinds: their names on the wire, limits and error codes (contract
§3.3–§3.6, §6, §8). Everything else in the package is the same code for every kind."""
from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import FaceError, not_found

_ID = re.compile(r"[a-z0-9-_]{1,64}")
FACES_PER_PERSON = 248
# Longest name, userData of a collection or person, userData of a persisted face.
MAX_NAME, MAX_USER_DATA, MAX_FACE_USER_DATA = 128, 16_384, 1_024


def valid_id(value: object) -> bool:
    """The contract's id pattern, on the whole value (`re.match` with `$` would accept a
    trailing newline)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Kind:
    name: str              # 'personGroup' (also the Table PartitionKey of the collection)
    route: str             # 'persongroups'
    id_field: str          # 'personGroupId'
    label: str             # 'PersonGroup', the prefix of the error codes
    words: str             # 'person group', for messages
    has_persons: bool      # groups hold persons with faces; lists hold faces directly
    needs_training: bool   # face lists are searched as they are, without training
    max_members: int       # persons per group or faces per list
    shard_count: int       # embedding shards (Blob) per collection

    def check_id(self, collection_id: str, status: int = 404) -> None:
        # An invalid id can name no collection, so Azure answers "not found" for it.
        if not valid_id(collection_id):
            raise self.not_found(collection_id, status)

    def _error(self, code: str, collection_id: str, what: str, status: int) -> FaceError:
        return FaceError(f"{self.label}{code}",
                         f"{self.words.capitalize()} '{collection_id}' {what}.", status)

    def not_found(self, collection_id: str, status: int = 404) -> FaceError:
        return self._error("NotFound", collection_id, "is not found", status)

    def exists(self, collection_id: str) -> FaceError:
        return self._error("Exists", collection_id, "already exists", 409)

    def not_trained(self, collection_id: str, status: int = 400) -> FaceError:
        return self._error("NotTrained", collection_id, "not trained", status)

    def training_not_finished(self, collection_id: str) -> FaceError:
        return self._error("TrainingNotFinished", collection_id, "is under training", 409)


PERSON_GROUP = Kind("personGroup", "persongroups", "personGroupId", "PersonGroup",
                    "person group", True, True, 10_000, 64)
LARGE_PERSON_GROUP = Kind("largePersonGroup", "largepersongroups", "largePersonGroupId",
                          "LargePersonGroup", "large person group", True, True, 1_000_000, 256)
FACE_LIST = Kind("faceList", "facelists", "faceListId", "FaceList",
                 "face list", False, False, 1_000, 1)
LARGE_FACE_LIST = Kind("largeFaceList", "largefacelists", "largeFaceListId", "LargeFaceList",
                       "large face list", False, True, 1_000_000, 256)

# The Person Directory: one collection of person rows (id PERSONS) and one per recognition
# model holding the faces (id = the model's name), searched as they are (no training).
PERSON_DIRECTORY = Kind("personDirectory", "persons", "personId", "PersonDirectory",
                        "person directory", True, False, 75_000_000, 256)
DYNAMIC_PERSON_GROUP = Kind("dynamicPersonGroup", "dynamicpersongroups",
                            "dynamicPersonGroupId", "DynamicPersonGroup", "dynamic person group",
                            True, False, 75_000_000, 1)

KINDS = {kind.name: kind for kind in (PERSON_GROUP, LARGE_PERSON_GROUP, FACE_LIST,
                                      LARGE_FACE_LIST)}


def person_not_found(person_id: str, status: int = 404) -> FaceError:
    return FaceError("PersonNotFound", f"Person '{person_id}' is not found.", status)


def face_not_found(face_id: str) -> FaceError:
    return not_found("PersistedFaceNotFound", f"Persisted face '{face_id}' is not found.")

