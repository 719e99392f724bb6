"""Dynamic person groups (contract §3.7, §11): named sets of directory persons, used to scope
identify. A group is a collection of kind DYNAMIC_PERSON_GROUP (its row: name, userData); its
members are kept by memberships.py. Member changes and deletion are operations
(shared/operations.py) finished on the queue by `WORK`."""
from __future__ import annotations

from typing import Any

from shared import operations
from shared.collections import administration, directory, memberships, repository
from shared.collections.kinds import DYNAMIC_PERSON_GROUP as KIND
from shared.errors import FaceError


def _check_persons(person_ids: list[str]) -> None:
    for person_id in person_ids:
        directory.get_person(person_id)


def _member_change(group_id: str, storage_id: str, add: list[str], remove: list[str]) -> str:
    return operations.start({"op": "changeMembers", "group": group_id, "storage": storage_id,
                             "add": add, "remove": remove})


def create(group_id: str, name: str, user_data: str | None, add: list[str]) -> str | None:
    """Create the group; the operationId if persons are to be added, else None (done)."""
    _check_persons(add)
    group = repository.create_collection(KIND, group_id, name, user_data, "")
    return _member_change(group_id, group.storage_id, add, []) if add else None


def get(group_id: str) -> dict:
    return administration.get_collection(KIND, group_id, False)


def list_groups(start: str | None, top: int) -> list[dict]:
    return administration.list_collections(KIND, start, top, False)


def update(group_id: str, add: list[str], remove: list[str], name: Any = administration.KEEP,
           user_data: Any = administration.KEEP) -> str | None:
    """Change the name / userData now, queue member changes: their operationId, or None."""
    group = repository.get_collection(KIND, group_id)
    _check_persons(add)
    if name is not administration.KEEP or user_data is not administration.KEEP:
        administration.update_collection(KIND, group_id, name, user_data)
    return _member_change(group_id, group.storage_id, add, remove) if add or remove else None


def delete(group_id: str) -> str:
    """The group is gone at once; the queue drops its references and rows."""
    group = repository.get_collection(KIND, group_id)
    repository.delete_collection(KIND, group_id)
    return operations.start({"op": "deleteGroup", "group": group_id,
                             "storage": group.storage_id})


def persons(group_id: str, start: str | None, top: int) -> dict:
    group = repository.get_collection(KIND, group_id)
    return {"personIds": memberships.members(group.storage_id, start, top)}


def references(person_id: str, start: str | None, top: int) -> dict:
    directory.get_person(person_id)
    return {"dynamicPersonGroupIds": memberships.groups_of(person_id, start, top)}


def identify(face_ids: list[str], group_id: str, top: int, threshold: float | None) -> list[dict]:
    """Identify among the group's members (an unknown group: 400 DynamicPersonGroupNotFound)."""
    group = repository.get_collection(KIND, group_id, status=400)
    return directory.identify(face_ids, memberships.members(group.storage_id), top, threshold)


# --- the queued work -----------------------------------------------------------------------

def _change_members(message: dict) -> None:
    try:
        repository.get_collection(KIND, message["group"])
    except FaceError:
        return                  # deleted meanwhile: its rows are being purged
    memberships.add(message["group"], message["storage"], message["add"])
    # A person deleted since the request must not stay a member.
    gone = [person for person in message["add"] if not directory.person_exists(person)]
    memberships.remove(message["group"], message["storage"], message["remove"] + gone)


def _delete_group(message: dict) -> None:
    memberships.forget_group(message["group"], message["storage"])
    repository.purge(message["storage"])


WORK = {"changeMembers": _change_members, "deleteGroup": _delete_group}
