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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient

from shared import settings
from shared.collections import repository, training
from shared.collections.kinds import LARGE_PERSON_GROUP, valid_id
from shared.enrollment import batches, report
from shared.storage import clients

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp"}
POLL_SECONDS = 1.0


@dataclass
class Upload:
    names: list[str] = field(default_factory=list)     # blob paths under the group folder
    counts: Counter = field(default_factory=Counter)   # uploaded / skipped / failed
    seconds: float = 0.0


def photos(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*/*")
                  if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def container() -> ContainerClient:
    return clients.container(settings.get("FACE_ENROLLMENT_CONTAINER"))


def _progress(done: int, total: int, started: float, out) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.monotonic() - started, 1e-6)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({rate:.1f}/s)")
    out.flush()


def upload(group_id: str, folder: Path, workers: int = 8, out=sys.stderr) -> Upload:
    """Upload every photo under `folder` (one sub-folder per person) for the group."""
    files = photos(folder)
    target = container()
    result = Upload(names=[f"{path.parent.name}/{path.name}" for path in files])

    def send(path: Path, name: str) -> str:
        try:
            target.upload_blob(f"{group_id}/{name}", path.read_bytes())
            return "uploaded"
        except ResourceExistsError:
            return "skipped"
        except Exception as err:  # noqa: BLE001 - reported per file, the rest carry on
            out.write(f"\n{name}: {type(err).__name__}: {err}\n")
            return "failed"

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        for done, outcome in enumerate(pool.map(send, files, result.names), 1):
            result.counts[outcome] += 1
            if done == len(files) or done % max(1, len(files) // 100) == 0:
                _progress(done, len(files), started, out)
    out.write("\n")
    result.seconds = time.monotonic() - started
    return result


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
            if state is not None and state.status in ("succeeded", "failed"):
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
    counts = ", ".join(f"{n} {what}" for what, n in sorted(result.counts.items()))
    print(f"{len(result.names)} photos: {counts or 'none found'} in {result.seconds:.1f} s")
    if args.wait and result.names:
        started = time.monotonic()
        rows = wait_for_outcomes(args.group, result.names, args.timeout)
        outcomes = Counter(report.label(row) for row in rows.values())
        print(f"outcomes after {time.monotonic() - started:.1f} s: "
              + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))
        state = wait_for_training(args.group, args.timeout)
        print("training: " + (f"{state.status} ({time.monotonic() - started:.1f} s)"
                              if state else "not needed (nothing enrolled)"))
        return 0 if result.counts["failed"] == 0 and (state is None or
                                                      state.status == "succeeded") else 1
    return 0 if result.counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
