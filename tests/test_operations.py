"""Long-running operations (shared/operations.py) against a real Azurite, with the queue
drained by hand: a repeated request answers the operation of the first one and heals it (a
failed operation, or one whose message was lost, is queued again); a repeated delivery of
finished work does nothing; creations share an operation only within the window."""
from __future__ import annotations

import json
import uuid

import pytest

from shared import clock, operations
from shared.errors import FaceError
from shared.storage import clients


@pytest.fixture
def moved_clock():
    yield clock
    clock.reset()


def messages_of(operation_id: str) -> list:
    """The queued messages of one operation, taken off the queue (others become visible
    again at once)."""
    queue, mine = clients.queue(operations.QUEUE), []
    for message in queue.receive_messages(max_messages=32, visibility_timeout=1):
        if json.loads(message.content)["operation"] == operation_id:
            queue.delete_message(message)
            mine.append(json.loads(message.content))
        else:
            queue.update_message(message, visibility_timeout=0)
    return mine


def status(operation_id: str) -> str:
    return operations.get(operation_id)["status"]


def fail(message: dict) -> None:
    raise FaceError("PersonNotFound", "gone", 404)


def test_a_retry_requeues_a_failed_operation_and_not_a_finished_one(azurite):
    key, work = f"test/{uuid.uuid4()}", {"op": "test"}
    first = operations.start(work, key)
    operations.run(messages_of(first)[0], fail)
    assert status(first) == "failed"
    assert operations.start(work, key) == first
    assert status(first) == "notStarted"
    [again] = messages_of(first)
    done = []
    operations.run(again, done.append)
    assert status(first) == "succeeded" and done == [again]
    assert operations.start(work, key) == first and messages_of(first) == []
    operations.run(again, done.append)          # a repeated delivery: nothing happens
    assert status(first) == "succeeded" and len(done) == 1


def test_a_retry_requeues_an_operation_whose_message_was_lost(azurite, moved_clock):
    key, work = f"test/{uuid.uuid4()}", {"op": "test"}
    first = operations.start(work, key)
    assert len(messages_of(first)) == 1         # taken and lost, as by a killed process
    assert operations.start(work, key) == first and messages_of(first) == []
    moved_clock.shift(operations.STALE.total_seconds() + 1)
    assert operations.start(work, key) == first
    assert len(messages_of(first)) == 1 and status(first) == "notStarted"


def test_creations_share_an_operation_within_the_window(azurite, moved_clock):
    key = f"test/{uuid.uuid4()}"
    first = operations.start({"op": "test"}, operations.same_request(key))
    moved_clock.shift(operations.WINDOW.total_seconds() / 2)
    assert operations.start({"op": "test"}, operations.same_request(key)) == first
    moved_clock.shift(operations.WINDOW.total_seconds())
    later = operations.start({"op": "test"}, operations.same_request(key))
    assert later != first
    for operation_id in (first, later):     # leave the queue as it was
        messages_of(operation_id)
