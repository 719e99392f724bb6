"""Video redaction speed and memory: 1280x720, 25 fps clips made from the Azure sample photos
(six faces sliding across the frame, with an audio track), redacted on this machine.

- The pipeline (decode, detect every few frames, track, obscure, encode, copy the audio), file
  to file, in a fresh process per clip: frames per second including the model load, CPU time
  per frame (which a busy machine distorts less than wall time) and the peak resident memory,
  at two lengths (flat memory = about the same peak for both).
- End to end through batch redaction on the local stack (Azurite + the local runtime): from
  the upload into `redaction-input` until the report is final (download, redaction, upload).

Run: `.venv/bin/python -m bench.redaction_bench [--seconds 8 24]`. Nothing is asserted."""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.http_bench import FACES, local_stack

PHOTOS = ("identification1.jpg", "Family1-Mom1.jpg", "Family2-Man1.jpg")
WIDTH, HEIGHT, FPS = 1280, 720, 25


def make_clip(path: Path, seconds: float) -> int:
    from tests.media import make_video
    return make_video(path, [FACES / "azure-samples" / name for name in PHOTOS], seconds,
                      WIDTH, HEIGHT, FPS)


def redact_one(source: Path, target: Path) -> None:
    """In the child process: redact, print frames, seconds and peak RSS as JSON."""
    from shared.redaction.obscure import RedactOptions
    from shared.redaction.video import redact_video
    started = time.perf_counter()
    result = redact_video(source, target, RedactOptions())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"frames": result.frames, "seconds": time.perf_counter() - started,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime,
                      "faces": max(result.faces_per_frame), "peak_mb": usage.ru_maxrss / 1024}))


def pipeline(source: Path, target: Path) -> dict:
    run = subprocess.run([sys.executable, "-m", "bench.redaction_bench", "--one", str(source),
                          str(target)], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def end_to_end(source: Path) -> tuple[int, float]:
    with local_stack():
        from shared.redaction import batch, upload
        from shared.storage import clients
        started = time.monotonic()
        with source.open("rb") as data:
            clients.container(batch.INPUT).upload_blob(source.name, data)
        report = upload.wait_for_reports([source.name], 3600)[source.name]
        return report["frames"], time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs=2, default=[8, 24],
                        help="the two clip lengths")
    parser.add_argument("--one", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        redact_one(*args.one)
        return
    with tempfile.TemporaryDirectory() as folder:
        clips = []
        for seconds in args.seconds:
            clip = Path(folder) / f"clip-{seconds:g}s.mp4"
            make_clip(clip, seconds)
            clips.append(clip)
        for clip in clips:
            figures = pipeline(clip, clip.with_suffix(".out.mp4"))
            print(f"pipeline {WIDTH}x{HEIGHT} {FPS} fps, {figures['frames']} frames "
                  f"({figures['frames'] / FPS:g} s, up to {figures['faces']} faces a frame): "
                  f"{figures['frames'] / figures['seconds']:.1f} frames/s, "
                  f"{1000 * figures['cpu_seconds'] / figures['frames']:.0f} ms CPU a frame "
                  f"(all threads), peak RSS {figures['peak_mb']:.0f} MB")
        frames, seconds = end_to_end(clips[-1])
        print(f"end to end (upload -> batch redaction -> final report), {frames} frames: "
              f"{seconds:.1f} s, {frames / seconds:.1f} frames/s")


if __name__ == "__main__":
    main()
