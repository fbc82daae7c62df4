"""Head angles <-> rotations, calibration-relative rotation, the neck/head split and eye bones."""

import numpy as np
import pytest

from avatar_engine.records import euler_rotation
from avatar_engine.solve.pose import (depth_yaw, eye_bones, fit_rotation, head_angles, head_bones, kabsch_yaw,
                                      orthonormal, relative_rotation, rigid_points)

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


def test_rigid_fit_recovers_a_turn_of_the_landmarks():
    rng = np.random.default_rng(3)
    face = rng.normal(0, 0.1, (478, 3))
    turned_world = (euler_rotation(18, -7, 4) @ rigid_world(face).T).T
    turned = face.copy()
    idx = list(range(0, 40))
    turned[idx] = np.stack([turned_world[:, 0], -turned_world[:, 1], -turned_world[:, 2]], 1)[idx]
    ref = rigid_points(face, tuple(idx))
    cur = rigid_points(turned, tuple(idx))
    assert np.allclose(head_angles(fit_rotation(ref, cur)), (18, -7, 4), atol=1e-3)


def rigid_world(points):
    """MediaPipe-style points -> the avatar's axes (what rigid_points does, without centring)."""
    return np.stack([points[:, 0], -points[:, 1], -points[:, 2]], 1)


def test_rigid_points_undo_the_image_aspect():
    points = np.zeros((478, 3))
    points[0] = (0.25, 0.5, 0.0)
    points[1] = (0.75, 0.5, 0.0)
    wide = rigid_points(points, (0, 1), aspect=16 / 9)
    assert np.allclose(wide[1, 0] - wide[0, 0], 0.5 * 16 / 9)


@pytest.mark.parametrize("angles", [(30, 0, 0), (-22, 8, 0), (12, -10, 0), (30, 15, 20), (-25, -12, -18)])
def test_both_yaw_reads_read_a_rigid_turn_whatever_the_nod_and_roll(angles):
    """Review: the depth read took a head turned 30, nodded 15 and rolled 20 for a turn of 25."""
    rng = np.random.default_rng(5)
    rest = rng.normal(0, 0.1, (23, 3))
    rest -= rest.mean(axis=0)
    turned = rest @ euler_rotation(*angles).T
    assert kabsch_yaw(rest, turned) == pytest.approx(angles[0], abs=ANGLE_TOL_DEG)
    assert depth_yaw(rest, turned) == pytest.approx(angles[0], abs=ANGLE_TOL_DEG)


def test_the_depth_yaw_reads_the_depths_alone():
    """MediaPipe's depths over-read a turn most on the faces whose x and y over-read it: the depth read must follow
    the depths, not the x and y."""
    rng = np.random.default_rng(6)
    rest = rng.normal(0, 0.1, (12, 3))
    rest -= rest.mean(axis=0)
    turned = rest @ euler_rotation(20, 0, 0).T
    deeper = turned.copy()
    deeper[:, 2] = rest @ euler_rotation(30, 0, 0).T[:, 2]  # x, y turned 20 degrees, the depths 30
    assert depth_yaw(rest, deeper) == pytest.approx(30.0, abs=ANGLE_TOL_DEG)
    assert kabsch_yaw(rest, deeper) < 30.0 - 2.0


def test_the_depth_yaw_keeps_rising_and_ignores_the_distance():
    """Review: read as arcsin of the depths' x coefficient, a face whose depths over-read a turn (1.5 times deeper
    here) stalled near 45 degrees and the avatar turned back while the head kept turning; and a face nearer the
    camera (larger in the image) read a larger turn."""
    rng = np.random.default_rng(8)
    rest = rng.normal(0, 0.1, (12, 3))
    rest -= rest.mean(axis=0)
    deep = rest * np.array([1.0, 1.0, 1.5])
    reads = []
    for yaw in np.arange(0.0, 80.0, 2.0):
        turned = deep @ euler_rotation(float(yaw), 0, 0).T
        reads.append(depth_yaw(deep, turned * np.array([1.0, 1.0, 1.2])))  # the depths over-read by 1.2
        assert depth_yaw(deep, 1.3 * turned) == pytest.approx(float(yaw), abs=ANGLE_TOL_DEG), "nearer, the same"
    assert np.all(np.diff(reads) > 0.0)
    assert np.isnan(depth_yaw(rest, np.full_like(rest, np.nan)))
