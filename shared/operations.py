"""Long-running operations of the Person Directory (contract §3.8, §11): a record per operation
that `GET /operations/{operationId}` reads, and the queue that does the work.

A request records its operation (notStarted) and enqueues a message naming it; the queue
function marks it running, does the work through `handler(message)` and marks it succeeded, or
failed with the error's message. Work is idempotent (at-least-once delivery); a message that
fails every delivery lands in the poison queue, which marks its operation failed.

Table `operations`: PartitionKey = operation id, RowKey `state`; columns Status, CreatedTime,
LastActionTime, FinishedTime, Message."""
from __future__ import annotations

import json
import uuid
from enum import Enum
from typing import Callable


from shared import clock
from shared.errors import FaceError, not_found
from shared.storage import clients, tables

QUEUE = "directory-operations"
POISON_QUEUE = f"{QUEUE}-poison"
TABLE = "operations"


class Status(str, Enum):
    NOT_STARTED = "notStarted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def start(work: dict) -> str:
    """Record a new operation for `work` (a JSON-able message) and queue it; its id."""
    operation_id = str(uuid.uuid4())
    now = clock.now()
    clients.table(TABLE).create_entity({
        "PartitionKey": operation_id, "RowKey": "state", "Status": Status.NOT_STARTED.value,
        "CreatedTime": now, "LastActionTime": now, "Message": ""})
    try:
        clients.queue(QUEUE).send_message(json.dumps({**work, "operation": operation_id}))
    except Exception:
        _set(operation_id, Status.FAILED, "The operation could not be queued.")
        raise
    return operation_id


def _set(operation_id: str, status: Status, message: str = "") -> None:
    changes = {"Status": status.value, "LastActionTime": clock.now(), "Message": message}
    if status in (Status.SUCCEEDED, Status.FAILED):
        changes["FinishedTime"] = changes["LastActionTime"]
    tables.merge_existing(clients.table(TABLE), operation_id, "state", changes,
                          _not_found(operation_id))


def _not_found(operation_id: str) -> FaceError:
    return not_found("NotFound", f"Operation '{operation_id}' is not found.")


def run(message: dict, handler: Callable[[dict], None]) -> None:
    """Do one queued operation: running, then succeeded, or failed with a FaceError's message
    (other errors propagate, so the message is delivered again)."""
    operation_id = message["operation"]
    _set(operation_id, Status.RUNNING)
    try:
        handler(message)
    except FaceError as err:
        _set(operation_id, Status.FAILED, err.message)
        return
    _set(operation_id, Status.SUCCEEDED)


def fail(message: dict) -> None:
    """A message that failed every delivery: its operation has failed."""
    _set(message["operation"], Status.FAILED, "The operation failed after repeated errors.")


def get(operation_id: str) -> dict:
    """The contract's OperationResult."""
    entity = tables.entity_or_none(TABLE, operation_id, "state")
    if entity is None:
        raise _not_found(operation_id)
    shape = {"operationId": operation_id, "status": entity["Status"],
             "createdTime": _iso(entity["CreatedTime"]),
             "lastActionTime": _iso(entity.get("LastActionTime")),
             "finishedTime": _iso(entity.get("FinishedTime"))}
    return {**shape, "message": entity.get("Message") or None}
