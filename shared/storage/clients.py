"""Service clients for the app's storage account, from a connection string or, in Azure,
an identity-based connection (AzureWebJobsStorage__accountName + managed identity)."""
from __future__ import annotations

from functools import lru_cache

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry
from azure.storage.queue import QueueClient, QueueServiceClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from shared import settings

# Storage that does not answer must not hold a request for minutes, as the SDKs' defaults do
# (20 s connect timeout; blobs and queues retry three times 15 s + 3^n s apart): connect within
# 3 s, retry a failed connection once, back off briefly. Throttling (503) is still retried.
CONNECT_TIMEOUT = 3
_OPTIONS = {
    "blob": lambda: {"connection_timeout": CONNECT_TIMEOUT, "retry_policy": _storage_retry()},
    "queue": lambda: {"connection_timeout": CONNECT_TIMEOUT, "retry_policy": _storage_retry()},
    "table": lambda: {"connection_timeout": CONNECT_TIMEOUT, "retry_connect": 1,
                      "retry_backoff_factor": 0.4, "retry_backoff_max": 5},
}


def _storage_retry() -> ExponentialRetry:
    return ExponentialRetry(initial_backoff=0.5, increment_base=2, retry_total=3,
                            random_jitter_range=0.5, retry_connect=1)


def _credential(client_id: str | None):
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
    return ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()


def _make(kind: str, client_cls, **kwargs):
    kwargs = {**_OPTIONS[kind](), **kwargs}
    cfg = settings.storage_config()
    if cfg.connection_string:
        return client_cls.from_connection_string(cfg.connection_string, **kwargs)
    url = f"https://{cfg.account_name}.{kind}.core.windows.net"
    return client_cls(url, credential=_credential(cfg.client_id), **kwargs)


@lru_cache(maxsize=None)
def blob_service() -> BlobServiceClient:
    return _make("blob", BlobServiceClient)


@lru_cache(maxsize=None)
def table_service() -> TableServiceClient:
    return _make("table", TableServiceClient)


@lru_cache(maxsize=None)
def queue_service() -> QueueServiceClient:
    return _make("queue", QueueServiceClient)


@lru_cache(maxsize=None)
def _create_once(account: settings.StorageConfig, service: str, name: str) -> None:
    create = {"table": lambda: table_service().create_table(name),
              "container": lambda: blob_service().create_container(name),
              "queue": lambda: queue_service().create_queue(name)}[service]
    try:
        create()
    except ResourceExistsError:
        pass


def ensure(service: str, name: str) -> None:
    """Create a table / container / queue once per process and storage account (tests switch
    accounts)."""
    _create_once(settings.storage_config(), service, name)


def table(name: str) -> TableClient:
    ensure("table", name)
    return table_service().get_table_client(name)


def container(name: str) -> ContainerClient:
    ensure("container", name)
    return blob_service().get_container_client(name)


def queue(name: str) -> QueueClient:
    """A queue whose messages are base64-encoded, as the Functions host reads and writes them
    (host.json messageEncoding). The service client does not pass message policies on to the
    queue clients it makes, so they are set here."""
    ensure("queue", name)
    return queue_service().get_queue_client(
        name, message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy())


def reset() -> None:
    """Forget cached clients (after settings change, e.g. between test sessions)."""
    for factory in (blob_service, table_service, queue_service):
        factory.cache_clear()
