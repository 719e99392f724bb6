"""Fit the appearance heads (glasses, sunglasses, headwear): `python -m models.train_heads`.

Reads the labels in models/labels/train_attributes.tsv (made by inspection, see
models/labels/README.md) and the photos they name under $FACE_DATA_DIR (default
../shared/faces), takes the labelled face of each photo (the one nearest the centre_x,
centre_y given, or the image centre) as the service does (YuNet, then the mask classifier's
crop and its 3840 pooled features), fits one L2-regularised logistic
regression per head and writes models/appearance_heads.json, which is committed: the photos
are not part of the repository, so `make models` cannot refit it, and the service only needs
the file. Each head is fitted on the first 64, 128 or 256 principal components of the
standardised features (800 photos are too few for 3840 free weights; the number and the
penalty are chosen by cross-validation) and stored mapped back onto the 3840 features.
Re-running on the same photos and model writes the same bytes
(Newton's method from zero, fixed folds, values rounded to 6 significant digits). The
features are kept in models/.cache/ (git-ignored) between runs.

None of the evaluation photos (../shared/faces/attributes/lfw_attributes.tsv) nor anyone in
them is in the training labels; `make eval` reports the heads on those.

Every bare face is also learnt from wearing glasses drawn by its face mesh
(models/synthetic_glasses.py, labelled `ReadingGlasses`): the labelled photos have few thick
frames. A drawn face and its original are kept in the same cross-validation fold."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from models import synthetic_glasses
from models.build import CACHE_DIR, MODELS_DIR, write_atomically
from shared.inference.appearance import HEADS
from shared.inference.detector import Detector
from shared.inference.engine import (DETECTOR_FILE, HEADS_FILE, IRIS_FILE, MASK_FILE,
                                     MESH_FILE, open_session)
from shared.inference.images import decode
from shared.inference.landmarks import LandmarkModel
from shared.inference.mask import CROP_PADDING, CROP_SIZE, DETAIL_SIZE, MaskClassifier
from shared.models_status import file_sha256

LABELS = MODELS_DIR / "labels" / "train_attributes.tsv"
FACES = Path(os.environ.get("FACE_DATA_DIR", MODELS_DIR.parent.parent / "shared" / "faces"))
COMPONENTS = (64, 128, 256)
PENALTIES = (1.0, 10.0, 100.0, 1000.0)
FOLDS = 5
NEWTON_STEPS = 12
# Marks a row whose photo is learnt from with drawn glasses: "lfw/x/0001.jpg#drawn-glasses".
DRAWN = "#drawn-glasses"


def central_face(faces, image: np.ndarray, centre: tuple[float, float] | None = None):
    """The face nearest `centre`, by default the image centre: LFW photos are centred on
    their subject; other people may be in the frame."""
    x, y = centre or np.array(image.shape[1::-1]) / 2
    return min(faces, key=lambda f: np.hypot(f.left + f.width / 2 - x,
                                             f.top + f.height / 2 - y))


def read_labels(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def with_drawn_glasses(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows, then a drawn-glasses copy of every bare face: each of them is seen with and
    without, so that who wears glasses in the photos (mostly older men) is no cue."""
    return rows + [{**row, "file": row["file"] + DRAWN, "glasses": "ReadingGlasses"}
                   for row in rows if row["glasses"] == "NoGlasses"]


def labelled_features(rows: list[dict[str, str]],
                      models_dir: Path = MODELS_DIR) -> dict[str, np.ndarray]:
    """The mask classifier's features of the labelled face of each photo that has a face,
    cached per mask model and crop."""
    crop = f"{CROP_PADDING}_{DETAIL_SIZE}_{CROP_SIZE}"
    drawing = hashlib.sha256(Path(synthetic_glasses.__file__).read_bytes()).hexdigest()[:8]
    cache = CACHE_DIR / (f"lfw_features_{file_sha256(models_dir / MASK_FILE)[:16]}_{crop}_"
                         f"{drawing}.npz")
    known = dict(np.load(cache)) if cache.is_file() else {}
    missing = [row for row in rows if row["file"] not in known]
    if missing:
        known.update(_extract(missing, models_dir))
        CACHE_DIR.mkdir(exist_ok=True)
        np.savez(cache, **known)
    return {row["file"]: known[row["file"]] for row in rows if row["file"] in known}


def _extract(rows: list[dict[str, str]], models_dir: Path) -> dict[str, np.ndarray]:
    detector = Detector(open_session(models_dir / DETECTOR_FILE, 0))
    classifier = MaskClassifier(open_session(models_dir / MASK_FILE, 0))
    mesh = LandmarkModel(open_session(models_dir / MESH_FILE, 0),
                         open_session(models_dir / IRIS_FILE, 0))
    features = {}
    for row in rows:
        file, drawn = row["file"].removesuffix(DRAWN), row["file"].endswith(DRAWN)
        image = decode((FACES / file).read_bytes())
        faces = detector.detect(image)
        centre = (float(row["centre_x"]), float(row["centre_y"])) if row["centre_x"] else None
        if faces and drawn:
            face = central_face(faces, image, centre)
            (points,) = mesh.landmarks(image, [face])
            image = synthetic_glasses.draw(image, points.points, synthetic_glasses.seeded(file))
            faces = detector.detect(image)
        if faces:
            face = central_face(faces, image, centre)
            (reading,) = classifier.read(Image.fromarray(image), [face.landmarks])
            features[row["file"]] = reading.features
    return features


def targets(rows: list[dict[str, str]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per head: which rows it learns from and their 0/1 targets."""
    glasses = np.array([row["glasses"] != "NoGlasses" for row in rows])
    sunglasses = np.array([row["glasses"] == "Sunglasses" for row in rows])
    headwear = np.array([row["headwear"] == "1" for row in rows])
    photo = np.array([not row["file"].endswith(DRAWN) for row in rows])   # drawn: glasses only
    return {"glasses": (np.ones(len(rows), bool), glasses),
            "sunglasses": (glasses & photo, sunglasses),          # among faces with eyewear
            "headwear": (photo, headwear)}


def fit(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, float]:
    """Logistic regression, both classes weighted equally, L2 penalty on the weights."""
    weight = np.where(y, 0.5 / y.sum(), 0.5 / (~y).sum()) * len(y)
    design = np.hstack([x, np.ones((len(x), 1))])
    ridge = np.eye(design.shape[1]) * penalty
    ridge[-1, -1] = 0
    beta = np.zeros(design.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1 / (1 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (weight * (p - y)) + ridge @ beta
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design + ridge
        beta = beta - np.linalg.solve(hessian, gradient)
    return beta[:-1], float(beta[-1])


def balanced_accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    return float((predicted[y].mean() + (~predicted[~y]).mean()) / 2)


def cross_validated(x: np.ndarray, y: np.ndarray, folds: np.ndarray,
                    penalty: float) -> float:
    predicted = np.zeros(len(y), bool)
    for fold in range(FOLDS):
        weights, bias = fit(x[folds != fold], y[folds != fold], penalty)
        predicted[folds == fold] = x[folds == fold] @ weights + bias > 0
    return balanced_accuracy(y, predicted)


def rounded(values) -> list[float]:
    return [float(f"{v:.6g}") for v in np.atleast_1d(values)]


def train(rows: list[dict[str, str]], features: dict[str, np.ndarray], mask_sha256: str) -> dict:
    rows = [row for row in rows if row["file"] in features]
    x = np.stack([features[row["file"]] for row in rows]).astype(np.float64)
    mean, scale = np.array(rounded(x.mean(axis=0))), np.array(rounded(x.std(axis=0) + 1e-3))
    x = (x - mean) / scale
    basis = np.linalg.svd(x, full_matrices=False)[2][:max(COMPONENTS)].T    # (3840, 256)
    z = x @ basis
    photos = list(dict.fromkeys(row["file"].removesuffix(DRAWN) for row in rows))
    folds = np.array([photos.index(row["file"].removesuffix(DRAWN)) % FOLDS for row in rows])
    heads, report = {}, {}
    for name, (used, y) in targets(rows).items():
        # Ties go to fewer components, then to the stronger penalty.
        scores = {(k, p): cross_validated(z[used, :k], y[used], folds[used], p)
                  for k in COMPONENTS for p in PENALTIES}
        k, penalty = max(scores, key=lambda kp: (scores[kp], -kp[0], kp[1]))
        weights, bias = fit(z[used, :k], y[used], penalty)
        heads[name] = {"weights": rounded(basis[:, :k] @ weights), "bias": rounded(bias)[0]}
        report[name] = {"examples": int(used.sum()), "positives": int(y[used].sum()),
                        "components": k, "penalty": penalty,
                        "cross_validated_balanced_accuracy": round(scores[k, penalty], 4)}
    assert set(heads) == set(HEADS)
    return {"mask_model_sha256": mask_sha256, "training": report,
            "mean": rounded(mean), "scale": rounded(scale), "heads": heads}


def main() -> None:
    rows = with_drawn_glasses(read_labels(LABELS))
    features = labelled_features(rows)
    print(f"{len(features)} of {len(rows)} labelled photos have a face")
    heads = train(rows, features, file_sha256(MODELS_DIR / MASK_FILE))
    write_atomically(HEADS_FILE, (json.dumps(heads, separators=(",", ":")) + "\n").encode())
    print(json.dumps(heads["training"], indent=2))
    print(f"wrote {HEADS_FILE}")


if __name__ == "__main__":
    main()
