"""`avatar train hair`: fit the hair-style network on synthetic sets (`avatar synth`) and write it as ONNX.

Deterministic with a seed (torch's deterministic algorithms, one thread). A small MLP over the features of
`hair_features.py`; every training photo is also used mirrored (the parting flips sign). The ONNX file is written
directly from the trained weights (Gemm and Relu, opset 17), and a JSON card beside it records the data, the
command, the seed and the losses.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_engine.errors import InputError
from avatar_engine.nets.hair_features import FEATURES, hair_features, mirror_features
from avatar_engine.nets.hair_net import TARGETS, targets_from_labels
from avatar_engine.nets.holdout import held_out_or_refused
from avatar_engine.nets.onnx_file import write_network
from avatar_engine.synth.dataset import load

HIDDEN = (256, 128)
PARTING = TARGETS.index("parting")


@dataclass(frozen=True)
class TrainOptions:
    seed: int = 0
    epochs: int = 600
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    validation: float = 0.1
    """Fraction of the samples held out (by index, deterministic) to report a validation loss."""


def features_from_sets(folders: list[Path]) -> tuple[np.ndarray, np.ndarray, dict]:
    """(n, FEATURES) features and (n, 6) targets of every sample MediaPipe found a face in; and what was used."""
    feats, targets, used = [], [], []
    for folder in folders:
        data = load(folder)
        size = data["hair_mask"].shape[1:][::-1]
        keep = np.flatnonzero(data["detected"])
        feats += [hair_features(data["hair_mask"][i], data["landmarks"][i], size) for i in keep]
        targets.append(targets_from_labels(data["hair"][keep]))
        manifest = json.loads((Path(folder) / "manifest.json").read_text())
        used.append({"folder": str(folder), "seed": manifest.get("seed"), "count": manifest.get("count"),
                     "detected": int(len(keep)),  # for the card: a set without them still trains
                     **({"interrupted": True} if manifest.get("interrupted") else {})})  # a smaller set than asked
    if not feats:
        raise InputError("no samples with a detected face in the given sets")
    return np.stack(feats).astype(np.float32), np.concatenate(targets), {"sets": used}


def _loss(torch, out, target):
    """Has-hair as a logistic loss; the style parameters as squared error, only where there is hair."""
    present = target[:, 0]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], present)
    mse = (((out[:, 1:] - target[:, 1:]) ** 2).sum(1) * present).sum() / present.sum().clamp(min=1.0)
    return bce + mse


def train(features: np.ndarray, targets: np.ndarray, options: TrainOptions = TrainOptions()):
    """The trained torch module and {train_loss, validation_loss}."""
    import torch

    torch.manual_seed(options.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    n = len(features)
    order = np.random.default_rng(options.seed).permutation(n)
    n_val = int(round(n * options.validation))
    val, fit = order[:n_val], order[n_val:]
    held_out_or_refused(n, n_val, options.validation)
    # mirrored photos double the training set: the grid flips, the turn and the parting change sign
    mirrored_targets = targets[fit].copy()
    mirrored_targets[:, PARTING] *= -1
    x = torch.from_numpy(np.concatenate([features[fit], mirror_features(features[fit])]))
    y = torch.from_numpy(np.concatenate([targets[fit], mirrored_targets]))
    # a floor on the spread: a grid cell that training rarely saw hair in must not blow up when a photo has some
    mean, std = x.mean(0), x.std(0).clamp(min=0.1)
    layers, width = [], FEATURES
    for hidden in HIDDEN:
        layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.1)]
        width = hidden
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, len(TARGETS)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, options.epochs)
    generator = torch.Generator().manual_seed(options.seed)
    for _ in range(options.epochs):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).split(128):
            optimiser.zero_grad()
            _loss(torch, model((x[batch] - mean) / std), y[batch]).backward()
            optimiser.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        train_loss = float(_loss(torch, model((x - mean) / std), y))
        val_loss = (float(_loss(torch, model((torch.from_numpy(features[val]) - mean) / std),
                                torch.from_numpy(targets[val]))) if n_val else float("nan"))
    return (model, mean.numpy(), std.numpy()), {"train_loss": round(train_loss, 5),
                                                 "validation_loss": round(val_loss, 5),
                                                 "train_samples": int(len(fit)), "validation_samples": int(n_val)}


def to_onnx(trained, path: Path) -> None:
    """Write the network (input normalisation folded into the first layer) as ONNX opset 17: Gemm/Relu."""
    from onnx import TensorProto, helper, numpy_helper

    from avatar_engine.nets.onnx_file import write_model

    model, mean, std = trained
    linears = [m for m in model if m.__class__.__name__ == "Linear"]
    weights = [(m.weight.detach().numpy().astype(np.float64), m.bias.detach().numpy().astype(np.float64))
               for m in linears]
    w0, b0 = weights[0]
    weights[0] = (w0 / std, b0 - (w0 / std) @ mean)  # (x - mean) / std folded in
    nodes, inits, name = [], [], "features"
    for k, (w, b) in enumerate(weights):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{k}"), numpy_helper.from_array(b.astype(np.float32), f"b{k}")]
        out = "style" if k == len(weights) - 1 else f"h{k}"
        nodes.append(helper.make_node("Gemm", [name, f"w{k}", f"b{k}"], [out], transB=1))
        if out != "style":
            nodes.append(helper.make_node("Relu", [out], [f"r{k}"]))
            out = f"r{k}"
        name = out
    graph = helper.make_graph(nodes, "hair_style",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", FEATURES])],
                              [helper.make_tensor_value_info("style", TensorProto.FLOAT, ["batch", len(TARGETS)])],
                              inits)
    write_model(graph, path)


def run(folders: list[Path], output: Path, options: TrainOptions, command: str | None = None) -> dict:
    """Train on `folders`, write `output` (.onnx) and its card (.json); returns the card."""
    if output.suffix != ".onnx":
        raise InputError(f"output must end in .onnx, got {output.name}")
    for folder in folders:
        if not (Path(folder) / "manifest.json").is_file():
            raise InputError(f"{folder} is not a synthetic set (no manifest.json): make one with `avatar synth`")
    start = time.perf_counter()
    features, targets, data = features_from_sets(folders)
    trained, metrics = train(features, targets, options)
    output.parent.mkdir(parents=True, exist_ok=True)
    card = {"network": "hair_style", "inputs": f"features ({FEATURES},): hair_features.py", "outputs": list(TARGETS),
            "data": data, "command": command,
            "seed": options.seed, "epochs": options.epochs, "hidden": list(HIDDEN), **metrics,
            "train_seconds": round(time.perf_counter() - start, 1)}
    return write_network(output, card, lambda path: to_onnx(trained, path))
