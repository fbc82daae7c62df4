"""Shared by the live_* benchmarks: the reference view of the head, and rendering known performances to video."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera

REFERENCE_CAMERA = Camera(distance=0.55, target=(0.0, 0.10, 0.05))
"""Frames the face from hairline to chin, as a webcam frames a person at a desk (same as the MediaPipe judge)."""
RESULTS = Path(__file__).with_name("results")


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


def save(name: str, result: dict, out: str | None) -> None:
    """Print the result as JSON and save it to benchmarks/results/NAME.json (or `out`)."""
    result = {"benchmark": name, "cpu_count": os.cpu_count(), "machine": platform.machine(), **result}
    text = json.dumps(result, indent=2)
    print(text)
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
