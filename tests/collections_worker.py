"""A process for the fault tests to SIGKILL: collection operations with the real domain code,
against the storage account in AzureWebJobsStorage. It prints a line when an operation starts
and another only after it returned, so wherever the kill lands the test knows what was
acknowledged and what was in flight.

    python -m tests.collections_worker churn KIND SHARDS COLLECTION SEED
        adds faces (vectors from SEED) to the collection's persons, deletes some of them:
        "adding <person>", "added <face> <person> <vector seed>", "deleting <face>",
        "deleted <face>"
    python -m tests.collections_worker train KIND SHARDS COLLECTION
        requests trainings and runs the queued work: "training", "trained <status>"
Both print "ready" first and run until killed."""
from __future__ import annotations

import dataclasses
import itertools
import random
import sys

from shared.collections import administration, repository
from shared.collections import faces as persisted_faces
from shared.collections.kinds import KINDS, Kind
from tests.collections_support import random_vector, run_queue

VISIBILITY = 3        # seconds before a message taken by a killed worker is delivered again


def say(*words) -> None:
    print(*words, flush=True)


def churn(kind: Kind, collection_id: str, seed: int) -> None:
    rng = random.Random(seed)
    collection = repository.get_collection(kind, collection_id)
    persons = [p["personId"] for p in administration.list_persons(kind, collection_id, None, 1000)]
    mine: dict[str, str] = {}                  # face -> person, added by this process
    say("ready")
    for step in itertools.count():
        if mine and rng.random() < 0.35:
            face = rng.choice(sorted(mine))
            say("deleting", face)
            persisted_faces.delete_face(kind, collection_id, mine.pop(face), face)
            say("deleted", face)
        else:
            person, vector_seed = rng.choice(persons), seed * 1_000_000 + step
            say("adding", person)
            face = persisted_faces.store_face(collection, person, random_vector(vector_seed), None)
            mine[face] = person
            say("added", face, person, vector_seed)


def train(kind: Kind, collection_id: str) -> None:
    say("ready")
    while True:
        say("training")
        administration.train(kind, collection_id)
        run_queue(visibility_timeout=VISIBILITY)
        say("trained", administration.training_status(kind, collection_id)["status"])


def main(argv: list[str]) -> None:
    mode, kind_name, shard_count, collection_id, *rest = argv
    kind = dataclasses.replace(KINDS[kind_name], shard_count=int(shard_count))
    if mode == "churn":
        churn(kind, collection_id, int(rest[0]))
    else:
        train(kind, collection_id)


if __name__ == "__main__":
    main(sys.argv[1:])
