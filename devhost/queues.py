"""Queue triggers with the Functions host's semantics (functions-bindings-storage-queue):
peek-lock with a renewed lease, delete on success, retry after host.json visibilityTimeout
on failure with the dequeue count rising, `<queue>-poison` after maxDequeueCount attempts,
batches of batchSize fetched again when fewer than newBatchThreshold are running, and random
exponential polling back-off up to maxPollingInterval."""
from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import Executor

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueClient
from azure.storage.queue import QueueMessage as StoredMessage

import azure.functions.queue as func_queue

from devhost.hostconfig import QueueOptions
from devhost.listener import StorageListener
from devhost.registry import FunctionEntry
from devhost.storage import StorageAccounts, decode_message, write_queue_outputs

log = logging.getLogger("face.runtime")

LEASE_SECONDS = 60          # how long a fetched message stays invisible; renewed at half-time
FIRST_POLL_DELAY = 0.1      # after a hit
MISS_POLL_DELAY = 0.2       # after the first miss, then doubling up to maxPollingInterval


class Lease:
    """A message this host holds invisible; its pop receipt changes with every update."""

    def __init__(self, client: QueueClient, message: StoredMessage):
        self.client = client
        self.message = message
        self.pop_receipt = message.pop_receipt
        self.renew_at = time.monotonic() + LEASE_SECONDS / 2
        self._lock = threading.Lock()
        self.done = False

    def renew(self) -> None:
        with self._lock:
            if not self.done:
                updated = self.client.update_message(self.message.id, self.pop_receipt,
                                                     visibility_timeout=LEASE_SECONDS)
                self.pop_receipt = updated.pop_receipt
                self.renew_at = time.monotonic() + LEASE_SECONDS / 2

    def release(self, delay: float) -> None:
        """Make the message visible again after `delay` seconds (a retry)."""
        with self._lock:
            self.done = True
            self.client.update_message(self.message.id, self.pop_receipt,
                                       visibility_timeout=int(round(delay)))

    def delete(self) -> None:
        with self._lock:
            self.done = True
            self.client.delete_message(self.message.id, self.pop_receipt)


class LeaseKeeper:
    """One thread renewing every held lease before it runs out, so long runs stay invisible."""

    def __init__(self):
        self._leases: set[Lease] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def hold(self, lease: Lease) -> None:
        with self._lock:
            self._leases.add(lease)

    def drop(self, lease: Lease) -> None:
        with self._lock:
            self._leases.discard(lease)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                due = [lease for lease in self._leases if lease.renew_at <= time.monotonic()]
            for lease in due:
                try:
                    lease.renew()
                except AzureError as err:
                    log.warning("could not renew message %s: %s", lease.message.id, err)


def to_function_message(message: StoredMessage, body: bytes) -> func_queue.QueueMessage:
    return func_queue.QueueMessage(
        id=message.id, body=body, dequeue_count=message.dequeue_count,
        expiration_time=message.expires_on, insertion_time=message.inserted_on,
        time_next_visible=message.next_visible_on, pop_receipt=message.pop_receipt)


class QueueListener(StorageListener):
    def __init__(self, entry: FunctionEntry, accounts: StorageAccounts, options: QueueOptions,
                 pool: Executor, leases: LeaseKeeper):
        super().__init__(entry, accounts, options, pool)
        self.leases = leases
        self.queue_name = entry.setting("queueName")

    def prepare(self) -> None:
        self.client = self.accounts.queue(self.entry.connection, self.queue_name)

    def run(self) -> None:
        delay = FIRST_POLL_DELAY
        while not self.stopping.is_set():
            # Fetch a new batch once no more than newBatchThreshold messages are running.
            self.running.wait(self.options.new_batch_threshold, unless=self.stopping)
            if self.stopping.is_set():
                return
            try:
                fetched = self._fetch()
            except AzureError as err:
                log.warning("queue %s: %s", self.queue_name, err)
                fetched = 0
                delay = self.options.max_polling_interval
            if fetched:
                delay = FIRST_POLL_DELAY
            else:
                delay = min(max(delay * 2, MISS_POLL_DELAY), self.options.max_polling_interval)
            # Random back-off, as the host does, so many listeners do not poll in step.
            self.stopping.wait(delay * random.uniform(0.8, 1.0))

    def _fetch(self) -> int:
        count = self.options.batch_size
        messages = list(self.client.receive_messages(
            messages_per_page=min(count, 32), max_messages=count,
            visibility_timeout=LEASE_SECONDS))
        for message in messages:
            lease = Lease(self.client, message)
            self.leases.hold(lease)
            self.submit(self._process, lease)
        return len(messages)

    def _process(self, lease: Lease) -> None:
        try:
            if self.stopping.is_set():
                lease.release(0)  # fetched but not started: let another run take it now
            elif lease.message.dequeue_count > self.options.max_dequeue_count:
                self._poison(lease)   # e.g. the process died while running it
            else:
                self._run(lease)
        except AzureError as err:
            log.warning("queue %s, message %s: %s", self.queue_name, lease.message.id, err)
        finally:
            self.leases.drop(lease)

    def _run(self, lease: Lease) -> None:
        message = lease.message
        try:
            body = decode_message(message.content, self.options.message_encoding)
        except ValueError:
            # As the host's MessageDecodingFailed handler: no retries, straight to poison.
            log.warning("Message decoding has failed! Check MessageEncoding settings. "
                        "MessageId=%s.", message.id)
            self._poison(lease)
            return
        try:
            invocation = self.entry.invoke(
                to_function_message(message, body),
                reason=f"New queue message detected on '{self.queue_name}'.")
            write_queue_outputs(self.accounts, self.entry, invocation,
                                self.options.message_encoding, {})
        except Exception as err:  # noqa: BLE001 - any failure is a retry, as in the host
            log.warning("queue %s, message %s (attempt %d): %s: %s", self.queue_name,
                        message.id, message.dequeue_count, type(err).__name__, err)
            if message.dequeue_count >= self.options.max_dequeue_count:
                self._poison(lease)
            else:
                lease.release(self.options.visibility_timeout)
            return
        try:
            lease.delete()
        except ResourceNotFoundError:
            log.warning("message %s was gone before it could be deleted", message.id)

    def _poison(self, lease: Lease) -> None:
        poison = f"{self.queue_name}-poison"
        log.warning("Moving message %s (dequeue count %d, maxDequeueCount %d) to queue '%s'.",
                    lease.message.id, lease.message.dequeue_count,
                    self.options.max_dequeue_count, poison)
        # The content is copied as it is: still base64 when messageEncoding is base64.
        self.accounts.queue(self.entry.connection, poison).send_message(lease.message.content)
        lease.delete()
