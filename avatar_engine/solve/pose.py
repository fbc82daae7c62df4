"""Head rotation <-> yaw/pitch/roll in `records.euler_rotation`'s convention, and the bone rotations."""

from __future__ import annotations

import numpy as np

from avatar_engine.records import euler_rotation


def orthonormal(rotation: np.ndarray) -> np.ndarray:
    """(3, 3) nearest rotation to a (3, 3) or (4, 4) matrix's upper-left block (drops scale and shear)."""
    u, _, vt = np.linalg.svd(np.asarray(rotation, np.float64)[:3, :3])
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def head_angles(rotation: np.ndarray) -> np.ndarray:
    """(3,) yaw, pitch, roll in degrees such that `euler_rotation(yaw, pitch, roll)` gives back `rotation`."""
    r = orthonormal(rotation)
    yaw = np.arctan2(r[0, 2], r[2, 2])
    pitch = np.arcsin(np.clip(-r[1, 2], -1.0, 1.0))
    roll = np.arctan2(r[1, 0], r[1, 1])
    return np.degrees([yaw, pitch, roll]).astype(np.float32)


def rotation_from_angles(angles: np.ndarray) -> np.ndarray:
    """(3, 3) float32 from (3,) yaw, pitch, roll degrees."""
    return euler_rotation(*(float(a) for a in angles))


def turned_deg(a: np.ndarray, b: np.ndarray) -> float:
    """The angle in degrees of the rotation that takes rotation a (3, 3) to rotation b (3, 3)."""
    r = np.asarray(a, np.float64).T @ np.asarray(b, np.float64)
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def relative_rotation(rotation: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """The head's rotation away from the calibrated neutral: neutral^T @ rotation (3, 3).

    The neutral absorbs where the camera sits (above a screen, off to one side) and the tracker's own bias;
    undoing it on the camera side keeps yaw and pitch apart when the camera looks down at the face."""
    return orthonormal(neutral).T @ orthonormal(rotation)


def rigid_points(points: np.ndarray, indices: tuple[int, ...], aspect: float = 1.0) -> np.ndarray:
    """(k, 3) float64 landmarks in the avatar's axes (x right, y up, z toward the camera), in units of the
    image height, centred. points : (478, 3) MediaPipe landmarks; aspect : image width / height."""
    p = np.asarray(points, np.float64)[list(indices)]
    q = np.stack([p[:, 0] * aspect, -p[:, 1], -p[:, 2] * aspect], axis=1)
    return q - q.mean(axis=0)


def inner_eye_distance(points: np.ndarray) -> float:
    """The inner eye corners' distance in `rigid_points` of `tuning.LANDMARKS["rigid"]`, whose first two are those
    corners (MediaPipe 133 and 362): the face's scale where the rigid points are all there is."""
    return max(float(np.linalg.norm(points[0] - points[1])), 1e-9)


def fit_rotation(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """(3, 3) rotation R minimising |R @ reference_i - current_i| (Kabsch). Both : (k, 3), centred."""
    u, _, vt = np.linalg.svd(np.asarray(current).T @ np.asarray(reference))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return u @ d @ vt


def kabsch_yaw(reference: np.ndarray, current: np.ndarray) -> float:
    """Degrees of yaw of the rotation carrying `reference` (k, 3) onto `current` (k, 3), both centred
    (`fit_rotation`)."""
    return float(head_angles(fit_rotation(reference, current))[0])


def depth_yaw(reference: np.ndarray, current: np.ndarray, rotation: np.ndarray | None = None) -> float:
    """Degrees of yaw that the points' depths alone say. The nod and roll the points' rotation shows (`fit_rotation`)
    are put on the (k, 3) centred reference first; then current z is fitted as a x + b y + c z of it, and a turn by
    yaw makes (a, c) = (-sin, cos)(yaw) times the face's scale. The angle of (c, -a) is a rigid turn's yaw whatever
    the nod and roll (without them on the reference a head turned 30, nodded 15 and rolled 20 read 25) and at any
    distance from the camera, and it never stalls (an arcsine of a alone did, near 45 degrees on faces whose depths
    over-read a turn). MediaPipe's depths over-read a turn by 1.0-1.8 times at 30 degrees, the more on the faces
    whose x and y over-read it too. Non-finite points read NaN. rotation : `fit_rotation(reference, current)` when
    made already."""
    ref, cur = np.asarray(reference, np.float64), np.asarray(current, np.float64)
    if not (np.isfinite(ref).all() and np.isfinite(cur).all()):
        return float("nan")
    _, pitch, roll = head_angles(fit_rotation(ref, cur) if rotation is None else rotation)
    tilted = ref @ euler_rotation(0.0, float(pitch), float(roll)).astype(np.float64).T
    a, _, c = np.linalg.lstsq(tilted, cur[:, 2], rcond=None)[0]
    return float(np.degrees(np.arctan2(-a, c)))


def head_bones(angles: np.ndarray, neck_share: float) -> dict[str, np.ndarray]:
    """Split (3,) yaw, pitch, roll degrees over the neck and head bones: {'neck': (3, 3), 'head': (3, 3)}."""
    a = np.asarray(angles, np.float64)
    return {"neck": euler_rotation(*(neck_share * a)), "head": euler_rotation(*((1.0 - neck_share) * a))}


def eye_bones(gaze: np.ndarray) -> dict[str, np.ndarray]:
    """gaze : (2, 2) per eye (left, right) yaw and pitch degrees -> {'eye_L': (3, 3), 'eye_R': (3, 3)}."""
    g = np.asarray(gaze, np.float64)
    return {"eye_L": euler_rotation(g[0, 0], g[0, 1]), "eye_R": euler_rotation(g[1, 0], g[1, 1])}
