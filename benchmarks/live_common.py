"""Shared by the live_* benchmarks: the reference view of the head, and rendering known performances to video."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.template import template_avatar
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.output import VideoWriter
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer

REFERENCE_CAMERA = Camera(distance=0.55, target=(0.0, 0.10, 0.05))
"""Frames the face from hairline to chin, as a webcam frames a person at a desk (same as the MediaPipe judge)."""
RESULTS = Path(__file__).with_name("results")
FPS = 30


def _eyes(avatar) -> np.ndarray:
    names, rest = avatar.skeleton.names, avatar.skeleton.rest_positions
    return (np.asarray(rest[names.index("eye_L")], np.float64) + rest[names.index("eye_R")]) / 2


@cache
def _default_eyes() -> np.ndarray:
    return _eyes(template_avatar(hair=None))


def camera_for(avatar, camera: Camera = REFERENCE_CAMERA) -> Camera:
    """`camera` moved with the avatar's eyes from where the default head has them: head-model identities stand at
    their own height (synthetic people's heads lie 0.05-0.37 m up), and the reference framing is the default
    head's."""
    shift = _eyes(avatar) - _default_eyes()
    return replace(camera, target=tuple(float(t) for t in np.asarray(camera.target) + shift))


def expression(weights: dict[str, float] | np.ndarray, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
               neck_share: float = 0.4) -> Expression:
    """An Expression with the head turn split over neck and head the way the solver splits it."""
    if isinstance(weights, dict):
        vector = np.zeros(52, np.float32)
        for name, w in weights.items():
            vector[ARKIT_INDEX[name]] = w
    else:
        vector = np.asarray(weights, np.float32)
    a = np.array([yaw, pitch, roll])
    return Expression(vector, {"neck": euler_rotation(*(neck_share * a)),
                               "head": euler_rotation(*((1 - neck_share) * a))})


def parse_size(text: str) -> tuple[int, int]:
    """"1280x720" -> (1280, 720)."""
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def save(name: str, result: dict, out: str | None) -> None:
    """Print the result as JSON and save it to benchmarks/results/NAME.json (or `out`)."""
    result = {"benchmark": name, "cpu_count": os.cpu_count(), "machine": platform.machine(), **result}
    text = json.dumps(result, indent=2)
    print(text)
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def bump(t: np.ndarray, start: float, rise: float, hold: float, fall: float, peak: float) -> np.ndarray:
    """0 -> peak over `rise` s (smoothstep), held `hold` s, back to 0 over `fall` s."""
    up = np.clip((t - start) / rise, 0, 1)
    down = np.clip((t - start - rise - hold) / fall, 0, 1)
    s = lambda x: x * x * (3 - 2 * x)  # noqa: E731
    return peak * (s(up) - s(down))


def performance(duration: float = 27.0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 52) weights and (n, 2) yaw, pitch degrees at FPS."""
    t = np.arange(int(duration * FPS)) / FPS
    w = np.zeros((len(t), 52), np.float32)
    blink = lambda start: bump(t, start, 0.08, 0.06, 0.12, 1.0)  # noqa: E731
    for name, curve in (
        ("eyeBlinkLeft", blink(2.0) + blink(2.6) + blink(3.2) + blink(19.6)),
        ("eyeBlinkRight", blink(2.0) + blink(2.6) + blink(3.8) + blink(19.6)),
        ("jawOpen", bump(t, 4.4, 0.6, 0.4, 0.6, 0.8) + bump(t, 20.4, 0.4, 0.3, 0.4, 0.5)),
        ("mouthSmileLeft", bump(t, 6.4, 0.5, 0.4, 0.5, 0.9) + bump(t, 8.4, 0.5, 0.3, 0.5, 0.8)),
        ("mouthSmileRight", bump(t, 6.4, 0.5, 0.4, 0.5, 0.9) + bump(t, 10.2, 0.5, 0.3, 0.5, 0.8)),
        ("mouthPucker", bump(t, 12.0, 0.5, 0.4, 0.5, 0.9)),
        ("mouthFunnel", bump(t, 13.8, 0.5, 0.4, 0.5, 0.9)),
        ("browInnerUp", bump(t, 15.6, 0.5, 0.4, 0.5, 0.9)),
    ):
        w[:, ARKIT_INDEX[name]] = np.clip(curve, 0, 1)
    yaw = bump(t, 17.4, 0.8, 0.4, 0.8, 30.0) - bump(t, 19.4, 0.8, 1.2, 0.8, 30.0)
    pitch = bump(t, 23.0, 0.6, 0.3, 0.6, 15.0) - bump(t, 24.6, 0.6, 0.3, 0.6, 15.0)
    return w, np.stack([yaw, pitch], 1).astype(np.float32)


def render_clip(path: Path, weights: np.ndarray, angles: np.ndarray, size: tuple[int, int], samples: int,
                camera: Camera = REFERENCE_CAMERA, noise: float = 0.0, avatar=None) -> float:
    """Render the performance to an mp4 with `avatar` (an Avatar; None: the default head); noise adds Gaussian
    sensor noise (0-255 levels). Returns seconds."""
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with Renderer(headless_context(), RenderOptions(size=size, samples=samples, background=STUDIO_BACKDROP)) as r, \
            VideoWriter(path, FPS, size) as video:
        r.load(template_avatar() if avatar is None else avatar)
        camera = camera if avatar is None else camera_for(avatar, camera)
        for w, (yaw, pitch) in zip(weights, angles):
            r.render(expression(w, yaw, pitch), camera)
            frame = r.read()
            if noise:
                frame[..., :3] = np.clip(frame[..., :3] + rng.normal(0, noise, frame[..., :3].shape), 0, 255)
            video.write(frame)
    return time.perf_counter() - t0
