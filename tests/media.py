"""Test videos made from still photos with PyAV: the photos slide across a textured
background (so faces move between frames), with a sine tone as the audio track."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

AUDIO_RATE = 48000
ENCODERS = {".mp4": ("libx264", "aac"), ".mov": ("libx264", "aac"),
            ".webm": ("libvpx-vp9", "libopus")}


def _background(width: int, height: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    pixels = np.stack([rows * 200 / height, cols * 200 / width,
                       np.full_like(rows, 90)], axis=-1)
    pixels += np.random.default_rng(7).normal(0, 8, pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _stills(photos: list[Path], height: int) -> list[np.ndarray]:
    """The photos scaled to half the frame height (a few faces of 60-150 px)."""
    scaled = []
    for path in photos:
        with Image.open(path) as image:
            image = image.convert("RGB")
            side = height // 2
            width = max(1, image.width * side // image.height)
            scaled.append(np.asarray(image.resize((width, side), Image.BILINEAR)))
    return scaled


def frames(photos: list[Path], width: int, height: int, count: int):
    """RGB frames: the photos side by side, moving right by 2 px a frame (wrapping)."""
    background = _background(width, height)
    stills = _stills(photos, height)
    top = height // 4
    for index in range(count):
        frame = background.copy()
        left = (index * 2) % max(1, width // 4)
        for still in stills:
            right = min(width, left + still.shape[1])
            if right > left:
                frame[top:top + still.shape[0], left:right] = still[:, :right - left]
            left = right + 8
        yield frame


def make_video(path: Path, photos: list[Path], seconds: float, width: int = 640,
               height: int = 360, fps: int = 25, audio: bool = True) -> int:
    """Write the video; return its frame count."""
    video_codec, audio_codec = ENCODERS[path.suffix]
    count = round(seconds * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=fps, options={"preset": "veryfast"}
                               if video_codec == "libx264" else {"deadline": "realtime",
                                                                 "cpu-used": "8"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream(audio_codec, rate=AUDIO_RATE, layout="mono") if audio else None
        for index, pixels in enumerate(frames(photos, width, height, count)):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _tone(out, sound, seconds)
    return count


def _tone(out, stream, seconds: float) -> None:
    samples = np.sin(2 * np.pi * 440 * np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE)
    chunk = 1024
    for start in range(0, samples.size, chunk):
        piece = (samples[start:start + chunk] * 0.3).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        frame.time_base = Fraction(1, AUDIO_RATE)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
