"""Batch enrollment against a real Azurite with the real models: photos uploaded to the
enrollment container are enrolled by the blob-triggered function the local runtime serves,
rejected with recorded reasons, deduplicated by content, and trained once per settled batch."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.collections import administration, faces, repository, training
from shared.collections.kinds import FACES_PER_PERSON, LARGE_PERSON_GROUP
from shared.enrollment import batches, report
from shared.enrollment import enroll
from shared.enrollment.enroll import Busy, Rejected, Target, parse
from shared.enrollment.upload import container
from devhost.blobs import RECEIPTS_CONTAINER
from devhost.host import LocalHost
from shared.inference.recognizer import EMBEDDING_DIM
from shared.storage import clients
from tests.conftest import ROOT
from tests.service import Client
from tests.test_runtime import wait_until

QUIET = 4           # FACE_ENROLLMENT_QUIET_SECONDS in these tests
FAMILY_FACES = {"family1-dad": 3, "family1-daughter": 3, "family1-mom": 2, "family1-son": 2,
                "family2-lady": 2, "family2-man": 2}


def new_group() -> str:
    return f"enr-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def client(azurite):
    os.environ["FACE_ENROLLMENT_QUIET_SECONDS"] = str(QUIET)
    import function_app   # only now: the azurite fixture has set the settings
    with LocalHost(function_app.app, port=0, blob_poll_interval=0.3, stop_timeout=10) as host:
        yield Client(host.url)
    os.environ.pop("FACE_ENROLLMENT_QUIET_SECONDS")


def family_folder(root: Path, faces_dir: Path) -> Path:
    """`<identity>/<photo>` links to the single-face Family photos, as labels.tsv names them."""
    samples = faces_dir / "azure-samples"
    lines = (samples / "labels.tsv").read_text().splitlines()[1:]
    for file, identity, _ in (line.split("\t") for line in lines):
        if identity in FAMILY_FACES:
            (root / identity).mkdir(exist_ok=True)
            (root / identity / file).symlink_to(samples / file)
    return root


def persons(group_id: str) -> dict[str, dict]:
    return {p["name"]: p
            for p in administration.list_persons(LARGE_PERSON_GROUP, group_id, None, 1000)}


def gradient_jpeg() -> bytes:
    """A faceless photo: a smooth colour gradient with a little noise (over 1 KB as JPEG)."""
    rows, cols = np.mgrid[0:240, 0:320]
    pixels = np.stack([rows, cols, (rows + cols) // 2], axis=-1) * 0.7
    pixels += np.random.default_rng(3).normal(0, 6, pixels.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def identify_names(client: Client, group_id: str, photo: bytes) -> set[str]:
    detected = client.detect(photo, recognitionModel="recognition_04", returnFaceId="true")
    assert detected.status_code == 200, detected.text
    face_ids = [face["faceId"] for face in detected.json()]
    found = client.post("identify", json={"largePersonGroupId": group_id, "faceIds": face_ids})
    assert found.status_code == 200, found.text
    by_id = {p["personId"]: name for name, p in persons(group_id).items()}
    return {by_id[result["candidates"][0]["personId"]]
            for result in found.json() if result["candidates"]}


def test_blob_names_map_to_group_person_and_file():
    assert parse("grp-1/family1-dad/a b#1.jpg") == Target("grp-1", "family1-dad",
                                                          "family1-dad/a b#1.jpg")
    for bad in ("grp/photo.jpg", "Upper/p/a.jpg", "grp/p/sub/a.jpg", "grp//a.jpg",
                f"grp/{'x' * 129}/a.jpg"):
        with pytest.raises(Rejected) as rejected:
            parse(bad)
        assert rejected.value.reason == "invalidPath"


def test_family_photos_are_enrolled_trained_once_and_identified(client, faces_dir, tmp_path):
    group_id = new_group()
    folder = family_folder(tmp_path, faces_dir)
    run = subprocess.run(
        [sys.executable, "-m", "shared.enrollment.upload", "--group", group_id, str(folder),
         "--wait", "--timeout", "120"],
        cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "14 photos: 14 uploaded" in run.stdout
    assert "outcomes after" in run.stdout and "14 enrolled" in run.stdout
    assert "training: succeeded" in run.stdout
    assert "14/14" in run.stderr    # the progress bar

    enrolled = persons(group_id)
    assert {name: len(p["persistedFaceIds"]) for name, p in enrolled.items()} == FAMILY_FACES
    assert all(p["userData"] == name for name, p in enrolled.items())
    rows = report.rows(group_id)
    assert sorted(rows) == sorted(f"{p.parent.name}/{p.name}" for p in folder.glob("*/*"))
    for path, row in rows.items():
        assert row["Status"] == "enrolled" and row["Person"] == path.split("/")[0]
        assert row["PersistedFaceId"] in enrolled[row["Person"]]["persistedFaceIds"]
    assert batches.batch(group_id).trainings == 1
    collection = repository.get_collection(LARGE_PERSON_GROUP, group_id)
    assert collection.recognition_model == "recognition_04"

    photo = (faces_dir / "azure-samples" / "identification1.jpg").read_bytes()
    assert identify_names(client, group_id, photo) == {
        "family1-dad", "family1-mom", "family1-son", "family1-daughter"}


def test_rejections_are_reported_and_duplicates_enrolled_once(client, faces_dir):
    group_id = new_group()
    samples = faces_dir / "azure-samples"
    dad = (samples / "Family1-Dad1.jpg").read_bytes()
    blobs = {"nobody/gradient.jpg": gradient_jpeg(),
             "crowd/identification1.jpg": (samples / "identification1.jpg").read_bytes(),
             "broken/notes.jpg": b"not an image at all " * 100,
             "family1-dad/first.jpg": dad,
             "family1-dad/same-bytes-other-name.jpg": dad,
             "stray.jpg": dad}
    target = container()
    for path, data in blobs.items():
        target.upload_blob(f"{group_id}/{path}", data)
    rows = wait_until(lambda: (found := report.rows(group_id)).keys() == blobs.keys() and found,
                      60)

    reasons = {path: row["Reason"] for path, row in rows.items() if row["Status"] == "rejected"}
    assert reasons == {"nobody/gradient.jpg": "noFace", "crowd/identification1.jpg":
                       "severalFaces", "broken/notes.jpg": "unreadableImage",
                       "stray.jpg": "invalidPath"}
    assert all(rows[path]["Detail"] for path in reasons)
    dad_rows = [rows["family1-dad/first.jpg"], rows["family1-dad/same-bytes-other-name.jpg"]]
    assert sorted(row["Status"] for row in dad_rows) == ["duplicate", "enrolled"]
    assert dad_rows[0]["PersistedFaceId"] == dad_rows[1]["PersistedFaceId"]

    # The same blob delivered again (new ETag, same bytes) enrolls nothing new either.
    before = rows["family1-dad/first.jpg"]["At"]
    target.upload_blob(f"{group_id}/family1-dad/first.jpg", dad, overwrite=True)
    again = wait_until(lambda: (row := report.rows(group_id)["family1-dad/first.jpg"])["At"]
                       > before and row, 30)
    assert again["Status"] == "duplicate"
    enrolled = persons(group_id)
    assert list(enrolled) == ["family1-dad"]     # nobody was created for rejected photos
    assert enrolled["family1-dad"]["persistedFaceIds"] == [dad_rows[0]["PersistedFaceId"]]
    # Rejections are outcomes: every run succeeded (the runtime wrote its receipt), none retried.
    assert wait_until(lambda: all(name in receipts_of_group(group_id) for name in blobs), 10)


def receipts_of_group(group_id: str) -> set[str]:
    """Blob paths under the group whose enroll_blob run succeeded (the runtime's receipts)."""
    receipts = clients.blob_service().get_container_client(RECEIPTS_CONTAINER)
    prefix = "blobreceipts/local/Host.Functions.enroll_blob/"
    marker = f"/{container().container_name}/{group_id}/"
    return {blob.name.split(marker, 1)[1]
            for blob in receipts.list_blobs(name_starts_with=prefix) if marker in blob.name}


def test_a_dead_runs_claim_and_deleted_persons_do_not_block_enrollment(client, faces_dir):
    group_id = new_group()
    dad = (faces_dir / "azure-samples" / "Family1-Dad2.jpg").read_bytes()
    first, other = f"{group_id}/family1-dad/a.jpg", f"{group_id}/family1-dad/b.jpg"
    # A run of `first` that claimed the content and died before storing the face.
    enroll._claim(enroll._group(group_id).storage_id, parse(first),
                  hashlib.sha256(dad).hexdigest())
    with pytest.raises(Busy):
        enroll.enroll(other, dad)         # the claim is fresh: retried later
    enrolled = enroll.enroll(first, dad)  # the retry of the same blob takes its claim over
    assert enrolled.status == "enrolled"
    assert enroll.enroll(other, dad).face_id == enrolled.face_id

    faces.delete_person(LARGE_PERSON_GROUP, group_id, enrolled.person_id)
    again = enroll.enroll(f"{group_id}/family1-dad/c.jpg", dad)
    assert again.status == "enrolled" and again.person_id != enrolled.person_id
    assert [p["persistedFaceIds"] for p in persons(group_id).values()] == [[again.face_id]]


def test_training_waits_until_the_batch_settles(client):
    group_id = new_group()
    administration.create_collection(LARGE_PERSON_GROUP, group_id, "debounce")
    storage_id = repository.get_collection(LARGE_PERSON_GROUP, group_id).storage_id
    batches.touch(group_id)
    first = batches.batch(group_id).token
    batches.touch(group_id)
    batches.settle({"group": group_id, "token": first})     # superseded: does nothing
    assert training.state(storage_id) is None and batches.batch(group_id).trainings == 0

    settled = wait_until(lambda: (b := batches.batch(group_id)).settled and b, QUIET + 15)
    assert settled.trainings == 1 and settled.token != first
    assert wait_until(lambda: training.state(storage_id).status == "succeeded", 30)


def test_a_person_at_the_face_limit_is_reported_not_retried(client, faces_dir):
    group_id = new_group()
    samples = faces_dir / "azure-samples"
    first = enroll.enroll(f"{group_id}/family1-dad/1.jpg",
                          (samples / "Family1-Dad1.jpg").read_bytes())
    collection = repository.get_collection(LARGE_PERSON_GROUP, group_id)
    vectors = np.random.default_rng(5).normal(size=(FACES_PER_PERSON - 1, EMBEDDING_DIM))
    for vector in vectors.astype(np.float32):
        faces.store_face(collection, first.person_id, vector / np.linalg.norm(vector), None)

    outcome = enroll.enroll(f"{group_id}/family1-dad/3.jpg",
                            (samples / "Family1-Dad3.jpg").read_bytes())
    assert (outcome.status, outcome.reason) == ("rejected", "limitReached")
    assert report.rows(group_id)["family1-dad/3.jpg"]["Reason"] == "limitReached"
    assert len(persons(group_id)["family1-dad"]["persistedFaceIds"]) == FACES_PER_PERSON
