"""Accuracy of the inference engine on the real photos: `python -m bench.evaluate`.

* Verification on LFW (lfw/pairs.tsv, folds 1-2, 1,200 pairs): accuracy with the threshold
  chosen on one fold and applied to the other (mean of both), TAR at FAR=1e-3 over all pairs,
  the verify threshold's accuracy, and the spread of the same-person confidences (each fold
  scored by a calibration fitted on the other). `--calibrate` refits models/calibration.json
  (the impostor curve, from every different-person pair of the LFW photos).
* The Azure quickstart siblings (Family1 son and daughter): verify and identify.
* Detection on detection/gt.tsv (a detection matches a ground-truth box at IoU >= 0.4): recall
  over all faces and over faces of at least 36 px, false positives.
* Landmarks on the Caltech faces of detection/gt_detail.tsv (eye centres, nose tip, mouth
  centre): the error of returnFaceLandmarks' pupils, noseTip and mouth centre, and of the
  detector's own 5 points, over the inter-ocular distance, on the same detected faces.
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


def lfw_vectors(engine: Engine) -> dict[str, np.ndarray]:
    """The embedding of every LFW photo (the central face), by file name."""
    files = sorted(f"{p.parent.name}/{p.name}" for p in (FACES / "lfw").glob("*/*.jpg"))
    return lfw_embeddings(engine, files)


def lfw_pairs(vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """similarity and same (bool) of every pair of pairs.tsv, and the rows; a photo without a
    face scores -1."""
    pairs = read_tsv(FACES / "lfw" / "pairs.tsv")
    missing = {p[k] for p in pairs for k in ("file1", "file2")} - set(vectors)
    print(f"LFW: {len(pairs)} pairs, {len(missing)} photos without a detected face")
    similarity = np.array([float(vectors[p["file1"]] @ vectors[p["file2"]])
                           if p["file1"] in vectors and p["file2"] in vectors else -1.0
                           for p in pairs])
    same = np.array([p["same"] == "1" for p in pairs])
    return similarity, same, pairs


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


def impostors(vectors: dict[str, np.ndarray], files: set[str] | None = None) -> np.ndarray:
    """Similarities of every pair of photos (of `files`, default all) of different people."""
    names = sorted(files & set(vectors) if files is not None else vectors)
    matrix = np.stack([vectors[name] for name in names])
    person = np.array([name.split("/")[0] for name in names])
    upper = np.triu_indices(len(names), 1)
    different = person[upper[0]] != person[upper[1]]
    return (matrix @ matrix.T)[upper][different]


def spread(vectors, similarity, same, pairs) -> np.ndarray:
    """Confidences of the same-person pairs, each fold scored with a calibration fitted on the
    other fold's photos only (the two folds share no person), so that nothing is scored by a
    curve fitted on it."""
    folds = np.array([p["fold"] for p in pairs])
    confidences = []
    for fold in np.unique(folds):
        other = {p[k] for p in pairs if p["fold"] != fold for k in ("file1", "file2")}
        fitted = calibration.fit(impostors(vectors, other), "")
        confidences.append(fitted.confidence(similarity[same & (folds == fold)]))
    return np.round(np.concatenate(confidences), 5)   # as the API rounds them


def verification(engine: Engine, refit: bool) -> None:
    vectors = lfw_vectors(engine)
    similarity, same, pairs = lfw_pairs(vectors)
    folds = np.array([p["fold"] for p in pairs])
    accuracy, tar = cross_validated_accuracy(similarity, same, folds), tar_at_far(similarity, same)
    print(f"  accuracy (threshold cross-validated over folds): {accuracy:.2%}")
    print(f"  TAR at FAR={FAR:g}: {tar:.2%}")
    if refit:
        fitted = calibration.fit(impostors(vectors), engine.recognizer_sha256)
        fitted.save(CALIBRATION_DIR, fitted_on="every different-person pair of the LFW photos",
                    lfw_accuracy=round(accuracy, 4), lfw_tar_at_far_1e_3=round(tar, 4))
        engine.calibration = fitted
        print(f"  wrote {CALIBRATION_DIR / calibration.FILE_NAME}")
    confidence = engine.confidence(similarity)
    print(f"  verify threshold (confidence 0.5, FAR {calibration.VERIFY_FAR:g}): similarity "
          f"{engine.same_person_similarity:.4f}; LFW pairs at it: accuracy "
          f"{np.mean((confidence >= 0.5) == same):.2%}, same-person accepted "
          f"{np.mean(confidence[same] >= 0.5):.2%}, different-person accepted "
          f"{np.mean(confidence[~same] >= 0.5):.2%}")
    graded = spread(vectors, similarity, same, pairs)
    q1, median, q3 = np.percentile(graded, [25, 50, 75])
    print(f"  same-person confidences (calibration fitted on the other fold): quartiles "
          f"{q1:.3f} / {median:.3f} / {q3:.3f}, IQR {q3 - q1:.3f}, at 1.0: {np.mean(graded >= 1):.1%}")


def siblings(engine: Engine) -> None:
    """The Azure quickstart family: verify each son photo against each daughter photo, and
    identify the son against Dad, Mom and Daughter enrolled (he is not) at the default
    threshold."""
    folder = FACES / "azure-samples"

    def vectors(person: str) -> np.ndarray:
        found = []
        for path in sorted(folder.glob(f"Family1-{person}*.jpg")):
            image = read_image(engine, path)
            found.append(engine.embed(image, engine.detect(image)[:1])[0])
        return np.stack(found)
    son, daughter = vectors("Son"), vectors("Daughter")
    confidence = engine.confidence(son @ daughter.T)
    print(f"Family1 son vs daughter: {int(np.sum(confidence >= 0.5))} of {confidence.size} pairs "
          f"identical, confidences {np.round(np.sort(confidence.ravel()), 3).tolist()}")
    gallery = {"Dad": vectors("Dad"), "Mom": vectors("Mom"), "Daughter": daughter}
    minimum = engine.identify_similarity(sum(len(v) for v in gallery.values()))
    for index, query in enumerate(son, 1):
        best = {name: float((faces @ query).max()) for name, faces in gallery.items()}
        found = [name for name, value in best.items() if value >= minimum]
        print(f"  identify Son{index} (not enrolled) against Dad, Mom, Daughter: "
              f"{found or 'no candidate'} (best {max(best, key=best.get)}, confidence "
              f"{engine.confidence(max(best.values())):.3f})")


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


# --- landmarks ----------------------------------------------------------------------------

def caltech_points() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """file -> [(x, y, w, h box, (4, 2) points: eye image-left, eye image-right, nose tip,
    mouth centre)] of the Caltech faces."""
    faces: dict[str, list] = {}
    for row in read_tsv(FACES / "detection" / "gt_detail.tsv"):
        if row["subset"] == "caltech_webfaces" and row["landmarks_leye_reye_nose_mouth"]:
            points = np.array(row["landmarks_leye_reye_nose_mouth"].split(), float).reshape(4, 2)
            faces.setdefault(row["file"], []).append(
                (np.array([float(row[k]) for k in "xywh"]), points))
    return faces


def azure_points(marks: dict) -> np.ndarray:
    """Pupils, nose tip and mouth centre (between the inner lip points) of the 27 points."""
    named = {name: np.array(point) for name, point in marks.items()}
    return np.stack([named["pupilLeft"], named["pupilRight"], named["noseTip"],
                     (named["upperLipBottom"] + named["underLipTop"]) / 2])


def detector_points(five: np.ndarray) -> np.ndarray:
    """Eyes, nose tip and mouth centre (between the corners) of the detector's 5 points."""
    return np.concatenate([five[:3], five[3:].mean(axis=0, keepdims=True)])


def landmarks(engine: Engine) -> None:
    """Errors over the ground truth's inter-ocular distance, on the Caltech faces the detector
    finds (IoU >= MATCH_IOU); nothing here was tuned on these photos."""
    errors: dict[str, list[np.ndarray]] = {"returnFaceLandmarks": [], "detector 5 points": []}
    offsets: dict[str, list[np.ndarray]] = {method: [] for method in errors}
    for name, truth in caltech_points().items():
        image = read_image(engine, FACES / "detection" / name)
        faces = engine.detect(image)
        found = np.array([[f.left, f.top, f.width, f.height] for f in faces]).reshape(-1, 4)
        marks = engine.landmarks(image, faces)
        for box, points in truth:
            if not len(found):
                break
            overlaps = iou(box, found)
            best = int(np.argmax(overlaps))
            if overlaps[best] < MATCH_IOU:
                continue
            inter_ocular = np.linalg.norm(points[1] - points[0])
            for method, predicted in (
                    ("returnFaceLandmarks", azure_points(marks[best].azure())),
                    ("detector 5 points", detector_points(faces[best].landmarks))):
                errors[method].append(np.linalg.norm(predicted - points, axis=1) / inter_ocular)
                offsets[method].append(predicted - points)
    print(f"Landmarks on {len(errors['detector 5 points'])} detected Caltech faces (error / "
          "inter-ocular distance, mean and median; mouth centre: between the inner lip points, "
          "between the corners for the detector):")
    for method, rows in errors.items():
        table = np.array(rows)
        parts = [f"{part} {table[:, i].mean():.3f}/{np.median(table[:, i]):.3f}" for i, part in
                 enumerate(("eye left", "eye right", "nose tip", "mouth centre"))]
        print(f"  {method:20s} " + ", ".join(parts) + f"; all {table.mean():.3f}")
    # Both methods sit up and left of the Caltech points by about a pixel, eyes included: the
    # annotations seem to count pixels from 1 (the service counts from 0, as the detector).
    print("  mean offset x, y in px (eyes): " + ", ".join(
        f"{method} {np.mean(rows, axis=0)[:2].mean(axis=0).round(2).tolist()}"
        for method, rows in offsets.items()))


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
    siblings(engine)
    detection(engine)
    landmarks(engine)
    azure_samples(engine)
    quality(engine)
    appearance(engine)


if __name__ == "__main__":
    main()
