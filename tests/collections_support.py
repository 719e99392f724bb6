"""Helpers of the collection tests that run the domain in-process over a real Azurite:
synthetic embeddings, cached faceIds to search with, the training queue run synchronously, and
worker processes to kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import numpy as np

from shared.collections import shards, training
from shared.storage import clients
from shared.storage.face_ids import StoredFace, default_store, expiry
from tests.conftest import ROOT


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def random_vector(seed: int) -> np.ndarray:
    return unit(np.random.default_rng(seed).normal(size=shards.DIM))


def cached_face(vector: np.ndarray, recognition_model: str = "recognition_01") -> str:
    """A faceId in the detect cache carrying `vector`, as if detect had returned it."""
    face_id = str(uuid.uuid4())
    default_store().save([StoredFace(face_id, vector, recognition_model, (0, 0, 9, 9),
                                     expiry(600))])
    return face_id


def run_queue(poison_after: int | None = None, visibility_timeout: int = 60) -> int:
    """Process training messages until the queue is empty, as the queue trigger would; a
    message failing `poison_after` times goes to the poison handler. Returns failures.
    A message taken by a process that dies is delivered again after `visibility_timeout`."""
    queue = clients.queue(training.QUEUE)
    failures = 0
    while True:
        messages = list(queue.receive_messages(max_messages=16,
                                               visibility_timeout=visibility_timeout))
        if not messages:
            return failures
        for message in messages:
            body = json.loads(message.content)
            try:
                training.process(body)
            except RuntimeError:
                failures += 1
                if poison_after is None or message.dequeue_count < poison_after:
                    queue.update_message(message, visibility_timeout=0)
                    continue
                training.process_poison(body)
            queue.delete_message(message)


def run_worker(module: str, args: list[str], seconds: float) -> list[list[str]]:
    """Start the worker `module` (it prints "ready", then a line per step), SIGKILL it
    `seconds` after it is ready; its whole lines, split."""
    process = subprocess.Popen([sys.executable, "-m", module, *args],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[list[str]] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            if not line.endswith("\n"):    # cut by the kill: never told, as for a client
                break
            lines.append(line.split())
            if line.startswith("ready"):
                ready.set()
    reader = threading.Thread(target=read)
    reader.start()
    assert ready.wait(120), "the worker did not start"
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait()
    reader.join()
    return lines
