"""A process for the faceId fault test to SIGKILL: the detect cache's writes, against the
storage account in AzureWebJobsStorage. It prints a line only after a write returned, so the
test knows which faceIds a client would have been given.

    python -m tests.face_id_worker SEED
        saves one face (the direct write), then three at once (a transaction), over and over:
        "saved <faceId> <vector seed>" per face
It prints "ready" first and runs until killed."""
from __future__ import annotations

import itertools
import sys
import uuid

from shared.storage.face_ids import StoredFace, default_store, expiry
from tests.collections_support import random_vector


def main(seed: int) -> None:
    store = default_store()
    print("ready", flush=True)
    for step in itertools.count():
        seeds = [seed * 1_000_000 + step * 4 + i for i in range(1 if step % 2 == 0 else 3)]
        faces = [StoredFace(str(uuid.uuid4()), random_vector(s), "recognition_04",
                            (1, 2, 3, 4), expiry(3600)) for s in seeds]
        store.save(faces)
        for face, vector_seed in zip(faces, seeds):
            print("saved", face.face_id, vector_seed, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
