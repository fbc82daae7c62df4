"""The MediaPipe face landmarker wrapper: results on a real photo, no face on a blank image, and each misuse.

The photo is matplotlib's sample `grace_hopper.jpg` (matplotlib comes with mediapipe). Tests that run the
model are skipped when mediapipe is not installed; the option checks run everywhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avatar_engine.errors import BackendError, ModelError
from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES
from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
from avatar_engine.perception.landmarker import POINT_COUNT, UNSCORED

# Reference values for grace_hopper.jpg (512 x 600), seen with mediapipe 1.2.2 and face_landmarker.task
FACE_BOX = (0.33, 0.22, 0.69, 0.56)
"""x0, y0, x1, y1 of the 478 points, normalised."""
BOX_MARGIN = 0.03
POSE_Z_CM = (-60.0, -25.0)
"""The facial transformation's z translation (centimetres in front of the camera) lies in this range."""
NEUTRAL_PHOTO_MAX = 0.3
"""She is not smiling, blinking or opening her jaw: those scores stay below this."""


def _mediapipe_or_skip() -> None:
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    _mediapipe_or_skip()
    import matplotlib
    from PIL import Image

    path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def landmarker():
    _mediapipe_or_skip()
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="image")) as lm:
        yield lm


@pytest.fixture(scope="module")
def hopper(landmarker, photo):
    return landmarker.detect(photo)


# --- results --------------------------------------------------------------------------------------------
def test_photo_has_one_face(hopper):
    assert len(hopper) == 1


def test_points_are_normalised_and_inside_the_face_box(hopper):
    points = hopper[0].points
    assert points.shape == (POINT_COUNT, 3) and points.dtype == np.float32
    xy = points[:, :2]
    assert (xy >= 0).all() and (xy <= 1).all()
    x0, y0, x1, y1 = FACE_BOX
    np.testing.assert_allclose([*xy.min(0), *xy.max(0)], [x0, y0, x1, y1], atol=BOX_MARGIN)


def test_scores_are_52_in_arkit_order(hopper):
    face = hopper[0]
    assert face.scores.shape == (52,) and face.scores.dtype == np.float32
    assert (face.scores >= 0).all() and (face.scores <= 1).all()
    named = face.scores_by_name()
    assert list(named) == list(ARKIT_NAMES)
    for name in UNSCORED:
        assert named[name] == 0.0
    for name in ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight"):
        assert named[name] < NEUTRAL_PHOTO_MAX, name
        assert face.scores[ARKIT_INDEX[name]] == named[name]


def test_pose_is_a_rigid_transform_in_front_of_the_camera(hopper):
    pose = hopper[0].pose
    assert pose.shape == (4, 4) and pose.dtype == np.float32
    np.testing.assert_allclose(pose[3], [0, 0, 0, 1], atol=1e-6)
    rotation = pose[:3, :3].astype(np.float64)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-3)
    assert POSE_Z_CM[0] < pose[2, 3] < POSE_Z_CM[1]


def test_blank_image_has_no_face(landmarker):
    assert landmarker.detect(np.full((256, 256, 3), 128, np.uint8)) == []


def test_video_mode_tracks_the_photo(photo):
    _mediapipe_or_skip()
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="video")) as lm:
        frames = [lm.detect_video(photo, t_ms) for t_ms in (0, 33, 66)]
    assert [len(f) for f in frames] == [1, 1, 1]
    np.testing.assert_allclose(frames[2][0].points[:, :2], frames[0][0].points[:, :2], atol=BOX_MARGIN)


# --- misuse ---------------------------------------------------------------------------------------------
def test_detect_on_a_video_landmarker_raises(photo):
    _mediapipe_or_skip()
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="video")) as lm:
        with pytest.raises(RuntimeError, match="detect_video"):
            lm.detect(photo)
        lm.detect_video(photo, 10)
        with pytest.raises(ValueError, match="increase"):
            lm.detect_video(photo, 10)


def test_detect_video_on_an_image_landmarker_raises(landmarker, photo):
    with pytest.raises(RuntimeError, match="running_mode='video'"):
        landmarker.detect_video(photo, 0)


@pytest.mark.parametrize("image", [np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 4), np.uint8),
                                   np.zeros((64, 64), np.uint8)], ids=["float", "rgba", "gray"])
def test_non_rgb_uint8_input_raises(landmarker, image):
    with pytest.raises(ValueError, match=r"\(h, w, 3\) uint8"):
        landmarker.detect(image)


def test_closed_landmarker_raises(photo):
    _mediapipe_or_skip()
    lm = FaceLandmarker()
    lm.close()
    lm.close()
    with pytest.raises(RuntimeError, match="closed"):
        lm.detect(photo)


def test_missing_mediapipe_raises_backend_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(BackendError, match="avatar-engine\\[track\\]"):
        FaceLandmarker()


def test_missing_model_file_raises(tmp_path):
    _mediapipe_or_skip()
    with pytest.raises(ModelError, match="not found"):
        FaceLandmarker(FaceLandmarkerOptions(model_path=tmp_path / "nope.task"))


def test_corrupt_model_file_raises(tmp_path):
    _mediapipe_or_skip()
    bad = tmp_path / "bad.task"
    bad.write_bytes(b"not a model bundle" * 64)
    with pytest.raises(ModelError, match="could not load"):
        FaceLandmarker(FaceLandmarkerOptions(model_path=bad))


def test_unexpected_blend_shape_names_raise(landmarker):
    names = ["_neutral", *[n for n in ARKIT_NAMES if n not in UNSCORED]]
    assert len(landmarker._score_targets(names)) == 51
    with pytest.raises(ModelError, match="_neutral"):
        landmarker._score_targets(names[1:])
    with pytest.raises(ModelError, match="missing"):
        landmarker._score_targets(names[:-1])
    with pytest.raises(ModelError, match="order"):
        landmarker._score_targets([names[0], names[2], names[1], *names[3:]])


@pytest.mark.parametrize("fields, message", [
    ({"running_mode": "live_stream"}, "running_mode"),
    ({"num_faces": 0}, "num_faces"),
    ({"min_detection_confidence": 1.5}, "min_detection_confidence"),
    ({"min_tracking_confidence": -0.1}, "min_tracking_confidence"),
])
def test_bad_options_raise_at_construction(fields, message):
    with pytest.raises(ValueError, match=message):
        FaceLandmarkerOptions(**fields)


def test_importing_perception_does_not_import_mediapipe():
    code = "import sys, avatar_engine.perception; sys.exit('mediapipe' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_direct_video_calls_match_mediapipes_public_method(photo):
    """The video fast path (C calls on the caller's thread, results read into numpy) changes nothing."""
    _mediapipe_or_skip()
    shifted = [np.roll(photo, (dy, dx), axis=(0, 1)) for dy, dx in ((0, 0), (6, -4), (12, -8))]
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="video")) as fast, \
            FaceLandmarker(FaceLandmarkerOptions(running_mode="video")) as public:
        assert fast._direct is not None, "mediapipe==1.2.2's internals are as the fast path expects"
        public._direct = None
        for t_ms, image in zip((0, 33, 66), shifted):
            a, b = fast.detect_video(image, t_ms), public.detect_video(image, t_ms)
            assert len(a) == len(b) == 1
            np.testing.assert_array_equal(a[0].points, b[0].points)
            np.testing.assert_array_equal(a[0].scores, b[0].scores)
            np.testing.assert_array_equal(a[0].pose, b[0].pose)
        assert fast.detect_video(np.zeros((64, 64, 3), np.uint8), 99) == []
