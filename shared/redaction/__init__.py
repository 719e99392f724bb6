"""Face redaction: every detected face in a photo or a video obscured, the rest untouched.

- `obscure`: the options (method, margin, smallest face) and the pixel work on one box.
- `image`: one photo in, the same format out (POST /redact/v1/image and batch photos).
- `tracking`: boxes between detector runs in a video (look-ahead interpolation, coasting).
- `video`: a video file in, a video file out, frame by frame through PyAV (FFmpeg).
- `batch`: a blob in `redaction-input` -> `redaction-output/<same name>` and a JSON report,
  streamed through temporary files, once per blob version.
- `upload`: `python -m shared.redaction.upload` redacts a local folder through the containers.

Detection goes through the one engine (shared/inference); nothing here knows about HTTP."""
