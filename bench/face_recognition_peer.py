"""The peer for the HTTP benchmark: the `face_recognition` library (dlib's HOG detector, 5-point
landmarks and ResNet encoder) on the same JPEG, in process, as its README's examples use it:
`load_image_file`, `face_locations`, `face_encodings`.

It runs in its own virtualenv (.tools/face_recognition, made by `make bench`: dlib comes as the
prebuilt `dlib-bin` wheel), so this file imports nothing of the project. Usage:
    .tools/face_recognition/bin/python bench/face_recognition_peer.py photo.jpg 30
prints one JSON object: the milliseconds of each call and the number of faces found."""
import io
import json
import sys
import time

import face_recognition


def main() -> None:
    path, count = sys.argv[1], int(sys.argv[2])
    data = open(path, "rb").read()

    def once() -> int:
        image = face_recognition.load_image_file(io.BytesIO(data))
        return len(face_recognition.face_encodings(image, face_recognition.face_locations(image)))
    faces = once()   # first call outside the figures
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        once()
        latencies.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"faces": faces, "ms": latencies}))


if __name__ == "__main__":
    main()
