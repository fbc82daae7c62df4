"""A face small in a large photo, read again from a window of the photo at the file's own resolution.

The builder loads photos at most `MAX_SIDE` pixels on a side. In a 24-megapixel photo of a person at a distance
(6000x4000, the face 150 pixels tall) that left the face 50 pixels tall, under the 80 the builder needs, and it was
refused as "too small; use a larger photo" although the photo had the pixels. Here the face found in the shrunk
photo is looked up in a square window round it, read at the file's resolution (or an array's), and the build goes
on from that window: a face that small is far from the camera, so the window's centre standing in for the photo's
changes the perspective little.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from avatar_engine.build.face_search import find_faces
from avatar_engine.build.image import MAX_SIDE, as_rgb, load_photo
from avatar_engine.build.perception import PerceptionOptions, choose_face, face_height
from avatar_engine.errors import InputError
from avatar_engine.perception import FaceLandmarker, FaceObservation

CLOSE_FACE_PX = 256.0
"""A face shorter than this (forehead to chin, in the photo as loaded) is read again from the file when the file has
more pixels: the texture's face region is 1024 texels across."""
WINDOW_FACES = 4.0
"""The window's side in face heights: the hair above, the temples beside and the collar below the face (the person
segmenter looks 3.5 face heights round the head, the hair region 0.85 either side and 1 below the chin)."""
MIN_GAIN = 1.25
"""The window is used only if it shows the face at least this many times larger than the shrunk photo does."""
SAME_FACE = 0.25
"""The face in the window is the one found before when their centres lie within this many face heights."""


@dataclass(frozen=True)
class CloserLook:
    rgb: np.ndarray
    """(h, w, 3) uint8 the window as read."""
    face: FaceObservation
    """The face to build, found in the window."""
    box: tuple[int, int, int, int]
    """(x0, y0, x1, y1) the window in the photo's own (upright, unshrunk) pixels."""


def closer_look(source, rgb: np.ndarray, faces: list[FaceObservation], stored: tuple[int, int] | None,
                landmarker: FaceLandmarker, options: PerceptionOptions) -> CloserLook | None:
    """The face `options` chooses among `faces` (found in `rgb`, the photo `source` as loaded) read again from the
    source at up to its own `stored` size (w, h); None when it is tall enough already, the source has no more
    pixels, or the window does not show it. `source`: a photo's path or an image array (a PIL image: None)."""
    h, w = rgb.shape[:2]
    if stored is None or max(stored) <= max(w, h) or not isinstance(source, (str, os.PathLike, np.ndarray)):
        return None
    try:
        face = choose_face(faces, options, (w, h))
    except InputError:
        return None  # perceive says why
    height = face_height(face, h)
    if height >= CLOSE_FACE_PX:
        return None
    scale = stored[0] / w
    centre = face.points[:, :2].mean(axis=0) * (w, h) * scale
    side = int(min(WINDOW_FACES * height * scale, *stored))
    x0, y0 = (int(np.clip(round(c - side / 2), 0, size - side)) for c, size in zip(centre, stored))
    box = (x0, y0, x0 + side, y0 + side)
    if isinstance(source, np.ndarray):
        window = as_rgb(source[y0:y0 + side, x0:x0 + side])
    else:
        window = load_photo(source, MAX_SIDE, box)
    zoom = window.shape[1] / side  # window pixels per photo pixel
    if zoom * scale < MIN_GAIN:
        return None
    target = (centre - (x0, y0)) * zoom
    found = find_faces(window, landmarker, options.min_face_px)
    wh = (window.shape[1], window.shape[0])
    off = [float(np.linalg.norm(f.points[:, :2].mean(axis=0) * wh - target)) for f in found]
    if not found or min(off) > SAME_FACE * height * zoom * scale:
        return None
    return CloserLook(window, found[int(np.argmin(off))], box)
