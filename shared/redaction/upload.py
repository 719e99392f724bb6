"""`python -m shared.redaction.upload <folder> --out <folder> [--timeout SECONDS]`

Redacts a local folder of photos and videos through the service's storage: uploads each file
(sub-folders become part of the blob name) to `redaction-input`, waits until every file has a
final report, then downloads `redaction-output/<name>` and `<name>.json` into the --out folder
and prints one line per file. Files already uploaded are skipped, so an interrupted run can
simply be run again. Storage comes from AzureWebJobsStorage (or its identity-based form), as
for the service."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from shared import settings
from shared.redaction import batch, report
from shared.redaction.report import OUTPUT, PROCESSING, SUCCEEDED
from shared.storage import clients
from shared.storage.upload import upload_files

POLL_SECONDS = 1.0


def media_files(folder: Path) -> list[Path]:
    suffixes = set(batch.IMAGE_TYPES) | set(batch.VIDEO_TYPES)
    return sorted(path for path in folder.rglob("*")
                  if path.is_file() and path.suffix.lower() in suffixes)


def wait_for_reports(names: list[str], timeout: float) -> dict[str, dict]:
    """The final report of every name."""
    deadline = time.monotonic() + timeout
    final: dict[str, dict] = {}
    while True:
        for name in names:
            if name not in final and (found := report.read(name)) is not None \
                    and found[0]["status"] != PROCESSING:
                final[name] = found[0]
        if len(final) == len(names):
            return final
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(names) - len(final)} files have no final report yet")
        time.sleep(POLL_SECONDS)


def download(name: str, result: dict, into: Path) -> None:
    """`<into>/<name>` (when redacted) and `<into>/<name>.json`, streamed."""
    target = into / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if result["status"] == SUCCEEDED:
        with target.open("wb") as file:
            clients.container(OUTPUT).download_blob(name).readinto(file)
    (into / report.report_name(name)).write_text(json.dumps(result, indent=1))


def describe(name: str, result: dict) -> str:
    if result["status"] != SUCCEEDED:
        error = result.get("error", {})
        return f"{name}: failed: {error.get('code')}: {error.get('message')}"
    with_faces = sum(1 for count in result["facesPerFrame"] if count)
    return (f"{name}: {result['frames']} frame(s), faces in {with_faces}, "
            f"{result['seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    settings.load_local_settings()
    parser = argparse.ArgumentParser(prog="python -m shared.redaction.upload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder with the photos and videos")
    parser.add_argument("--out", type=Path, required=True, help="where the results go")
    parser.add_argument("--workers", type=int, default=4, help="parallel uploads")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds to wait for the reports")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    files = media_files(args.folder)
    names = [path.relative_to(args.folder).as_posix() for path in files]
    uploaded = upload_files(clients.container(batch.INPUT), files, names, workers=args.workers)
    print(uploaded.summary("files"))
    results = wait_for_reports(names, args.timeout)
    for name in names:
        download(name, results[name], args.out)
        print(describe(name, results[name]))
    failed = sum(1 for result in results.values() if result["status"] != SUCCEEDED)
    print(f"{len(names) - failed} redacted, {failed} failed; results in {args.out}")
    return 0 if failed == 0 and uploaded.counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
