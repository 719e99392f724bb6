"""`python -m shared.enrollment.upload --group <largePersonGroupId> <folder> [--wait]`

Uploads a folder tree `<folder>/<person>/<image>` to the enrollment container as
`<group>/<person>/<image>`, where the service enrolls each photo (shared/enrollment/enroll.py).
Blobs already in the container are skipped, so an interrupted upload can simply be run again.
With --wait it then waits until every photo has an outcome and the group's training has
finished, and prints the report summary. Storage comes from AzureWebJobsStorage (or its
identity-based form), as for the service."""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from azure.storage.blob import ContainerClient

from shared import settings
from shared.collections import repository, training
from shared.collections.kinds import LARGE_PERSON_GROUP, valid_id
from shared.collections.training import TrainingStatus
from shared.enrollment import batches, report
from shared.storage import clients
from shared.storage.upload import Upload, upload_files

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp"}
POLL_SECONDS = 1.0


def photos(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*/*")
                  if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def container() -> ContainerClient:
    return clients.container(settings.get("FACE_ENROLLMENT_CONTAINER"))


def upload(group_id: str, folder: Path, workers: int = 8, out=sys.stderr) -> Upload:
    """Upload every photo under `folder` (one sub-folder per person) for the group."""
    files = photos(folder)
    return upload_files(container(), files, [f"{path.parent.name}/{path.name}" for path in files],
                        prefix=f"{group_id}/", workers=workers, out=out)


def wait_for_outcomes(group_id: str, names: list[str], timeout: float) -> dict[str, dict]:
    """The report rows of `names` once all of them have one."""
    deadline = time.monotonic() + timeout
    while True:
        rows = report.rows(group_id)
        if all(name in rows for name in names):
            return {name: rows[name] for name in names}
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(names) - sum(n in rows for n in names)} photos have no "
                               "outcome yet")
        time.sleep(POLL_SECONDS)


def wait_for_training(group_id: str, timeout: float) -> training.TrainingState | None:
    """The state of the training that covers every enrollment so far (succeeded or failed);
    None when nothing was ever enrolled in the group."""
    deadline = time.monotonic() + timeout
    while True:
        current = batches.batch(group_id)
        if current is None:
            return None
        if current.settled:
            # The job was requested before the batch row said so: this is it or a later one.
            collection = repository.get_collection(LARGE_PERSON_GROUP, group_id)
            state = training.state(collection.storage_id)
            if state is not None and not state.status.active:
                return state
        if time.monotonic() > deadline:
            raise TimeoutError("training has not finished")
        time.sleep(POLL_SECONDS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shared.enrollment.upload",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", required=True, help="large person group id")
    parser.add_argument("folder", type=Path, help="folder with one sub-folder per person")
    parser.add_argument("--workers", type=int, default=8, help="parallel uploads")
    parser.add_argument("--wait", action="store_true",
                        help="wait for every outcome and the training, then summarise")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds --wait waits at most for each stage")
    args = parser.parse_args(argv)
    if not valid_id(args.group):
        parser.error("--group: lower-case letters, digits, '-' and '_' (at most 64)")
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    settings.load_local_settings()
    args = parse_args(argv)
    result = upload(args.group, args.folder, args.workers)
    print(result.summary("photos"))
    if args.wait and result.names:
        started = time.monotonic()
        rows = wait_for_outcomes(args.group, result.names, args.timeout)
        outcomes = Counter(report.label(row) for row in rows.values())
        print(f"outcomes after {time.monotonic() - started:.1f} s: "
              + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))
        state = wait_for_training(args.group, args.timeout)
        print("training: " + (f"{state.status.value} ({time.monotonic() - started:.1f} s)"
                              if state else "not needed (nothing enrolled)"))
        trained = state is None or state.status == TrainingStatus.SUCCEEDED
        return 0 if result.counts["failed"] == 0 and trained else 1
    return 0 if result.counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
