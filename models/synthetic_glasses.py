"""Glasses drawn on a face by its mesh, to teach the glasses head frames it has seen too few of.

The labelled photos (models/labels/) have mostly thin frames on older men; thick, dark,
fashionable frames, as in Azure's own sample photos, are rare. models/train_heads.py draws
frames on some of the bare training faces and adds them as `ReadingGlasses` examples: two
lenses around the eyes (a superellipse from round to rectangular, level with the eye line,
about as wide as an eye socket), a bridge over the nose and the temples to the side of the
face, in a dark or a metal colour and a thickness from hairline to heavy acetate. Each face's
frame comes from a generator seeded by its file name, so the training set is the same every
time."""
from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image, ImageDraw

# Mesh points (MediaPipe's canonical face mesh, as shared/inference/landmarks.py returns them):
# each eye's outer and inner corner, top and bottom of the lid, brow above it, and the side
# of the face at eye level; image-left eye first.
EYES = ({"outer": 33, "inner": 133, "top": 159, "bottom": 145, "brow": 105, "side": 234},
        {"outer": 263, "inner": 362, "top": 386, "bottom": 374, "brow": 334, "side": 454})
COLOURS = ((20, 20, 20), (45, 30, 20), (25, 25, 60), (80, 20, 25), (90, 90, 95),
           (150, 120, 60))
OUTLINE_POINTS = 48


def seeded(name: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8]))


def draw(image: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of the (h, w, 3) uint8 image with glasses drawn on the face whose mesh points
    (470, 2) are given."""
    picture = Image.fromarray(image)
    pen = ImageDraw.Draw(picture)
    eye_width = np.mean([np.hypot(*(points[e["outer"]] - points[e["inner"]])) for e in EYES])
    colour = COLOURS[rng.integers(len(COLOURS))]
    width = max(1, round(eye_width * rng.uniform(0.04, 0.22)))
    shape = rng.uniform(2.0, 6.0)                       # 2: oval lens, 6: nearly rectangular
    half_width = eye_width * rng.uniform(0.95, 1.15)
    half_height = half_width * rng.uniform(0.55, 0.8)
    lenses = [_lens(points, eye, half_width, half_height, shape) for eye in EYES]
    for lens in lenses:
        pen.line([*map(tuple, lens), tuple(lens[0])], fill=colour, width=width, joint="curve")
    # The bridge joins the lenses' inner edges a little above their middle.
    inner = [lens[np.argmin(np.linalg.norm(lens - points[eye["inner"]] - (0, -half_height / 3),
                                           axis=1))] for lens, eye in zip(lenses, EYES)]
    pen.line([tuple(inner[0]), tuple(inner[1])], fill=colour, width=width)
    for lens, eye in zip(lenses, EYES):
        outer = lens[np.argmin(np.linalg.norm(lens - points[eye["side"]], axis=1))]
        pen.line([tuple(outer), tuple(points[eye["side"]])], fill=colour,
                 width=max(1, width * 2 // 3))
    return np.asarray(picture)


def _lens(points: np.ndarray, eye: dict, half_width: float, half_height: float,
          shape: float) -> np.ndarray:
    """(OUTLINE_POINTS, 2) outline of one lens: a superellipse centred between the eye's
    corners, a little towards the brow, turned with the eye line."""
    outer, inner = points[eye["outer"]], points[eye["inner"]]
    middle = (outer + inner) / 2
    centre = middle + 0.1 * (outer - inner) + 0.15 * (points[eye["brow"]] - middle)
    axis = (inner - outer) / np.linalg.norm(inner - outer)
    normal = np.array([-axis[1], axis[0]])
    t = np.linspace(0, 2 * np.pi, OUTLINE_POINTS, endpoint=False)
    cos, sin = np.cos(t), np.sin(t)
    x = half_width * np.sign(cos) * np.abs(cos) ** (2 / shape)
    y = half_height * np.sign(sin) * np.abs(sin) ** (2 / shape)
    return centre + x[:, None] * axis + y[:, None] * normal
