"""Whether the model files named in models/manifest.json are present and intact."""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from shared import settings


def manifest_path() -> Path:
    return Path(settings.get("FACE_MODELS_DIR")) / "manifest.json"


@lru_cache(maxsize=1)
def _verified(path: str, mtime: float) -> tuple[bool, str]:
    manifest = json.loads(Path(path).read_text())
    for model in manifest["models"]:
        file = Path(path).parent / model["file"]
        if not file.is_file():
            return False, f"{model['file']} missing"
        if hashlib.sha256(file.read_bytes()).hexdigest() != model["sha256"]:
            return False, f"{model['file']} does not match its manifest checksum"
    return True, "ok"


def status() -> dict:
    path = manifest_path()
    if not path.is_file():
        return {"ready": False, "detail": "models/manifest.json missing: run `make models`"}
    ready, detail = _verified(str(path), path.stat().st_mtime)
    return {"ready": ready, "detail": detail}
