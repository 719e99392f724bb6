"""Accuracy of the inference engine on the real photos: `python -m bench.evaluate`.

* Verification on LFW (lfw/pairs.tsv, folds 1-2, 1,200 pairs): accuracy with the threshold
  chosen on one fold and applied to the other (mean of both), TAR at FAR=1e-3 over all pairs,
  and how the calibrated confidence splits them. `--calibrate` refits models/calibration.json.
* Detection on detection/gt.tsv (a detection matches a ground-truth box at IoU >= 0.4): recall
  over all faces and over faces of at least 36 px, false positives.
* Face counts on the Azure sample photos (azure-samples/labels.tsv).
* The spread of the quality attributes on the Azure samples and on degraded copies.
* Mask, glasses and headwear (shared/appearance_attributes.py) on photos no head was trained
  on: mask balanced accuracy on faces of at least 40 px (the facemask photos' with_mask and
  without_mask faces, and the unmasked Azure sample faces; `uncertain` counts as wrong);
  glasses balanced accuracy, headwear recall and false alarms on the 117 labelled LFW photos
  of attributes/lfw_attributes.tsv."""
from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench import FACES
from models.train_heads import central_face
from shared import appearance_attributes
from shared.inference import calibration, get_engine
from shared.inference.engine import CALIBRATION_DIR, Engine

MATCH_IOU = 0.4
FAR = 1e-3


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def read_image(engine: Engine, path: Path) -> np.ndarray:
    return engine.decode(path.read_bytes())


# --- verification -------------------------------------------------------------------------

def lfw_embeddings(engine: Engine, files: list[str]) -> dict[str, np.ndarray]:
    vectors = {}
    for name in files:
        image = read_image(engine, FACES / "lfw" / name)
        faces = engine.detect(image)
        if faces:
            vectors[name] = engine.embed(image, [central_face(faces, image)])[0]
    return vectors


def lfw_pairs(engine: Engine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """similarity, same (bool), fold of every pair; a photo without a face scores -1."""
    pairs = read_tsv(FACES / "lfw" / "pairs.tsv")
    files = sorted({p[k] for p in pairs for k in ("file1", "file2")})
    vectors = lfw_embeddings(engine, files)
    print(f"LFW: {len(pairs)} pairs of {len(files)} photos, {len(files) - len(vectors)} "
          f"photos without a detected face")
    similarity = np.array([float(vectors[p["file1"]] @ vectors[p["file2"]])
                           if p["file1"] in vectors and p["file2"] in vectors else -1.0
                           for p in pairs])
    same = np.array([p["same"] == "1" for p in pairs])
    folds = np.array([p["fold"] for p in pairs])
    return similarity, same, folds


def cross_validated_accuracy(similarity, same, folds) -> float:
    scores = []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = calibration.best_threshold(similarity[~test], same[~test])
        scores.append(np.mean((similarity[test] >= threshold) == same[test]))
    return float(np.mean(scores))


def tar_at_far(similarity, same, far: float = FAR) -> float:
    """Share of same-person pairs above the threshold that lets through a `far` share of the
    different-person pairs (with 600 of those, FAR=1e-3 means none)."""
    impostors = np.sort(similarity[~same])[::-1]
    threshold = impostors[int(np.floor(far * len(impostors)))]
    return float(np.mean(similarity[same] > threshold))


def lfw_impostors(engine: Engine) -> np.ndarray:
    """Similarities of every pair of LFW photos of different people (about a million)."""
    folder = FACES / "lfw"
    files = sorted(f"{p.parent.name}/{p.name}" for p in folder.glob("*/*.jpg"))
    vectors = lfw_embeddings(engine, files)
    names = list(vectors)
    matrix = np.stack([vectors[name] for name in names])
    person = np.array([name.split("/")[0] for name in names])
    upper = np.triu_indices(len(names), 1)
    different = person[upper[0]] != person[upper[1]]
    return (matrix @ matrix.T)[upper][different]


def verification(engine: Engine, refit: bool) -> None:
    similarity, same, folds = lfw_pairs(engine)
    accuracy, tar = cross_validated_accuracy(similarity, same, folds), tar_at_far(similarity, same)
    print(f"  accuracy (threshold cross-validated over folds): {accuracy:.2%}")
    print(f"  TAR at FAR={FAR:g}: {tar:.2%}")
    if refit:
        fitted = calibration.fit(similarity, same, engine.recognizer_sha256,
                                 lfw_impostors(engine))
        fitted.save(CALIBRATION_DIR, fitted_on="LFW folds 1-2 (lfw/pairs.tsv)",
                    lfw_accuracy=round(accuracy, 4), lfw_tar_at_far_1e_3=round(tar, 4))
        engine.calibration = fitted
        print(f"  wrote {CALIBRATION_DIR / calibration.FILE_NAME}")
    confidence = engine.confidence(similarity)
    print(f"  calibrated: threshold {engine.same_person_similarity:.4f}, accuracy at "
          f"confidence 0.5 {np.mean((confidence >= 0.5) == same):.2%}, mean confidence "
          f"same {confidence[same].mean():.3f} / different {confidence[~same].mean():.3f}")


# --- detection ----------------------------------------------------------------------------

def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x, y, w, h box with each row of boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y2 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / (box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter)


def match(truth: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching; whether each ground-truth box was found."""
    hit = np.zeros(len(truth), bool)
    free = np.ones(len(found), bool)
    for i, box in enumerate(truth):
        if not free.any():
            break
        overlaps = np.where(free, iou(box, found), 0)
        best = int(np.argmax(overlaps))
        if overlaps[best] >= MATCH_IOU:
            hit[i], free[best] = True, False
    return hit


def detection(engine: Engine) -> None:
    truth_by_file: dict[str, list[list[float]]] = {}
    for row in read_tsv(FACES / "detection" / "gt.tsv"):
        truth_by_file.setdefault(row["file"], []).append([float(row[k]) for k in "xywh"])
    hits, large, false_positives = [], [], 0
    for name, boxes in truth_by_file.items():
        truth = np.array(boxes)
        faces = engine.detect(read_image(engine, FACES / "detection" / name))
        found = np.array([[f.left, f.top, f.width, f.height] for f in faces]).reshape(-1, 4)
        hit = match(truth, found)
        hits.extend(hit)
        large.extend(truth[:, 2:].max(axis=1) >= 36)
        false_positives += len(found) - hit.sum()
    hits, large = np.array(hits), np.array(large)
    print(f"Detection ({len(truth_by_file)} photos, IoU >= {MATCH_IOU}): recall "
          f"{hits.mean():.1%} of {len(hits)} faces, {hits[large].mean():.1%} of {large.sum()} "
          f"faces >= 36 px; {false_positives} detections match no ground truth (many are real "
          f"faces the Caltech boxes leave out)")


def azure_samples(engine: Engine) -> None:
    expected = found = extra = 0
    for row in read_tsv(FACES / "azure-samples" / "labels.tsv"):
        count = len(engine.detect(read_image(engine, FACES / "azure-samples" / row["file"])))
        wanted = int(row["faces"])
        expected += wanted
        found += min(count, wanted)
        extra += max(count - wanted, 0)
        if count != wanted:
            print(f"  {row['file']}: {count} faces, expected {wanted}")
    print(f"Azure samples (labels.tsv): {found}/{expected} faces found, {extra} extra")


# --- quality ------------------------------------------------------------------------------

DEGRADATIONS = {
    "as is": lambda im: im,
    "blurred (Gaussian r=4)": lambda im: im.filter(ImageFilter.GaussianBlur(4)),
    "dark (x0.25)": lambda im: im.point(lambda v: v // 4),
    "bright (+130)": lambda im: im.point(lambda v: min(255, v + 130)),
    "noisy (sigma 25)": lambda im: Image.fromarray(np.clip(
        np.asarray(im) + np.random.default_rng(0).normal(0, 25, np.asarray(im).shape),
        0, 255).astype(np.uint8)),
}


def quality(engine: Engine) -> None:
    print("Quality on the Azure samples (one line per treatment of the photos):")
    photos = sorted((FACES / "azure-samples").glob("*.jpg"))
    for name, degrade in DEGRADATIONS.items():
        levels: Counter = Counter()
        for path in photos:
            image = np.asarray(degrade(Image.open(path).convert("RGB")))
            for face in engine.detect(image):
                q = engine.quality(image, face)
                levels.update([f"blur {q.blur_level}", q.exposure_level, f"noise {q.noise_level}",
                               f"recognition {q.recognition}"])
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())))


# --- mask, glasses, headwear ----------------------------------------------------------------

MASK_MIN_EVAL = 40


def balanced(truth: np.ndarray, predicted: np.ndarray) -> str:
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    hit, reject = predicted[truth].mean(), (~predicted[~truth]).mean()
    return (f"balanced accuracy {(hit + reject) / 2:.1%} (positives {hit:.1%} of "
            f"{truth.sum()}, negatives {reject:.1%} of {(~truth).sum()})")


def mask_faces(engine: Engine) -> tuple[list, list]:
    """(masked?, answer) for the facemask faces of >= 40 px that the detector finds, and the
    Azure sample faces (all bare)."""
    truth, answers = [], []
    rows = [row for row in read_tsv(FACES / "detection" / "gt_detail.tsv")
            if row["subset"] == "facemask" and row["label"] in ("with_mask", "without_mask")
            and float(row["w"]) >= MASK_MIN_EVAL]
    for name in sorted({row["file"] for row in rows}):
        image = read_image(engine, FACES / "detection" / name)
        faces = engine.detect(image)
        found = np.array([[f.left, f.top, f.width, f.height] for f in faces]).reshape(-1, 4)
        looks = engine.appearance(image, faces)
        for row in (row for row in rows if row["file"] == name):
            overlaps = iou(np.array([float(row[k]) for k in "xywh"]), found)
            if len(found) and overlaps.max() >= MATCH_IOU:
                truth.append(row["label"] == "with_mask")
                answers.append(appearance_attributes.mask_type(looks[int(overlaps.argmax())]))
    for path in sorted((FACES / "azure-samples").glob("*.jpg")):
        image = read_image(engine, path)
        for look in engine.appearance(image, engine.detect(image)):
            truth.append(False)
            answers.append(appearance_attributes.mask_type(look))
    return truth, answers


def appearance(engine: Engine) -> None:
    truth, answers = mask_faces(engine)
    print(f"Mask on faces >= {MASK_MIN_EVAL} px (facemask found by the detector + Azure "
          f"samples): {balanced(truth, np.array(answers) == 'faceMask')}; "
          f"{answers.count('uncertain')} uncertain")
    glasses, headwear = [], []
    for row in read_tsv(FACES / "attributes" / "lfw_attributes.tsv"):
        image = read_image(engine, FACES / "lfw" / row["file"])
        faces = engine.detect(image)
        if not faces:
            continue
        [look] = engine.appearance(image, [central_face(faces, image)])
        glasses.append((row["glasses"] != "NoGlasses",
                        appearance_attributes.glasses(look) != "NoGlasses"))
        headwear.append((row["headwear"] == "1",
                         look.headwear >= appearance_attributes.PRESENT))
    glasses, headwear = np.array(glasses), np.array(headwear)
    print(f"Glasses on {len(glasses)} labelled LFW photos: {balanced(*glasses.T)}")
    worn, said = headwear.T
    print(f"Headwear on {len(headwear)} labelled LFW photos: recall {said[worn].mean():.1%} "
          f"of {worn.sum()}, false alarms {said[~worn].mean():.1%} of {(~worn).sum()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true",
                        help="refit models/calibration.json on the LFW pairs")
    parser.add_argument("--only-appearance", action="store_true",
                        help="only the mask, glasses and headwear figures")
    args = parser.parse_args(argv)
    engine = get_engine()
    if args.only_appearance:
        appearance(engine)
        return
    verification(engine, args.calibrate)
    detection(engine)
    azure_samples(engine)
    quality(engine)
    appearance(engine)


if __name__ == "__main__":
    main()
