"""Benchmark of the Person Directory on a local Azurite, with synthetic embeddings:

* identify latency (p50, p95) of one face against a directory of 100k and 1M faces (one per
  person, in the recognition_04 gallery, grown from one size to the next), through
  `directory.identify` (faceId lookup, live shards, search, confidences): the whole directory
  (`["*"]`) and 30 named persons; a gallery of FACE_ANN_MIN_FACES or more is measured once
  its background index is built (the time to that is printed);
* add-face operation latency: from the request (`directory.add_face`, embedding given) to the
  operation's `succeeded`, the queue message received and run in this process as a function
  instance would (polling without back-off, as a busy host does);
* at each size, one identify right after one change (a face added, then deleted, each through
  its operation): the gallery reads again only the changed shard. For comparison, a full
  rebuild (the cache dropped), which is what every change cost before the galleries were
  refreshed incrementally.

Shards are bulk-loaded through the real storage code (bench/identify_bench.py `enrol`); person
rows are not written, identify never reads them. Run once:
`.venv/bin/python -m bench.directory_bench [--sizes 100000,1000000]`. Prints figures only."""
from __future__ import annotations

import json
import os
import time
import uuid

import numpy as np

from bench.identify_bench import QUERIES, gallery_sizes, percentiles, random_units, timed

MODEL = "recognition_04"
ADDS = 50


def enrol_directory(size: int, rng: np.random.Generator):
    """The recognition_04 gallery with `size` persons of one face each, in its shards."""
    from concurrent.futures import ThreadPoolExecutor

    from shared.collections import directory, repository, shards
    from shared.collections.kinds import PERSON_DIRECTORY
    collection = directory.gallery(MODEL)
    persons = [str(uuid.uuid4()) for _ in range(size)]
    vectors = random_units(rng, size)
    by_shard: dict[int, list[int]] = {}
    for index, person in enumerate(persons):
        by_shard.setdefault(shards.shard_of(person, PERSON_DIRECTORY.shard_count),
                            []).append(index)

    def write(item) -> None:
        shard, rows = item
        shards.append(collection.storage_id, shard, shards.records(
            [str(uuid.uuid4()) for _ in rows], [persons[i] for i in rows], vectors[rows]))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, by_shard.items()))
    # What the directory's writers do after changing the shards (directory._gallery_changed).
    repository.new_gallery_version(PERSON_DIRECTORY, MODEL)     # many shards changed
    return repository.get_collection(PERSON_DIRECTORY, MODEL), persons, vectors


def cached_faces(probes: list[np.ndarray]) -> list[str]:
    from shared.storage.face_ids import StoredFace, default_store, expiry
    face_ids = [str(uuid.uuid4()) for _ in probes]
    default_store().save([StoredFace(f, p, MODEL, (0, 0, 1, 1), expiry(3600))
                          for f, p in zip(face_ids, probes)])
    return face_ids


def bench_identify(size: int, added: int, rng: np.random.Generator) -> None:
    """Grow the gallery by `added` faces to about `size` (the sizes are cumulative)."""
    from shared.collections import directory, shards
    started = time.perf_counter()
    collection, persons, vectors = enrol_directory(added, rng)
    print(f"\n{size:>9,} faces: stored in {time.perf_counter() - started:6.1f} s")
    probes = [vectors[i] + rng.normal(0, 0.02, shards.DIM).astype(np.float32)
              for i in range(QUERIES)]
    face_ids = cached_faces([p / np.linalg.norm(p) for p in probes])
    started = time.perf_counter()
    first = directory.identify(face_ids[:1], None, 10, None)
    print(f"  first identify (loads the gallery) {time.perf_counter() - started:6.1f} s")
    assert first[0]["candidates"][0]["personId"] == persons[0]
    wait_for_index(size, started)
    ids = iter(face_ids * 2)
    everyone = timed(lambda: directory.identify([next(ids)], None, 10, None), QUERIES)
    print(f"  identify ['*'], 1 face        {percentiles(everyone)}")
    named = persons[:30]
    chosen = timed(lambda: directory.identify([next(ids)], named, 10, None), QUERIES)
    print(f"  identify 30 personIds, 1 face {percentiles(chosen)}")
    bench_one_change(rng)


def wait_for_index(size: int, started: float) -> None:
    """A large gallery is indexed in the background (galleries.py): measure with its index."""
    from shared.collections import ann, directory, galleries
    if not ann.wanted(size):
        return
    while not galleries.index_ready(directory.gallery(MODEL).storage_id):
        time.sleep(0.5)
    print(f"  indexed in the background after    {time.perf_counter() - started:6.1f} s")


def bench_one_change(rng: np.random.Generator) -> None:
    from shared.collections import directory, galleries
    person, created = directory.create_person("changed", None)
    run_queue_until(created)
    vector = random_units(rng, 1)[0]
    probe = cached_faces([vector])

    def identify_once() -> tuple[float, list[str]]:
        started = time.perf_counter()
        found = directory.identify(probe, None, 10, None)[0]["candidates"]
        return time.perf_counter() - started, [c["personId"] for c in found]
    face, added = directory.add_face(person, MODEL, vector, None)
    run_queue_until(added)
    seconds, found = identify_once()
    assert found[0] == person
    print(f"  identify right after an add    {seconds * 1000:7.0f} ms")
    run_queue_until(directory.delete_face(person, MODEL, face))
    seconds, found = identify_once()
    assert person not in found
    print(f"  identify right after a delete  {seconds * 1000:7.0f} ms")
    galleries.forget(directory.gallery(MODEL).storage_id)
    seconds, _ = identify_once()
    print(f"  identify after a full rebuild  {seconds * 1000:7.0f} ms")


def run_queue_until(operation_id: str) -> None:
    """Receive and run directory-operations messages until the operation has finished."""
    from functions.directory import WORK
    from shared import operations
    from shared.storage import clients
    queue = clients.queue(operations.QUEUE)
    while operations.get(operation_id)["status"] not in ("succeeded", "failed"):
        for message in queue.receive_messages(max_messages=32, visibility_timeout=60):
            body = json.loads(message.content)
            operations.run(body, WORK[body["op"]])
            queue.delete_message(message)


def bench_add_face(rng: np.random.Generator) -> None:
    from shared import operations
    from shared.collections import directory
    person, operation_id = directory.create_person("bench", None)
    run_queue_until(operation_id)
    embeddings = iter(random_units(rng, ADDS))

    def add() -> None:
        _, added = directory.add_face(person, MODEL, next(embeddings), None)
        run_queue_until(added)
        assert operations.get(added)["status"] == "succeeded"
    print(f"\n  add-face operation to succeeded {percentiles(timed(add, ADDS))}")


def main() -> None:
    sizes = gallery_sizes(__doc__.splitlines()[0], "100000,1000000")
    from devhost.azurite import scratch_storage
    with scratch_storage():
        rng = np.random.default_rng(3)
        print(f"directory benchmark: {os.cpu_count()} cores")
        bench_add_face(rng)
        for size, before in zip(sizes, [0, *sizes]):
            bench_identify(size, size - before, rng)


if __name__ == "__main__":
    main()
