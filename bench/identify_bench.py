"""Benchmark of the collections engine on a local Azurite, with synthetic embeddings:

* training time of large person groups of 100k and 1M persons (one face each), embeddings
  already stored in their Blob shards; the queue's part messages are run by WORKERS threads,
  as by that many function instances;
* identify latency (p50, p95) for one face against the trained snapshots of 10k, 100k and 1M
  faces: the search alone, and the whole `search.identify` (faceId lookup, training state
  and deleted-owner reads, search, confidences);
* resident memory per enrolled face of a loaded snapshot (RSS growth and array bytes).

Shards are written through `shards.append` in one block per shard (bulk load); person rows
are not written, training never reads them (so the integrity check that follows a training,
which does, is not run). Run once:
`.venv/bin/python -m bench.identify_bench [--sizes 10000,100000,1000000]`. Prints figures only."""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from shared.inference.recognizer import EMBEDDING_DIM

WORKERS = 2
QUERIES = 200


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def random_units(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, EMBEDDING_DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def enrol(kind, size: int, rng: np.random.Generator):
    """A collection of `size` owners (persons, or a list's faces) with one face each, stored
    in its shards."""
    from shared.collections import repository, shards
    group_id = f"bench-{size}"
    collection = repository.create_collection(kind, group_id, "bench", None, "recognition_01")
    persons = [str(uuid.uuid4()) for _ in range(size)]
    vectors = random_units(rng, size)
    by_shard: dict[int, list[int]] = {}
    for index, person in enumerate(persons):
        by_shard.setdefault(shards.shard_of(person, kind.shard_count), []).append(index)

    def write(item) -> None:
        shard, rows = item
        owners = [persons[i] for i in rows]
        # A face list's face is its own owner; a group's face belongs to a person.
        faces = [str(uuid.uuid4()) for _ in rows] if kind.has_persons else owners
        shards.append(collection.storage_id, shard,
                      shards.records(faces, owners, vectors[rows]))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, by_shard.items()))
    return collection, persons, vectors


def train(storage_id: str) -> float:
    """Seconds from the train request to the committed snapshot."""
    from shared.collections import training
    from shared.storage import clients
    queue = clients.queue(training.QUEUE)
    started = time.perf_counter()
    training.request(storage_id)
    with ThreadPoolExecutor(WORKERS) as pool:
        while True:
            messages = list(queue.receive_messages(max_messages=32, visibility_timeout=600))
            if not messages:
                if not training.state(storage_id).status.active:
                    break
                time.sleep(0.05)
                continue
            work = [json.loads(m.content) for m in messages]
            # Not the integrity check that follows a training: with no person rows, it would
            # take every embedding for an orphan and remove it.
            list(pool.map(training.process, [w for w in work if w["op"] != "check"]))
            for message in messages:
                queue.delete_message(message)
    elapsed = time.perf_counter() - started
    assert training.state(storage_id).status == "succeeded"
    return elapsed


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms"


def timed(action, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def bench_size(size: int, rng: np.random.Generator) -> None:
    from shared.collections import search, snapshots, training
    from shared.collections.kinds import LARGE_PERSON_GROUP
    from shared.storage.face_ids import StoredFace, default_store, expiry

    started = time.perf_counter()
    collection, persons, vectors = enrol(LARGE_PERSON_GROUP, size, rng)
    print(f"\n{size:>9,} faces: stored in {time.perf_counter() - started:6.1f} s")
    print(f"  training                 {train(collection.storage_id):6.1f} s "
          f"({WORKERS} workers)")

    # Training leaves the snapshot it built in this process's cache: drop it, to measure a load.
    snapshots.forget(collection.storage_id)
    gc.collect()
    before = rss_bytes()
    version = training.state(collection.storage_id).snapshot
    started = time.perf_counter()
    snapshot = snapshots.trained(collection.storage_id, version)
    loaded_in = time.perf_counter() - started
    gc.collect()
    grown = rss_bytes() - before
    print(f"  snapshot load            {loaded_in:6.1f} s")
    print(f"  memory per face          {grown / size:6.1f} B resident growth, "
          f"{snapshot.nbytes / size:6.1f} B of arrays")

    probes = [vectors[i] + rng.normal(0, 0.02, EMBEDDING_DIM).astype(np.float32) for i in range(QUERIES)]
    probes = [p / np.linalg.norm(p) for p in probes]
    hits = sum(snapshot.best_owners(p[None, :], 1)[0][0][0] == persons[i]
               for i, p in enumerate(probes[:20]))
    print(f"  top-1 correct            {hits}/20")
    queries = iter(probes * 2)
    searched = timed(lambda: snapshot.best_owners(next(queries)[None, :], 10), QUERIES)
    print(f"  search, 1 face           {percentiles(searched)}")

    face_ids = [str(uuid.uuid4()) for _ in probes]
    default_store().save([StoredFace(f, p, "recognition_01", (0, 0, 1, 1), expiry(3600))
                          for f, p in zip(face_ids, probes)])
    ids = iter(face_ids * 2)
    search.identify(LARGE_PERSON_GROUP, collection.collection_id, face_ids[:1], 10, None)
    full = timed(lambda: search.identify(LARGE_PERSON_GROUP, collection.collection_id,
                                          [next(ids)], 10, None), QUERIES)
    print(f"  search.identify, 1 face {percentiles(full)}")
    snapshots.forget(collection.storage_id)
    del snapshot
    gc.collect()


def gallery_sizes(description: str, default: str) -> list[int]:
    """The `--sizes` argument of a gallery benchmark: comma-separated face counts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default=default)
    return [int(s) for s in parser.parse_args().sizes.split(",")]


def main() -> None:
    sizes = gallery_sizes(__doc__.splitlines()[0], "10000,100000,1000000")
    from devhost.azurite import scratch_storage
    with scratch_storage():
        rng = np.random.default_rng(1)
        print(f"identify benchmark: {os.cpu_count()} cores")
        for size in sizes:
            bench_size(size, rng)


if __name__ == "__main__":
    main()
