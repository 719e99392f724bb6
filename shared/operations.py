"""Long-running operations of the Person Directory (contract §3.8, §11): a record per operation
that `GET /operations/{operationId}` reads, and the queue that does the work.

A request records its operation (notStarted) and enqueues a message naming it; the queue
function marks it running, does the work through `handler(message)` and marks it succeeded, or
failed with the error's message. Work is idempotent (at-least-once delivery; a message for an
operation that already succeeded is dropped); a message that fails every delivery lands in the
poison queue, which marks its operation failed.

The same work gets the same operation (a client retrying a request): work started with a `key`
has the operation id derived from it (a UUIDv5), so a repeated request finds the operation
recorded and answers it again instead of starting another. Keys of deletes name their target
(a person, a face) and hold for good; keys of creations are per request and hold for WINDOW
(`same_request`). A repeated request also heals its operation: one that failed, or that has
waited STALE without starting (the first request's process may have died before queueing it),
is queued again.

Table `operations`: PartitionKey = operation id, RowKey `state`; columns Status, CreatedTime,
LastActionTime, FinishedTime, Message."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from enum import Enum
from typing import Callable

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import UpdateMode

from shared import clock
from shared.errors import FaceError, not_found
from shared.storage import clients, tables

QUEUE = "directory-operations"
POISON_QUEUE = f"{QUEUE}-poison"
TABLE = "operations"
WINDOW = timedelta(minutes=10)      # a creation repeated within this is the same request
STALE = timedelta(seconds=5)        # notStarted this long: its message may never have been sent
_NAMESPACE = uuid.UUID("6f0d8f3e-2b1c-4c55-9a57-3b1d7e0c9a61")


class Status(str, Enum):
    NOT_STARTED = "notStarted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def derived_id(key: str, what: str = "operation") -> str:
    """The id of the operation started under `key`, or of what it creates (`what`)."""
    return str(uuid.uuid5(_NAMESPACE, f"{what}:{key}"))


def status(key: str) -> Status | None:
    """The status of the operation started under `key`; None if there is none."""
    entity = tables.entity_or_none(TABLE, derived_id(key), "state")
    return None if entity is None else Status(entity["Status"])


def same_request(key: str) -> str:
    """The key of a creation for the window it started in: the previous window's if an
    operation was started under it less than WINDOW ago, else the current one's (so a request
    and its retries share a key even across a window boundary)."""
    now = clock.now()
    window = int(now.timestamp() // WINDOW.total_seconds())
    earlier = f"{key}@{window - 1}"
    entity = tables.entity_or_none(TABLE, derived_id(earlier), "state")
    if entity is not None and now - entity["CreatedTime"] < WINDOW:
        return earlier
    return f"{key}@{window}"


def start(work: dict, key: str | None = None) -> str:
    """Record an operation for `work` (a JSON-able message) and queue it; its id. Under a
    `key` already used, the operation recorded then is answered (and queued again if it
    failed or never started)."""
    operation_id = derived_id(key) if key else str(uuid.uuid4())
    message = json.dumps({**work, "operation": operation_id})
    now = clock.now()
    try:
        clients.table(TABLE).create_entity({
            "PartitionKey": operation_id, "RowKey": "state", "Status": Status.NOT_STARTED.value,
            "CreatedTime": now, "LastActionTime": now, "Message": ""})
    except ResourceExistsError:
        _queue_again_if_stuck(operation_id, message)
        return operation_id
    _send(operation_id, message)
    return operation_id


def _send(operation_id: str, message: str) -> None:
    try:
        clients.queue(QUEUE).send_message(message)
    except Exception:
        _set(operation_id, Status.FAILED, "The operation could not be queued.")
        raise


def _queue_again_if_stuck(operation_id: str, message: str) -> None:
    """A repeated request met its operation: queue it again if it failed or has not started
    for STALE. Only the request that moves it back to notStarted (ETag-conditional) sends."""
    entity = clients.table(TABLE).get_entity(operation_id, "state")
    now = clock.now()
    waiting = (entity["Status"] == Status.NOT_STARTED.value
               and now - entity["LastActionTime"] >= STALE)
    if entity["Status"] != Status.FAILED.value and not waiting:
        return
    fresh = {"PartitionKey": operation_id, "RowKey": "state",
             "Status": Status.NOT_STARTED.value, "CreatedTime": entity["CreatedTime"],
             "LastActionTime": now, "Message": ""}
    try:
        clients.table(TABLE).update_entity(fresh, mode=UpdateMode.REPLACE,
                                           **tables.if_unchanged(entity))
    except ResourceModifiedError:
        return                  # another request (or the queue) moved it meanwhile
    _send(operation_id, message)


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
    entity = tables.entity_or_none(TABLE, operation_id, "state")
    if entity is None or entity["Status"] == Status.SUCCEEDED.value:
        return                  # a repeated delivery of finished work
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
