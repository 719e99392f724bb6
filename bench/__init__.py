"""Scripts that print figures (accuracy, latency, memory); nothing here is asserted.

Photos come from FACE_DATA_DIR (default ../shared/faces, next to the repository)."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACES = Path(os.environ.get("FACE_DATA_DIR", ROOT.parent / "shared" / "faces"))
