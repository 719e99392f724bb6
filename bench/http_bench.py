"""HTTP benchmark of the stateless operations on the local stack (Azurite + the local runtime):

* detect latency (p50, p95) of a 640x480 one-face JPEG with a faceId, one request at a time,
  and the face_recognition library (dlib) on the same JPEG in process, for the ratio;
* sustained detect requests/s with several clients at once (the detect clients run in a
  process of their own, as real clients do, on the same 2 cores);
* find similar (matchFace and matchPerson) over 1000 faceIds and group of 1000 faceIds, with
  the faces of 1000 LFW photos; the grouping is scored against the LFW identities.

Run: `.venv/bin/python -m bench.http_bench [--seconds 10] [--concurrency 4]`. It prints figures
only; nothing is asserted. Photos come from FACE_DATA_DIR (default ../shared/faces)."""
from __future__ import annotations

import argparse
import io
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FACES = Path(os.environ.get("FACE_DATA_DIR", ROOT.parent / "shared" / "faces"))
KEY = "bench-key"
PEER_PYTHON = ROOT / ".tools" / "face_recognition" / "bin" / "python"
GROUP_SIZE = 1000


@contextmanager
def local_stack() -> Iterator[str]:
    """Azurite on free ports and the function app on a free port; yields the base URL."""
    from devhost.azurite import scratch_storage
    with scratch_storage():
        os.environ["FACE_API_KEYS"] = KEY
        import function_app
        from devhost.host import LocalHost
        with LocalHost(function_app.app, port=0) as host:
            yield host.url


def one_face_640x480() -> bytes:
    """Family1-Dad1 cropped to 4:3 around its centre and scaled to 640x480, as JPEG."""
    image = Image.open(FACES / "azure-samples" / "Family1-Dad1.jpg").convert("RGB")
    width, height = image.size
    crop_h = min(height, width * 3 // 4)
    crop_w = crop_h * 4 // 3
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    image = image.crop((left, top, left + crop_w, top + crop_h)).resize((640, 480))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


class Api:
    def __init__(self, base_url: str):
        self.base = f"{base_url}/face/v1.2"
        self.local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers["Ocp-Apim-Subscription-Key"] = KEY
        return self.local.session

    def detect(self, image: bytes) -> list[dict]:
        response = self.session.post(f"{self.base}/detect?recognitionModel=recognition_04",
                                     data=image,
                                     headers={"Content-Type": "application/octet-stream"})
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict):
        response = self.session.post(f"{self.base}/{path}", json=body)
        response.raise_for_status()
        return response.json()


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return (time.perf_counter() - started) * 1000, result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def in_client_process(work, *args):
    """Run a client function in a process of its own, as real clients are: threads of this
    process (the service's) would take the interpreter lock from the requests they time."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(work, *args).result()


def bench_latency(base_url: str, image: bytes, count: int = 60) -> float:
    """p50 of detect with a faceId, one request at a time."""
    api = Api(base_url)
    for _ in range(5):
        api.detect(image)
    latencies = [timed(lambda: api.detect(image))[0] for _ in range(count)]
    print(f"detect 640x480 one face, sequential x{count}: p50 {percentile(latencies, 0.5):.1f} ms,"
          f" p95 {percentile(latencies, 0.95):.1f} ms, mean {statistics.mean(latencies):.1f} ms",
          flush=True)
    return percentile(latencies, 0.5)


def bench_peer(image: bytes, ours_p50: float, count: int = 30) -> None:
    """face_recognition (dlib) on the same JPEG, in process, right after our own figures."""
    if not PEER_PYTHON.is_file():
        print(f"face_recognition peer: {PEER_PYTHON} missing (`make bench` installs it)")
        return
    with tempfile.NamedTemporaryFile(suffix=".jpg") as photo:
        photo.write(image)
        photo.flush()
        output = subprocess.run([str(PEER_PYTHON), str(ROOT / "bench" / "face_recognition_peer.py"),
                                 photo.name, str(count)], check=True, capture_output=True,
                                text=True).stdout
    result = json.loads(output)
    theirs = percentile(result["ms"], 0.5)
    print(f"face_recognition on the same photo, in process x{count} ({result['faces']} face): "
          f"p50 {theirs:.1f} ms, p95 {percentile(result['ms'], 0.95):.1f} ms; detect with "
          f"faceId over HTTP is {theirs / ours_p50:.1f}x faster")


def bench_throughput(base_url: str, image: bytes, seconds: float, concurrency: int) -> None:
    api = Api(base_url)
    deadline = time.monotonic() + seconds

    def client() -> int:
        done = 0
        while time.monotonic() < deadline:
            api.detect(image)
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        total = sum(pool.map(lambda _: client(), range(concurrency)))
    elapsed = time.perf_counter() - started
    print(f"detect sustained, {concurrency} concurrent clients for {seconds:.0f} s: "
          f"{total / elapsed:.1f} req/s ({total} requests)", flush=True)


def lfw_photos(count: int) -> list[tuple[str, Path]]:
    """(identity, photo) of `count` LFW photos: identities with several photos first (so groups
    exist), then single-photo identities (who belong in the messy group)."""
    folders = sorted(p for p in (FACES / "lfw").iterdir() if p.is_dir())
    photos = {folder.name: sorted(folder.glob("*.jpg")) for folder in folders}
    several = [(name, p) for name, files in photos.items() if len(files) > 1 for p in files]
    single = [(name, files[0]) for name, files in photos.items() if len(files) == 1]
    chosen = several[: count * 85 // 100]
    return chosen + single[: count - len(chosen)]


def detect_all(api: Api, photos: list[tuple[str, Path]]) -> dict[str, str]:
    """faceId -> identity, for the photos where a face was found (the largest face)."""
    def one(item):
        faces = api.detect(item[1].read_bytes())
        return (faces[0]["faceId"], item[0]) if faces else None
    with ThreadPoolExecutor(4) as pool:
        return dict(found for found in pool.map(one, photos) if found)


def pair_scores(groups: list[list[str]], identity: dict[str, str]) -> tuple[float, float]:
    """Pairwise precision and recall of the grouping against the true identities."""
    predicted = {pair for group in groups for pair in itertools.combinations(sorted(group), 2)}
    by_person: dict[str, list[str]] = {}
    for face_id, person in identity.items():
        by_person.setdefault(person, []).append(face_id)
    truth = {pair for ids in by_person.values() for pair in itertools.combinations(sorted(ids), 2)}
    hits = len(predicted & truth)
    return hits / max(1, len(predicted)), hits / max(1, len(truth))


def bench_collections(api: Api) -> None:
    started = time.perf_counter()
    identity = detect_all(api, lfw_photos(GROUP_SIZE))
    face_ids = list(identity)
    print(f"detected {len(face_ids)} LFW faces in {time.perf_counter() - started:.1f} s "
          "(4 concurrent clients)")
    from shared.storage.face_ids import default_store   # the stack runs in this process
    lookups = [timed(lambda: default_store().find(face_ids))[0] for _ in range(5)]
    print(f"faceId cache lookup of {len(face_ids)} ids (in process): "
          f"median {statistics.median(lookups):.0f} ms")
    query = face_ids[0]
    for mode in ("matchFace", "matchPerson"):
        runs = [timed(lambda: api.post("findsimilars", {
            "faceId": query, "faceIds": face_ids, "mode": mode,
            "maxNumOfCandidatesReturned": 1000})) for _ in range(5)]
        print(f"findsimilars {mode} over {len(face_ids)} faceIds: "
              f"median {statistics.median(ms for ms, _ in runs):.0f} ms, "
              f"{len(runs[0][1])} candidates returned")
    runs = [timed(lambda: api.post("group", {"faceIds": face_ids})) for _ in range(3)]
    result = runs[0][1]
    precision, recall = pair_scores(result["groups"], identity)
    people = len(set(identity.values()))
    print(f"group of {len(face_ids)} faceIds: median "
          f"{statistics.median(ms for ms, _ in runs):.0f} ms; {len(result['groups'])} groups + "
          f"{len(result['messyGroup'])} messy for {people} identities; pairwise precision "
          f"{precision:.3f}, recall {recall:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--detect-only", action="store_true",
                        help="only the detect figures and the face_recognition peer")
    args = parser.parse_args()
    image = one_face_640x480()
    with local_stack() as base_url:
        bench_peer(image, in_client_process(bench_latency, base_url, image))
        in_client_process(bench_throughput, base_url, image, args.seconds, args.concurrency)
        if not args.detect_only:
            bench_collections(Api(base_url))
    print(f"(machine: {os.cpu_count()} cores, shared with other work while measuring)")


if __name__ == "__main__":
    main()
