"""Which directory persons each dynamic person group holds, both ways round.

A group's members are person rows (no name, no faces) in the group's collection storage, so
`repository.list_persons` pages them in id order; table `dpgreferences` (PartitionKey = person
id, RowKey = group id, column StorageId) answers "which groups name this person" and lets a
person's deletion drop it from every group. Membership rows are written before references and
removed after them, so a reference never names a group that does not list the person."""
from __future__ import annotations

from azure.core.exceptions import ResourceExistsError

from shared.collections import repository
from shared.storage import tables
from shared.storage.clients import table

REFERENCES = "dpgreferences"


def add(group_id: str, storage_id: str, person_ids: list[str]) -> None:
    for person_id in person_ids:
        try:
            repository.create_person(storage_id, "", None, person_id)
        except ResourceExistsError:
            pass                # already a member (or a repeated delivery)
        table(REFERENCES).upsert_entity({"PartitionKey": person_id, "RowKey": group_id,
                                         "StorageId": storage_id})


def remove(group_id: str, storage_id: str, person_ids: list[str]) -> None:
    for person_id in person_ids:
        table(REFERENCES).delete_entity(person_id, group_id)
        repository.delete_person(storage_id, person_id)


def members(storage_id: str, start: str | None = None, top: int | None = None) -> list[str]:
    """Member person ids in ascending order (all of them when `top` is None)."""
    if top is None:
        return [p.person_id for p in repository.all_persons(storage_id)]
    return [p.person_id for p in repository.list_persons(storage_id, start, top)]


def groups_of(person_id: str, start: str | None, top: int) -> list[str]:
    rows = table(REFERENCES).query_entities(
        "PartitionKey eq @person and RowKey gt @start",
        parameters={"person": person_id, "start": start or ""}, select=["RowKey"])
    return [row["RowKey"] for _, row in zip(range(top), rows)]


def forget_group(group_id: str, storage_id: str) -> None:
    """Drop a deleted group's references (its member rows go with its storage)."""
    for person_id in members(storage_id):
        table(REFERENCES).delete_entity(person_id, group_id)


def forget_person(person_id: str) -> None:
    """Take a deleted person out of every group."""
    rows = list(table(REFERENCES).query_entities("PartitionKey eq @person",
                                                 parameters={"person": person_id}))
    for row in rows:
        repository.delete_person(row["StorageId"], person_id)
    tables.delete_entities(table(REFERENCES), rows)
