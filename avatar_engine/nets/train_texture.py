"""`avatar train texture`: fit the texture network on texture sets (`avatar synth --texture`), write it as ONNX.

Deterministic with a seed (torch's deterministic algorithms, one thread). A small U-Net over the NET_SIZE UV
features of `texture_net.uv_features`; it predicts a log-albedo offset over the anchor (the hand-made stage's
texture in "refine" mode, the default skin in "alone" mode), its last layer starts at zero so training starts
from the anchor. The loss is the L1 error of the corrected texture against the true albedo in texture units
(0-255, as the renderer reads it), on the layout's covered texels, plus SEAM_WEIGHT times the offset's step
across the UV seams (the two sides of a seam must get the same correction). The ONNX file is written directly
from the trained weights (Conv, Relu, MaxPool, Resize, Concat; opset 17), and a JSON card beside it records the
data, the command, the seed and the losses.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_engine.errors import InputError
from avatar_engine.nets.texture_data import load
from avatar_engine.nets.holdout import held_out_or_refused
from avatar_engine.nets.onnx_file import write_network
from avatar_engine.nets.texture_net import (CHANNELS, COVERAGE, LOG_FLOOR, MODES, NET_SIZE, default_layout_id,
                                            seam_pairs, skin_layout)

WIDTHS = (16, 24, 32, 48)
"""Encoder widths at NET_SIZE, /2, /4, /8; the bottom (NET_SIZE / 16) has the last width again."""
HOLD_OUT_FROM = 5
"""A set smaller than this holds no sample out (each is a whole photo's texture: too few to spare one)."""
SEAM_WEIGHT = 1.0
"""Weight of the seam term: mean |offset step| across seams in log units, times 255 (as the L1 term's units)."""


@dataclass(frozen=True)
class TrainOptions:
    seed: int = 0
    epochs: int = 40
    learning_rate: float = 1e-3
    """Peak of the one-cycle schedule. 2e-3 stalls (train L1 27.6 against 19.5 at 1e-3 after 16 epochs on the
    350-photo set: the U-Net stops learning after the second epoch)."""
    weight_decay: float = 1e-4
    batch: int = 8
    mode: str = "refine"
    validation: float = 0.1
    """Fraction of the samples held out (by a seeded permutation) to report a validation loss."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.epochs < 1 or self.batch < 1:
            raise InputError("--epochs and --batch must be at least 1")


def _conv(torch, cin: int, cout: int, k: int = 3):
    return torch.nn.Conv2d(cin, cout, k, padding=k // 2)


def make_unet(torch):
    """The U-Net as a ModuleDict of its convolutions (the forward pass is `unet_forward`, the ONNX `to_onnx`)."""
    layers, cin = {}, CHANNELS
    for level, width in enumerate(WIDTHS):
        layers[f"enc{level}a"], layers[f"enc{level}b"] = _conv(torch, cin, width), _conv(torch, width, width)
        cin = width
    layers["bottom_a"], layers["bottom_b"] = _conv(torch, cin, WIDTHS[-1]), _conv(torch, WIDTHS[-1], WIDTHS[-1])
    cin = WIDTHS[-1]
    for level in reversed(range(len(WIDTHS))):
        width = WIDTHS[level]
        layers[f"dec{level}a"], layers[f"dec{level}b"] = _conv(torch, cin + width, width), _conv(torch, width, width)
        cin = width
    layers["head"] = _conv(torch, cin, 3, 1)
    torch.nn.init.zeros_(layers["head"].weight)
    torch.nn.init.zeros_(layers["head"].bias)
    return torch.nn.ModuleDict(layers)


def unet_forward(torch, net, x):
    """x : (b, CHANNELS, S, S) -> (b, 3, S, S) log-albedo offset."""
    F = torch.nn.functional
    skips = []
    for level in range(len(WIDTHS)):
        x = F.relu(net[f"enc{level}b"](F.relu(net[f"enc{level}a"](x))))
        skips.append(x)
        x = F.max_pool2d(x, 2)
    x = F.relu(net["bottom_b"](F.relu(net["bottom_a"](x))))
    for level in reversed(range(len(WIDTHS))):
        x = torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), skips[level]], 1)
        x = F.relu(net[f"dec{level}b"](F.relu(net[f"dec{level}a"](x))))
    return net["head"](x)


def _loss(torch, offset, x, truth, coverage, pairs):
    """(L1 in texture units on covered texels, seam step in the same units)."""
    anchor = x[:, :3]
    pred = torch.sqrt(torch.exp(anchor + offset).clamp(LOG_FLOOR, 1.0)) * 255
    target = torch.sqrt(truth.clamp(LOG_FLOOR, 1.0)) * 255
    l1 = ((pred - target).abs().mean(1) * coverage).sum() / (coverage.sum() * len(x))
    flat = offset.flatten(2)
    seam = (flat[:, :, pairs[:, 0]] - flat[:, :, pairs[:, 1]]).abs().mean() * 255
    return l1, seam


def _inputs(data: dict, mode: str) -> np.ndarray:
    """The stored refine inputs, or the alone inputs made from them (anchor = default skin, no hand maps)."""
    x = data["refine"]
    if mode == "refine":
        return x
    from avatar_engine.head.model import HeadModel
    from avatar_engine.nets.texture_net import log_albedo, shrink_albedo

    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    layout = skin_layout(model.uvs[vs], model.triangles[ts] - vs.start)
    x = x.copy()
    x[:, :3] = shrink_albedo(log_albedo(layout["base"]).transpose(2, 0, 1), layout["coverage"])[None]
    x[:, 7:9] = 0.0
    return x


def train(x: np.ndarray, truth: np.ndarray, options: TrainOptions = TrainOptions(), log=None):
    """The trained torch module and {train_loss, validation_loss, ...}. x : (n, CHANNELS, S, S); truth : (n, 3, S, S)
    linear albedo."""
    import torch

    torch.manual_seed(options.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    n = len(x)
    order = np.random.default_rng(options.seed).permutation(n)
    n_val = int(round(n * options.validation)) if n >= HOLD_OUT_FROM else 0
    val, fit = order[:n_val], order[n_val:]
    held_out_or_refused(n, n_val, options.validation, least=HOLD_OUT_FROM)
    coverage = torch.from_numpy(np.ascontiguousarray(x[0, COVERAGE]))  # the layout's: the same in every sample
    pairs = torch.from_numpy(seam_pairs(x.shape[-1]))
    xs, ts = torch.from_numpy(x), torch.from_numpy(truth)
    net = make_unet(torch)
    optimiser = torch.optim.AdamW(net.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    steps = options.epochs * -(-len(fit) // options.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, options.learning_rate, total_steps=steps,
                                                   pct_start=0.1)
    generator = torch.Generator().manual_seed(options.seed)
    fit_t = torch.from_numpy(fit)
    for epoch in range(options.epochs):
        net.train()
        total = 0.0
        for batch in fit_t[torch.randperm(len(fit), generator=generator)].split(options.batch):
            optimiser.zero_grad()
            l1, seam = _loss(torch, unet_forward(torch, net, xs[batch]), xs[batch], ts[batch], coverage, pairs)
            (l1 + SEAM_WEIGHT * seam).backward()
            optimiser.step()
            schedule.step()
            total += float(l1.detach()) * len(batch)
        if log:
            log(f"epoch {epoch + 1}/{options.epochs}: train L1 {total / len(fit):.3f}")
    net.eval()

    def evaluate(ids: np.ndarray) -> tuple[float, float, float]:
        if not len(ids):
            return float("nan"), float("nan"), float("nan")
        l1s, seams, anchors = [], [], []
        with torch.no_grad():
            for batch in torch.from_numpy(ids).split(16):
                offset = unet_forward(torch, net, xs[batch])
                l1, seam = _loss(torch, offset, xs[batch], ts[batch], coverage, pairs)
                a, _ = _loss(torch, torch.zeros_like(offset), xs[batch], ts[batch], coverage, pairs)
                l1s.append(float(l1) * len(batch))
                seams.append(float(seam) * len(batch))
                anchors.append(float(a) * len(batch))
        return sum(l1s) / len(ids), sum(seams) / len(ids), sum(anchors) / len(ids)

    tr, tr_seam, tr_anchor = evaluate(fit)
    va, va_seam, va_anchor = evaluate(val)
    return net, {"train_l1": round(tr, 4), "train_anchor_l1": round(tr_anchor, 4), "train_seam": round(tr_seam, 4),
                 "validation_l1": round(va, 4), "validation_anchor_l1": round(va_anchor, 4),
                 "validation_seam": round(va_seam, 4), "train_samples": int(len(fit)),
                 "validation_samples": int(n_val)}


def to_onnx(net, path: Path) -> None:
    """Write the U-Net as ONNX opset 17 (Conv, Relu, MaxPool, Resize nearest x2, Concat), to a temporary name
    and renamed."""
    from onnx import TensorProto, helper, numpy_helper

    from avatar_engine.nets.onnx_file import write_model

    nodes, inits = [], []
    counter = iter(range(10_000))

    def conv(name: str, x: str, relu: bool = True) -> str:
        layer = net[name]
        k = layer.kernel_size[0]
        inits.append(numpy_helper.from_array(layer.weight.detach().numpy().astype(np.float32), f"{name}.w"))
        inits.append(numpy_helper.from_array(layer.bias.detach().numpy().astype(np.float32), f"{name}.b"))
        out = f"{name}.y"
        nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [out], kernel_shape=[k, k],
                                      pads=[k // 2] * 4))
        if not relu:
            return out
        nodes.append(helper.make_node("Relu", [out], [f"{name}.r"]))
        return f"{name}.r"

    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
    x, skips = "features", []
    for level in range(len(WIDTHS)):
        x = conv(f"enc{level}b", conv(f"enc{level}a", x))
        skips.append(x)
        pooled = f"pool{next(counter)}"
        nodes.append(helper.make_node("MaxPool", [x], [pooled], kernel_shape=[2, 2], strides=[2, 2]))
        x = pooled
    x = conv("bottom_b", conv("bottom_a", x))
    for level in reversed(range(len(WIDTHS))):
        up, cat = f"up{level}", f"cat{level}"
        nodes.append(helper.make_node("Resize", [x, "", "up_scales"], [up], mode="nearest",
                                      coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
        nodes.append(helper.make_node("Concat", [up, skips[level]], [cat], axis=1))
        x = conv(f"dec{level}b", conv(f"dec{level}a", cat))
    head = conv("head", x, relu=False)
    nodes.append(helper.make_node("Identity", [head], ["offset"]))
    graph = helper.make_graph(
        nodes, "texture_refine",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", CHANNELS, NET_SIZE, NET_SIZE])],
        [helper.make_tensor_value_info("offset", TensorProto.FLOAT, ["batch", 3, NET_SIZE, NET_SIZE])], inits)
    write_model(graph, path)


def run(folders: list[Path], output: Path, options: TrainOptions, command: str | None = None, log=None) -> dict:
    """Train on `folders`, write `output` (.onnx) and its card (.json); returns the card."""
    if output.suffix != ".onnx":
        raise InputError(f"output must end in .onnx, got {output.name}")
    start = time.perf_counter()
    xs, truths, used = [], [], []
    for folder in folders:
        data = load(Path(folder))
        manifest = json.loads((Path(folder) / "manifest.json").read_text())
        xs.append(_inputs(data, options.mode))
        truths.append(data["truth"].astype(np.float32))
        skipped = manifest.get("skipped")
        used.append({"folder": str(folder), "seed": manifest.get("seed"), "samples": int(len(data["truth"])),
                     "skipped": len(skipped) if isinstance(skipped, list) else None,
                     "photo_size": manifest.get("photo_size"),  # for the card: a set without them still trains
                     **({"complete": False} if manifest.get("complete") is False else {})})  # stopped early
    net, metrics = train(np.concatenate(xs), np.concatenate(truths), options, log)
    output.parent.mkdir(parents=True, exist_ok=True)
    card = {"network": "texture_refine", "mode": options.mode, "channels": CHANNELS, "net_size": NET_SIZE,
            "skin_layout": default_layout_id(),
            "widths": list(WIDTHS), "parameters": int(sum(p.numel() for p in net.parameters())),
            "outputs": "offset (3, S, S): log linear albedo over the anchor", "data": {"sets": used},
            "command": command, "seed": options.seed, "epochs": options.epochs, "batch": options.batch,
            "learning_rate": options.learning_rate, "seam_weight": SEAM_WEIGHT,
            "loss_units": "texture values 0-255 (sqrt of linear albedo x 255)", **metrics,
            "train_seconds": round(time.perf_counter() - start, 1)}
    return write_network(output, card, lambda path: to_onnx(net, path))
