"""Training: from embedding shards to an immutable snapshot, through the queue.

`request` records a new job (status notStarted) and enqueues `start`. The queue function runs:
- `start`: marks the job running, splits the existing shards into parts of SHARDS_PER_PART and
  enqueues one `part` message each (a small collection's single part runs inline), so a large
  group trains on as many instances as the platform scales to;
- `part`: reads its shards, drops deleted owners, writes its snapshot part blob and a done
  marker; whichever part finds every marker present commits;
- `commit`: builds the approximate index of a large gallery (snapshots.build_index: the
  parts read back, one index over them), writes the manifest, then moves the collection's
  snapshot pointer with an ETag-conditional update that also checks the job is still the
  current one. Before that moment nothing of the job is visible; after it the versions no
  longer served are deleted. (Two last parts may both commit: both build the same index.)

Every step is idempotent (at-least-once delivery): a retried part rewrites the same blob, a
repeated commit finds the pointer already moved. After a commit, `check` compares the
collection's rows with its shards (integrity.py) and puts what it finds in the status message.

No snapshot outlives its use, since it holds the embeddings of persons deleted since: after
every commit and every failure, each version with blobs that is neither served nor the current
job's is deleted. The versions are listed from the blobs, not remembered in rows, so a process
killed between a commit and its clean-up leaves nothing for good; a part that finishes writing
after its job was abandoned deletes what it wrote. A message that keeps failing lands in the
poison queue, whose function marks the job failed (`fail`): never stuck "running", and the
previous snapshot keeps serving. A newer `request` supersedes a running job, whose later
steps then do nothing.

Table `training`, PartitionKey = storage id: RowKey `state` (status, job, snapshot pointer,
dates), `deleted_<ownerId>` (owners deleted since their snapshot: identify filters them until
a training drops them) and `done_<job>_<part>` markers."""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import numpy as np
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode

from shared import clock
from shared.collections import integrity, repository, shards, snapshots
from shared.collections.shards import uuid_bytes
from shared.storage import clients, tables

QUEUE = "collection-training"
POISON_QUEUE = f"{QUEUE}-poison"
TABLE = "training"
SHARDS_PER_PART = 16
log = logging.getLogger("face.training")


class TrainingStatus(str, Enum):
    """A job's status, as the contract spells it (and as the state row stores it)."""
    NOT_STARTED = "notStarted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """Not finished yet: the collection is "under training"."""
        return self in (TrainingStatus.NOT_STARTED, TrainingStatus.RUNNING)


@dataclass(frozen=True)
class TrainingState:
    status: TrainingStatus
    job: str
    snapshot: str | None               # version identify serves; None before a success
    last_action: datetime
    last_success: datetime | None
    message: str | None


def _table():
    return clients.table(TABLE)


def _state_entity(storage_id: str):
    return tables.entity_or_none(TABLE, storage_id, "state")


def state(storage_id: str) -> TrainingState | None:
    entity = _state_entity(storage_id)
    if entity is None:
        return None
    return TrainingState(TrainingStatus(entity["Status"]), entity["Job"],
                         entity.get("Snapshot") or None, entity["LastAction"],
                         entity.get("LastSuccess"), entity.get("Message") or None)


def _update_state(storage_id: str, change) -> bool:
    """Apply `change(entity)` (returns False to skip) under the state's ETag, retrying races."""
    def attempt() -> bool:
        entity = _state_entity(storage_id)
        if entity is None or change(entity) is False:
            return False
        entity["LastAction"] = clock.now()
        tables.update_if_unchanged(_table(), entity, UpdateMode.REPLACE)
        return True
    return tables.retry_on_conflict(attempt)


# --- requests ------------------------------------------------------------------------------

def _enqueue(message: dict) -> None:
    clients.queue(QUEUE).send_message(json.dumps(message))


def request(storage_id: str) -> str:
    """Start a new training job (superseding a running one); returns the job id."""
    job = uuid.uuid4().hex
    fresh = {"Status": TrainingStatus.NOT_STARTED.value, "Job": job, "Message": "", "Parts": 0,
             "LastAction": clock.now()}

    def attempt() -> None:
        entity = _state_entity(storage_id)
        if entity is None:
            _table().create_entity({"PartitionKey": storage_id, "RowKey": "state", **fresh})
            return
        entity.update(fresh)
        tables.update_if_unchanged(_table(), entity, UpdateMode.REPLACE)
    tables.retry_on_conflict(attempt)
    try:
        _enqueue({"op": "start", "storage": storage_id, "job": job})
    except Exception:
        fail(storage_id, job, "Training could not be queued.")
        raise
    return job


def request_purge(storage_id: str) -> None:
    _enqueue({"op": "purge", "storage": storage_id})


# --- queue work ----------------------------------------------------------------------------

def process(message: dict) -> None:
    """Run one queue message (at-least-once: any step may run again)."""
    op, storage_id = message["op"], message["storage"]
    if op == "start":
        start(storage_id, message["job"])
    elif op == "part":
        build_part(storage_id, message["job"], message["part"], message["shards"])
    elif op == "check":
        check(storage_id, message["job"])
    elif op == "purge":
        purge(storage_id)
    else:
        raise ValueError(f"unknown training message op {op!r}")


def process_poison(message: dict) -> None:
    """A message that failed every delivery: its job has failed."""
    if message.get("op") in ("start", "part"):
        fail(message["storage"], message["job"], "Training failed after repeated errors.")
    else:
        log.error("purge of %s failed repeatedly; rows are left behind", message.get("storage"))


def _is_current(storage_id: str, job: str) -> bool:
    current = state(storage_id)
    return current is not None and current.job == job and current.status.active


def start(storage_id: str, job: str) -> None:
    existing = shards.existing_shards(storage_id)
    groups = [existing[i:i + SHARDS_PER_PART]
              for i in range(0, len(existing), SHARDS_PER_PART)] or [[]]

    def begin(entity) -> bool:
        if entity["Job"] != job or not TrainingStatus(entity["Status"]).active:
            return False
        entity.update({"Status": TrainingStatus.RUNNING.value, "Parts": len(groups)})
        return True
    if not _update_state(storage_id, begin):
        return
    _record_deletions_before(storage_id, job)
    if len(groups) == 1:
        build_part(storage_id, job, 0, groups[0])
        return
    for index, group in enumerate(groups):
        _enqueue({"op": "part", "storage": storage_id, "job": job, "part": index,
                  "shards": group})


def build_part(storage_id: str, job: str, index: int, shard_numbers: list[int]) -> None:
    if not _is_current(storage_id, job):
        return
    deleted = deleted_owners(storage_id)
    records = [_live_records(storage_id, shard, deleted) for shard in shard_numbers]
    part = snapshots.Part.from_records(np.concatenate(records) if records
                                       else np.zeros(0, shards.RECORD))
    snapshots.write_part(storage_id, job, index, part)
    if _abandoned(storage_id, job):     # replaced while we wrote: nobody else will delete it
        snapshots.delete(storage_id, job)
        return
    _table().upsert_entity({"PartitionKey": storage_id, "RowKey": f"done_{job}_{index:04d}",
                            "Faces": len(part.owners)})
    _commit_if_complete(storage_id, job)


def _abandoned(storage_id: str, job: str) -> bool:
    """True once `job` can never be the served snapshot: a newer job replaced it, or it failed
    (neither a replaced nor a failed job can commit later)."""
    current = state(storage_id)
    return current is None or (current.snapshot != job
                               and (current.job != job or current.status == TrainingStatus.FAILED))


def _live_records(storage_id: str, shard: int, deleted: set[str]) -> np.ndarray:
    """A shard's records without deleted owners, which are also removed from the shard (a
    delete interrupted half-way is finished here)."""
    records, _ = shards.read(storage_id, shard)
    if deleted:
        gone = np.isin(records["owner"], uuid_bytes(sorted(deleted)))
        if gone.any():
            shards.remove(storage_id, shard, owners=deleted)
            records = records[~gone]
    return records


def _rows_named(storage_id: str, prefix: str) -> list:
    """The collection's training rows whose RowKey starts with `prefix` (which ends in '_')."""
    return list(_table().query_entities(
        "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
        parameters={"pk": storage_id, "low": prefix, "high": prefix[:-1] + "`"}))


def _done_markers(storage_id: str, job: str) -> list:
    return _rows_named(storage_id, f"done_{job}_")


def _commit_if_complete(storage_id: str, job: str) -> None:
    entity = _state_entity(storage_id)
    markers = _done_markers(storage_id, job)
    if entity is None or entity["Job"] != job or len(markers) < entity.get("Parts", 0):
        return
    faces = sum(m["Faces"] for m in markers)
    indexed = snapshots.build_index(storage_id, job, entity["Parts"], faces)
    snapshots.write_manifest(storage_id, job, entity["Parts"], faces, indexed is not None)

    def switch(entity) -> bool:
        if entity["Job"] != job or entity["Status"] != TrainingStatus.RUNNING.value:
            return False
        entity.update({"Status": TrainingStatus.SUCCEEDED.value, "Snapshot": job,
                       "LastSuccess": clock.now(), "Message": ""})
        return True
    if _update_state(storage_id, switch):
        if indexed is not None:
            snapshots.remember(storage_id, indexed)
        _after_commit(storage_id, job, markers)


def _after_commit(storage_id: str, job: str, markers: list) -> None:
    _delete_unserved_snapshots(storage_id)
    _enqueue({"op": "check", "storage": storage_id, "job": job})
    forgotten = json.loads(shards.container().download_blob(
        _deletions_blob(storage_id, job)).readall())
    tables.delete_entities(_table(), [{"PartitionKey": storage_id, "RowKey": f"deleted_{o}"}
                                          for o in sorted(forgotten)])
    tables.delete_entities(_table(), markers)


def fail(storage_id: str, job: str, message: str) -> None:
    def mark(entity) -> bool:
        if entity["Job"] != job or not TrainingStatus(entity["Status"]).active:
            return False
        entity.update({"Status": TrainingStatus.FAILED.value, "Message": message})
        return True
    if _update_state(storage_id, mark):
        _delete_unserved_snapshots(storage_id)
        tables.delete_entities(_table(), _done_markers(storage_id, job))


def _delete_unserved_snapshots(storage_id: str) -> None:
    """Delete every version but the served one and the current job's. The blobs are listed
    before the state is read: a job requested after the listing is not in it, and one in it
    was requested before the read, so the read tells whether it is still current."""
    versions = snapshots.versions(storage_id)
    current = state(storage_id)
    if current is None:
        return
    kept = {current.snapshot, current.job if current.status.active else None}
    for version in versions - kept:
        snapshots.delete(storage_id, version)


def check(storage_id: str, job: str) -> None:
    """Compare rows and shards after a training; report in the status message of `job`."""
    report = integrity.check(storage_id, repair=True)
    if not report.consistent:
        log.warning("collection %s: %s", storage_id, report.summary())

    def note(entity) -> bool:
        if entity["Job"] != job or entity["Status"] != TrainingStatus.SUCCEEDED.value:
            return False
        entity["Message"] = report.summary()
        return True
    _update_state(storage_id, note)


def _record_deletions_before(storage_id: str, job: str) -> None:
    """Note the owners deleted before the job's parts run: every part drops them, so commit
    can forget them. Written once: a redelivered `start` must not add later deletions, which
    a part may already have read as present."""
    deleted = json.dumps(sorted(deleted_owners(storage_id)))
    try:
        shards.container().upload_blob(_deletions_blob(storage_id, job), deleted)
    except ResourceExistsError:
        pass


def _deletions_blob(storage_id: str, job: str) -> str:
    return f"{snapshots.prefix(storage_id, job)}deleted.json"


# --- deleted owners ------------------------------------------------------------------------

def mark_deleted(storage_id: str, owner_ids: list[str]) -> None:
    """Hide owners from searches of the current snapshot until a training drops them."""
    for owner in owner_ids:
        _table().upsert_entity({"PartitionKey": storage_id, "RowKey": f"deleted_{owner}"})


def deleted_owners(storage_id: str) -> set[str]:
    return {row["RowKey"][len("deleted_"):] for row in _rows_named(storage_id, "deleted_")}


def purge(storage_id: str) -> None:
    """Everything a deleted collection left: rows, training state, blobs."""
    repository.purge(storage_id)
    rows = _table().query_entities("PartitionKey eq @pk", parameters={"pk": storage_id},
                                   select=["PartitionKey", "RowKey"])
    tables.delete_entities(_table(), rows)
    shards.delete_collection_blobs(storage_id)
    snapshots.forget(storage_id)
