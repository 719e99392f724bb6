"""Benchmark of identify through the approximate index (shared/collections/ann.py) at 1M, 5M
and 10M faces, against exact search of the same gallery:

* the gallery: every LFW identity with at least two photos enrolled with its first photo
  (real embeddings computed by the engine), among synthetic distractors drawn from a model of
  the real embedding distribution: a Gaussian mixture fitted to the LFW embeddings (per
  component: mean and full covariance), samples normalised to unit length. Not uniform noise:
  the distractors crowd the same region of the sphere as real faces;
* queries: the other photos of the enrolled identities (their true match is in the gallery);
* recall@1 of the index: the share of queries whose best person is the same as exact search's
  (int8 exact search, of a float shortlist per part to be fast at 10M), and top-1 accuracy
  of both;
* index build time (the part of training that the index adds), resident memory per face
  (process-private memory growth: the index; the int8 rows are a memory-mapped file, reported
  apart), and identify latency per face in-process: the search, exact re-ranking and
  confidences (`search.identify_in` minus its two storage reads, measured by identify_bench).

In process, no Azurite: the snapshot is built from records as training builds it. Run:
`.venv/bin/python -m bench.ann_bench [--sizes 1000000,5000000,10000000]` (the default: `make
bench` prints all three). Prints figures only."""
from __future__ import annotations

import ctypes
import gc
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.identify_bench import gallery_sizes, percentiles, rss_bytes, timed

COMPONENTS = 8            # Gaussian mixture components of the distractor model
_PART_ROWS = 1 << 20      # distractors per snapshot part
# (clusters scanned, candidates re-scored) tried; the last is ann.py's default.
SETTINGS = ((64, 1024), (128, 4096), (256, 8192), (128, 8192))


def lfw_cache() -> Path:
    from shared.model_names import EMBEDDING_VERSION
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


def rss_anon() -> int:
    """Process-private resident bytes (what a snapshot's memory-mapped rows do not count in),
    after handing freed heap back to the system (else a load reuses the build's freed memory
    and seems to cost nothing)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")


def enrolled_and_queries(names: list[str], vectors: np.ndarray):
    """(enrolled vectors, their identities, query vectors, their identities): the first photo
    of every identity with at least two photos is enrolled, the others are queries."""
    by_person: dict[str, list[int]] = {}
    for row, name in enumerate(names):
        by_person.setdefault(name.split("/")[0], []).append(row)
    people = [p for p, rows in by_person.items() if len(rows) >= 2]
    enrolled = np.array([by_person[p][0] for p in people])
    queries = [(row, index) for index, p in enumerate(people) for row in by_person[p][1:]]
    return (vectors[enrolled], np.array([q for q, _ in queries]),
            np.array([i for _, i in queries]))


class Distractors:
    """A Gaussian mixture fitted to real embeddings (k-means components, each its mean and a
    shrunk full covariance), sampled and normalised."""

    def __init__(self, vectors: np.ndarray, rng: np.random.Generator):
        centres = vectors[rng.choice(len(vectors), COMPONENTS, replace=False)]
        for _ in range(20):
            labels = np.argmax(vectors @ centres.T, axis=1)
            centres = np.stack([vectors[labels == c].mean(axis=0) for c in range(COMPONENTS)])
        self.weights = np.bincount(labels, minlength=COMPONENTS) / len(vectors)
        self.means, self.factors = [], []
        for c in range(COMPONENTS):
            members = vectors[labels == c]
            covariance = np.cov(members, rowvar=False)
            # Shrunk towards its mean variance: ~200 photos per component for 256 dimensions.
            spread = np.trace(covariance) / len(covariance)
            shrunk = 0.8 * covariance + 0.2 * spread * np.eye(len(covariance))
            self.means.append(members.mean(axis=0))
            self.factors.append(np.linalg.cholesky(shrunk).astype(np.float32))
        self.rng = rng

    def sample(self, count: int) -> np.ndarray:
        component = self.rng.choice(COMPONENTS, count, p=self.weights)
        out = np.empty((count, len(self.means[0])), np.float32)
        for c in range(COMPONENTS):
            rows = np.flatnonzero(component == c)
            noise = self.rng.standard_normal((len(rows), out.shape[1]), dtype=np.float32)
            out[rows] = self.means[c] + noise @ self.factors[c].T
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def gallery(size: int, enrolled: np.ndarray, distractors: Distractors):
    """Snapshot parts of `size` faces, one per person (random 16-byte ids, as uuid4s are): the
    enrolled faces among the distractors of the first part; and the person of each enrolled
    face."""
    from shared.collections import shards, snapshots
    parts, persons = [], []
    for start in range(0, size, _PART_ROWS):
        count = min(_PART_ROWS, size - start)
        records = np.zeros(count, shards.RECORD)
        records["owner"] = np.frombuffer(distractors.rng.bytes(16 * count), "V16")
        records["face"] = records["owner"]
        records["vector"] = distractors.sample(count)
        if start == 0:
            records["vector"][:len(enrolled)] = enrolled
            persons = [shards.uuid_text(o) for o in records["owner"][:len(enrolled)]]
        parts.append(snapshots.Part.from_records(records))
    return parts, persons


def top_persons(snapshot, queries: np.ndarray, batch: int = 16) -> list[str | None]:
    found = []
    for start in range(0, len(queries), batch):
        found += [best[0][0] if best else None
                  for best in snapshot.best_owners(queries[start:start + batch], 1)]
    return found


def exact_top_persons(parts: list, queries: np.ndarray, shortlist: int = 16) -> list[str | None]:
    """The best person of each query as exact search finds it, faster than its int8 scan of
    every face for every query: a float product (BLAS) keeps each part's `shortlist` best
    faces (one per person), and exact search of those faces decides. The int8 scores differ
    from the float ones by less than 0.01, far less than the shortlist's spread."""
    from shared.collections import snapshots
    shortlisted = [[] for _ in queries]
    for part in parts:
        floats = part.vectors.astype(np.float32) * part.scales[:, None]
        for start in range(0, len(queries), 128):
            scores = queries[start:start + 128] @ floats.T
            best = np.argpartition(-scores, shortlist, axis=1)[:, :shortlist]
            for offset, rows in enumerate(best):
                shortlisted[start + offset].append((part, np.sort(rows)))
        del floats
    found = []
    for query, chosen in zip(queries, shortlisted):
        small = [snapshots.Part(p.owners[rows], p.vectors[rows], p.scales[rows])
                 for p, rows in chosen]
        best = snapshots.Snapshot("shortlist", small).best_owners(query[None, :], 1)[0]
        found.append(best[0][0] if best else None)
    return found


def bench_size(size: int, enrolled, queries, truth, distractors) -> None:
    from shared.collections import ann, search, snapshots
    started = time.perf_counter()
    parts, persons = gallery(size, enrolled, distractors)
    print(f"\n{size:>10,} faces ({ann.list_count(size)} lists): generated in "
          f"{time.perf_counter() - started:6.1f} s", flush=True)

    started = time.perf_counter()
    indexed = snapshots.IndexedSnapshot("bench", iter(parts), size)
    print(f"  snapshot + index build   {time.perf_counter() - started:6.1f} s "
          f"(training's parts come on top)", flush=True)
    # The index as a file (a blob's stand-in), so that `before` holds no copy of it.
    blob = Path(tempfile.mkstemp(prefix="face-bench-index-")[1])
    blob.write_bytes(ann.to_bytes(indexed.index))
    del indexed
    before = rss_anon()
    started = time.perf_counter()
    indexed = snapshots.IndexedSnapshot("bench", iter(parts), size, blob.read_bytes())
    loaded_in = time.perf_counter() - started
    blob.unlink()
    print(f"  load from parts + index  {loaded_in:6.1f} s (no download)")
    print(f"  resident per face        {(rss_anon() - before) / size:6.1f} B private memory "
          f"growth, {indexed.nbytes / size:6.1f} B of index; rows memory-mapped "
          f"({(indexed.vectors.nbytes + indexed.scales.nbytes) / size:3.0f} B/face, page cache)",
          flush=True)

    started = time.perf_counter()
    exact_top = exact_top_persons(parts, queries)
    exact_seconds = (time.perf_counter() - started) / len(queries)
    right = [persons[t] for t in truth]
    exact_right = np.mean([e == r for e, r in zip(exact_top, right)])
    print(f"  exact search             top-1 correct {exact_right * 100:5.1f} % of "
          f"{len(queries)} LFW queries", flush=True)
    defaults = indexed.index.nprobe, ann.CANDIDATES
    for indexed.index.nprobe, ann.CANDIDATES in SETTINGS:
        started = time.perf_counter()
        approximate_top = top_persons(indexed, queries, batch=1)
        seconds = (time.perf_counter() - started) / len(queries)
        agree = np.mean([a == e for a, e in zip(approximate_top, exact_top)])
        index_right = np.mean([a == r for a, r in zip(approximate_top, right)])
        print(f"  nprobe {indexed.index.nprobe:3d}, {ann.CANDIDATES:4d} candidates: recall@1 vs "
              f"exact {agree * 100:6.2f} %, top-1 correct {index_right * 100:5.1f} % "
              f"({index_right / exact_right * 100:5.1f} % of exact), search "
              f"{seconds * 1000:5.1f} ms", flush=True)
    indexed.index.nprobe, ann.CANDIDATES = defaults

    def identify(query: np.ndarray) -> None:
        # search.identify_in after its two storage reads (faceId cache, training state).
        minimum = search._default_identify_confidence(indexed)
        search._confidences(indexed.best_owners(query[None, :], 10)[0], minimum)
    probes = iter(list(queries) * 2)
    identify(queries[0])
    samples = timed(lambda: identify(next(probes)), min(len(queries), 300))
    print(f"  identify, 1 face         {percentiles(samples)} (exact baseline: "
          f"{exact_seconds * 1000:.0f} ms per face, BLAS shortlist + int8)")
    del indexed, parts
    gc.collect()


def main() -> None:
    # Issue 19's sizes; 10M needs about 11 GB of memory for a few minutes.
    sizes = gallery_sizes(__doc__.splitlines()[0], "1000000,5000000,10000000")
    rng = np.random.default_rng(5)
    names, vectors = lfw_embeddings()
    enrolled, query_rows, truth = enrolled_and_queries(names, vectors)
    distractors = Distractors(vectors, rng)
    sample = distractors.sample(2000)
    print(f"ANN benchmark: {os.cpu_count()} cores; {len(enrolled)} enrolled LFW identities, "
          f"{len(query_rows)} queries; distractors: {COMPONENTS}-component Gaussian mixture "
          f"(mean nearest-real similarity {np.mean(np.max(sample @ vectors.T, axis=1)):.2f}, "
          f"real-to-real {np.mean(np.sort(vectors @ vectors.T, axis=1)[:, -2]):.2f})")
    for size in sizes:
        bench_size(size, enrolled, vectors[query_rows], truth, distractors)


if __name__ == "__main__":
    main()
