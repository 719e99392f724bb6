"""Service clients for the app's storage account, from a connection string or, in Azure,
an identity-based connection (AzureWebJobsStorage__accountName + managed identity)."""
from __future__ import annotations

from functools import lru_cache

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from shared import settings


def _credential(client_id: str | None):
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
    return ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()


def _make(kind: str, client_cls, **kwargs):
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
    # The Functions host reads and writes queue messages base64-encoded (host.json messageEncoding).
    return _make("queue", QueueServiceClient,
                 message_encode_policy=TextBase64EncodePolicy(),
                 message_decode_policy=TextBase64DecodePolicy())


def reset() -> None:
    """Forget cached clients (after settings change, e.g. between test sessions)."""
    for factory in (blob_service, table_service, queue_service):
        factory.cache_clear()
