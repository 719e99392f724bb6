"""The parts of host.json the local runtime honours: the HTTP route prefix and the queue
options (`extensions.queues`), with the Functions host's defaults where a value is absent."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan string: `hh:mm:ss[.fff]` or `d.hh:mm:ss[.fff]`."""
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", text.strip())
    if not match:
        raise ValueError(f"not a TimeSpan (hh:mm:ss): {text!r}")
    days, hours, minutes, seconds = match.groups()
    return ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    # Defaults of the Functions host (functions-bindings-storage-queue, host.json settings).
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0     # delay before a failed message is retried
    batch_size: int = 16
    new_batch_threshold: int = 8        # fetch again when fewer than this many are running
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"    # or "none"

    @classmethod
    def from_json(cls, raw: dict) -> "QueueOptions":
        batch = int(raw.get("batchSize", cls.batch_size))
        encoding = str(raw.get("messageEncoding", cls.message_encoding)).lower()
        if encoding not in ("base64", "none"):
            raise ValueError(f"host.json messageEncoding must be base64 or none, not {encoding!r}")
        return cls(
            max_dequeue_count=int(raw.get("maxDequeueCount", cls.max_dequeue_count)),
            visibility_timeout=parse_timespan(raw.get("visibilityTimeout", "00:00:00")),
            batch_size=batch,
            new_batch_threshold=int(raw.get("newBatchThreshold", batch // 2)),
            max_polling_interval=max(0.1, parse_timespan(raw.get("maxPollingInterval",
                                                                 "00:01:00"))),
            message_encoding=encoding)


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    queues: QueueOptions = field(default_factory=QueueOptions)

    @classmethod
    def load(cls, path: Path) -> "HostConfig":
        extensions = json.loads(Path(path).read_text()).get("extensions", {})
        prefix = extensions.get("http", {}).get("routePrefix", cls.route_prefix)
        return cls(route_prefix=prefix.strip("/"),
                   queues=QueueOptions.from_json(extensions.get("queues", {})))
