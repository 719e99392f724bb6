"""Upload many local files to a blob container in parallel, with a progress bar: the part that
the batch uploaders (enrollment, redaction) share. Each file is streamed (never read whole), a
blob that already exists is skipped (so an interrupted upload can simply be run again), and a
file that fails is reported and counted while the others carry on."""
from __future__ import annotations

import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient


@dataclass
class Upload:
    names: list[str] = field(default_factory=list)     # blob names, relative to a prefix
    counts: Counter = field(default_factory=Counter)   # uploaded / skipped / failed
    seconds: float = 0.0

    def summary(self, what: str) -> str:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.counts.items()))
        return f"{len(self.names)} {what}: {counts or 'none found'} in {self.seconds:.1f} s"


def _progress(done: int, total: int, started: float, out) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.monotonic() - started, 1e-6)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({rate:.1f}/s)")
    out.flush()


def upload_files(target: ContainerClient, files: list[Path], names: list[str],
                 prefix: str = "", workers: int = 8, out=sys.stderr) -> Upload:
    """Upload `files[i]` as blob `prefix + names[i]`."""
    result = Upload(names=list(names))

    def send(path: Path, name: str) -> str:
        try:
            with path.open("rb") as data:
                target.upload_blob(prefix + name, data)
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
