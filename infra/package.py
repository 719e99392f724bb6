"""Build the function app's deployment zip: the code, the studio's page and the built models,
nothing else (no tests, virtualenvs, node_modules or caches). deploy.sh publishes it with a
remote build, which installs requirements.txt on the platform.

Usage: python3 infra/package.py OUT.zip   (after `make models`)"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL_FILES = ("function_app.py", "host.json", "requirements.txt")
PACKAGES = ("functions", "shared", "studio")   # studio/: the browser page's static files
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", "tests"}


def package_files() -> list[Path]:
    models = ROOT / "models"
    if not (models / "manifest.json").is_file():
        raise SystemExit("models/manifest.json is missing: run `make models` first.")
    files = [ROOT / name for name in TOP_LEVEL_FILES]
    for package in PACKAGES:
        files += [path for path in sorted((ROOT / package).rglob("*"))
                  if path.is_file() and path.suffix != ".pyc"
                  and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)]
    # The ONNX files, the JSON the model build writes next to them (manifest, calibration) and
    # the models' licence texts, which must travel with the weights.
    return files + [path for pattern in ("*.onnx", "*.json", "LICENSE-*")
                    for path in sorted(models.glob(pattern))]


def build(out: Path) -> list[str]:
    names = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in package_files():
            name = path.relative_to(ROOT).as_posix()
            archive.write(path, name)
            names.append(name)
    return names


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(f"{len(build(Path(sys.argv[1])))} files in {sys.argv[1]}")
