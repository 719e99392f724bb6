"""The report of each blob, `redaction-output/<name>.json`, which is also its claim.

A run first writes the report as `processing` (with the source blob's ETag), conditionally: on
a new name only if none exists, otherwise only over the report it read. So of two runs started
by one upload, one wins and the other finds a fresh `processing` report and stops; a report that
is final for the same ETag means the blob was done before. While working, the run refreshes
`heartbeatAt` every HEARTBEAT; a `processing` report older than STALE belongs to a run that
died, and the next delivery takes it over. The final report replaces it: `succeeded` or
`failed` with the error. A new upload under the same name (another ETag) is processed again."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContentSettings

from shared import clock
from shared.storage import clients

OUTPUT = "redaction-output"
PROCESSING, SUCCEEDED, FAILED = "processing", "succeeded", "failed"
HEARTBEAT = timedelta(seconds=20)
STALE = timedelta(seconds=90)
JSON = ContentSettings(content_type="application/json")


class Superseded(Exception):
    """Another run took the report over (a newer upload of the blob, or a takeover)."""


def report_name(name: str) -> str:
    return name + ".json"


def read(name: str) -> tuple[dict, str] | None:
    """The report of blob `name` and the report blob's ETag, or None."""
    blob = clients.container(OUTPUT).get_blob_client(report_name(name))
    try:
        download = blob.download_blob()
    except ResourceNotFoundError:
        return None
    return json.loads(download.readall()), download.properties.etag


def _write(name: str, report: dict, etag: str | None) -> str:
    """Write the report only over the version `etag` (None: only if there is none); the new
    ETag. ResourceModifiedError / ResourceExistsError when someone else wrote it first."""
    blob = clients.container(OUTPUT).get_blob_client(report_name(name))
    condition = ({"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag
                 else {"match_condition": MatchConditions.IfMissing})
    return blob.upload_blob(json.dumps(report, indent=1), overwrite=True, content_settings=JSON,
                            **condition)["etag"]


@dataclass
class Claim:
    name: str
    source_etag: str
    report: dict
    etag: str
    beat_at: datetime

    def heartbeat(self, every: timedelta = HEARTBEAT) -> None:
        """Refresh the claim when `every` has passed; Superseded when it was taken over."""
        now = clock.now()
        if now - self.beat_at < every:
            return
        self.report["heartbeatAt"] = now.isoformat()
        self._replace(self.report)
        self.beat_at = now

    def finish(self, report: dict) -> None:
        self._replace({**self.report, **report, "finishedAt": clock.now().isoformat()})

    def release(self) -> None:
        """Give the claim up (the run failed and will be retried)."""
        try:
            clients.container(OUTPUT).delete_blob(report_name(self.name), etag=self.etag,
                                                  match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            pass    # taken over meanwhile: no longer ours

    def _replace(self, report: dict) -> None:
        try:
            self.etag = _write(self.name, report, self.etag)
        except ResourceModifiedError:
            raise Superseded(self.name) from None
        self.report = report


def claim(name: str, source_etag: str) -> Claim | None:
    """This run's claim on blob `name` at `source_etag`; None when it was done before or another
    live run has it."""
    for _ in range(3):
        current = read(name)
        if current is not None:
            report, etag = current
            same = report.get("sourceEtag") == source_etag
            if same and report.get("status") != PROCESSING:
                return None
            if same and clock.now() - datetime.fromisoformat(report["heartbeatAt"]) < STALE:
                return None
        now = clock.now()
        fresh = {"source": name, "sourceEtag": source_etag, "status": PROCESSING,
                 "startedAt": now.isoformat(), "heartbeatAt": now.isoformat()}
        try:
            new_etag = _write(name, fresh, current[1] if current else None)
        except (ResourceModifiedError, ResourceExistsError):
            continue    # another run wrote first: look again
        return Claim(name, source_etag, fresh, new_etag, now)
    return None
