"""Head angles <-> rotations, calibration-relative rotation, the neck/head split and eye bones."""

import numpy as np
import pytest

from avatar_engine.records import euler_rotation
from avatar_engine.solve.pose import eye_bones, head_angles, head_bones, orthonormal, relative_rotation

ANGLE_TOL_DEG = 1e-3


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 0, 0), (-30, 15, 0), (12, -20, 8), (-45, 30, -20)])
def test_angles_round_trip(angles):
    assert np.allclose(head_angles(euler_rotation(*angles)), angles, atol=ANGLE_TOL_DEG)


def test_relative_rotation_removes_the_neutral_on_the_camera_side():
    camera_tilt = euler_rotation(0, -6, 0)  # the camera looks down at the face: the face reads pitched up
    head = euler_rotation(25, 10, 0)
    seen = camera_tilt @ head
    assert np.allclose(head_angles(relative_rotation(seen, camera_tilt)), (25, 10, 0), atol=ANGLE_TOL_DEG)


def test_orthonormal_drops_scale():
    m = np.eye(4)
    m[:3, :3] = 3.0 * euler_rotation(10, 5, 0)
    assert np.allclose(orthonormal(m), euler_rotation(10, 5, 0), atol=1e-6)


def test_neck_and_head_compose_to_the_full_turn():
    bones = head_bones(np.array([30.0, 0.0, 0.0]), 0.4)
    assert np.allclose(head_angles(bones["neck"]), (12, 0, 0), atol=ANGLE_TOL_DEG)
    assert np.allclose(head_angles(bones["neck"] @ bones["head"]), (30, 0, 0), atol=ANGLE_TOL_DEG)


def test_eye_bones_follow_gaze():
    bones = eye_bones(np.array([[10.0, 5.0], [-8.0, 0.0]], np.float32))
    assert np.allclose(head_angles(bones["eye_L"])[:2], (10, 5), atol=ANGLE_TOL_DEG)
    assert np.allclose(head_angles(bones["eye_R"])[:2], (-8, 0), atol=ANGLE_TOL_DEG)
