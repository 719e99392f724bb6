"""The approximate nearest-neighbour index of large galleries (faiss), which only proposes
candidates: snapshots.py scores them exactly.

A gallery of at least FACE_ANN_MIN_FACES faces gets an IVF index with 4-bit product-quantised
codes scanned by SIMD ("fast scan"): the faces are split into `lists` clusters; a query
scans the NPROBE clusters nearest to it and ranks their faces by the compressed codes.
A code encodes the face's residual from its cluster's centroid, not the face itself (faiss's
fast scan default): real embeddings crowd one region of the sphere, so codes of the faces
themselves spend their 16 levels per sub-vector on what all faces share, and rank the true
best face below thousands of others at 10M faces (docs/scale.md).
Resident cost per face: its 32-byte code and its 8-byte row number (faiss stores int64
ids), plus the cluster centroids (lists x 1 KB) for the whole index.

The index is built from the gallery's int8 vectors (the same ones exact search scores) and
serialised with faiss's own format; VERSION names this layout, and a snapshot whose index
has another VERSION has to be trained again."""
from __future__ import annotations

import faiss
import numpy as np

from shared import settings
from shared.collections.shards import DIM

VERSION = "ivf-pq64x4fsr-ip-2"
CODE_BYTES = DIM // 8          # 64 sub-vectors of 4 dimensions, 4 bits each
NPROBE = 128                   # clusters scanned per query
CANDIDATES = 8192              # faces proposed per query, scored exactly: 4-bit codes rank
                               # coarsely, fewer lose recall at 10M (bench/ann_bench.py)
TRAIN_PER_LIST = 64            # training sample: faiss warns below 39 points per centroid
_ADD_ROWS = 1 << 18            # rows dequantised at once while adding (bounds the float copy)
_SEED = 1234


def wanted(face_count: int) -> bool:
    """Large galleries are searched through an index; smaller ones stay exact."""
    return face_count >= max(1, int(settings.get("FACE_ANN_MIN_FACES")))


def list_count(face_count: int) -> int:
    """About 2·sqrt(n) clusters, a power of two up to 1024 (more clusters cost more at
    training than the fast scan of bigger ones costs per query), and at least TRAIN_PER_LIST
    faces per cluster."""
    lists = min(2 * np.sqrt(face_count), 1024, face_count / TRAIN_PER_LIST)
    return 1 << max(0, int(np.round(np.log2(max(lists, 1)))))


def build(vectors: np.ndarray, scales: np.ndarray) -> faiss.Index:
    """An index of int8 `vectors` (rows ≈ vectors * scales), row numbers as ids."""
    count = len(vectors)
    lists = list_count(count)
    index = faiss.index_factory(DIM, f"IVF{lists},PQ{CODE_BYTES * 2}x4fsr",
                                faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(_SEED)
    sample = np.sort(rng.choice(count, min(count, lists * TRAIN_PER_LIST), replace=False))
    index.train(_floats(vectors, scales, sample))
    for start in range(0, count, _ADD_ROWS):
        rows = np.arange(start, min(count, start + _ADD_ROWS))
        index.add(_floats(vectors, scales, rows))
    index.nprobe = NPROBE
    return index


def _floats(vectors: np.ndarray, scales: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors[rows], dtype=np.float32) * scales[rows, None]


def candidates(index: faiss.Index, queries: np.ndarray, count: int) -> list[np.ndarray]:
    """Per query, up to `count` row numbers of the faces nearest by the compressed codes."""
    _, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), count)
    return [found[found >= 0] for found in rows]


def to_bytes(index: faiss.Index) -> bytes:
    return faiss.serialize_index(index).tobytes()


def from_bytes(data: bytes) -> faiss.Index:
    index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
    index.nprobe = NPROBE
    return index
