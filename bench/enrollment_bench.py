"""Batch enrollment on the local stack (Azurite + the local runtime): every LFW identity
(`lfw/<person>/*.jpg`) uploaded by the folder uploader into one large person group, enrolled
by the blob-triggered function, then trained once the batch has settled.

Prints the upload time, the enrollment throughput (photos per second from the first upload to
the last recorded outcome), the outcomes by reason, and the time until training succeeded.
Run: `.venv/bin/python -m bench.enrollment_bench [--persons N] [--quiet 5]`. Nothing is
asserted. Photos come from FACE_DATA_DIR (default ../shared/faces)."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.http_bench import FACES, local_stack

GROUP = "lfw-bench"


def first_persons(lfw: Path, count: int, into: Path) -> Path:
    """A folder with links to the first `count` LFW identities (for a shorter run)."""
    for person in sorted(p for p in lfw.iterdir() if p.is_dir())[:count]:
        (into / person.name).symlink_to(person)
    return into


def run(folder: Path, quiet: int, timeout: float) -> None:
    os.environ["FACE_ENROLLMENT_QUIET_SECONDS"] = str(quiet)
    with local_stack():
        from shared.enrollment import report, upload   # after local_stack set the storage
        started = time.monotonic()
        uploaded = upload.upload(GROUP, folder)
        rows = upload.wait_for_outcomes(GROUP, uploaded.names, timeout)
        processed = time.monotonic() - started
        state = upload.wait_for_training(GROUP, timeout)
        trained = time.monotonic() - started
    counts = Counter(report.label(row) for row in rows.values())
    persons = len({row["Person"] for row in rows.values() if row["PersonId"]})
    print(f"photos: {len(uploaded.names)} of {len({n.split('/')[0] for n in uploaded.names})} "
          f"persons; uploaded in {uploaded.seconds:.1f} s "
          f"({len(uploaded.names) / uploaded.seconds:.1f}/s)")
    print(f"all outcomes recorded after {processed:.1f} s: "
          f"{len(rows) / processed:.2f} photos/s enrolled or rejected")
    print("outcomes: " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items())))
    print(f"persons enrolled: {persons}")
    print(f"training {state.status if state else 'not requested'} {trained:.1f} s after the "
          f"first upload ({trained - processed:.1f} s after the last outcome, quiet period "
          f"{quiet} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=0, help="first N identities (0: all)")
    parser.add_argument("--quiet", type=int, default=5, help="FACE_ENROLLMENT_QUIET_SECONDS")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    lfw = FACES / "lfw"
    with tempfile.TemporaryDirectory() as links:
        folder = first_persons(lfw, args.persons, Path(links)) if args.persons else lfw
        run(folder, args.quiet, args.timeout)


if __name__ == "__main__":
    main()
