"""The reconstruction network at run time: MediaPipe's landmarks -> identity, expression and head pose.

It runs from its ONNX file (`assets/models/recon.onnx`, made by `avatar train recon`) on any backend of
`avatar_engine.infer` (ONNX Runtime by default), so torch is needed only to train it. The JSON card beside the file
names the outputs and holds the held-out rms error of every identity parameter, which the fit uses as the prior's
standard deviation when it starts from the network (`FitOptions.recon`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_engine.data_files import asset_path
from avatar_engine.errors import ModelError
from avatar_engine.nets.onnx_file import check_card_binding
from avatar_engine.nets.recon_features import EXPRESSIONS, INPUTS, POSE, recon_input

MODEL_PATH = asset_path("models", "recon.onnx")
HINT = "re-train it with `avatar train recon` or restore assets/models/recon.onnx from git"


@dataclass(frozen=True)
class ReconPrediction:
    """What the network reads from one face."""

    identity: np.ndarray
    """identity : (p,) float64 phenotypes then shape changes (`HeadModel.identity_names` order), clipped to range."""
    identity_sigma: np.ndarray
    """identity_sigma : (p,) float64 held-out rms error of each identity parameter."""
    expression: np.ndarray
    """expression : (52,) float64 ARKit weights in [0, 1]."""
    pose_deg: np.ndarray
    """pose_deg : (3,) float64 head yaw, pitch, roll (`euler_rotation` convention)."""


class ReconNet:
    """The trained network, opened once: `predict(points_px, depth)` per face. A context manager."""

    def __init__(self, session, card: dict, names: tuple[str, ...], n_phen: int) -> None:
        self.session, self.card, self.names, self.n_phen = session, card, names, n_phen
        self.sigma = np.asarray(card["identity_rms"], np.float64)

    @staticmethod
    def open(path: Path | str = MODEL_PATH, backend: str = "onnxruntime", model=None,
             device: str = "auto") -> "ReconNet":
        """Open the ONNX file and its card; ModelError (one line) when either is missing, damaged or made for
        another head model or face frame."""
        from avatar_engine.head.model import HeadModel
        from avatar_engine.infer.select import open_session
        from avatar_engine.infer.session import InferOptions
        from avatar_engine.nets.train_recon import correction_fingerprint

        path = Path(path)
        model = model or HeadModel.default()
        card_path = path.with_suffix(".json")
        try:
            card = json.loads(card_path.read_text())
            names = tuple(card["outputs"]["identity"])
            raw_sigma = card["identity_rms"]
            if not isinstance(raw_sigma, list) or any(isinstance(v, bool) for v in raw_sigma):
                raise TypeError("identity_rms is not a list of numbers")
            sigma = np.asarray(raw_sigma, np.float64)
            fingerprint = card["correction_reference_sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"reconstruction network card {card_path} is missing or damaged "
                             f"({type(exc).__name__}); {HINT}") from None
        if names != tuple(model.identity_names) or sigma.shape != (len(names),):
            raise ModelError(f"reconstruction network {path.name} was made for another head model; {HINT}")
        if not (np.isfinite(sigma).all() and (sigma > 0).all()):  # the prior's spread: NaN or 0 changed the avatar
            raise ModelError(f"reconstruction network card {card_path.name} holds an identity_rms that is not a "
                             f"positive number; {HINT}")
        check_card_binding(card, path, HINT)
        if fingerprint != correction_fingerprint():
            raise ModelError(f"reconstruction network {path.name} was made with another landmark correction "
                             f"(assets/head/landmark_correction.npz); {HINT}")
        session = open_session(path, InferOptions(backend=backend, device=device, threads=1), hint=HINT)
        expected = len(names) + EXPRESSIONS + len(POSE)
        shapes = (tuple(session.inputs[0].shape[1:]), tuple(session.outputs[0].shape[1:]))
        if len(session.inputs) != 1 or shapes != ((INPUTS,), (expected,)):
            session.close()
            raise ModelError(f"reconstruction network {path.name} has inputs/outputs {shapes}, expected "
                             f"(({INPUTS},), ({expected},)); {HINT}")
        return ReconNet(session, card, names, len(model.phenotype_names))

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        """inputs : (n, INPUTS) -> (n, OUTPUTS) raw outputs; ModelError when they are not what a trained network
        gives (another shape than declared, values that are not numbers: damaged weights)."""
        inputs = np.asarray(inputs, np.float32)
        name = self.session.inputs[0].name
        out = np.asarray(self.session.run({name: inputs})[self.session.outputs[0].name])
        expected = len(self.names) + EXPRESSIONS + len(POSE)
        if out.shape != (len(inputs), expected):
            raise ModelError(f"the reconstruction network gave outputs of shape {out.shape}, expected "
                             f"{(len(inputs), expected)}; {HINT}")
        if not np.isfinite(out).all():
            raise ModelError(f"the reconstruction network gave values that are not numbers (damaged weights?); {HINT}")
        return out

    def predict(self, points_px: np.ndarray, depth: np.ndarray) -> ReconPrediction:
        """points_px : (>=468, 2) MediaPipe's points in pixels, depth : (>=468,) its relative depth."""
        out = self.outputs(recon_input(points_px, depth)[None])[0].astype(np.float64)
        p = len(self.names)
        identity = out[:p].copy()
        identity[:self.n_phen] = np.clip(identity[:self.n_phen], 0.0, 1.0)
        identity[self.n_phen:] = np.clip(identity[self.n_phen:], -1.0, 1.0)
        return ReconPrediction(identity=identity, identity_sigma=self.sigma.copy(),
                               expression=np.clip(out[p:p + EXPRESSIONS], 0.0, 1.0), pose_deg=out[p + EXPRESSIONS:])

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "ReconNet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
