"""Find similar against a trained large face list of synthetic faces on a local Azurite:
p50/p95 of the whole `service.find_similar` (faceId lookup, training state, search,
confidences) for lists of 100k and 1M faces. Target on 2 cores: p50 <= 50 ms at 1M.
`.venv/bin/python -m bench.find_similar_bench [--sizes 100000,1000000]`. Prints figures only."""
from __future__ import annotations

import argparse
import os
import uuid

import numpy as np

from bench.identify_bench import QUERIES, enrol, percentiles, timed, train


def bench_size(size: int, rng: np.random.Generator) -> None:
    from shared.collections import service, snapshots
    from shared.collections.kinds import LARGE_FACE_LIST
    from shared.storage.face_ids import StoredFace, default_store, expiry

    collection, faces, vectors = enrol(LARGE_FACE_LIST, size, rng)
    print(f"\n{size:>9,} faces: training {train(collection.storage_id):6.1f} s")
    probes = vectors[:QUERIES] + rng.normal(0, 0.02, (QUERIES, 128)).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    face_ids = [str(uuid.uuid4()) for _ in probes]
    default_store().save([StoredFace(f, p, "recognition_01", (0, 0, 1, 1), expiry(3600))
                          for f, p in zip(face_ids, probes)])
    found = service.find_similar(LARGE_FACE_LIST, collection.collection_id, face_ids[0], 20,
                                 "matchPerson")
    print(f"  probe 0 finds its face     {found[0]['persistedFaceId'] == faces[0]}")
    ids = iter(face_ids * 2)
    samples = timed(lambda: service.find_similar(LARGE_FACE_LIST, collection.collection_id,
                                                 next(ids), 20, "matchFace"), QUERIES)
    print(f"  find similar, matchFace    {percentiles(samples)}")
    snapshots.forget(collection.storage_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    from shared.runtime.azurite import scratch_storage
    with scratch_storage():
        print(f"find similar benchmark: {os.cpu_count()} cores")
        for size in sizes:
            bench_size(size, np.random.default_rng(2))


if __name__ == "__main__":
    main()
