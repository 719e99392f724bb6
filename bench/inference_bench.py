"""Speed and memory of the inference engine: `python -m bench.inference_bench`.

Prints the median and 90th percentile (and the CPU time) of: decode of a JPEG, detect on
640x480 and 1920x1080 photos, embed of one face and of a batch of 16, quality of one face,
the 27 landmarks (face mesh + iris) of one face and of a batch of 16;
appearance (mask, glasses, occlusion, accessories) of one face and of a batch of 16;
what detect with landmarks and every attribute costs per face over detect alone (the whole
detect path, shared/detection.py, on one face and on 16), the issue 13 budget being 10 ms;
the cold start of a fresh process (imports, sessions, first run); and the peak RSS. The load
average is printed too: on a shared machine the figures are only as good as the idle cores."""
from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from bench import FACES, ROOT
from shared import settings
from shared.detection import MODEL_ATTRIBUTES, DetectOptions, detect
from shared.inference import get_engine

COLD_START = """
import time
started = time.perf_counter()
from shared.inference import get_engine
imported = time.perf_counter()
engine = get_engine()
loaded = time.perf_counter()
engine.warm_up()
warm = time.perf_counter()
print(imported - started, loaded - imported, warm - loaded)
"""


def timed(function, repeat: int) -> str:
    """Wall-clock median and p90, and the median CPU time of the process (all threads): on a
    busy machine the CPU time says what the work costs, the wall time what a caller waited."""
    function()  # first call outside the figures
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return (f"median {statistics.median(wall):7.2f} ms, p90 {np.percentile(wall, 90):7.2f} ms, "
            f"CPU {statistics.median(cpu):7.2f} ms")


# Detect alone, and detect with the landmarks and every attribute detection_01 serves.
DETECT_ALONE = DetectOptions(return_face_id=False)
DETECT_EVERYTHING = DetectOptions(return_face_id=False, return_landmarks=True,
                                  recognition_model="recognition_04",
                                  attributes=MODEL_ATTRIBUTES["detection_01"])


def added_per_face(data: bytes, repeat: int) -> str:
    """Median wall time (and CPU time, all threads) of detect with landmarks and every
    attribute minus that of detect alone, per face; the two are timed in turn so that a busy
    spell hits both alike."""
    faces = len(detect(data, DETECT_EVERYTHING))
    times = {DETECT_ALONE: ([], []), DETECT_EVERYTHING: ([], [])}
    for _ in range(repeat):
        for options, (wall, cpu) in times.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            detect(data, options)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    (base, base_cpu), (full, full_cpu) = (map(statistics.median, pair) for pair in times.values())
    return (f"{(full - base) / faces:6.2f} ms per face, CPU {(full_cpu - base_cpu) / faces:.2f} ms "
            f"({faces} faces: detect alone {base:.1f} ms, with them {full:.1f} ms)")


def jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photo(width: int, height: int) -> np.ndarray:
    """identification1.jpg (4 faces) stretched to the size."""
    image = Image.open(FACES / "azure-samples" / "identification1.jpg").convert("RGB")
    return np.asarray(image.resize((width, height), Image.BICUBIC))


def cold_start() -> str:
    output = subprocess.run([sys.executable, "-c", COLD_START], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    imports, sessions, first_run = (float(v) * 1000 for v in output.split())
    return (f"imports {imports:.0f} ms + sessions {sessions:.0f} ms + first run "
            f"{first_run:.0f} ms = {imports + sessions + first_run:.0f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inference_bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    repeat = parser.parse_args(argv).repeat
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"FACE_ORT_THREADS={settings.get('FACE_ORT_THREADS')}")
    print(f"cold start (fresh process): {cold_start()}")
    engine = get_engine()
    engine.warm_up()
    small, full_hd = photo(640, 480), photo(1920, 1080)
    faces = engine.detect(small)
    batch = (faces * 4)[:16]
    full_hd_jpeg = jpeg(full_hd)
    print(f"decode 1920x1080 JPEG    {timed(lambda: engine.decode(full_hd_jpeg), repeat)}")
    print(f"detect 640x480           {timed(lambda: engine.detect(small), repeat)}")
    print(f"detect 1920x1080         {timed(lambda: engine.detect(full_hd), repeat)}")
    print(f"embed 1 face             {timed(lambda: engine.embed(small, faces[:1]), repeat)}")
    print(f"embed batch of 16        {timed(lambda: engine.embed(small, batch), repeat)}"
          " (divide by 16 for per face)")
    print(f"quality 1 face           {timed(lambda: engine.quality(small, faces[0]), repeat)}")
    print(f"landmarks 1 face         {timed(lambda: engine.landmarks(small, faces[:1]), repeat)}")
    print(f"landmarks batch of 16    {timed(lambda: engine.landmarks(small, batch), repeat)}"
          " (divide by 16 for per face)")
    # mask, glasses, occlusion and accessories all come from this one call per face.
    print(f"appearance 1 face        {timed(lambda: engine.appearance(small, faces[:1]), repeat)}")
    print(f"appearance batch of 16   {timed(lambda: engine.appearance(small, batch), repeat)}"
          " (divide by 16 for per face)")
    # Issue 13's budget: at most 10 ms per face on 2 cores.
    one_face = (FACES / "azure-samples" / "detection1.jpg").read_bytes()
    sixteen = jpeg(np.tile(small, (2, 2, 1)))        # identification1's 4 faces, 4 times
    print("landmarks+attributes added per face over detect alone:")
    print(f"  1 face (detection1.jpg)    {added_per_face(one_face, repeat)}")
    print(f"  batch (1280x960, 16 faces) {added_per_face(sixteen, max(repeat // 3, 5))}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB, load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
