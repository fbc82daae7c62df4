"""`avatar demo`: an avatar built from a photo (the astronaut) on a turntable, then through a scripted performance.

The performance is a list of keyframes (time, expression weights, head yaw/pitch, gaze) eased with smoothstep,
the way an animator would block a short showreel: smile, blink, talk, brows, pucker, look around. Before it the
camera orbits the resting head once (the turntable), so the back of the head and the hair are seen too.
`shots(fps)` is the whole film as (expression, camera) pairs; the CLI renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from avatar_engine.data_files import asset_path
from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.records import Avatar, Expression, euler_rotation
from avatar_engine.render.camera import Camera

DEMO_PHOTO = asset_path("photos", "astronaut.png")
"""scikit-image's astronaut (public domain, NASA), copied into the repo by scripts/fetch_astronaut.py."""
TURNTABLE_S = 4.0
"""Seconds for the camera's full orbit round the resting head."""
CAMERA = Camera(distance=0.64, target=(0.0, 0.16, 0.02))
"""The demo's camera at yaw 0 for the default head: head and hair fill most of a 16:9 frame (`framed_camera` fits
it to another head)."""
FRAME_MARGIN = 1.1
"""The head, from a little below the chin to the top of the hair, fills 1 / FRAME_MARGIN of the frame's height."""
CHIN_CLEARANCE = 0.02
"""Metres of neck shown below the chin."""
FACE_DEPTH = 0.035
"""Skin within this of the nose tip's depth is the face's front, the chin included, the neck below it not."""


@dataclass(frozen=True)
class Key:
    time: float
    weights: dict[str, float] = field(default_factory=dict)
    yaw: float = 0.0
    pitch: float = 0.0
    gaze: tuple[float, float] = (0.0, 0.0)
    """Eye yaw and pitch in degrees."""


SHOWREEL = (
    Key(0.0), Key(0.6), Key(1.3, {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "cheekSquintLeft": 0.4,
                                  "cheekSquintRight": 0.4}),
    Key(1.5, {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    Key(1.7, {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8}),
    Key(2.4, {"jawOpen": 0.55, "mouthFunnel": 0.2}, yaw=-12), Key(2.7, {"jawOpen": 0.15}, yaw=-14),
    Key(3.0, {"jawOpen": 0.45, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3}, yaw=-10),
    Key(3.7, {"browInnerUp": 0.9, "browOuterUpLeft": 0.7, "browOuterUpRight": 0.7, "eyeWideLeft": 0.6,
              "eyeWideRight": 0.6, "jawOpen": 0.2}, yaw=8, pitch=-6),
    Key(4.5, {"mouthPucker": 1.0}, yaw=18, gaze=(15.0, 0.0)),
    Key(5.2, {"mouthSmileLeft": 0.7, "eyeBlinkLeft": 1.0}, yaw=-20, gaze=(-15.0, 5.0)),
    Key(5.5, {"mouthSmileLeft": 0.6}, yaw=-20, gaze=(-10.0, 0.0)),
    Key(6.3, {"browDownLeft": 0.7, "browDownRight": 0.7, "mouthFrownLeft": 0.6, "mouthFrownRight": 0.6}, pitch=8),
    Key(7.0), Key(7.5),
)


def _blend(a: Key, b: Key, t: float) -> tuple[np.ndarray, float, float, tuple[float, float]]:
    s = t * t * (3 - 2 * t)
    weights = np.zeros(52, np.float32)
    for name in set(a.weights) | set(b.weights):
        weights[ARKIT_INDEX[name]] = (1 - s) * a.weights.get(name, 0.0) + s * b.weights.get(name, 0.0)
    gaze = ((1 - s) * a.gaze[0] + s * b.gaze[0], (1 - s) * a.gaze[1] + s * b.gaze[1])
    return weights, (1 - s) * a.yaw + s * b.yaw, (1 - s) * a.pitch + s * b.pitch, gaze


def expression_at(time: float, keys: tuple[Key, ...] = SHOWREEL) -> Expression:
    """The scripted expression at `time` seconds (held at the ends)."""
    time = float(np.clip(time, keys[0].time, keys[-1].time))
    i = max(k for k in range(len(keys) - 1) if keys[k].time <= time) if time < keys[-1].time else len(keys) - 2
    a, b = keys[i], keys[i + 1]
    weights, yaw, pitch, gaze = _blend(a, b, (time - a.time) / max(b.time - a.time, 1e-9))
    # head turn split over the neck (40%) and the head (60%), as people turn
    rotations = {"neck": euler_rotation(0.4 * yaw, 0.4 * pitch), "head": euler_rotation(0.6 * yaw, 0.6 * pitch),
                 "eye_L": euler_rotation(gaze[0], gaze[1]), "eye_R": euler_rotation(gaze[0], gaze[1])}
    return Expression(weights, rotations)


def duration(keys: tuple[Key, ...] = SHOWREEL) -> float:
    return keys[-1].time


def framed_camera(avatar: Avatar, camera: Camera = CAMERA, aspect: float = 16 / 9) -> Camera:
    """`camera` aimed and set back so that `avatar` fits its frame (width / height `aspect`): from just below the
    chin (the lowest skin in front of the neck) to the top of the hair or skull, and side to side in a frame
    narrower than the head. A built head with full hair is taller than the default one, and the default's camera
    cut its chin off."""
    bottom = _below_the_chin(avatar.part("skin").positions)
    top = float(max(p.positions[:, 1].max() for p in avatar.parts))
    width = float(max(p.positions[:, 0].max() for p in avatar.parts) - min(p.positions[:, 0].min()
                                                                          for p in avatar.parts))
    half_fov = np.radians(camera.fov_y_deg) / 2
    distance = max(top - bottom, width / aspect) * FRAME_MARGIN / (2 * np.tan(half_fov))
    return replace(camera, target=(camera.target[0], (top + bottom) / 2, camera.target[2]), distance=distance)


SKIN_HEIGHT = 0.2456
"""The default head's skin from its lowest point to its crown (metres): `posed_framed_camera` scales its clearances
by a head's own height against this, so one in other units (a millimetre export) frames alike."""


def posed_framed_camera(avatar: Avatar, rotations: dict[str, np.ndarray], camera: Camera = CAMERA,
                        aspect: float = 16 / 9) -> Camera:
    """`framed_camera` for a head posed by `rotations` (the neck and head bones' local turns) and seen from wherever
    `camera` orbits: the same part of the avatar (every part from a little below the chin up), turned rigidly about
    the bones' joints (close enough to frame), fitted into that view and aimed at its middle, the clip planes
    following the distance. Framed at rest from the front, a head turned 90 degrees ran its nose off the frame, and
    one in millimetres, or away from the origin, drew an empty picture. ValueError for an avatar with no size."""
    skin = np.asarray(avatar.part("skin").positions, np.float64)
    scale = float(np.ptp(skin[:, 1])) / SKIN_HEIGHT
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError("the avatar's skin has no height: nothing to frame")
    bottom = _below_the_chin(skin, scale)
    points = np.concatenate([np.asarray(p.positions, np.float64) for p in avatar.parts])
    points = points[points[:, 1] >= bottom]
    names = avatar.skeleton.names
    if "neck" in names and "head" in names:
        rest = np.asarray(avatar.skeleton.rest_positions, np.float64)
        neck, head = rest[names.index("neck")], rest[names.index("head")]
        turn_neck = np.asarray(rotations.get("neck", np.eye(3)), np.float64)[:3, :3]
        turn_head = np.asarray(rotations.get("head", np.eye(3)), np.float64)[:3, :3]
        points = ((points - head) @ turn_head.T + head - neck) @ turn_neck.T + neck
    # in the view's axes, about the points' middle
    middle = (points.min(0) + points.max(0)) / 2
    view = replace(camera, target=tuple(float(v) for v in middle), distance=1.0, near=0.01, far=2.0).view()
    local = points @ view[:3, :3].T + view[:3, 3] + np.array([0.0, 0.0, 1.0])  # the camera moved onto the middle
    low, high = local.min(0), local.max(0)
    centre = (low + high) / 2
    target = middle + view[0, :3] * centre[0] + view[1, :3] * centre[1]
    # each point within the frame as it projects, nearer ones (+z, toward the camera) larger
    reach = np.maximum(np.abs(local[:, 1] - centre[1]), np.abs(local[:, 0] - centre[0]) / aspect)
    distance = float(np.max(local[:, 2] + reach * FRAME_MARGIN / np.tan(np.radians(camera.fov_y_deg) / 2)))
    nearest, farthest = distance - float(high[2]), distance - float(low[2])
    return replace(camera, target=tuple(float(v) for v in target), distance=distance,
                   near=max(nearest * 0.5, distance * 1e-3), far=farthest * 2.0)


def _below_the_chin(skin: np.ndarray, scale: float = 1.0) -> float:
    """The height a frame starts at: `CHIN_CLEARANCE` below the lowest skin of the face's front (nose, lips, chin:
    within `FACE_DEPTH` of the nose tip), both times `scale` (a head in other units)."""
    front = skin[skin[:, 2] > skin[:, 2].max() - FACE_DEPTH * scale]
    return float(front[:, 1].min()) - CHIN_CLEARANCE * scale


def turntable_camera(time: float, seconds: float = TURNTABLE_S, camera: Camera = CAMERA) -> Camera:
    """The orbiting camera at `time` (0..seconds): one full turn toward the avatar's left, eased at both ends."""
    t = float(np.clip(time / seconds, 0.0, 1.0))
    return replace(camera, yaw_deg=360.0 * t * t * (3 - 2 * t))


def frame_count(fps: float, turntable_s: float = TURNTABLE_S, keys: tuple[Key, ...] = SHOWREEL) -> int:
    return int(round(turntable_s * fps)) + int(round(duration(keys) * fps))


def shots(fps: float, turntable_s: float = TURNTABLE_S, keys: tuple[Key, ...] = SHOWREEL,
          camera: Camera = CAMERA) -> Iterator[tuple[Expression, Camera]]:
    """The film frame by frame: the turntable (neutral face), then the performance through the front `camera`."""
    for i in range(int(round(turntable_s * fps))):
        yield Expression(), turntable_camera(i / fps, turntable_s, camera)
    for i in range(int(round(duration(keys) * fps))):
        yield expression_at(i / fps, keys), camera
