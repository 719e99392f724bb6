"""Table storage idioms, in one place: optimistic concurrency (read, change, write only if the
row is unchanged, retry on a lost race) and entity group transactions (one partition, at most
100 rows each)."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (ResourceExistsError, ResourceModifiedError,
                                   ResourceNotFoundError)
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.storage.clients import table
from shared.storage.contention import attempts

BATCH = 100             # the entity group transaction limit
T = TypeVar("T")


def entity_or_none(name: str, partition: str, row: str):
    try:
        return table(name).get_entity(partition, row)
    except ResourceNotFoundError:
        return None


def retry_on_conflict(attempt: Callable[[], T]) -> T:
    """Run a read-modify-write until its conditional write wins the race (ContentionError if
    it never does)."""
    for _ in attempts("one entity"):
        try:
            return attempt()
        except (ResourceModifiedError, ResourceExistsError):
            continue


def if_unchanged(entity) -> dict:
    """Write conditions: the row still has the ETag it was read with."""
    return {"etag": entity.metadata["etag"], "match_condition": MatchConditions.IfNotModified}


def update_if_unchanged(client: TableClient, entity,
                        mode: UpdateMode = UpdateMode.MERGE) -> dict:
    """Write back a row read earlier; ResourceModifiedError if someone wrote it since."""
    return client.update_entity(entity, mode=mode, **if_unchanged(entity))


def merge_existing(client: TableClient, partition: str, row: str, changes: dict,
                   missing: Exception) -> None:
    """Merge `changes` into a row, raising `missing` if the row does not exist."""
    try:
        client.update_entity({"PartitionKey": partition, "RowKey": row, **changes},
                             mode=UpdateMode.MERGE,
                             match_condition=MatchConditions.Unconditionally)
    except ResourceNotFoundError:
        raise missing from None


def batches(rows: Iterable) -> Iterator[list]:
    """Runs of at most BATCH rows of one partition, in order (rows of a partition together)."""
    batch: list = []
    for row in rows:
        if batch and (len(batch) == BATCH or batch[0]["PartitionKey"] != row["PartitionKey"]):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def delete_entities(client: TableClient, rows: Iterable) -> int:
    """Delete rows (grouped by partition), a transaction at a time; returns how many."""
    return sum(_delete_batch(client, batch) for batch in batches(rows))


def _delete_batch(client: TableClient, rows: list) -> int:
    try:
        client.submit_transaction([("delete", row) for row in rows])
    except TableTransactionError:
        # Some row is already gone (a retried purge): delete the rest one by one.
        for row in rows:
            try:
                client.delete_entity(row["PartitionKey"], row["RowKey"])
            except ResourceNotFoundError:
                pass
    return len(rows)

