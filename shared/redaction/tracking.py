"""Face boxes for the frames between detector runs in a video.

The detector runs every N frames. Each run is matched to the tracks of the previous one
(greedily, by overlap, or by centre distance for faces that moved further than their size);
the frames in between get, per track, the box interpolated between its two runs. A track the
detector misses keeps going for MAX_MISSES runs at its last speed, a little larger each time,
so a face missed for a frame or two (or a run or two) stays covered; a track that appears
covers the frames since the previous run too, since the face was likely there already.

Boxes here are raw face boxes (left, top, width, height); the margin is added when obscuring."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_MISSES = 2
COAST_GROWTH = 0.15         # per missed run, of the box size on every side
MATCH_IOU = 0.1
MATCH_DISTANCE = 1.5        # centre distance, in track widths, for boxes that do not overlap


@dataclass
class Track:
    box: np.ndarray             # left, top, width, height at the latest run
    velocity: np.ndarray        # per frame
    misses: int = 0


@dataclass(frozen=True)
class Segment:
    """One track between two runs: its box at the earlier and at the later run (None when it
    did not exist then)."""
    before: np.ndarray | None
    after: np.ndarray | None

    def at(self, fraction: float) -> np.ndarray:
        """The box `fraction` (0..1] of the way from the earlier run to the later one."""
        if self.before is None:
            return self.after
        if self.after is None:
            return self.before
        return self.before + (self.after - self.before) * fraction


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _cost(track: np.ndarray, face: np.ndarray) -> float | None:
    """Lower is a better match; None for no match."""
    overlap = _iou(track, face)
    if overlap >= MATCH_IOU:
        return 1.0 - overlap
    distance = np.hypot(*((track[:2] + track[2:] / 2) - (face[:2] + face[2:] / 2)))
    relative = distance / max(track[2], 1.0)
    return 1.0 + relative if relative <= MATCH_DISTANCE else None


def _coasted(track: Track, gap: int) -> np.ndarray:
    box = track.box + track.velocity * gap
    grow = box[2:] * COAST_GROWTH
    return np.concatenate([box[:2] - grow, box[2:] + 2 * grow])


class Tracker:
    def __init__(self, max_misses: int = MAX_MISSES):
        self.max_misses = max_misses
        self.tracks: list[Track] = []

    def step(self, faces: list[np.ndarray], gap: int) -> list[Segment]:
        """A detector run `gap` frames after the previous one found `faces`: the segments of
        every track from the previous run to this one."""
        predicted = [track.box + track.velocity * gap for track in self.tracks]
        pairs = sorted((cost, t, f) for t, box in enumerate(predicted)
                       for f, face in enumerate(faces)
                       if (cost := _cost(box, face)) is not None)
        matched_tracks: dict[int, int] = {}
        matched_faces: set[int] = set()
        for _, t, f in pairs:
            if t not in matched_tracks and f not in matched_faces:
                matched_tracks[t] = f
                matched_faces.add(f)
        segments, survivors = [], []
        for t, track in enumerate(self.tracks):
            before = track.box
            if t in matched_tracks:
                face = faces[matched_tracks[t]]
                survivors.append(Track(face, (face - before) / max(gap, 1)))
                segments.append(Segment(before, face))
            elif track.misses < self.max_misses:
                coasted = Track(_coasted(track, gap), track.velocity, track.misses + 1)
                survivors.append(coasted)
                segments.append(Segment(before, coasted.box))
            else:
                segments.append(Segment(before, None))
        for f, face in enumerate(faces):
            if f not in matched_faces:
                survivors.append(Track(face, np.zeros(4)))
                segments.append(Segment(None, face))
        self.tracks = survivors
        return segments
