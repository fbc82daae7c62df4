"""The hair-style network at run time: hair mask + MediaPipe landmarks -> the hair generator's style parameters.

It runs from its ONNX file (`assets/models/hair_style.onnx`, made by `avatar train hair`) on any backend of
`avatar_engine.infer` (ONNX Runtime by default), so torch is needed only to train it.

Outputs (TARGETS, all scaled to about [0, 1] or [-1, 1]): the logit that there is hair at all, then length,
volume, fringe, parting and baldness over their SCALE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from avatar_engine.data_files import asset_path
from avatar_engine.errors import ModelError
from avatar_engine.head.hair import HAIR_PRESETS, HairStyle
from avatar_engine.nets.hair_features import hair_features
from avatar_engine.nets.onnx_file import check_card_binding

MODEL_PATH = asset_path("models", "hair_style.onnx")
TARGETS = ("present", "length", "volume", "fringe", "parting", "baldness")
SCALE = {"length": 0.45, "volume": 0.04, "fringe": 0.06, "parting": 1.0, "baldness": 1.0}
"""A parameter's network output times its scale is the HairStyle value."""


def targets_from_labels(hair: np.ndarray) -> np.ndarray:
    """hair : (n, 7) the synthetic set's `hair` rows (present, length, volume, fringe, parting, baldness, layers)
    -> (n, 6) float32 network targets."""
    out = np.zeros((len(hair), len(TARGETS)), np.float32)
    out[:, 0] = hair[:, 0]
    for j, name in enumerate(TARGETS[1:], start=1):
        out[:, j] = hair[:, j] / SCALE[name]
    return out


def style_from_outputs(outputs: np.ndarray, color: tuple[int, int, int] = HairStyle().color) -> HairStyle:
    """(6,) network outputs -> a HairStyle (the bald preset when the network says there is no hair)."""
    if outputs[0] < 0.0:  # logit of "has hair"
        return HAIR_PRESETS["bald"]
    values = {name: float(outputs[j]) * SCALE[name] for j, name in enumerate(TARGETS[1:], start=1)}
    return replace(HairStyle(color=color), **values).clamped()


TRAIN_HINT = "retrain it with `avatar train hair` (see assets/models/hair_style.md)"


@dataclass
class HairStyleNet:
    """The trained network, opened once: `predict(mask, points, size)` per photo."""

    session: object
    card: dict

    @staticmethod
    def open(path: Path = MODEL_PATH, backend: str = "onnxruntime") -> "HairStyleNet":
        from avatar_engine.infer.select import open_session
        from avatar_engine.infer.session import InferOptions

        card_path = Path(path).with_suffix(".json")
        try:
            card = json.loads(card_path.read_text()) if card_path.exists() else {}
        except (OSError, ValueError) as exc:
            raise ModelError(f"{card_path.name}: the hair network's card is unreadable ({type(exc).__name__}); "
                             f"{TRAIN_HINT}") from None
        if not isinstance(card, dict):
            raise ModelError(f"{card_path.name}: the hair network's card is not a card; {TRAIN_HINT}")
        check_card_binding(card, Path(path), TRAIN_HINT)
        session = open_session(path, InferOptions(backend=backend, threads=1), hint=TRAIN_HINT)
        return HairStyleNet(session, card)

    def outputs(self, features: np.ndarray) -> np.ndarray:
        """features : (n, FEATURES) -> (n, 6) raw outputs."""
        name = self.session.inputs[0].name
        return next(iter(self.session.run({name: np.asarray(features, np.float32)}).values()))

    def predict(self, mask: np.ndarray, points: np.ndarray, size: tuple[int, int],
                color: tuple[int, int, int] = HairStyle().color) -> HairStyle:
        return style_from_outputs(self.outputs(hair_features(mask, points, size)[None])[0], color)

    def close(self) -> None:
        self.session.close()
