"""The contract's model names and which real model serves each.

Every name is served by the same pair, so results do not depend on the name; the names exist
for wire compatibility and so that faceIds carry their recognition model (mixing models is
rejected, as Azure does):

  detection_01, detection_02, detection_03  ->  YuNet 2023mar, OpenCV Zoo (yunet_2023mar.onnx)
  recognition_01 .. recognition_04          ->  FaceNet Inception-ResNet-v1 and dlib's ResNet,
                                                both int8, fused into one 256-d vector
                                                (shared/inference/recognizer.py)

The first of each list is the contract's default."""
DETECTION_MODELS = ("detection_01", "detection_02", "detection_03")
RECOGNITION_MODELS = ("recognition_01", "recognition_02", "recognition_03", "recognition_04")
# The recognition models with which Azure computes qualityForRecognition.
QUALITY_MODELS = ("recognition_03", "recognition_04")
# Names the embedding space: change it whenever the vectors the recognizer makes stop being
# comparable with stored ones (another model, chip or fusion). Stored embeddings and cached
# faceIds are kept under it, so older ones are never mixed in (their faces must be added again;
# see the integrity check).
EMBEDDING_VERSION = "facenet-int8-dlib-256"
