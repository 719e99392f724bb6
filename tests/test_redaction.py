"""Face redaction against the real models and a real Azurite: POST /redact/v1/image on the
Azure sample photos, video redaction of a clip made here from those photos (with audio), the
blob-triggered batch through the folder uploader, and its once-only claim."""
from __future__ import annotations

import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from shared import clock
from shared.inference import get_engine, images
from shared.redaction import batch, report
from shared.redaction import upload as redaction_upload
from shared.redaction.obscure import DEFAULT_MIN_FACE, Method, RedactOptions, face_box
from shared.redaction.report import OUTPUT, STALE, Superseded
from shared.redaction.tracking import Tracker
from shared.redaction.video import redact_video
from devhost.host import LocalHost
from shared.storage import clients
from tests.conftest import TEST_KEY
from tests.image_server import ImageServer, send
from tests.media import make_video
from tests.service import Client, error_code

PHOTOS = ("identification1.jpg", "test-image-person-group.jpg", "detection1.jpg")
VIDEO_PHOTOS = ("identification1.jpg", "Family1-Mom1.jpg")
MAX_DIFFERENCE = 3.0


@pytest.fixture(scope="module")
def client(azurite):
    import function_app   # only now: the azurite fixture has set the settings
    with LocalHost(function_app.app, port=0, blob_poll_interval=0.3, stop_timeout=10) as host:
        yield Client(host.url)


def redact(client: Client, data: bytes, content_type: str = "application/octet-stream",
           key: str = TEST_KEY, **params):
    return client.session.post(f"{client.base_url}/redact/v1/image", data=data, params=params,
                               headers={"Content-Type": content_type,
                                        "Ocp-Apim-Subscription-Key": key}, timeout=60)


def boxes_of(rgb: np.ndarray, margin: float) -> list:
    size = (rgb.shape[1], rgb.shape[0])
    return [face_box(face, margin, size) for face in get_engine().detect(rgb, DEFAULT_MIN_FACE)]


def outside_difference(before: np.ndarray, after: np.ndarray, boxes: list) -> float:
    """Mean absolute difference of the pixels outside the boxes."""
    outside = np.ones(before.shape[:2], bool)
    for box in boxes:
        outside[box.top:box.bottom, box.left:box.right] = False
    return float(np.abs(before.astype(int) - after.astype(int))[outside].mean())


def faces_in(rgb: np.ndarray) -> int:
    return len(get_engine().detect(rgb, DEFAULT_MIN_FACE))


# --- one photo over HTTP --------------------------------------------------------------------

@pytest.mark.parametrize("method", ["blur", "pixelate", "fill"])
def test_redacted_photos_have_no_face_and_are_unchanged_elsewhere(client, folder, method):
    for name in PHOTOS:
        data = (folder / name).read_bytes()
        response = redact(client, data, method=method)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "image/jpeg"
        before, after = images.decode(data), images.decode(response.content)
        assert before.shape == after.shape
        boxes = boxes_of(before, RedactOptions.margin)
        assert int(response.headers["x-redacted-faces"]) == len(boxes) >= 1
        assert faces_in(after) == 0, name
        assert outside_difference(before, after, boxes) <= MAX_DIFFERENCE, name


def test_png_from_a_url_comes_back_as_png_with_other_pixels_identical(client, folder,
                                                                      monkeypatch):
    monkeypatch.setenv("FACE_URL_ALLOWLIST", "127.0.0.1")
    rgb = images.decode((folder / "identification1.jpg").read_bytes())
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, "PNG")
    server = ImageServer()
    server.routes["/group.png"] = send(png.getvalue(), headers={"Content-Type": "image/png"})
    try:
        response = client.session.post(f"{client.base_url}/redact/v1/image",
                                       json={"url": server.url("/group.png")},
                                       params={"margin": "0.3", "method": "fill"}, timeout=60)
    finally:
        server.close()
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/png"
    after = images.decode(response.content)
    assert outside_difference(rgb, after, boxes_of(rgb, 0.3)) == 0.0
    assert faces_in(after) == 0


def test_webp_is_answered_as_webp(client, folder):
    webp = io.BytesIO()
    Image.open(folder / "Family1-Dad1.jpg").save(webp, "WEBP", quality=90)
    response = redact(client, webp.getvalue())
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/webp"
    assert faces_in(np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))) == 0


@pytest.mark.parametrize("params, body, content_type, expected", [
    ({"method": "smudge"}, None, "application/octet-stream", (400, "BadArgument")),
    ({"margin": "2"}, None, "application/octet-stream", (400, "BadArgument")),
    ({"margin": "nan"}, None, "application/octet-stream", (400, "BadArgument")),
    ({"minFaceSize": "4"}, None, "application/octet-stream", (400, "BadArgument")),
    ({}, b"\xff\xd8\xff" + b"not a jpeg" * 200, "application/octet-stream",
     (400, "InvalidImage")),
    ({}, None, "text/plain", (400, "BadArgument")),
])
def test_bad_requests_get_the_error_envelope(client, folder, params, body, content_type,
                                             expected):
    data = body if body is not None else (folder / "Family1-Dad1.jpg").read_bytes()
    assert error_code(redact(client, data, content_type, **params)) == expected


def test_key_and_unknown_paths(client, folder):
    data = (folder / "Family1-Dad1.jpg").read_bytes()
    assert error_code(redact(client, data, key="wrong")) == (401, "401")
    missing = client.session.post(f"{client.base_url}/redact/v1/video", data=data, timeout=30)
    assert error_code(missing) == (404, "404")
    assert client.detect(data).status_code == 200     # the Face routes are where they were


# --- video ----------------------------------------------------------------------------------

def probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        return {"frames": sum(1 for _ in container.demux(video) if _.size),
                "rate": video.average_rate, "size": (video.width, video.height),
                "duration": container.duration,
                "audio": [(stream.codec_context.name, stream.frames) for stream in audio]}


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.fixture(scope="module")
def clip(folder, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    make_video(path, [folder / name for name in VIDEO_PHOTOS], seconds=2.0)
    return path


def test_video_keeps_frames_timing_and_audio_and_hides_every_face(clip, tmp_path):
    target = tmp_path / "redacted.mp4"
    result = redact_video(clip, target, RedactOptions())
    source, redacted = probe(clip), probe(target)
    assert source["frames"] == redacted["frames"] == result.frames == 50
    for key in ("rate", "size", "duration", "audio"):
        assert source[key] == redacted[key], key
    assert source["audio"] and source["audio"][0][1] > 0
    before, after = decoded_frames(clip), decoded_frames(target)
    assert len(after) == len(before)
    checked = range(0, len(before), 3)
    assert min(faces_in(before[i]) for i in checked) >= 3       # a meaningful clip
    assert [i for i in checked if faces_in(after[i])] == []
    # The tracked boxes differ a little from a fresh detection: compare outside wider boxes.
    worst = max(outside_difference(before[i], after[i], boxes_of(before[i], 0.5))
                for i in checked)
    assert worst <= MAX_DIFFERENCE


@pytest.mark.parametrize("suffix", [".webm", ".mov"])
def test_webm_and_mov_keep_frames_timing_and_audio(folder, tmp_path, suffix):
    source, target = tmp_path / f"clip{suffix}", tmp_path / f"redacted{suffix}"
    make_video(source, [folder / name for name in VIDEO_PHOTOS], seconds=1.0)
    result = redact_video(source, target, RedactOptions(method=Method.PIXELATE))
    assert probe(source) == probe(target)
    assert result.frames == 25 and min(result.faces_per_frame) >= 3
    assert faces_in(decoded_frames(target)[12]) == 0


def test_corrupt_and_unsupported_videos_are_refused(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(Exception) as raised:
        redact_video(broken, tmp_path / "out.mp4", RedactOptions())
    assert getattr(raised.value, "code", None) == "InvalidVideo"
    with pytest.raises(Exception) as raised:
        redact_video(tmp_path / "clip.avi", tmp_path / "out.avi", RedactOptions())
    assert getattr(raised.value, "code", None) == "UnsupportedMedia"


def test_tracker_covers_a_face_the_detector_misses_for_a_run():
    tracker = Tracker()
    face = lambda x: np.array([x, 100.0, 80.0, 80.0])  # noqa: E731
    tracker.step([face(100)], 1)
    moved = tracker.step([face(150)], 5)
    assert len(moved) == 1 and moved[0].at(0.5)[0] == pytest.approx(125)
    missed = tracker.step([], 5)           # the face is not detected this time
    assert len(missed) == 1 and missed[0].after is not None
    assert missed[0].after[0] < 200 < missed[0].after[0] + missed[0].after[2]   # still on it
    back = tracker.step([face(250)], 5)
    assert len(back) == 1 and back[0].before is not None   # the same track, not a new one
    gone = [tracker.step([], 5) for _ in range(3)]     # coasts twice, then ends
    assert [[s.after is None for s in step] for step in gone] == [[False], [False], [True]]
    assert tracker.tracks == []


# --- batch ----------------------------------------------------------------------------------

def test_batch_redacts_a_folder_and_reports_bad_files(client, folder, clip, tmp_path):
    inbox, results = tmp_path / "in", tmp_path / "out"
    (inbox / "holiday").mkdir(parents=True)
    (inbox / "holiday" / "clip.mp4").write_bytes(clip.read_bytes())
    (inbox / "group.jpg").write_bytes((folder / "identification1.jpg").read_bytes())
    (inbox / "broken.mov").write_bytes(b"not a video at all" * 100)
    (inbox / "notes.webm").write_bytes(b"")
    code = redaction_upload.main([str(inbox), "--out", str(results), "--timeout", "300"])
    assert code == 1    # two files failed
    reports = {name: json.loads((results / f"{name}.json").read_text())
               for name in ("holiday/clip.mp4", "group.jpg", "broken.mov", "notes.webm")}
    video = reports["holiday/clip.mp4"]
    assert video["status"] == "succeeded" and video["kind"] == "video"
    assert video["frames"] == len(video["facesPerFrame"]) == 50 and video["audioStreams"] == 1
    assert video["framesWithFaces"] == 50 and video["seconds"] > 0
    assert probe(results / "holiday" / "clip.mp4") == probe(clip)
    assert reports["group.jpg"]["facesPerFrame"][0] >= 3
    assert faces_in(images.decode((results / "group.jpg").read_bytes())) == 0
    for bad in ("broken.mov", "notes.webm"):
        assert reports[bad]["status"] == "failed"
        assert reports[bad]["error"]["code"] == "InvalidVideo"
        assert not (results / bad).exists()
        assert not clients.container(OUTPUT).get_blob_client(bad).exists()


def test_a_blob_is_processed_once(client, folder):
    name = "once/portrait.jpg"
    clients.container(batch.INPUT).upload_blob(name, (folder / "Family1-Son1.jpg").read_bytes())
    done = redaction_upload.wait_for_reports([name], 60)[name]
    output = clients.container(OUTPUT).get_blob_client(name).get_blob_properties()
    assert batch.redact_blob(name) is None      # the trigger fired again: nothing to do
    assert clients.container(OUTPUT).get_blob_client(name).get_blob_properties().etag \
        == output.etag
    assert report.read(name)[0] == done


def test_a_live_claim_keeps_a_second_run_out_and_a_dead_one_is_taken_over(azurite):
    name, etag = "claims/video.mp4", '"0x8D0000000000001"'
    first = report.claim(name, etag)
    assert first is not None and report.claim(name, etag) is None
    try:
        clock.shift(STALE.total_seconds() + 1)
        second = report.claim(name, etag)
    finally:
        clock.reset()
    assert second is not None
    with pytest.raises(Superseded):
        first.heartbeat(every=STALE * 0)
    assert report.claim(name + "-other", etag) is not None
