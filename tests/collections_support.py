"""Helpers of the collection tests that run the domain in-process over a real Azurite:
synthetic embeddings, cached faceIds to search with, and the training queue run synchronously."""
from __future__ import annotations

import json
import uuid

import numpy as np

from shared.collections import shards, training
from shared.storage import clients
from shared.storage.face_ids import StoredFace, default_store, expiry


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
