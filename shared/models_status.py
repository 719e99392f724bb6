"""Whether the model files named in models/manifest.json are present and intact, and the one
file-hash helper the engine and the model build use as well."""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from shared import settings


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per version of it (path and modification time): the
    health check and the engine's calibration check both ask for the recognizer's."""
    return _file_sha256(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _file_sha256(path: str, mtime_ns: int) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def manifest_path() -> Path:
    return Path(settings.get("FACE_MODELS_DIR")) / "manifest.json"


def status() -> dict:
    path = manifest_path()
    if not path.is_file():
        return {"ready": False, "detail": "models/manifest.json missing: run `make models`"}
    for model in json.loads(path.read_text())["models"]:
        file = path.parent / model["file"]
        if not file.is_file():
            return {"ready": False, "detail": f"{model['file']} missing"}
        if file_sha256(file) != model["sha256"]:
            return {"ready": False,
                    "detail": f"{model['file']} does not match its manifest checksum"}
    return {"ready": True, "detail": "ok"}
