"""Find similar on a local Azurite with synthetic faces: p50/p95 of the whole
`search.find_similar` (faceId lookup, training state, search, confidences) in both modes, for
trained large face lists of 100k and 1M faces and for a face list at its 1,000-face limit
(searched untrained: its shard's listing is read on every call). Target on 2 cores: p50 <= 50 ms
at 1M. `.venv/bin/python -m bench.find_similar_bench [--sizes 100000,1000000]`. Prints figures
only."""
from __future__ import annotations

import argparse
import os
import uuid

import numpy as np

from bench.identify_bench import QUERIES, enrol, percentiles, timed, train
from shared.inference.recognizer import EMBEDDING_DIM


def cached_probes(vectors: np.ndarray, rng: np.random.Generator) -> list[str]:
    """faceIds, in the faceId cache, of noisy copies of the first QUERIES enrolled faces."""
    from shared.storage.face_ids import StoredFace, default_store, expiry
    probes = vectors[:QUERIES] + rng.normal(0, 0.02, (QUERIES, EMBEDDING_DIM)).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    face_ids = [str(uuid.uuid4()) for _ in probes]
    default_store().save([StoredFace(f, p, "recognition_01", (0, 0, 1, 1), expiry(3600))
                          for f, p in zip(face_ids, probes)])
    return face_ids


def report(kind, size: int, rng: np.random.Generator, trained: bool) -> None:
    from shared.collections import search, snapshots
    collection, faces, vectors = enrol(kind, size, rng)
    training = f"training {train(collection.storage_id):.1f} s" if trained else "no training"
    print(f"\n{size:>9,} faces, {kind.words}: {training}")
    face_ids = cached_probes(vectors, rng)
    # The first search loads the snapshot; it is not timed.
    found = search.find_similar(kind, collection.collection_id, face_ids[0], 20, "matchPerson")
    print(f"  probe 0 finds its face     {found[0]['persistedFaceId'] == faces[0]}")
    for mode in ("matchPerson", "matchFace"):
        ids = iter(face_ids * 2)
        samples = timed(lambda: search.find_similar(kind, collection.collection_id, next(ids),
                                                     20, mode), QUERIES)
        print(f"  find similar, {mode:<12} {percentiles(samples)}")
    snapshots.forget(collection.storage_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    from shared.collections.kinds import FACE_LIST, LARGE_FACE_LIST
    from devhost.azurite import scratch_storage
    with scratch_storage():
        print(f"find similar benchmark: {os.cpu_count()} cores")
        rng = np.random.default_rng(2)
        report(FACE_LIST, FACE_LIST.max_members, rng, trained=False)
        for size in sizes:
            report(LARGE_FACE_LIST, size, rng, trained=True)


if __name__ == "__main__":
    main()
