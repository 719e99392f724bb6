"""A video file in, a video file out, with every face obscured in every frame (PyAV/FFmpeg).

Frames are decoded, changed and encoded one by one; at most DETECT_EVERY frames are held, so
memory does not grow with the video's length. The detector runs on every DETECT_EVERY-th frame
(and on the last); `tracking` gives the boxes of the frames between. Frames keep their
timestamps, so the frame count, frame rate and duration stay those of the input; the audio
streams are copied packet by packet, untouched. Video is encoded as H.264 (MP4, MOV) or VP9
(WebM) at near-transparent quality (CRF 18, a fast preset so that 720p keeps up with real time
on two cores).

Pixels are changed in the frame's own YUV 4:2:0 planes (the boxes halved on the chroma
planes), so nothing outside the boxes goes through a colour conversion; only the frames the
detector looks at are converted to RGB."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

from shared.errors import FaceError
from shared.inference import get_engine
from shared.redaction.obscure import Box, RedactOptions, enlarge, obscure
from shared.redaction.tracking import Segment, Tracker

DETECT_EVERY = 5
# The container formats handled, by file suffix: FFmpeg muxer and video encoder.
FORMATS = {".mp4": ("mp4", "libx264"), ".m4v": ("mp4", "libx264"),
           ".mov": ("mov", "libx264"), ".webm": ("webm", "libvpx-vp9")}
ENCODER_OPTIONS = {"libx264": {"preset": "veryfast", "crf": "18"},
                   "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "20",
                                  "b": "0", "row-mt": "1"}}
MAX_PIXELS = 4096 * 2304        # per frame: 4K and a little more
# Black on each plane of limited-range YUV, what Method.FILL paints.
PLANE_BLACK = (16, 128, 128)


def invalid_video(message: str) -> FaceError:
    return FaceError("InvalidVideo", message, 400)


@dataclass
class VideoResult:
    width: int = 0
    height: int = 0
    frame_rate: float = 0.0
    faces_per_frame: list[int] = field(default_factory=list)
    audio_streams: int = 0
    seconds: float = 0.0

    @property
    def frames(self) -> int:
        return len(self.faces_per_frame)


def redact_video(source: Path, target: Path, options: RedactOptions,
                 detect_every: int = DETECT_EVERY,
                 progress: Callable[[int], None] = lambda frames: None) -> VideoResult:
    """Write `target` (same container format as `source`, by suffix) with the faces obscured.
    Bad input raises FaceError (InvalidVideo, UnsupportedMedia); `target` may then hold a
    partial file, which the caller discards."""
    started = time.perf_counter()
    muxer, encoder = _format(source)
    try:
        with av.open(str(source), "r") as inp, av.open(str(target), "w", format=muxer) as out:
            result = _Redaction(inp, out, encoder, options, detect_every, progress).run()
    except av.FFmpegError as err:
        raise invalid_video(f"The video cannot be decoded: {err}") from None
    result.seconds = time.perf_counter() - started
    return result


def _format(path: Path) -> tuple[str, str]:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise FaceError("UnsupportedMedia", f"Unsupported file type '{path.suffix}': videos "
                        "must be MP4, MOV or WebM.", 415) from None


class _Redaction:
    def __init__(self, inp, out, encoder: str, options: RedactOptions, detect_every: int,
                 progress: Callable[[int], None]):
        if not inp.streams.video:
            raise invalid_video("The file has no video stream.")
        self.inp, self.out, self.options, self.progress = inp, out, options, progress
        self.source = inp.streams.video[0]
        if self.source.codec_context is None:
            raise invalid_video("The video's codec is not supported.")
        self.source.thread_type = "AUTO"
        self.every = max(1, detect_every)
        self.size = (self.source.codec_context.width, self.source.codec_context.height)
        # 4:2:0 output needs even sides (so does H.264 itself).
        if not 0 < self.size[0] * self.size[1] <= MAX_PIXELS or self.size[0] % 2 \
                or self.size[1] % 2:
            raise invalid_video(f"Frame size {self.size[0]}x{self.size[1]} is not supported "
                                f"(even sides, at most {MAX_PIXELS} pixels).")
        rate = self.source.average_rate or self.source.guessed_rate or Fraction(25)
        self.video = self._video_stream(encoder, rate)
        self.audio = {stream.index: out.add_stream_from_template(stream)
                      for stream in inp.streams.audio}
        self.tracker = Tracker()
        self.pending: list[av.VideoFrame] = []     # frames since the last detector run
        self.result = VideoResult(*self.size, float(rate), audio_streams=len(self.audio))

    def _video_stream(self, encoder: str, rate: Fraction):
        stream = self.out.add_stream(encoder, rate=rate, options=ENCODER_OPTIONS[encoder])
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.source.time_base
        stream.codec_context.time_base = self.source.time_base
        stream.thread_type = "AUTO"
        return stream

    def run(self) -> VideoResult:
        for packet in self.inp.demux(self.source, *self.inp.streams.audio):
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    packet.stream = self.audio[packet.stream.index]
                    self.out.mux(packet)
                continue
            for frame in packet.decode():
                self._push(frame)
        self._finish()
        if not self.result.frames:
            raise invalid_video("The video has no frames.")
        self.out.mux(self.video.encode(None))
        return self.result

    def _push(self, frame: av.VideoFrame) -> None:
        index = self.result.frames + len(self.pending)
        if index % self.every:
            self.pending.append(frame)
            return
        self._run_detector(frame)

    def _finish(self) -> None:
        """The frames after the last run: the last one is a detector run too."""
        if self.pending:
            self._run_detector(self.pending.pop())

    def _run_detector(self, frame: av.VideoFrame) -> None:
        rgb = frame.to_ndarray(format="rgb24")
        faces = [np.array([f.left, f.top, f.width, f.height], np.float64)
                 for f in get_engine().detect(rgb, self.options.min_face)]
        gap = len(self.pending) + 1
        segments = self.tracker.step(faces, gap)
        for offset, held in enumerate(self.pending, 1):
            self._write(held, segments, offset / gap)
        self.pending.clear()
        self._write(frame, segments, 1.0)
        self.progress(self.result.frames)

    def _write(self, frame: av.VideoFrame, segments: list[Segment], fraction: float) -> None:
        boxes = [enlarge(*segment.at(fraction), self.options.margin, self.size)
                 for segment in segments]
        boxes = [box for box in boxes if box.right > box.left and box.bottom > box.top]
        if boxes or frame.format.name != "yuv420p":
            frame = self._obscured(frame, boxes)
        self.result.faces_per_frame.append(len(boxes))
        self.out.mux(self.video.encode(frame))

    def _obscured(self, frame: av.VideoFrame, boxes: list[Box]) -> av.VideoFrame:
        planes = frame.reformat(format="yuv420p").to_ndarray()
        width, height = self.size
        # to_ndarray stacks Y (H rows), then U and V (H/4 rows each of W, i.e. H/2 x W/2).
        y = planes[:height]
        chroma = planes[height:].reshape(2, height // 2, width // 2)
        for box in boxes:
            obscure(y, box, self.options.method, PLANE_BLACK[0])
            half = box.scaled(0.5)
            obscure(chroma[0], half, self.options.method, PLANE_BLACK[1])
            obscure(chroma[1], half, self.options.method, PLANE_BLACK[2])
        changed = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        changed.pts, changed.time_base = frame.pts, frame.time_base
        return changed
