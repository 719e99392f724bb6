"""Trained snapshots: their blobs, the in-memory search structure and the per-process cache.

A snapshot is immutable and versioned (the training job id): blobs
`collections/<storageId>/snapshots/<version>/part-<nnnn>` written by the training parts, then
`.../manifest.json` naming them. Only a snapshot whose version the collection's training state
points at is ever read, and the pointer moves only after every blob exists (see training.py).

In memory each face costs 132 bytes: its vector quantised to int8 with a float32 scale
(cosine error below 0.005). Rows are sorted by owner (person, or the face itself in face
lists), so a person's faces are adjacent and the per-person score is one `maximum.reduceat`.
Scoring runs ONNX Runtime's MatMulInteger (vectorised int8 GEMM, about 25 ms per query for a
million faces on one core), because numpy has no fast int8 or float16 product.

Per-person score rule: a person's similarity to a query face is the best cosine similarity of
any of the person's faces."""
from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import onnxruntime as ort
from azure.core.exceptions import ResourceNotFoundError

from shared import settings
from shared.collections import shards
from shared.collections.shards import DIM, uuid_bytes, uuid_text

CHUNK_ROWS = 1 << 16      # rows per scoring chunk: bounds the int32 scratch per query
_PARALLEL = 8


@dataclass(frozen=True)
class Part:
    owners: np.ndarray     # (n,) V16, sorted
    vectors: np.ndarray    # (n, DIM) int8
    scales: np.ndarray     # (n,) float32: vector ≈ int8 * scale

    @classmethod
    def from_records(cls, records: np.ndarray) -> "Part":
        records = records[np.argsort(records["owner"], kind="stable")]
        vectors, scales = quantize(records["vector"])
        return cls(records["owner"].copy(), vectors, scales)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, owners=self.owners.view(np.uint8), vectors=self.vectors,
                 scales=self.scales)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Part":
        arrays = np.load(io.BytesIO(data))
        if arrays["vectors"].shape[1:] != (DIM,):
            raise OutdatedSnapshot("trained from embeddings of an earlier recognizer")
        return cls(arrays["owners"].view("V16").reshape(-1), arrays["vectors"], arrays["scales"])


class OutdatedSnapshot(Exception):
    """A snapshot of another embedding space: the collection has to be trained again."""


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8 quantisation."""
    peak = np.abs(vectors).max(axis=1) if len(vectors) else np.zeros(0, np.float32)
    scales = np.where(peak > 0, peak / 127, 1).astype(np.float32)
    return np.round(vectors / scales[:, None]).astype(np.int8), scales


class Snapshot:
    """Searchable faces of one collection at one version."""

    def __init__(self, version: str, parts: list[Part]):
        self.version = version
        owners = np.concatenate([p.owners for p in parts]) if parts else np.zeros(0, "V16")
        # Parts hold disjoint owners (one shard per owner), each sorted: runs are contiguous.
        new_run = np.ones(len(owners), bool)
        new_run[1:] = owners[1:] != owners[:-1]
        self.starts = np.flatnonzero(new_run)
        self.owners = owners[self.starts]
        self.scales = (np.concatenate([p.scales for p in parts]) if parts
                       else np.zeros(0, np.float32))
        # MatMulInteger wants the matrix as (DIM, rows): keep it transposed, chunk by chunk,
        # straight from the parts (no concatenated copy of every vector).
        self.chunks = [np.ascontiguousarray(p.vectors[s:s + CHUNK_ROWS].T)
                       for p in parts for s in range(0, len(p.vectors), CHUNK_ROWS)]

    @property
    def face_count(self) -> int:
        return len(self.scales)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.starts, self.owners, self.scales, *self.chunks))

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        """(queries, faces) cosine similarities."""
        query_scales = np.abs(queries).max(axis=1, keepdims=True) / 127
        query_scales[query_scales == 0] = 1
        quantised = (np.round(queries / query_scales) + 128).astype(np.uint8)
        session = _scoring_session()
        products = [session.run(None, {"a": quantised, "b": chunk, "zero": _ZERO})[0]
                    for chunk in self.chunks]
        scores = np.concatenate(products, axis=1).astype(np.float32)
        scores *= self.scales[None, :]
        scores *= query_scales.astype(np.float32)
        return scores

    def best_owners(self, queries: np.ndarray, top: int, excluded: set[str] = frozenset(),
                    only: set[str] | None = None) -> list[list[tuple[str, float]]]:
        """For each query, up to `top` owners by their best face's similarity, best first;
        `only`, if given, the owners that may be returned."""
        if not len(self.owners):
            return [[] for _ in queries]
        per_owner = np.maximum.reduceat(self.similarities(queries), self.starts, axis=1)
        if excluded:
            per_owner[:, np.isin(self.owners, uuid_bytes(sorted(excluded)))] = -np.inf
        if only is not None:
            per_owner[:, ~np.isin(self.owners, uuid_bytes(sorted(only)))] = -np.inf
        return [self._top(row, top) for row in per_owner]

    def _top(self, row: np.ndarray, top: int) -> list[tuple[str, float]]:
        count = min(top, int(np.isfinite(row).sum()))
        if count == 0:
            return []
        picked = np.argpartition(-row, count - 1)[:count]
        picked = picked[np.argsort(-row[picked], kind="stable")]
        return [(uuid_text(self.owners[i]), float(row[i])) for i in picked]


_ZERO = np.array(128, np.uint8)


@lru_cache(maxsize=1)
def _scoring_session() -> ort.InferenceSession:
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b", "zero"], ["y"])], "scores",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["queries", DIM]),
         helper.make_tensor_value_info("b", TensorProto.INT8, [DIM, "faces"]),
         helper.make_tensor_value_info("zero", TensorProto.UINT8, [])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["queries", "faces"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(settings.get("FACE_ORT_THREADS"))
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


# --- blobs ---------------------------------------------------------------------------------

def prefix(storage_id: str, version: str) -> str:
    return f"{storage_id}/snapshots/{version}/"


def part_name(storage_id: str, version: str, index: int) -> str:
    return f"{prefix(storage_id, version)}part-{index:04d}"


def write_part(storage_id: str, version: str, index: int, part: Part) -> None:
    # Overwrites are fine: a retried part writes the same content under the same name.
    shards.container().upload_blob(part_name(storage_id, version, index), part.to_bytes(),
                                   overwrite=True)


def write_manifest(storage_id: str, version: str, part_count: int, face_count: int) -> None:
    manifest = {"version": version, "parts": part_count, "faces": face_count}
    shards.container().upload_blob(f"{prefix(storage_id, version)}manifest.json",
                                   json.dumps(manifest), overwrite=True)


def read_part(storage_id: str, version: str, index: int) -> Part:
    return Part.from_bytes(shards.container().download_blob(
        part_name(storage_id, version, index)).readall())


def load(storage_id: str, version: str) -> Snapshot:
    manifest = json.loads(shards.container().download_blob(
        f"{prefix(storage_id, version)}manifest.json").readall())
    with ThreadPoolExecutor(_PARALLEL) as pool:
        parts = list(pool.map(lambda i: read_part(storage_id, version, i),
                              range(manifest["parts"])))
    return Snapshot(version, parts)


def delete(storage_id: str, version: str) -> None:
    """Delete a version's blobs; another process deleting them at the same time is fine."""
    names = [b.name for b in shards.container().list_blobs(prefix(storage_id, version))]
    for name in names:
        try:
            shards.container().delete_blob(name, delete_snapshots="include")
        except ResourceNotFoundError:
            pass


# --- per-process cache ---------------------------------------------------------------------

_cache: dict[str, Snapshot] = {}
_lock = threading.Lock()


def cached(storage_id: str, version: str, build) -> Snapshot:
    """The snapshot of `storage_id` at `version`, built by `build()` only when the cached one
    is of another version (one load per process per training)."""
    snapshot = _cache.get(storage_id)
    if snapshot is not None and snapshot.version == version:
        return snapshot
    with _lock:
        snapshot = _cache.get(storage_id)
        if snapshot is None or snapshot.version != version:
            snapshot = _cache[storage_id] = build()
    return snapshot


def trained(storage_id: str, version: str) -> Snapshot:
    return cached(storage_id, version, lambda: load(storage_id, version))


def forget(storage_id: str) -> None:
    _cache.pop(storage_id, None)
