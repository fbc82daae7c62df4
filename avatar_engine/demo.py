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
    skin = avatar.part("skin").positions
    front = skin[skin[:, 2] > skin[:, 2].max() - FACE_DEPTH]  # the face's front: nose, lips, chin
    bottom = float(front[:, 1].min()) - CHIN_CLEARANCE
    top = float(max(p.positions[:, 1].max() for p in avatar.parts))
    width = float(max(p.positions[:, 0].max() for p in avatar.parts) - min(p.positions[:, 0].min()
                                                                          for p in avatar.parts))
    half_fov = np.radians(camera.fov_y_deg) / 2
    distance = max(top - bottom, width / aspect) * FRAME_MARGIN / (2 * np.tan(half_fov))
    return replace(camera, target=(camera.target[0], (top + bottom) / 2, camera.target[2]), distance=distance)


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
