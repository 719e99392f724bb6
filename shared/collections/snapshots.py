"""Trained snapshots: their blobs, the in-memory search structure and the per-process cache.

A snapshot is immutable and versioned (the training job id): blobs
`collections/<storageId>/snapshots/<version>/part-<nnnn>` written by the training parts, then
`.../manifest.json` naming them. Only a snapshot whose version the collection's training state
points at is ever read, and the pointer moves only after every blob exists (see training.py).

In memory each face of a small gallery costs 260 bytes: its vector quantised to int8 with a
float32 scale (cosine error below 0.005). Rows are sorted by owner (person, or the face itself
in face lists), so a person's faces are adjacent and the per-person score is one
`maximum.reduceat`.
Scoring runs ONNX Runtime's MatMulInteger (vectorised int8 GEMM, about 25 ms per query for a
million faces on one core), because numpy has no fast int8 or float16 product.

A large gallery (ann.wanted) is an `IndexedSnapshot` instead: its int8 rows, scales, owners
and the owner run of each row live in memory-mapped files (unlinked at once: the page cache
holds them, not the process), and only the approximate index (ann.py, about 40 bytes per
face) is resident. The index proposes candidate faces; every face of each candidate's owner
is then scored exactly as above, so a person found has the same score as exact search gives
it, and deleted owners are filtered after scoring, never reintroduced by the index. Trained
snapshots carry the index as a blob (`.../index`, its ann.VERSION in the manifest); live ones
build it when they are built.

Per-person score rule: a person's similarity to a query face is the best cosine similarity of
any of the person's faces."""
from __future__ import annotations

import io
import json
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import onnxruntime as ort
from azure.core.exceptions import ResourceNotFoundError

from shared import settings
from shared.collections import ann, shards
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
    """Searchable faces of one collection at one version, scored exactly."""

    def __init__(self, version: str, parts: list[Part]):
        self.version = version
        owners = np.concatenate([p.owners for p in parts]) if parts else np.zeros(0, "V16")
        # Parts hold disjoint owners (one shard per owner), each sorted: runs are contiguous.
        self.starts = run_starts(owners)
        self.owners = owners[self.starts]
        self.scales = (np.concatenate([p.scales for p in parts]) if parts
                       else np.zeros(0, np.float32))
        # MatMulInteger wants the matrix as (DIM, rows): keep it transposed, chunk by chunk,
        # straight from the parts (no concatenated copy of every vector).
        self.chunks = [np.ascontiguousarray(p.vectors[s:s + CHUNK_ROWS].T)
                       for p in parts for s in range(0, len(p.vectors), CHUNK_ROWS)]
        widths = [chunk.shape[1] for chunk in self.chunks]
        self.chunk_starts = np.cumsum([0, *widths[:-1]]).astype(np.int64)

    @property
    def face_count(self) -> int:
        return len(self.scales)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.starts, self.owners, self.scales, *self.chunks))

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        """(queries, faces) cosine similarities."""
        quantised, query_scales = _quantise(queries)
        session = _scoring_session()
        products = [session.run(None, {"a": quantised, "b": chunk, "zero": _ZERO})[0]
                    for chunk in self.chunks]
        return _rescaled(np.concatenate(products, axis=1), self.scales, query_scales)

    def best_owners(self, queries: np.ndarray, top: int, excluded: set[str] = frozenset(),
                    only: set[str] | None = None) -> list[list[tuple[str, float]]]:
        """For each query, up to `top` owners by their best face's similarity, best first;
        `only`, if given, the owners that may be returned."""
        if not len(self.owners):
            return [[] for _ in queries]
        if only is not None:        # a few persons of a gallery: score their faces alone
            runs = _runs_of(self.owners, *self._key_index, only - set(excluded))
            ends = np.append(self.starts[1:], self.face_count)
            return _best_runs(self._faces(_ranges(self.starts[runs], ends[runs])),
                              self.owners[runs], ends[runs] - self.starts[runs], queries, top)
        per_owner = np.maximum.reduceat(self.similarities(queries), self.starts, axis=1)
        if excluded:
            per_owner[:, np.isin(self.owners, uuid_bytes(sorted(excluded)))] = -np.inf
        return [_top(self.owners, row, top) for row in per_owner]

    @cached_property
    def _key_index(self) -> tuple[np.ndarray, np.ndarray]:
        """See _key_index (the function); made at the first filtered search, as most
        galleries are never searched that way."""
        return _key_index(self.owners)

    def _faces(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The int8 vectors (len(rows), DIM) of ascending `rows` (from the transposed
        chunks), and their scales."""
        chunk_of = np.searchsorted(self.chunk_starts, rows, side="right") - 1
        vectors = np.zeros((0, DIM), np.int8) if not len(rows) else np.concatenate(
            [self.chunks[c][:, rows[chunk_of == c] - self.chunk_starts[c]].T
             for c in np.unique(chunk_of)])
        return np.ascontiguousarray(vectors), self.scales[rows]


class IndexedSnapshot:
    """A large gallery: rows in memory-mapped files, the approximate index (ann.py) resident.
    `parts` may be a generator: each part is copied to the files and dropped."""

    def __init__(self, version: str, parts, face_count: int, index: bytes | None = None):
        self.version = version
        self.vectors = _mapped((face_count, DIM), np.int8)
        self.scales = _mapped((face_count,), np.float32)
        starts, owners, row = [], [], 0
        for part in parts:
            count = len(part.owners)
            self.vectors[row:row + count] = part.vectors
            self.scales[row:row + count] = part.scales
            first = run_starts(part.owners)
            starts.append(first + row)
            owners.append(part.owners[first])
            row += count
        if row != face_count:
            raise ValueError(f"snapshot {version} has {row} faces, its manifest {face_count}")
        self.starts = _stored(np.concatenate(starts) if starts else np.zeros(0, np.int64))
        self.ends = _stored(np.append(self.starts[1:], face_count).astype(np.int64))
        # The run of each row (4 B per face, page cache): a candidate's owner in one read,
        # where a binary search of `starts` costs ~20 cache misses per candidate.
        self.run_of = _stored(np.repeat(np.arange(len(self.starts), dtype=np.int32),
                                        self.ends - self.starts))
        self.owners = _stored(np.concatenate(owners) if owners else np.zeros(0, "V16"))
        sorted_keys, key_order = _key_index(self.owners)
        self.sorted_keys, self.key_order = _stored(sorted_keys), _stored(key_order)
        self.index = (ann.from_bytes(index) if index is not None
                      else ann.build(self.vectors, self.scales))
        # Resident bytes: the index's (the rows are memory-mapped files).
        self.nbytes = len(index) if index is not None else len(ann.to_bytes(self.index))

    @property
    def face_count(self) -> int:
        return len(self.scales)

    def best_owners(self, queries: np.ndarray, top: int, excluded: set[str] = frozenset(),
                    only: set[str] | None = None, skipped: np.ndarray | None = None
                    ) -> list[list[tuple[str, float]]]:
        """As Snapshot.best_owners, with the same scores: `only` scores the allowed owners'
        faces exactly; otherwise the index proposes faces, and every face of their owners is
        scored exactly (asking for more candidates while fewer than `top` owners remain).
        `skipped`: more owners left out, as V16 ids (galleries.py: those changed since)."""
        allowed = (_runs_of(self.owners, self.sorted_keys, self.key_order, only)
                   if only is not None else None)
        left_out = uuid_bytes(sorted(excluded))
        if skipped is not None:
            left_out = np.concatenate([left_out, skipped])
        found = []
        for query in queries:
            count = ann.CANDIDATES
            while True:
                runs = allowed if allowed is not None else self._candidate_runs(query, count)
                best = self._best(query, runs, top, left_out)
                if allowed is not None or len(best) >= top or count >= self.face_count:
                    break
                count *= 4
            found.append(best)
        return found

    def _candidate_runs(self, query: np.ndarray, count: int) -> np.ndarray:
        return np.unique(self.run_of[ann.candidates(self.index, query[None, :], count)[0]])

    def _best(self, query: np.ndarray, runs: np.ndarray, top: int,
              left_out: np.ndarray) -> list[tuple[str, float]]:
        if len(left_out) and len(runs):
            runs = runs[~np.isin(self.owners[runs], left_out)]
        begins, ends = np.asarray(self.starts[runs]), np.asarray(self.ends[runs])
        rows = _ranges(begins, ends)
        return _best_runs((self.vectors[rows], self.scales[rows]),
                          np.asarray(self.owners[runs]), ends - begins, query[None, :], top)[0]


def _key_index(owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The owners' _keys sorted, and the runs in that order: what _runs_of searches."""
    keys = _keys(owners)
    order = np.argsort(keys, kind="stable")
    return keys[order], order


def _runs_of(owners: np.ndarray, sorted_keys: np.ndarray, key_order: np.ndarray,
             owner_ids: set[str]) -> np.ndarray:
    """The runs (indexes into `owners`) of the given owners, ascending; `sorted_keys` and
    `key_order` are the owners' _keys sorted and the runs in that order."""
    wanted = uuid_bytes(sorted(owner_ids))
    keys = _keys(wanted)
    positions = _ranges(np.searchsorted(sorted_keys, keys, side="left"),
                        np.searchsorted(sorted_keys, keys, side="right"))
    runs = np.asarray(key_order[positions])
    return np.unique(runs[np.isin(owners[runs], wanted)])


def _best_runs(faces: tuple[np.ndarray, np.ndarray], owners: np.ndarray, lengths: np.ndarray,
               queries: np.ndarray, top: int) -> list[list[tuple[str, float]]]:
    """For each query, the top `owners` by their best face; `faces`: the int8 rows
    (n, DIM) and scales of their faces, run after run, `lengths` faces each. Rows times the
    queries as columns: the same integer products as Snapshot's scan, without transposing
    the rows."""
    rows, scales = faces
    if not len(owners):
        return [[] for _ in queries]
    quantised, query_scales = _quantise(queries)
    columns = np.ascontiguousarray((quantised.astype(np.int16) - 128).astype(np.int8).T)
    session = _rows_scoring_session()
    products = [session.run(None, {"a": rows[s:s + CHUNK_ROWS], "b": columns})[0]
                for s in range(0, len(rows), CHUNK_ROWS)]
    scores = _rescaled(np.concatenate(products).T, scales, query_scales)
    per_owner = np.maximum.reduceat(scores, np.cumsum(lengths) - lengths, axis=1)
    return [_top(owners, row, top) for row in per_owner]


def run_starts(owners: np.ndarray) -> np.ndarray:
    """Where each run of equal owners starts."""
    new_run = np.ones(len(owners), bool)
    new_run[1:] = owners[1:] != owners[:-1]
    return np.flatnonzero(new_run)


def _ranges(begins: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The integers of every [begin, end), concatenated."""
    lengths = ends - begins
    offsets = np.repeat(begins - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + offsets


def _keys(owners: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each owner id, as a sortable integer."""
    return np.ascontiguousarray(owners.view(np.uint8).reshape(-1, 16)[:, :8]).view("<u8")[:, 0]


def _mapped(shape: tuple, dtype) -> np.ndarray:
    """A writable array in a memory-mapped temporary file, unlinked at once: its pages belong
    to the page cache, and the file goes when the array does."""
    handle, path = tempfile.mkstemp(prefix="face-snapshot-")
    os.close(handle)
    try:
        if not np.prod(shape):
            return np.zeros(shape, dtype)
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    finally:
        os.unlink(path)


def _stored(array: np.ndarray) -> np.ndarray:
    mapped = _mapped(array.shape, array.dtype)
    mapped[...] = array
    return mapped


def _quantise(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Queries as MatMulInteger's uint8 (zero point 128), and their (n, 1) scales."""
    query_scales = np.abs(queries).max(axis=1, keepdims=True) / 127
    query_scales[query_scales == 0] = 1
    quantised = (np.round(queries / query_scales) + 128).astype(np.uint8)
    return quantised, query_scales.astype(np.float32)


def _rescaled(products: np.ndarray, scales: np.ndarray, query_scales: np.ndarray) -> np.ndarray:
    """Cosine similarities from int32 products (one rounding order for both snapshot kinds,
    so that they give the same scores)."""
    scores = products.astype(np.float32)
    scores *= scales[None, :]
    scores *= query_scales
    return scores


def _top(owners: np.ndarray, row: np.ndarray, top: int) -> list[tuple[str, float]]:
    count = min(top, int(np.isfinite(row).sum()))
    if count == 0:
        return []
    picked = np.argpartition(-row, count - 1)[:count]
    picked = picked[np.argsort(-row[picked], kind="stable")]
    return [(uuid_text(owners[i]), float(row[i])) for i in picked]


_ZERO = np.array(128, np.uint8)


def _scoring_session() -> ort.InferenceSession:
    """(queries as uint8, zero point 128) x (DIM, faces) int8."""
    from onnx import TensorProto
    return _matmul_integer((("a", TensorProto.UINT8, ("queries", DIM)),
                            ("b", TensorProto.INT8, (DIM, "faces")),
                            ("zero", TensorProto.UINT8, ())))


def _rows_scoring_session() -> ort.InferenceSession:
    """(faces, DIM) int8 x (DIM, queries) int8."""
    from onnx import TensorProto
    return _matmul_integer((("a", TensorProto.INT8, ("faces", DIM)),
                            ("b", TensorProto.INT8, (DIM, "queries"))))


@lru_cache(maxsize=2)
def _matmul_integer(inputs: tuple) -> ort.InferenceSession:
    """A session of one MatMulInteger over `inputs` ((name, type, shape), ...)."""
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", [name for name, _, _ in inputs], ["y"])], "scores",
        [helper.make_tensor_value_info(name, kind, list(shape)) for name, kind, shape in inputs],
        [helper.make_tensor_value_info("y", TensorProto.INT32, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(settings.get("FACE_ORT_THREADS"))
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


# --- blobs ---------------------------------------------------------------------------------

def prefix(storage_id: str, version: str) -> str:
    return f"{storage_id}/snapshots/{version}/"


def versions(storage_id: str) -> set[str]:
    """The versions that have blobs, whatever state the training table is in."""
    listed = shards.container().walk_blobs(f"{storage_id}/snapshots/", delimiter="/")
    return {item.name.rstrip("/").rsplit("/", 1)[-1] for item in listed}


def part_name(storage_id: str, version: str, index: int) -> str:
    return f"{prefix(storage_id, version)}part-{index:04d}"


def write_part(storage_id: str, version: str, index: int, part: Part) -> None:
    # Overwrites are fine: a retried part writes the same content under the same name.
    shards.container().upload_blob(part_name(storage_id, version, index), part.to_bytes(),
                                   overwrite=True)


def write_manifest(storage_id: str, version: str, part_count: int, face_count: int,
                   indexed: bool = False) -> None:
    manifest = {"version": version, "parts": part_count, "faces": face_count}
    if indexed:
        manifest["index"] = ann.VERSION
    shards.container().upload_blob(f"{prefix(storage_id, version)}manifest.json",
                                   json.dumps(manifest), overwrite=True)


def read_part(storage_id: str, version: str, index: int) -> Part:
    return Part.from_bytes(shards.container().download_blob(
        part_name(storage_id, version, index)).readall())


def _parts(storage_id: str, version: str, count: int):
    """The parts in order, _PARALLEL downloads at a time (a large snapshot's parts are not
    all held at once)."""
    with ThreadPoolExecutor(_PARALLEL) as pool:
        for start in range(0, count, _PARALLEL):
            yield from pool.map(lambda i: read_part(storage_id, version, i),
                                range(start, min(count, start + _PARALLEL)))


def build_index(storage_id: str, version: str, part_count: int,
                face_count: int) -> IndexedSnapshot | None:
    """At training, for a large gallery: the snapshot with its index built, the index written
    as the snapshot's `index` blob. None for a small gallery."""
    if not ann.wanted(face_count):
        return None
    snapshot = IndexedSnapshot(version, _parts(storage_id, version, part_count), face_count)
    shards.container().upload_blob(f"{prefix(storage_id, version)}index",
                                   ann.to_bytes(snapshot.index), overwrite=True)
    return snapshot


def load(storage_id: str, version: str) -> Snapshot | IndexedSnapshot:
    manifest = json.loads(shards.container().download_blob(
        f"{prefix(storage_id, version)}manifest.json").readall())
    parts = _parts(storage_id, version, manifest["parts"])
    if "index" in manifest:
        if manifest["index"] != ann.VERSION:
            raise OutdatedSnapshot(f"index {manifest['index']}, not {ann.VERSION}")
        index = shards.container().download_blob(f"{prefix(storage_id, version)}index").readall()
        return IndexedSnapshot(version, parts, manifest["faces"], index)
    if ann.wanted(manifest["faces"]):      # trained before indexes, or below an earlier minimum
        return IndexedSnapshot(version, parts, manifest["faces"])
    return Snapshot(version, list(parts))


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


def cached(storage_id: str, version: str, build) -> Snapshot | IndexedSnapshot:
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


def trained(storage_id: str, version: str) -> Snapshot | IndexedSnapshot:
    return cached(storage_id, version, lambda: load(storage_id, version))


def remember(storage_id: str, snapshot: Snapshot | IndexedSnapshot) -> None:
    """Serve `snapshot` from this process's cache (training built it: no need to load it)."""
    with _lock:
        _cache[storage_id] = snapshot


def forget(storage_id: str) -> None:
    _cache.pop(storage_id, None)
