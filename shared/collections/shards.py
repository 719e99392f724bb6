"""Embeddings of persisted faces, in Blob shards: training reads a few hundred blobs instead of
scanning tables of millions of rows.

Blob `collections/<storageId>/shards-<embedding version>/<nnn>` holds fixed-size records (face
id, owner id, float32 vector). The owner is the person (groups) or the face itself (face lists);
the shard is a hash of the owner, so all faces of a person share a shard and deleting a person
rewrites one blob.

Shards are block blobs, and every write is a block-list commit conditional on the blob's ETag
(retrying on a race): adding a face stages one block and commits the committed list plus it;
removing records stages the remaining records as one block and commits that block alone. Both are
atomic for readers, and concurrent writers never lose each other.

Never write a shard with a single Put Blob: such a blob has content but no committed block list,
so the next add would commit `[] + [new block]` and silently drop everything it held. A shard
left that way by an older version (its committed blocks do not add up to its size) is rewritten
as one block before anything is added to it. A shard whose block list grows long is compacted
into one block on the next add."""
from __future__ import annotations

import uuid
import zlib

import numpy as np
from azure.core import MatchConditions
from azure.core.exceptions import (HttpResponseError, ResourceExistsError, ResourceModifiedError,
                                   ResourceNotFoundError)
from azure.storage.blob import BlobBlock, BlobClient, ContainerClient

from shared.inference.recognizer import EMBEDDING_DIM
from shared.model_names import EMBEDDING_VERSION
from shared.storage import clients
from shared.storage.contention import attempts

CONTAINER = "collections"
DIM = EMBEDDING_DIM
RECORD = np.dtype([("face", "V16"), ("owner", "V16"), ("vector", "<f4", (DIM,))])
COMPACT_AT = 1000        # committed blocks; every add re-sends the list, so keep it short


def uuid_bytes(ids: list[str]) -> np.ndarray:
    return np.array([uuid.UUID(i).bytes for i in ids], dtype="V16")


def uuid_text(value) -> str:
    return str(uuid.UUID(bytes=bytes(value)))


def shard_of(owner_id: str, shard_count: int) -> int:
    return zlib.crc32(uuid.UUID(owner_id).bytes) % shard_count


def records(face_ids: list[str], owner_ids: list[str], vectors: np.ndarray) -> np.ndarray:
    out = np.zeros(len(face_ids), RECORD)
    out["face"], out["owner"] = uuid_bytes(face_ids), uuid_bytes(owner_ids)
    out["vector"] = vectors
    return out


def container() -> ContainerClient:
    return clients.container(CONTAINER)


def shards_prefix(storage_id: str) -> str:
    """Where the collection's shards of the current embedding space live."""
    return f"{storage_id}/shards-{EMBEDDING_VERSION}/"


def _shard_name(storage_id: str, shard: int) -> str:
    return f"{shards_prefix(storage_id)}{shard:03d}"


def _blob(storage_id: str, shard: int) -> BlobClient:
    return container().get_blob_client(_shard_name(storage_id, shard))


def _unchanged_since(etag: str | None) -> dict:
    """Write conditions: the blob is still at `etag`, or still absent when `etag` is None."""
    if etag is None:
        return {"match_condition": MatchConditions.IfMissing}
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def existing_shards(storage_id: str) -> list[int]:
    prefix = shards_prefix(storage_id)
    return sorted(int(b.name[len(prefix):]) for b in container().list_blobs(prefix))


def read(storage_id: str, shard: int) -> tuple[np.ndarray, str | None]:
    """The shard's records and ETag; no records and no ETag when the shard does not exist."""
    try:
        download = _blob(storage_id, shard).download_blob()
    except ResourceNotFoundError:
        return np.zeros(0, RECORD), None
    return np.frombuffer(download.readall(), RECORD), download.properties.etag


def append(storage_id: str, shard: int, new: np.ndarray) -> None:
    """Add records to a shard without losing concurrent additions."""
    blob = _blob(storage_id, shard)
    for _ in attempts("one shard"):
        try:
            properties = blob.get_blob_properties()
            committed, _ = blob.get_block_list("committed")
        except ResourceNotFoundError:
            properties, committed = None, []
        etag = properties.etag if properties else None
        listed = sum(block.size for block in committed)
        if len(committed) >= COMPACT_AT or (properties and listed != properties.size):
            if _rewrite(storage_id, shard, lambda old: np.concatenate([old, new])):
                return
            continue
        if _commit(blob, [block.id for block in committed], new.tobytes(), etag):
            return


def _commit(blob: BlobClient, kept: list[str], data: bytes, etag: str | None) -> bool:
    """Stage `data` as a new block and commit `kept + [it]` if the blob is still at `etag`.

    False when raced. Staged blocks not named by a commit are discarded, so a retry stages
    afresh."""
    block = uuid.uuid4().hex
    blob.stage_block(block, data)
    try:
        blob.commit_block_list([BlobBlock(b) for b in kept] + [BlobBlock(block)],
                               **_unchanged_since(etag))
        return True
    except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError):
        return False
    except HttpResponseError as err:
        if err.status_code in (400, 409, 412):    # 400: a block was discarded by a race
            return False
        raise


def remove(storage_id: str, shard: int, owners: set[str] = frozenset(),
           faces: set[str] = frozenset()) -> int:
    """Drop the records of `owners` and of `faces` from a shard; returns how many went."""
    owner_bytes, face_bytes = uuid_bytes(sorted(owners)), uuid_bytes(sorted(faces))
    removed = 0

    def keep(old: np.ndarray) -> np.ndarray | None:
        nonlocal removed
        gone = np.isin(old["owner"], owner_bytes) | np.isin(old["face"], face_bytes)
        removed = int(gone.sum())
        return old[~gone] if removed else None
    for _ in attempts("one shard"):
        if _rewrite(storage_id, shard, keep):
            return removed


def _read_for_write(storage_id: str, shard: int) -> tuple[np.ndarray, str | None]:
    """The shard's records and the ETag they are the content of, proven by the ETag being
    the same before and after the download (ETags never repeat). A download's own ETag is not
    enough: Azurite answers a download with the content of one version and, when a commit
    lands meanwhile, the ETag of the next."""
    blob = _blob(storage_id, shard)
    for _ in attempts("one shard"):
        etag = _etag(blob)
        if etag is None:
            return np.zeros(0, RECORD), None
        try:
            data = blob.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
            records = np.frombuffer(data.readall(), RECORD)
        except (ResourceModifiedError, ResourceNotFoundError):
            continue
        if _etag(blob) == etag:
            return records, etag


def _etag(blob: BlobClient) -> str | None:
    try:
        return blob.get_blob_properties().etag
    except ResourceNotFoundError:
        return None


def _rewrite(storage_id: str, shard: int, change) -> bool:
    """Replace the shard with `change(records)` if nobody wrote it meanwhile.

    `change` returns None for "nothing to do". True when done, False when raced."""
    old, etag = _read_for_write(storage_id, shard)
    new = change(old)
    if new is None:
        return True
    blob = _blob(storage_id, shard)
    if len(new):
        return _commit(blob, [], new.tobytes(), etag)
    try:
        blob.delete_blob(**_unchanged_since(etag))
        return True
    except (ResourceModifiedError, ResourceNotFoundError):
        return False


def delete_collection_blobs(storage_id: str) -> None:
    """Delete every blob of a collection: shards and snapshots."""
    names = [b.name for b in container().list_blobs(f"{storage_id}/")]
    for start in range(0, len(names), 256):        # the batch API takes 256 at most
        container().delete_blobs(*names[start:start + 256])
