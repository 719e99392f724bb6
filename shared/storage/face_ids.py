"""Detected faces kept for `faceIdTimeToLive` seconds (contract §3.1, §10): a cache with expiry
in Table storage, read back by verify / find similar / group / identify.

Layout: table `faceids`, PartitionKey = first hex digit of the faceId (16 partitions, so a
burst of detects spreads over partitions), RowKey = faceId. Lookups of many ids group them by
partition and ask each partition for up to 14 RowKeys per query (the Table service allows 15
comparisons per filter), in parallel. One face (the usual detect) is written by a PUT of its own
(direct_upsert.py: without the SDK's pipeline, 2 ms less), several by entity group
transactions.

Expiry removes the embedding: an expired entity is invisible to `find` at once, deleted by the
`find` that meets it, and otherwise by `purge_expired`, which a timer function runs every minute.
So an embedding outlives its faceId's time to live by about a minute at most.

Each entity names the embedding space it was computed in (EMBEDDING_VERSION). A faceId from
another space (detected before an upgrade of the recognizer, within its time to live) is
treated as expired: its vector cannot be compared with today's."""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Iterable, Iterator

import numpy as np
from azure.data.tables import TableClient, UpdateMode

from shared import clock, settings
from shared.model_names import EMBEDDING_VERSION
from shared.errors import FaceError
from shared.storage import clients, tables
from shared.storage.direct_upsert import DirectUpsert

TABLE = "faceids"
_IDS_PER_QUERY = 14            # + the PartitionKey comparison = the service's limit of 15
# Storage round trips of one lookup run side by side (I/O bound; threads start on demand).
_POOL = ThreadPoolExecutor(16, thread_name_prefix="face-ids")


@dataclass(frozen=True)
class StoredFace:
    face_id: str
    embedding: np.ndarray                  # (EMBEDDING_DIM,) float32, L2-normalised
    recognition_model: str                 # 'recognition_01'..'recognition_04'
    rectangle: tuple[int, int, int, int]   # left, top, width, height
    expires_at: datetime                   # aware UTC


def expiry(ttl_seconds: int) -> datetime:
    return clock.now() + timedelta(seconds=ttl_seconds)


def _partition(face_id: str) -> str:
    return face_id[0].lower()


def _to_entity(face: StoredFace) -> dict:
    left, top, width, height = face.rectangle
    return {"PartitionKey": _partition(face.face_id), "RowKey": face.face_id.lower(),
            "Embedding": np.asarray(face.embedding, dtype="<f4").tobytes(),
            "RecognitionModel": face.recognition_model, "EmbeddingVersion": EMBEDDING_VERSION,
            "Left": left, "Top": top, "Width": width, "Height": height,
            "ExpiresAt": face.expires_at}


def _from_entity(entity) -> StoredFace:
    return StoredFace(
        face_id=entity["RowKey"],
        embedding=np.frombuffer(bytes(entity["Embedding"]), dtype="<f4").astype(np.float32),
        recognition_model=entity["RecognitionModel"],
        rectangle=(entity["Left"], entity["Top"], entity["Width"], entity["Height"]),
        expires_at=entity["ExpiresAt"])


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _group(items: Iterable, key) -> dict[str, list]:
    groups: dict[str, list] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _transactions(operation: str, entities: Iterable) -> list[list[tuple]]:
    """Entity group transactions (one partition, at most 100 entities each)."""
    rows = sorted(entities, key=lambda entity: entity["PartitionKey"])
    return [[(operation, entity) for entity in batch] for batch in tables.batches(rows)]


class FaceIdStore:
    def __init__(self, table: TableClient | None = None) -> None:
        self._table = table or clients.table(TABLE)
        self._direct = DirectUpsert.for_client(self._table, clients.CONNECT_TIMEOUT)

    def save(self, faces: list[StoredFace]) -> None:
        if len(faces) == 1:     # the usual detect: one round trip, no transaction envelope
            entity = _to_entity(faces[0])
            if not (self._direct and self._direct.upsert(entity)):
                self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
            return
        transactions = _transactions("upsert", map(_to_entity, faces))
        self._parallel(self._table.submit_transaction, transactions)

    def find(self, face_ids: list[str]) -> dict[str, StoredFace]:
        """The stored, unexpired faces among `face_ids`, keyed by the ids as given."""
        wanted = {face_id.lower(): face_id for face_id in face_ids}
        by_partition = _group(sorted(wanted), _partition)
        queries = [(partition, chunk) for partition, keys in by_partition.items()
                   for chunk in _chunks(keys, _IDS_PER_QUERY)]
        now = clock.now()
        found: dict[str, StoredFace] = {}
        expired: list[dict] = []
        for faces in self._parallel(lambda q: self._query(*q), queries):
            for face, version in faces:
                if face.expires_at > now and version == EMBEDDING_VERSION:
                    found[wanted[face.face_id]] = face
                else:
                    expired.append({"PartitionKey": _partition(face.face_id),
                                    "RowKey": face.face_id})
        self._delete(expired)
        return found

    def purge_expired(self) -> int:
        """Delete every expired entity; returns how many were deleted."""
        expired = self._table.query_entities(
            "ExpiresAt le @now", parameters={"now": clock.now()},
            select=["PartitionKey", "RowKey"])
        return self._delete(list(expired))

    def _delete(self, entities: list[dict]) -> int:
        transactions = _transactions("delete", entities)
        self._parallel(self._table.submit_transaction, transactions)
        return len(entities)

    def _query(self, partition: str, row_keys: list[str]) -> list[tuple[StoredFace, str]]:
        """The faces found, each with the embedding space it was computed in."""
        parameters = {"pk": partition, **{f"r{i}": key for i, key in enumerate(row_keys)}}
        rows = " or ".join(f"RowKey eq @r{i}" for i in range(len(row_keys)))
        # The SDK substitutes @names in space-separated words only, hence "( ... )".
        entities = self._table.query_entities(f"PartitionKey eq @pk and ( {rows} )",
                                              parameters=parameters)
        return [(_from_entity(e), e.get("EmbeddingVersion", "")) for e in entities]

    @staticmethod
    def _parallel(work, items: list) -> list:
        if len(items) <= 1:
            return [work(item) for item in items]
        return list(_POOL.map(work, items))


def default_store() -> FaceIdStore:
    """One store per process (and storage account): its table client keeps connections open."""
    return _store_for(settings.storage_config())


@lru_cache(maxsize=4)
def _store_for(account: settings.StorageConfig) -> FaceIdStore:
    return FaceIdStore()


def load_faces(face_ids: list[str], status: int) -> dict[str, StoredFace]:
    """The cached faces by id; FaceNotFound (with `status`: 404 for verify, 400 elsewhere) when
    one is unknown or expired."""
    found = default_store().find(face_ids)
    for face_id in face_ids:
        if face_id not in found:
            raise FaceError("FaceNotFound", f"Face '{face_id}' is not found or has expired.",
                            status)
    return found
