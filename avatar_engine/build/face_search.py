"""Faces the detector misses at the photo's own scale, found in windows of it.

MediaPipe's face detector reads a photo letterboxed into 128 x 128 pixels and finds faces at least about
`DETECTABLE` of its longer side tall: the astronaut's face (112 pixels) was found on an 860-pixel square and missed
on a 900-pixel one, and beside Grace Hopper on a 948 x 512 strip the astronaut went unseen, so Grace was built
with no word of a second face. So besides the whole photo, square windows of it are searched: windows as tall as
its shorter side along a longer one (every elongated photo, a few more reads), and, only while no face is found
at all, windows half as large in turn, down to the first where a face as small as the builder takes
(`PerceptionOptions.min_face_px`) is found. A face found in several windows is kept once. A face small in its photo is
read in a window around it (`face_window`), where the detector finds it again, as it must for the mirror and the
shifted copies the reading averages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from avatar_engine.perception import FaceLandmarker
    from avatar_engine.perception.landmarker import FaceObservation

DETECTABLE = 0.13
"""The smallest face (forehead to chin, as a fraction of the image's longer side) the detector finds: 0.130 found,
0.124 missed (the astronaut's face on 860- and 900-pixel squares)."""
OVERLAP = 0.5
"""Neighbouring windows overlap by this fraction of their side: a face up to half a window tall lies whole in one."""
SAME_FACE = 0.5
"""Two detections whose centres lie closer than this many face heights are one face."""
MIN_WINDOW = 128
"""Windows are halved no further once they are this small (pixels, the detector's own input) or smaller."""
READ_BELOW = 0.2
"""A face less tall than this fraction of its photo's longer side is read in a window around it..."""
READ_FACES = 3.5
"""...this many face heights on a side (the whole photo's shorter side at most): a face about 0.3 of it."""


def find_faces(rgb: np.ndarray, landmarker: FaceLandmarker, min_face_px: float = 0.0) -> list[FaceObservation]:
    """The faces in `rgb` ((h, w, 3) uint8): those the detector finds in the whole photo, and those windows of it
    show (see the module's notes); each face's points are the photo's (normalised to it). `min_face_px`: the
    smallest face worth finding; windows too small to show one that tall are not searched."""
    h, w = rgb.shape[:2]
    faces = list(landmarker.detect(rgb))
    side = min(h, w)
    if side < max(h, w):  # an elongated photo: windows its shorter side tall, along the longer
        faces = _merged(faces, _search(rgb, landmarker, side), (w, h))
    # no face: smaller windows in turn, down to the first that shows a face `min_face_px` tall (smaller ones find
    # only faces the builder refuses)
    while not faces and side > max(min_face_px / DETECTABLE, MIN_WINDOW):
        side //= 2
        faces = _merged(faces, _search(rgb, landmarker, side), (w, h))
    return faces


def face_window(face: FaceObservation, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixels of the window `face` (found in a photo of `size` (w, h)) is read in, or None when
    it is tall enough in the photo itself (`READ_BELOW`)."""
    w, h = size
    height = float(np.ptp(face.points[:, 1])) * h
    if height >= READ_BELOW * max(w, h):
        return None
    side = int(round(min(READ_FACES * height, min(w, h))))
    cx, cy = face.points[:, 0].mean() * w, face.points[:, 1].mean() * h
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    return x0, y0, x0 + side, y0 + side


def from_window(face: FaceObservation, window: tuple[int, int, int, int], size: tuple[int, int]
                ) -> FaceObservation:
    """`face`, found in the `window` (x0, y0, x1, y1) of a photo of `size` (w, h), as the photo's own: its points
    normalised to the photo (depth on the scale of the photo's width, as x)."""
    x0, y0, x1, y1 = window
    w, h = size
    return _rescaled(face, (x1 - x0) / w, (y1 - y0) / h, x0 / w, y0 / h)


def to_window(face: FaceObservation, window: tuple[int, int, int, int], size: tuple[int, int]) -> FaceObservation:
    """`face` of a photo of `size` (w, h) as seen in its `window` (x0, y0, x1, y1): `from_window` undone."""
    x0, y0, x1, y1 = window
    w, h = size
    return _rescaled(face, w / (x1 - x0), h / (y1 - y0), -x0 / (x1 - x0), -y0 / (y1 - y0))


def _rescaled(face: FaceObservation, sx: float, sy: float, dx: float, dy: float) -> FaceObservation:
    """`face` with x -> x * sx + dx, y -> y * sy + dy and depth (on the scale of x) -> depth * sx."""
    from avatar_engine.perception.landmarker import FaceObservation

    points = np.asarray(face.points, np.float64) * (sx, sy, sx) + (dx, dy, 0.0)
    return FaceObservation(points=points.astype(np.float32), scores=face.scores, pose=face.pose)


def _search(rgb: np.ndarray, landmarker: FaceLandmarker, side: int) -> list[FaceObservation]:
    """Faces found in square windows `side` pixels on a side, overlapping by `OVERLAP`, covering `rgb`."""
    h, w = rgb.shape[:2]
    found: list[FaceObservation] = []
    for y0 in _starts(h, side):
        for x0 in _starts(w, side):
            window = (x0, y0, x0 + side, y0 + side)
            crop = np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side])
            found = _merged(found, [from_window(f, window, (w, h)) for f in landmarker.detect(crop)], (w, h))
    return found


def _starts(length: int, side: int) -> list[int]:
    """Window starts along an axis `length` pixels long: `OVERLAP` apart, the last flush with the end."""
    if side >= length:
        return [0]
    step = max(1, int(side * (1 - OVERLAP)))
    starts = list(range(0, length - side, step))
    return starts + [length - side]


def _merged(faces: list[FaceObservation], more: list[FaceObservation], size: tuple[int, int]
            ) -> list[FaceObservation]:
    """`faces` and those of `more` that are none of them (`SAME_FACE`), in a photo of `size` (w, h); the first
    found of each is kept."""
    scale = np.asarray(size, np.float64)
    kept = list(faces)
    for face in more:
        centre = face.points[:, :2].mean(0) * scale
        if all(np.linalg.norm(centre - other.points[:, :2].mean(0) * scale)
               >= SAME_FACE * np.ptp(other.points[:, 1]) * scale[1] for other in kept):
            kept.append(face)
    return kept
