"""Optimistic writes under contention (shared/storage/contention.py): the backoff's schedule,
the error when every attempt loses, and how a request reports it."""
from __future__ import annotations

import json

import azure.functions as func
import pytest

from functions import api
from shared.storage import contention
from shared.storage.contention import ATTEMPTS, FIRST_PAUSE, LONGEST_PAUSE, ContentionError


def test_the_longest_pause_doubles_with_each_loss_up_to_a_cap():
    limits = [contention.pause_limit(losses) for losses in range(1, 16)]
    assert limits[0] == FIRST_PAUSE
    assert limits[1:] == [min(2 * limit, LONGEST_PAUSE) for limit in limits[:-1]]
    assert limits[-1] == LONGEST_PAUSE


def test_every_attempt_lost_is_a_contention_error_after_random_pauses(monkeypatch):
    pauses = []
    monkeypatch.setattr(contention.time, "sleep", pauses.append)
    tried = []
    with pytest.raises(ContentionError, match="one shard"):
        for attempt in contention.attempts("one shard"):
            tried.append(attempt)
    assert tried == list(range(ATTEMPTS))
    assert len(pauses) == ATTEMPTS - 1          # none before the first attempt
    assert all(0 <= pause <= contention.pause_limit(losses)
               for losses, pause in enumerate(pauses, start=1))
    assert len(set(pauses)) > ATTEMPTS // 2     # random, so racing writers spread out


def test_a_won_race_stops_the_attempts(monkeypatch):
    monkeypatch.setattr(contention.time, "sleep", lambda _: None)
    tried = []
    for attempt in contention.attempts("one entity"):
        tried.append(attempt)
        if attempt == 2:
            break
    assert tried == [0, 1, 2]


def test_a_request_that_keeps_losing_is_a_409_in_the_azure_envelope(monkeypatch):
    monkeypatch.setenv("FACE_API_KEYS", "contention-key")

    def handler(_request):
        raise ContentionError("too much contention on one entity")
    request = func.HttpRequest("PUT", "http://127.0.0.1/face/v1.0/persongroups/g/persons",
                               headers={api.KEY_HEADER: "contention-key"},
                               route_params={"apiVersion": "v1.0"}, body=b"{}")
    response = api.handle(request, handler)
    assert response.status_code == 409
    assert response.headers["x-ms-error-code"] == "ConcurrentOperationConflict"
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "ConcurrentOperationConflict" and "retry" in error["message"]
