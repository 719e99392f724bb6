"""Blob triggers by polling the container (Azurite has no Event Grid, so `source="EventGrid"`
functions are polled too). Each new or changed blob runs the function once: a receipt blob in
`azure-webjobs-hosts`, keyed by function, ETag and blob name, survives restarts. Failures are
retried after host.json visibilityTimeout; after maxDequeueCount attempts the blob is recorded
in the queue `webjobs-blobtrigger-poison`, as the host does. A function whose trigger
parameter is an SDK type (a BlobClient) gets a client for the blob instead of its content."""
from __future__ import annotations

import json
import logging
import re
import time
from concurrent.futures import Executor

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobProperties

from azure.functions.blob import InputStream

from devhost.hostconfig import QueueOptions
from devhost.listener import StorageListener
from devhost.registry import FunctionEntry
from devhost.storage import StorageAccounts, encode_message, write_queue_outputs

log = logging.getLogger("face.runtime")

RECEIPTS_CONTAINER = "azure-webjobs-hosts"
POISON_QUEUE = "webjobs-blobtrigger-poison"


class BlobPath:
    """`container/prefix/{name}.jpg`: the container, a listing prefix and a matcher whose
    `{param}`s (greedy, '/' included, as in the host) become binding values."""

    def __init__(self, path: str):
        self.container, _, pattern = path.strip("/").partition("/")
        if not self.container or "{" in self.container:
            raise ValueError(f"blob trigger path needs a literal container: {path!r}")
        self.prefix = pattern.split("{", 1)[0]
        pieces = re.split(r"\{(\w+)\}", pattern)
        regex = "".join(re.escape(lit) + (f"(?P<{name}>.+)" if name else "")
                        for lit, name in zip(pieces[::2], pieces[1::2] + [None]))
        self.regex = re.compile(regex if pattern else ".+")

    def match(self, blob_name: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(blob_name)
        return found.groupdict() if found else None


class BlobListener(StorageListener):
    def __init__(self, entry: FunctionEntry, accounts: StorageAccounts, options: QueueOptions,
                 pool: Executor, interval: float):
        super().__init__(entry, accounts, options, pool)
        self.interval = interval
        self.path = BlobPath(entry.setting("path"))
        self.function_id = f"Host.Functions.{entry.name}"
        self._seen: set[tuple[str, str]] = set()      # (name, etag) done or running
        self._failures: dict[tuple[str, str], int] = {}
        self._retry_at: dict[tuple[str, str], float] = {}

    def prepare(self) -> None:
        self.container = self.accounts.container(self.entry.connection, self.path.container)
        self.receipts = self.accounts.container(self.entry.connection, RECEIPTS_CONTAINER)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._scan()
            except AzureError as err:
                log.warning("blob trigger %s: %s", self.entry.name, err)
            self.stopping.wait(self.interval)

    def _scan(self) -> None:
        for blob in self.container.list_blobs(name_starts_with=self.path.prefix or None):
            params = self.path.match(blob.name)
            key = (blob.name, blob.etag)
            if params is None or key in self._seen \
                    or self._retry_at.get(key, 0) > time.monotonic():
                continue
            if self._has_receipt(blob):
                self._seen.add(key)
                continue
            if self.stopping.is_set():
                return
            self._seen.add(key)
            self.submit(self._process, blob, params)

    def _receipt_name(self, blob: BlobProperties) -> str:
        etag = blob.etag.strip('"')
        return f"blobreceipts/local/{self.function_id}/{etag}/{self.path.container}/{blob.name}"

    def _has_receipt(self, blob: BlobProperties) -> bool:
        return self.receipts.get_blob_client(self._receipt_name(blob)).exists()

    def _write_receipt(self, blob: BlobProperties) -> None:
        self.receipts.upload_blob(self._receipt_name(blob), b"", overwrite=True)

    def _process(self, blob: BlobProperties, params: dict[str, str]) -> None:
        key = (blob.name, blob.etag)
        try:
            if self.entry.binds_sdk_type:
                self._invoke(blob, params, self.container.get_blob_client(blob.name))
                self._write_receipt(blob)
            elif (data := self._download(blob)) is not None:
                self._run(blob, params, data)
                self._write_receipt(blob)
            self._retry_at.pop(key, None)
            self._failures.pop(key, None)
        except Exception as err:  # noqa: BLE001 - any failure is a retry, as in the host
            log.warning("blob %s/%s: %s: %s", self.path.container, blob.name,
                        type(err).__name__, err)
            self._failed(blob, key)

    def _download(self, blob: BlobProperties) -> bytes | None:
        """The listed version's content; None when it was deleted or replaced since (a newer
        version gets its own run)."""
        try:
            return self.container.get_blob_client(blob.name).download_blob(
                etag=blob.etag, match_condition=MatchConditions.IfNotModified).readall()
        except (ResourceNotFoundError, ResourceModifiedError):
            return None

    def _run(self, blob: BlobProperties, params: dict[str, str], data: bytes) -> None:
        stream = InputStream(
            data=data, name=f"{self.path.container}/{blob.name}",
            uri=self.container.get_blob_client(blob.name).url, length=len(data),
            blob_properties={"ETag": blob.etag,
                             "ContentType": blob.content_settings.content_type},
            metadata=dict(blob.metadata or {}))
        self._invoke(blob, params, stream)

    def _invoke(self, blob: BlobProperties, params: dict[str, str], value) -> None:
        invocation = self.entry.invoke(
            value, reason=f"New blob detected({self.path.container}/{blob.name})")
        write_queue_outputs(self.accounts, self.entry, invocation,
                            self.options.message_encoding, params)

    def _failed(self, blob: BlobProperties, key: tuple[str, str]) -> None:
        attempts = self._failures.get(key, 0) + 1
        self._failures[key] = attempts
        if attempts < self.options.max_dequeue_count:
            self._retry_at[key] = time.monotonic() + self.options.visibility_timeout
            self._seen.discard(key)
            return
        log.warning("Blob '%s/%s' has failed %d times in function %s: recording it in queue "
                    "'%s'.", self.path.container, blob.name, attempts, self.entry.name,
                    POISON_QUEUE)
        poison = {"Type": "BlobTrigger", "FunctionId": self.function_id, "BlobType": "BlockBlob",
                  "ContainerName": self.path.container, "BlobName": blob.name,
                  "ETag": blob.etag}
        self.accounts.queue(self.entry.connection, POISON_QUEUE).send_message(
            encode_message(json.dumps(poison), self.options.message_encoding))
        self._write_receipt(blob)   # given up: a restart must not retry it either
        self._failures.pop(key, None)
