"""Face inference on CPU with ONNX Runtime: YuNet detection, FaceNet recognition, MediaPipe
landmarks, quality.

    engine = get_engine()
    image = engine.decode(data)
    faces = engine.detect(image)
    vectors = engine.embed(image, faces)
    points = engine.landmarks(image, faces)

One small module per concern (images, detector, align, recognizer, landmarks, quality,
calibration), `engine`, the facade, and `pipeline`, the decode -> detect -> filter -> embed path
detect, add-face and enrollment share. Nothing here knows about HTTP."""
from shared.inference.detector import Face
from shared.inference.engine import Engine, get_engine
from shared.inference.landmarks import FaceLandmarks
from shared.inference.quality import FaceQuality
from shared.inference.recognizer import EMBEDDING_DIM

__all__ = ["EMBEDDING_DIM", "Engine", "Face", "FaceLandmarks", "FaceQuality", "get_engine"]
