"""The outcome of every enrollment blob, per group, for operators to read back.

Table `enrollmentreport`: PartitionKey = the group id, RowKey = the blob's path under the group
folder (both percent-quoted, since keys cannot hold '/', '#' or '?'). A blob handled again
(a re-delivery, or new content under the same name) replaces its row."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote, unquote

from azure.data.tables import UpdateMode

from shared import clock
from shared.storage import clients

TABLE = "enrollmentreport"
ENROLLED, DUPLICATE, REJECTED = "enrolled", "duplicate", "rejected"


@dataclass(frozen=True)
class Outcome:
    status: str             # ENROLLED, DUPLICATE (the same bytes were enrolled before), REJECTED
    reason: str = ""        # why a blob was rejected: invalidPath, unreadableImage, noFace, ...
    detail: str = ""        # a sentence for the operator
    person_id: str = ""
    face_id: str = ""       # the persisted face (for a duplicate: the one enrolled before)


def _key(text: str) -> str:
    return quote(text, safe="")


def record(group: str, path: str, person: str, outcome: Outcome) -> None:
    clients.table(TABLE).upsert_entity({
        "PartitionKey": _key(group), "RowKey": _key(path), "Person": person,
        "Status": outcome.status, "Reason": outcome.reason, "Detail": outcome.detail,
        "PersonId": outcome.person_id, "PersistedFaceId": outcome.face_id, "At": clock.now()},
        mode=UpdateMode.REPLACE)


def rows(group: str) -> dict[str, dict]:
    """Blob path under the group -> its report row."""
    entities = clients.table(TABLE).query_entities("PartitionKey eq @pk",
                                                      parameters={"pk": _key(group)})
    return {unquote(entity["RowKey"]): dict(entity) for entity in entities}


def label(row: dict) -> str:
    """`enrolled`, `duplicate` or `rejected: <reason>`."""
    return row["Status"] if row["Status"] != REJECTED else f"rejected: {row['Reason']}"


def summary(group: str) -> Counter:
    """How many blobs of the group ended how (see label)."""
    return Counter(label(row) for row in rows(group).values())
