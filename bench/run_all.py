"""`make bench`: every benchmark script in turn, each in its own process (so cold starts and
peak memory are its own). They print their figures; this prints a header before each."""
from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("bench.inference_bench", "bench.http_bench", "bench.identify_bench",
              "bench.find_similar_bench", "bench.enrollment_bench", "bench.redaction_bench",
              "bench.directory_bench", "bench.ann_bench", "bench.partition_bench")


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"\n=== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module]).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
