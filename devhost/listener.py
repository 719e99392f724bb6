"""What every trigger listener shares: a background thread, a stop signal, and a count of
invocations in flight that throttles fetching and lets a stop wait for running work."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Callable

from devhost.registry import FunctionEntry

if TYPE_CHECKING:
    from devhost.hostconfig import QueueOptions
    from devhost.storage import StorageAccounts

log = logging.getLogger("face.runtime")


class InFlight:
    def __init__(self):
        self._count = 0
        self._changed = threading.Condition()

    def begin(self) -> None:
        with self._changed:
            self._count += 1

    def end(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait(self, at_most: int, timeout: float | None = None,
             unless: threading.Event | None = None) -> bool:
        """Wait until at most `at_most` are running (or `unless` is set); False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._count <= at_most or (unless is not None and unless.is_set()),
                timeout)


class Listener:
    """Subclasses implement `run()` (the thread's loop, returning once `stopping` is set) and
    may `prepare()` storage before the thread starts."""

    def __init__(self, entry: FunctionEntry):
        self.entry = entry
        self.running = InFlight()
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.run, daemon=True,
                                        name=f"{entry.trigger_type}-{entry.name}")

    def prepare(self) -> None:
        pass

    def run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.prepare()
        self._thread.start()

    def stop(self) -> None:
        """Take no new work; what is running carries on (see wait_idle)."""
        self.stopping.set()
        self.running.wake()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive() \
            and self.running.wait(0, max(0.0, deadline - time.monotonic()))


class StorageListener(Listener):
    """A storage-polling listener (queue, blob) whose invocations run on the shared pool."""

    def __init__(self, entry: FunctionEntry, accounts: "StorageAccounts",
                 options: "QueueOptions", pool: Executor):
        super().__init__(entry)
        self.accounts = accounts
        self.options = options
        self.pool = pool

    def submit(self, work: Callable, *args) -> None:
        """Run `work(*args)` on the pool, counted in `running` until it returns."""
        self.running.begin()

        def counted():
            try:
                work(*args)
            except Exception:  # noqa: BLE001 - the pool would drop it silently
                log.exception("%s: unexpected error", self.entry.name)
            finally:
                self.running.end()
        self.pool.submit(counted)
