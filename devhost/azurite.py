"""Start and stop a local Azurite (the npm package pinned in package.json) on chosen ports.

Used by `make run`, the test suite and the benchmarks. Azurite is bound to 127.0.0.1 and
started with --disableTelemetry; only the process started here is ever stopped."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; not a secret).
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connection_string(blob: int, queue: int, table: int) -> str:
    base = "http://127.0.0.1"
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={base}:{blob}/{ACCOUNT};QueueEndpoint={base}:{queue}/{ACCOUNT};"
            f"TableEndpoint={base}:{table}/{ACCOUNT};")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if _listening(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{port}")


@dataclass
class Azurite:
    location: Path
    blob_port: int = 10000
    queue_port: int = 10001
    table_port: int = 10002
    process: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.queue_port, self.table_port)

    def start(self, timeout: float = 30.0) -> "Azurite":
        if not AZURITE_BIN.exists():
            raise RuntimeError("Azurite is not installed: run `npm ci` (make does it for you).")
        ports = (self.blob_port, self.queue_port, self.table_port)
        busy = [port for port in ports if _listening(port)]
        if busy:
            # Otherwise the wait below would mistake someone else's server for this Azurite.
            raise RuntimeError(f"port(s) {busy} already in use on 127.0.0.1 (another Azurite?)")
        self.location.mkdir(parents=True, exist_ok=True)
        cmd = [str(AZURITE_BIN), "--silent", "--disableTelemetry", "--skipApiVersionCheck",
               "--location", str(self.location),
               "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port),
               "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
               "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port)]
        log = open(self.location / "azurite.log", "ab")
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        for port in ports:
            _wait_listening(port, deadline)
        return self

    def stop(self) -> None:
        """Stop the Azurite this object started (its own process group, by PID)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start on the same ports and data folder (fault tests)."""
        self.stop()
        self.start()


def start_on_free_ports(location: Path) -> Azurite:
    return Azurite(location, free_port(), free_port(), free_port()).start()


@contextmanager
def scratch_storage() -> Iterator[Azurite]:
    """A throw-away Azurite on free ports that the app's settings point at (benchmarks)."""
    from shared.storage import clients
    with tempfile.TemporaryDirectory() as folder:
        azurite = start_on_free_ports(Path(folder))
        os.environ["AzureWebJobsStorage"] = azurite.connection_string
        clients.reset()
        try:
            yield azurite
        finally:
            azurite.stop()
