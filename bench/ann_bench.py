"""Benchmark of identify through the approximate index (shared/collections/ann.py) at 1M, 5M
and 10M faces, against exact search of the same gallery:

* the gallery: every LFW identity with at least two photos enrolled with its first photo
  (real embeddings computed by the engine), among synthetic distractors drawn from a model of
  the real embedding distribution: a Gaussian mixture fitted to the LFW embeddings (per
  component: mean and full covariance), samples normalised to unit length. Not uniform noise:
  the distractors crowd the same region of the sphere as real faces;
* queries: the other photos of the enrolled identities (their true match is in the gallery);
* recall@1 of the index: the share of queries whose best person is the same as exact search's
  (the int8 brute force of a snapshot without index), and top-1 accuracy of both;
* index build time (the part of training that the index adds), resident memory per face
  (process-private memory growth: the index; the int8 rows are a memory-mapped file, reported
  apart), and identify latency per face in-process: the search, exact re-ranking and
  confidences (`search.identify_in` minus its two storage reads, measured by identify_bench).

In process, no Azurite: the snapshot is built from records as training builds it. Run:
`.venv/bin/python -m bench.ann_bench [--sizes 1000000,5000000,10000000]`. Prints figures only."""
from __future__ import annotations

import gc
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from bench.identify_bench import gallery_sizes, percentiles, rss_bytes, timed

COMPONENTS = 8            # Gaussian mixture components of the distractor model
_PART_ROWS = 1 << 20      # distractors per snapshot part


def lfw_cache() -> Path:
    from shared.inference.recognizer import EMBEDDING_VERSION
    return Path(tempfile.gettempdir()) / f"face-bench-lfw-{EMBEDDING_VERSION}.npz"


def lfw_embeddings() -> tuple[list[str], np.ndarray]:
    """(file names, unit embeddings) of every LFW photo with a face; computed once, cached in
    the temp folder (a few minutes on 2 cores)."""
    cache = lfw_cache()
    if not cache.exists():
        from bench.evaluate import lfw_vectors
        from shared.inference import get_engine
        vectors = lfw_vectors(get_engine())
        names = sorted(vectors)
        np.savez(cache, names=np.array(names), vectors=np.stack([vectors[n] for n in names]))
    data = np.load(cache)
    return [str(n) for n in data["names"]], data["vectors"].astype(np.float32)


if __name__ == "__main__" and os.environ.get("ANN_BENCH_EMBED_ONLY"):
    print(len(lfw_embeddings()[0]), "LFW embeddings in", lfw_cache())
