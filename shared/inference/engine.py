"""The facade the operations use: decode, detect, embed, quality, landmarks, appearance,
confidence.

One Engine per process (get_engine). Its ONNX Runtime sessions are created once, on first use
or by warm_up(); InferenceSession.run is safe to call from concurrent requests."""
from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import onnxruntime as ort
from PIL import Image

from shared import settings
from shared.models_status import file_sha256
from shared.inference import appearance, calibration, images, quality
from shared.inference.align import chip_points
from shared.inference.appearance import Appearance
from shared.inference.detector import Detector, Face
from shared.inference.landmarks import FaceLandmarks, LandmarkModel
from shared.inference.mask import MaskClassifier
from shared.inference.quality import FaceQuality
from shared.inference.recognizer import Recognizer

DETECTOR_FILE = "yunet_2023mar.onnx"
# The two recognizers fused by shared/inference/recognizer.py.
RECOGNIZER_FILES = ("facenet_inception_resnet_v1_int8.onnx", "dlib_resnet_v1_int8.onnx")
MESH_FILE, IRIS_FILE = "mediapipe_face_landmark.onnx", "mediapipe_iris_landmark.onnx"
MASK_FILE = "face_mask_mobilenet_v2_int8.onnx"
# Committed with the code (unlike the built models), fitted by `bench/evaluate.py --calibrate`.
CALIBRATION_DIR = settings.ROOT / "models"
# Committed too, fitted by `python -m models.train_heads`.
HEADS_FILE = settings.ROOT / "models" / "appearance_heads.json"
# Share of identify searches for a person who is not enrolled that may still return a candidate
# at the default threshold (a false positive identification rate).
IDENTIFY_FPIR = 0.05
# Threads that run one model chain beside another (FaceNet beside dlib in embed, the mask
# classifier and the quality measures beside the face mesh in details): one per request
# being served at once is plenty.
SIDE_THREADS = 4


class Engine:
    def __init__(self, models_dir: Path, threads: int):
        self.side_threads = ThreadPoolExecutor(SIDE_THREADS, thread_name_prefix="engine-side")
        # The detector's second session spins between its operators (see open_session): for a
        # run that has the cores to itself.
        detector_path = models_dir / DETECTOR_FILE
        self.detector = Detector(open_session(detector_path, threads),
                                 open_session(detector_path, threads, spin=True))
        self.runs = RunCount()
        paths = [models_dir / name for name in RECOGNIZER_FILES]
        self.recognizer = Recognizer(*(open_session(path, 1) for path in paths),
                                     self.side_threads)
        # One checksum for the pair: the calibration holds for these two files together.
        self.recognizer_sha256 = hashlib.sha256(
            "".join(file_sha256(path) for path in paths).encode()).hexdigest()
        self.calibration = calibration.load(CALIBRATION_DIR, self.recognizer_sha256)
        # The detail models are small (a run takes 2-6 ms): split over threads, a run spends
        # more on handing work out than it saves, and details() runs two of them at once.
        self.landmark_model = LandmarkModel(open_session(models_dir / MESH_FILE, 1),
                                            open_session(models_dir / IRIS_FILE, 1))
        mask_path = models_dir / MASK_FILE
        self.mask = MaskClassifier(open_session(mask_path, 1))
        self.heads = appearance.load(HEADS_FILE, file_sha256(mask_path))

    @staticmethod
    def decode(data: bytes) -> np.ndarray:
        return images.decode(data)

    def detect(self, image: np.ndarray, min_face: int | None = None) -> list[Face]:
        with self.runs.counted() as alone:
            return self.detector.detect(image, min_face, alone)

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        with self.runs.counted():
            return self.recognizer.embed(image, [face.landmarks for face in faces])

    def landmarks(self, image: np.ndarray, faces: list[Face]) -> list[FaceLandmarks]:
        return self.landmark_model.landmarks(image, faces)

    @staticmethod
    def quality(image: np.ndarray, face: Face) -> FaceQuality:
        return quality.assess(image, face)

    def appearance(self, image: np.ndarray, faces: list[Face]) -> list[Appearance]:
        """Mask, glasses and headwear probabilities of each face (one classifier run each)."""
        readings = self.mask.read(Image.fromarray(image), [face.landmarks for face in faces])
        return [self.heads.read(reading, face.width) for reading, face in zip(readings, faces)]

    def details(self, image: np.ndarray, faces: list[Face], landmarks: bool, appearance: bool,
                quality: bool = False) -> tuple[list | None, list | None, list | None]:
        """The landmarks, the appearance and the quality of the faces, each when asked for
        (else None). The face mesh and iris models run in this thread, the mask classifier and
        the quality measures in a side thread: the two chains share nothing but the image,
        and the models are small enough that two runs at once beat one run on two cores."""
        def side() -> tuple[list | None, list | None]:
            return (self.appearance(image, faces) if appearance else None,
                    [self.quality(image, face) for face in faces] if quality else None)
        with self.runs.counted():
            if not (faces and landmarks):
                return [] if landmarks else None, *side()
            if not (appearance or quality):
                return self.landmark_model.landmarks(image, faces), None, None
            beside = self.side_threads.submit(side)
            return self.landmark_model.landmarks(image, faces), *beside.result()

    def confidence(self, similarity):
        return self.calibration.confidence(similarity)

    @property
    def same_person_similarity(self) -> float:
        return self.calibration.threshold

    def identify_similarity(self, gallery_faces: int) -> float:
        """Identify's default threshold for a gallery of `gallery_faces`: an unknown person is
        matched by mistake in about IDENTIFY_FPIR of searches, and never below the one-to-one
        same-person threshold."""
        far = IDENTIFY_FPIR / max(gallery_faces, 1)
        return max(self.same_person_similarity, self.calibration.similarity_at_far(far))

    def warm_up(self) -> None:
        """Run every model once so the first request does not pay for lazy initialisation."""
        image = np.full((480, 640, 3), 128, np.uint8)
        self.detect(image)
        points = chip_points().astype(np.float32) + 100
        faces = [Face(100, 100, 150, 150, 1.0, points)]
        self.embed(image, faces)
        self.details(image, faces, landmarks=True, appearance=True, quality=True)


class RunCount:
    """The model runs under way in this process (detect, embed, details; any request)."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @contextmanager
    def counted(self) -> Iterator[bool]:
        """Counts a run while it lasts; yields whether it started as the only one."""
        with self._lock:
            self._count += 1
            alone = self._count == 1
        try:
            yield alone
        finally:
            with self._lock:
                self._count -= 1


def open_session(path: Path, threads: int, spin: bool = False) -> ort.InferenceSession:
    """A session on `threads` threads whose idle pool threads sleep, unless `spin`.

    Sleeping, they leave the cores to concurrent requests (and other processes): on 2 busy
    cores spinning made one embedding 4x slower. Spinning, they wait for the next operator
    without being woken for each (the detector: 50 convolutions on 2 threads), which saved
    1-2 ms of the detector's 6-8 when nothing else ran; they stop when the run ends."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `make models`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if spin:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


_engine: Engine | None = None
_lock = threading.Lock()


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = Engine(Path(settings.get("FACE_MODELS_DIR")),
                                 int(settings.get("FACE_ORT_THREADS")))
    return _engine
