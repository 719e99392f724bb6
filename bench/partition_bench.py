"""Simulation of identify past one instance (docs/scale.md): a gallery split by owner into P
partitions, each searched as its own instance would (its own snapshot), the per-partition top
candidates merged. Checks that the merge equals the unpartitioned search (same persons, same
scores) and reports the per-partition latency (what a fan-out waits for: the slowest
partition) next to the single-snapshot latency.

Run: `.venv/bin/python -m bench.partition_bench [--sizes 400000] [--partitions 4]`."""
from __future__ import annotations

import argparse
import time
import uuid

import numpy as np

from bench.identify_bench import percentiles, random_units

TOP = 10
QUERIES = 50


def merge(per_partition: list[list[tuple[str, float]]], top: int) -> list[tuple[str, float]]:
    """The `top` best of the partitions' candidates (owners are disjoint between partitions)."""
    merged = [found for candidates in per_partition for found in candidates]
    return sorted(merged, key=lambda found: -found[1])[:top]


def main() -> None:
    from shared.collections import shards, snapshots
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="400000")
    parser.add_argument("--partitions", type=int, default=4)
    arguments = parser.parse_args()
    rng = np.random.default_rng(11)
    for size in (int(s) for s in arguments.sizes.split(",")):
        owners = [str(uuid.uuid4()) for _ in range(size)]
        vectors = random_units(rng, size)
        records = shards.records(owners, owners, vectors)
        partition = np.array([shards.shard_of(o, arguments.partitions) for o in owners])
        whole = snapshots.Snapshot("whole", [snapshots.Part.from_records(records)])
        parts = [snapshots.Snapshot(f"p{p}", [snapshots.Part.from_records(
            records[partition == p])]) for p in range(arguments.partitions)]
        queries = vectors[:QUERIES] + rng.normal(0, 0.03, (QUERIES, shards.DIM)).astype(np.float32)
        single, slowest, equal = [], [], 0
        for query in queries:
            started = time.perf_counter()
            expected = whole.best_owners(query[None], TOP)[0]
            single.append(time.perf_counter() - started)
            found, times = [], []
            for snapshot in parts:
                started = time.perf_counter()
                found.append(snapshot.best_owners(query[None], TOP)[0])
                times.append(time.perf_counter() - started)
            slowest.append(max(times))
            equal += merge(found, TOP) == expected
        print(f"{size:>9,} faces in {arguments.partitions} partitions: merged top-{TOP} equal to "
              f"the unpartitioned search for {equal}/{QUERIES} queries")
        print(f"  one snapshot            {percentiles(single)}")
        print(f"  slowest partition       {percentiles(slowest)} (+ one network hop to merge)")


if __name__ == "__main__":
    main()
