"""The MediaPipe selfie segmenter wrapper: a person mask on a real photo, and each misuse.

The photo is matplotlib's sample `grace_hopper.jpg`: a portrait in front of a flag. Tests that run the model are
skipped when mediapipe is not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar_engine.errors import ModelError

PERSON_FRACTION = (0.45, 0.7)
"""Share of the photo's pixels the person covers (head and shoulders fill the lower part of the frame)."""
FACE_POINT = (300, 260)
"""(row, column) on her cheek: surely the person."""
FLAG_POINT = (60, 40)
"""(row, column) on the flag at the top left: surely background."""


def _photo() -> np.ndarray:
    import matplotlib
    from PIL import Image

    path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def segmenter():
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    from avatar_engine.perception.segmenter import PersonSegmenter

    with PersonSegmenter() as s:
        yield s


def test_person_mask_on_a_portrait(segmenter):
    photo = _photo()
    person = segmenter.segment(photo)
    assert person.shape == photo.shape[:2] and person.dtype == np.float32
    assert 0.0 <= person.min() and person.max() <= 1.0
    assert person[FACE_POINT] > 0.9 and person[FLAG_POINT] < 0.1
    assert PERSON_FRACTION[0] < (person > 0.5).mean() < PERSON_FRACTION[1]


def test_wrong_image_type_is_refused(segmenter):
    with pytest.raises(ValueError, match="uint8 RGB"):
        segmenter.segment(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 RGB"):
        segmenter.segment(np.zeros((10, 10), np.uint8))


def test_missing_model_file_is_a_model_error(tmp_path):
    pytest.importorskip("mediapipe")
    from avatar_engine.perception.segmenter import PersonSegmenter, SegmenterOptions

    with pytest.raises(ModelError, match="not found"):
        PersonSegmenter(SegmenterOptions(model_path=tmp_path / "missing.tflite"))


def test_closed_segmenter_refuses_work():
    pytest.importorskip("mediapipe")
    from avatar_engine.perception.segmenter import PersonSegmenter

    s = PersonSegmenter()
    s.close()
    s.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        s.segment(np.zeros((8, 8, 3), np.uint8))
