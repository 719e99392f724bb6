"""Storage clients per binding `connection` (the name of an app setting), and the queue
output binding, written the way the Functions host writes it."""
from __future__ import annotations

import base64
import os
import threading
from typing import Any, Iterable

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient, QueueServiceClient

import azure.functions as func

from devhost.registry import (DEFAULT_CONNECTION, BindingError, FunctionEntry, Invocation,
                              app_setting, expand)
from shared import settings

# The storage SDK's default back-off starts at 15 s: too slow to notice a missing Azurite.
RETRY = {"retry_total": 2, "initial_backoff": 0.2, "increment_base": 1.5,
         "random_jitter_range": 0.5}


def _identity_credential(connection: str):
    from azure.identity import DefaultAzureCredential
    client_id = os.environ.get(f"{connection}__clientId")
    return DefaultAzureCredential(managed_identity_client_id=client_id or None)


class StorageAccounts:
    """Raw service clients (no message encoding: this module encodes like the host) per
    connection setting, creating queues and containers on first use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._services: dict[tuple[str, str], Any] = {}
        self._created: set[tuple[str, str, str]] = set()

    def _service(self, connection: str, kind: str):
        key = (connection, kind)
        with self._lock:
            if key not in self._services:
                self._services[key] = self._connect(connection, kind)
            return self._services[key]

    @staticmethod
    def _connect(connection: str, kind: str):
        """Few retries: listeners poll again anyway, and an unreachable account should fail
        the start quickly rather than after minutes of back-off."""
        cls = {"queue": QueueServiceClient, "blob": BlobServiceClient}[kind]
        value = os.environ.get(connection)
        account = os.environ.get(f"{connection}__accountName")
        if not value and not account and connection == DEFAULT_CONNECTION:
            value = settings.get(connection)  # the local default, UseDevelopmentStorage=true
        if value:
            return cls.from_connection_string(value, **RETRY)
        if account:
            return cls(f"https://{account}.{kind}.core.windows.net",
                       credential=_identity_credential(connection), **RETRY)
        raise BindingError(f"connection setting {connection} is not set")

    def _ensure(self, connection: str, kind: str, name: str, create) -> None:
        key = (connection, kind, name)
        if key in self._created:
            return
        try:
            create()
        except ResourceExistsError:
            pass
        self._created.add(key)

    def queue(self, connection: str, name: str) -> QueueClient:
        client = self._service(connection, "queue").get_queue_client(name)
        self._ensure(connection, "queue", name, client.create_queue)
        return client

    def blob_service(self, connection: str) -> BlobServiceClient:
        return self._service(connection, "blob")

    def container(self, connection: str, name: str) -> ContainerClient:
        client = self.blob_service(connection).get_container_client(name)
        self._ensure(connection, "blob", name, client.create_container)
        return client


def encode_message(body: str | bytes, encoding: str) -> str:
    """A queue message's wire text: base64 of the UTF-8 bytes unless messageEncoding is none."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return base64.b64encode(raw).decode() if encoding == "base64" else raw.decode()


def decode_message(text: str, encoding: str) -> bytes:
    """The body of a queue message; ValueError when it is not the base64 the host expects
    (whitespace is ignored, as by .NET's Convert.FromBase64String)."""
    if encoding == "base64":
        return base64.b64decode("".join(text.split()), validate=True)
    return text.encode()


def _message_bodies(value: Any) -> Iterable[str | bytes]:
    """What the Python worker accepts for a queue output: str, bytes, QueueMessage, or a list."""
    if isinstance(value, (str, bytes)):
        return [value]
    if isinstance(value, func.QueueMessage):
        return [value.get_body()]
    if isinstance(value, Iterable):
        return [body for item in value for body in _message_bodies(item)]
    raise TypeError(f"unsupported queue output value {type(value).__name__}")


def write_queue_outputs(accounts: StorageAccounts, entry: FunctionEntry, invocation: Invocation,
                        encoding: str, values: dict[str, str]) -> None:
    """Send what the function set on its queue output bindings (after it returned)."""
    for binding in entry.outputs:
        value = invocation.outputs.get(binding["name"])
        if binding["type"] != "queue" or value is None:
            continue
        name = expand(app_setting(binding["queueName"]), values)
        client = accounts.queue(binding.get("connection") or DEFAULT_CONNECTION, name)
        for body in _message_bodies(value):
            client.send_message(encode_message(body, encoding))
