"""Wire details real clients depend on (issue 16, item 5): `Retry-After` on every train's 202,
the v1.0 spelling of the training status, and the `v1.1-preview.1` API version."""
from __future__ import annotations

import pytest

from shared import clock
from shared.collections import repository
from shared.collections.kinds import KINDS
from shared.storage import clients
from tests.test_collections_http import call, new_group

TRAINABLE = ("persongroups", "largepersongroups", "largefacelists")
KIND_OF = {kind.route: kind for kind in KINDS.values()}


@pytest.mark.parametrize("route", TRAINABLE)
def test_train_answers_202_with_retry_after(client, route):
    group_id = new_group(client, route)
    response = call(client, "POST", f"{route}/{group_id}/train")
    assert response.status_code == 202, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.headers["operation-Location"].endswith(f"/{route}/{group_id}/training")


def pending_training(route: str, group_id: str) -> None:
    """A training job recorded but not yet picked up from the queue (the state row only)."""
    storage_id = repository.get_collection(KIND_OF[route], group_id).storage_id
    clients.table("training").upsert_entity({
        "PartitionKey": storage_id, "RowKey": "state", "Status": "notStarted", "Job": "pending",
        "Message": "", "Parts": 0, "LastAction": clock.now()})


@pytest.mark.parametrize("version, spelling", [("v1.0", "nonstarted"), ("v1.2", "notStarted"),
                                               ("v1.2-preview.1", "notStarted")])
def test_training_status_is_spelt_per_version(client, version, spelling):
    route = "largepersongroups"
    group_id = new_group(client, route)
    pending_training(route, group_id)
    response = call(client, "GET", f"{route}/{group_id}/training", version)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == spelling
    assert response.headers["Retry-After"] == "1"


def test_v1_1_preview_is_served(client, folder):
    photo = (folder / "Family1-Dad1.jpg").read_bytes()
    detected = client.detect(photo, "v1.1-preview.1", recognitionModel="recognition_04",
                             detectionModel="detection_03", returnFaceId="true")
    assert detected.status_code == 200, detected.text
    assert len(detected.json()) == 1 and detected.json()[0]["faceId"]
    group_id = new_group(client, "largepersongroups", "v1.1-preview.1")
    listed = call(client, "GET", f"largepersongroups/{group_id}", "v1.1-preview.1")
    assert listed.json()["largePersonGroupId"] == group_id
    unknown = call(client, "GET", f"largepersongroups/{group_id}", "v1.1")
    assert unknown.status_code == 404
