"""Dynamic person groups over HTTP (contract §3.7, §11): CRUD, members, and a person's
references; member changes and deletion answer 202 with an operation."""
from __future__ import annotations

import azure.functions as func

from functions import arguments
from functions.api import ApiRequest, Reply, operation
from functions.directory import accepted, directory_version
from functions.person_groups import changes, group_id, paging, person_id
from shared.collections import dynamic_groups
from shared.collections.kinds import DYNAMIC_PERSON_GROUP, MAX_NAME, MAX_USER_DATA, valid_id
from shared.errors import bad_argument

bp = func.Blueprint()
GROUP = "dynamicpersongroups/{groupId}"
MAX_PERSON_CHANGES = 10_000


def _person_ids(body: dict, name: str) -> list[str]:
    if body.get(name) is None:
        return []
    return arguments.uuid_list(body, name, 1, MAX_PERSON_CHANGES)


def _done_or_accepted(req: ApiRequest, operation_id: str | None) -> Reply | None:
    return None if operation_id is None else accepted(req, operation_id)


@operation(bp, GROUP, ["PUT"])
def create_dynamic_group(req: ApiRequest) -> Reply | None:
    directory_version(req)
    if not valid_id(group_id(req)):
        raise bad_argument(f"Invalid argument {DYNAMIC_PERSON_GROUP.id_field}.")
    body = req.json()
    return _done_or_accepted(req, dynamic_groups.create(
        group_id(req), arguments.text_field(body, "name", MAX_NAME, True),
        arguments.text_field(body, "userData", MAX_USER_DATA), _person_ids(body, "addPersonIds")))


@operation(bp, GROUP, ["GET"])
def get_dynamic_group(req: ApiRequest) -> dict:
    directory_version(req)
    return dynamic_groups.get(group_id(req))


@operation(bp, "dynamicpersongroups", ["GET"])
def list_dynamic_groups(req: ApiRequest) -> list[dict]:
    directory_version(req)
    return dynamic_groups.list_groups(*paging(req))


@operation(bp, GROUP, ["PATCH"])
def update_dynamic_group(req: ApiRequest) -> Reply | None:
    directory_version(req)
    body = req.json()
    add, remove = _person_ids(body, "addPersonIds"), _person_ids(body, "removePersonIds")
    names = changes(DYNAMIC_PERSON_GROUP, body) if "name" in body or "userData" in body else {}
    if not names and not add and not remove:
        raise bad_argument("Nothing to change: give name, userData, addPersonIds or "
                           "removePersonIds.")
    return _done_or_accepted(req, dynamic_groups.update(group_id(req), add, remove, **names))


@operation(bp, GROUP, ["DELETE"])
def delete_dynamic_group(req: ApiRequest) -> Reply:
    directory_version(req)
    return accepted(req, dynamic_groups.delete(group_id(req)))


@operation(bp, GROUP + "/persons", ["GET"])
def dynamic_group_persons(req: ApiRequest) -> dict:
    directory_version(req)
    return dynamic_groups.persons(group_id(req), *paging(req))


@operation(bp, "persons/{personId}/dynamicPersonGroupReferences", ["GET"])
def dynamic_group_references(req: ApiRequest) -> dict:
    directory_version(req)
    return dynamic_groups.references(person_id(req), *paging(req))
