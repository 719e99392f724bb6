"""`LocalHost`: serves a FunctionApp's functions locally — HTTP, queue, timer and blob
triggers — from the metadata the azure-functions library generates for the real host."""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import azure.functions as func

from devhost.blobs import BlobListener
from devhost.hostconfig import HostConfig
from devhost.http_server import HttpFrontend, build_routes
from devhost.listener import Listener
from devhost.queues import LeaseKeeper, QueueListener
from devhost.registry import FunctionEntry, Invocation, load_functions
from devhost.storage import StorageAccounts, write_queue_outputs
from devhost.timers import TimerListener

log = logging.getLogger("face.runtime")

ROOT = Path(__file__).resolve().parents[1]
# Worker threads for queue, blob and timer invocations (HTTP requests have their own threads).
WORKERS = 32


class StartError(RuntimeError):
    """A trigger could not start, e.g. its storage account is unreachable."""


class LocalHost:
    """`with LocalHost(app, host_json, port=0) as host: host.url` — a running local host.

    `stop_timeout` bounds how long a stop waits for in-flight requests and messages;
    `blob_poll_interval` is how often blob-trigger containers are listed."""

    def __init__(self, app: func.FunctionApp, host_json: Path = ROOT / "host.json",
                 host: str = "127.0.0.1", port: int = 7071, *, stop_timeout: float = 30.0,
                 blob_poll_interval: float = 2.0):
        self.config = HostConfig.load(host_json)
        self.functions = load_functions(app)
        self.accounts = StorageAccounts()
        self.stop_timeout = stop_timeout
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="function")
        self.leases = LeaseKeeper()
        self.listeners = [self._listener(entry, blob_poll_interval) for entry in self.functions
                          if entry.trigger_type != "httpTrigger"]
        self.http = HttpFrontend(build_routes(self.functions, self.config.route_prefix),
                                 host, port, self._write_outputs)

    def _listener(self, entry: FunctionEntry, blob_poll_interval: float) -> Listener:
        options = self.config.queues
        if entry.trigger_type == "queueTrigger":
            return QueueListener(entry, self.accounts, options, self.pool, self.leases)
        if entry.trigger_type == "blobTrigger":
            return BlobListener(entry, self.accounts, options, self.pool, blob_poll_interval)
        return TimerListener(entry)

    def _write_outputs(self, entry: FunctionEntry, invocation: Invocation,
                       values: dict[str, str]) -> None:
        write_queue_outputs(self.accounts, entry, invocation,
                            self.config.queues.message_encoding, values)

    @property
    def url(self) -> str:
        """`http://host:port` (routes start with the host.json route prefix)."""
        host, port = self.http.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalHost":
        self.leases.start()
        for listener in self.listeners:
            try:
                listener.start()
            except Exception as err:
                self.stop()
                raise StartError(f"function {listener.entry.name}: cannot reach storage "
                                 f"(connection {listener.entry.connection}): {err}") from err
        self.http.start()
        log.debug("Functions: %s", ", ".join(f"{e.name} [{e.trigger_type}]"
                                             for e in self.functions))
        return self

    def stop(self) -> bool:
        """Stop accepting work, let in-flight requests and invocations finish (bounded by
        stop_timeout), then stop the pollers. True if everything finished in time."""
        deadline = time.monotonic() + self.stop_timeout
        finished = self.http.stop(self.stop_timeout)
        if not finished:
            log.warning("HTTP requests were still running at shutdown")
        for listener in self.listeners:
            listener.stop()
        for listener in self.listeners:
            if not listener.wait_idle(max(0.0, deadline - time.monotonic())):
                log.warning("%s was still running at shutdown", listener.entry.name)
                finished = False
        self.pool.shutdown(wait=False)
        self.leases.stop()
        return finished

    def __enter__(self) -> "LocalHost":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
