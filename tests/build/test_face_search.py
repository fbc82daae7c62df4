"""The window search for faces the detector misses at a photo's own scale, against a stand-in detector with
MediaPipe's limit: it sees a face only when the face is at least `DETECTABLE` of the image's longer side tall and
lies whole inside the image."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.build.face_search import (DETECTABLE, face_window, find_faces, from_window, to_window,
                                             _starts)
from avatar_engine.perception import FaceObservation


class BoxDetector:
    """Faces are given as (x0, y0, x1, y1) boxes in the photo; a crop of the photo is told apart by its pixels
    (each pixel holds its own coordinates)."""

    def __init__(self, boxes):
        self.boxes = boxes
        self.calls = 0

    def detect(self, rgb: np.ndarray) -> list[FaceObservation]:
        self.calls += 1
        h, w = rgb.shape[:2]
        high, ox, oy = (int(c) for c in rgb[0, 0])  # the crop's origin, read off its first pixel (`photo`)
        ox, oy = ox + 256 * (high // 16), oy + 256 * (high % 16)
        faces = []
        for x0, y0, x1, y1 in self.boxes:
            if x0 >= ox and y0 >= oy and x1 <= ox + w and y1 <= oy + h and (y1 - y0) >= DETECTABLE * max(w, h):
                points = np.zeros((478, 3), np.float32)
                points[:, 0] = np.linspace(x0 - ox, x1 - ox, 478) / w
                points[:, 1] = np.linspace(y0 - oy, y1 - oy, 478) / h
                faces.append(FaceObservation(points=points, scores=np.zeros(52, np.float32),
                                             pose=np.eye(4, dtype=np.float32)))
        return faces


def photo(w: int, h: int) -> np.ndarray:
    """Pixels that hold their own coordinates (under 4096), so the stand-in knows where a crop came from."""
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    return np.stack([(xs // 256) * 16 + ys // 256, xs % 256, ys % 256], -1).astype(np.uint8)


def centres(faces, size) -> list[tuple[int, int]]:
    return sorted((int(round(f.points[:, 0].mean() * size[0])), int(round(f.points[:, 1].mean() * size[1])))
                  for f in faces)


def test_a_face_the_whole_photo_shows_costs_no_search():
    detector = BoxDetector([(400, 200, 600, 480)])
    faces = find_faces(photo(1024, 1024), detector, 80)
    assert centres(faces, (1024, 1024)) == [(500, 340)] and detector.calls == 1


def test_a_strip_is_searched_in_windows_its_height():
    """Both faces are under DETECTABLE of the strip's width: the whole strip shows neither."""
    detector = BoxDetector([(100, 100, 200, 230), (1400, 50, 1520, 200)])
    faces = find_faces(photo(1600, 320), detector, 80)
    assert centres(faces, (1600, 320)) == [(150, 165), (1460, 125)]


def test_smaller_windows_only_while_no_face_is_found_and_no_smaller_than_the_smallest_face_taken():
    small = BoxDetector([(900, 900, 990, 1000)])  # 100 pixels tall in a 2048 square: found in 512-pixel windows
    assert centres(find_faces(photo(2048, 2048), small, 80), (2048, 2048)) == [(945, 950)]
    tiny = BoxDetector([(900, 900, 930, 940)])  # 40 pixels: under 80, never searched for
    assert find_faces(photo(2048, 2048), tiny, 80) == []
    # 1 whole photo, then 1024-pixel windows (3 x 3) and 512-pixel ones (7 x 7); 256 would show 33-pixel faces
    assert tiny.calls == 1 + 9 + 49


def test_a_face_in_several_windows_is_kept_once():
    detector = BoxDetector([(500, 150, 580, 260)])
    faces = find_faces(photo(1200, 400), detector, 80)
    assert len(faces) == 1


@pytest.mark.parametrize("length, side, expected", [(1000, 1000, [0]), (1600, 320, [0, 160, 320, 480, 640, 800,
                                                    960, 1120, 1280]), (1000, 400, [0, 200, 400, 600])])
def test_windows_cover_the_axis_and_end_flush(length, side, expected):
    assert _starts(length, side) == expected


def test_window_coordinates_round_trip():
    points = np.random.default_rng(0).uniform(0, 1, (478, 3)).astype(np.float32)
    face = FaceObservation(points=points, scores=np.zeros(52, np.float32), pose=np.eye(4, dtype=np.float32))
    window, size = (300, 100, 700, 500), (1600, 900)
    back = from_window(to_window(face, window, size), window, size)
    assert np.allclose(back.points, points, atol=1e-5)


def test_only_a_face_small_in_its_photo_is_read_in_a_window():
    face = BoxDetector([(100, 100, 200, 230)]).detect(photo(1600, 320))  # nothing: 130 / 1600 < DETECTABLE
    assert face == []
    big = FaceObservation(points=np.tile(np.array([[0.5, 0.5, 0.0]], np.float32), (478, 1)),
                          scores=np.zeros(52, np.float32), pose=np.eye(4, dtype=np.float32))
    big.points[:, 1] = np.linspace(0.2, 0.8, 478)
    assert face_window(big, (1000, 1000)) is None
    small = FaceObservation(points=big.points * (0.1, 0.1, 1.0) + (0.3, 0.4, 0.0), scores=big.scores, pose=big.pose)
    x0, y0, x1, y1 = face_window(small, (1000, 1000))
    assert x1 - x0 == y1 - y0 == 210  # 3.5 face heights of 60 pixels
    assert x0 < 305 < x1 and y0 < 450 < y1
