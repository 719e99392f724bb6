"""Debounced training: a group trains once a batch of enrollments has settled, not per image.

Every new face re-arms the group: a fresh token goes into the group's row (Table
`enrollmentbatches`, PartitionKey = group id, RowKey "batch"), then a message carrying that
token is queued, invisible for the quiet period (FACE_ENROLLMENT_QUIET_SECONDS). When a
message comes due, `settle` trains only if its token is still the row's: a newer enrollment
has queued a later message, which will train instead. The token is written before the
message is sent, so whichever token the row ends with has a message due after it.

`TrainedToken`, `Job` and `Trainings` record what was requested, so callers (the upload CLI)
can wait for the training that covers their batch."""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from azure.core.exceptions import ResourceModifiedError
from azure.data.tables import UpdateMode

from shared import clock, settings
from shared.collections import repository, training
from shared.collections.kinds import LARGE_PERSON_GROUP
from shared.errors import FaceError
from shared.storage import clients, tables

QUEUE = "enrollment-training"
TABLE = "enrollmentbatches"
ROW = "batch"
log = logging.getLogger("face.enrollment")


@dataclass(frozen=True)
class Batch:
    token: str              # the latest enrollment's
    trained_token: str      # the token whose settling requested training ('' if none yet)
    trainings: int          # trainings requested so far

    @property
    def settled(self) -> bool:
        return self.token == self.trained_token


def _entity(group_id: str):
    return tables.entity_or_none(TABLE, group_id, ROW)


def batch(group_id: str) -> Batch | None:
    entity = _entity(group_id)
    if entity is None:
        return None
    return Batch(entity["Token"], entity.get("TrainedToken", ""), entity.get("Trainings", 0))


def touch(group_id: str) -> None:
    """A face was enrolled in the group: (re)start its quiet period."""
    token = uuid.uuid4().hex
    clients.table(TABLE).upsert_entity(
        {"PartitionKey": group_id, "RowKey": ROW, "Token": token, "LastEnrollment": clock.now()},
        mode=UpdateMode.MERGE)
    clients.queue(QUEUE).send_message(
        json.dumps({"group": group_id, "token": token}),
        visibility_timeout=int(settings.get("FACE_ENROLLMENT_QUIET_SECONDS")))


def settle(message: dict) -> None:
    """A quiet period is over: train the group unless it had a newer enrollment since."""
    group_id, token = message["group"], message["token"]
    entity = _entity(group_id)
    if entity is None or entity["Token"] != token:
        return
    try:
        collection = repository.get_collection(LARGE_PERSON_GROUP, group_id)
    except FaceError:
        log.warning("enrollment group %s was deleted before its training", group_id)
        return
    job = training.request(collection.storage_id)
    entity.update({"TrainedToken": token, "Job": job,
                   "Trainings": entity.get("Trainings", 0) + 1})
    try:
        tables.update_if_unchanged(clients.table(TABLE), entity)
    except ResourceModifiedError:
        pass    # a newer enrollment arrived meanwhile: its own message trains again
