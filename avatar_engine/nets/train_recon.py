"""`avatar train recon`: fit the reconstruction network on known-truth samples and write it as ONNX.

    python scripts/make_recon_samples.py -o data/recon --first-seed 21000 --count 3000
    avatar train recon --data data/recon --seed 0 -o assets/models/recon.onnx

Deterministic with a seed (torch's deterministic algorithms, one thread). The input is MediaPipe's face-frame shape
(`recon_features.recon_input`); its first principal components (computed on the training set, mirrored photos
included) are the features. The output is a ridge regression from those features (closed form, as the landmark
correction's identity prior) plus a small ensemble of one-hidden-layer MLPs trained on what the ridge leaves,
averaged. Every photo is also used mirrored. The identity part of the loss is the face's squared vertex error
(mm^2, linearised about the mean face, similarity removed: the measure `benchmarks/build_accuracy.py` reports);
the expression and pose parts are mean squared errors; each part is divided by the ridge's own loss on it so the
three weigh alike. Samples whose seed is in `validation` are held out: their losses, and the per-parameter rms
error of the identity that becomes the fit's prior standard deviation, go in the card.

The ONNX file is written directly (opset 17): Sub/Gemm for the features, Gemm/Relu for the members, Add.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from avatar_engine.errors import InputError
from avatar_engine.nets.onnx_file import write_network
from avatar_engine.synth.dataset import checked_set, read_shard
from avatar_engine.head.model import HeadModel
from avatar_engine.nets.recon_features import (EXPRESSIONS, INPUTS, POSE, mirror_perceived, mirror_targets,
                                               recon_input)

NETWORK = "recon"


@dataclass(frozen=True)
class TrainOptions:
    seed: int = 0
    components: int = 200
    """Principal components of the face-frame shape used as features."""
    ridge: float = 1000.0
    """Ridge penalty of the linear part's identity outputs (features standardised; they start from the landmark
    correction's prior, so the penalty holds them near it)."""
    ridge_other: float = 10.0
    """Ridge penalty of the linear part's expression and pose outputs."""
    hidden: int = 256
    members: int = 4
    """MLPs in the ensemble (each sees its own shuffles and initialisation)."""
    epochs: int = 100
    learning_rate: float = 3e-4
    weight_decay: float = 0.5
    dropout: float = 0.5
    input_noise: float = 0.5
    """Gaussian noise added to the standardised features while training (a regulariser)."""
    validation_every: int = 10
    """Seeds with seed % validation_every == 0 are held out (there must be some: their identity error is the
    fit's prior spread)."""
    mirror: bool = True
    correction_base: bool = True
    """Start from the landmark correction's identity prior (a ridge regression trained on other seeds, linear in
    the input): the network learns what it leaves."""


# --- data ------------------------------------------------------------------------------------------------------------
def load_samples(folders: list[Path]) -> dict[str, np.ndarray]:
    """Every `recon_*.npz` shard of `folders` (made by scripts/make_recon_samples.py), in seed order."""
    parts = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder of reconstruction samples")
        shards = sorted(folder.glob("recon_*.npz"))
        if not shards:
            raise InputError(f"{folder} has no recon_*.npz shards: make them with scripts/make_recon_samples.py")
        for shard in shards:
            parts.append({k: v for k, v in read_shard(shard).items() if k != "refused"})
    keys = ("seed", "points_px", "depth", "size", "identity", "expression", "pose_deg")
    missing = [k for k in keys if any(k not in p for p in parts)]
    if missing:
        raise InputError(f"reconstruction samples lack {', '.join(missing)}: re-make them")
    try:
        samples = {k: np.concatenate([p[k] for p in parts if len(p["seed"])]) for k in keys}
    except ValueError:  # shards whose arrays differ in shape
        raise InputError("reconstruction samples of different shapes in one set: re-make them") from None
    checked_set(samples, Path(folders[0]), keys)
    if not len(samples["seed"]) or samples["points_px"].ndim != 3 or samples["points_px"].shape[1] < 468 \
            or samples["depth"].shape != samples["points_px"].shape[:2]:
        raise InputError("reconstruction samples hold no faces, or faces of another landmark layout: re-make them")
    n = len(samples["seed"])
    if len(np.unique(samples["seed"])) != n:  # a set made twice over one seed range (another --shard), or named twice
        raise InputError("reconstruction samples repeat seeds: the same faces twice would be trained on twice and "
                         "leak into validation; give each set once")
    if samples["expression"].shape != (n, 52) or samples["pose_deg"].shape != (n, 3) or samples["size"].shape != (n, 2):
        raise InputError("reconstruction samples of another layout (expression, pose or size): re-make them")
    order = np.argsort(samples["seed"], kind="stable")
    return {k: v[order] for k, v in samples.items()}


def arrays(samples: dict[str, np.ndarray], mirror: bool, model: HeadModel | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(n, INPUTS) inputs and (n, OUTPUTS) targets; with `mirror`, 2n rows (the mirrored photos after)."""
    x = np.stack([recon_input(p, d) for p, d in zip(samples["points_px"], samples["depth"])])
    y = np.concatenate([samples["identity"], samples["expression"], samples["pose_deg"]], 1).astype(np.float64)
    if not mirror:
        return x, y
    xm = np.stack([recon_input(*mirror_perceived(p, d, int(s[0])))
                   for p, d, s in zip(samples["points_px"], samples["depth"], samples["size"])])
    return np.concatenate([x, xm]), np.concatenate([y, mirror_targets(y, model)])


@cache
def face_metric(model: HeadModel | None = None) -> np.ndarray:
    """(p, p) L with |delta @ L|^2 = mean squared face-vertex error (mm^2) of an identity error `delta`.

    The face region's vertices, linearised about the mean face (shape changes at their mean slope), with the
    directions a similarity alignment removes (translation, rotation, scale) projected out.
    """
    from avatar_engine.build.synthetic import face_region

    model = model or HeadModel.default()
    face = face_region(model)
    base_identity = model.default_identity()
    base = model.neutral_positions(base_identity)[face].astype(np.float64)
    cols = []
    for n in model.phenotype_names:
        step = 0.05
        hi, lo = dict(base_identity), dict(base_identity)
        hi[n] = base_identity[n] + step
        lo[n] = base_identity[n] - step
        cols.append(((model.neutral_positions(hi)[face] - model.neutral_positions(lo)[face]) / (2 * step)).ravel())
    # shape changes: the mean of the +1 and -1 slopes (they are piecewise linear about 0)
    offsets = model.change_offsets[:, :, face].astype(np.float64)
    cols += list((0.5 * (offsets[:, 0] - offsets[:, 1])).reshape(len(offsets), -1))
    jac = np.array(cols).T * 1000.0  # (3k, p) mm per unit
    c = base - base.mean(0)
    sim = [np.tile(e, len(c)) for e in np.eye(3)]  # translations
    sim += [np.cross(np.eye(3)[i], c).ravel() for i in range(3)]  # rotations
    sim.append(c.ravel())  # scale
    q, _ = np.linalg.qr(np.array(sim).T)
    jac = jac - q @ (q.T @ jac)
    metric = jac.T @ jac / len(face)
    values, vectors = np.linalg.eigh(metric)
    return vectors * np.sqrt(np.clip(values, 0, None))


# --- training --------------------------------------------------------------------------------------------------------
@dataclass
class Trained:
    """The trained network in numpy: features = (x - shape_mean) @ basis.T / scale - offset (folded), then
    ridge + mean of the members, in target units."""

    shape_mean: np.ndarray
    basis: np.ndarray
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    target_mean: np.ndarray
    target_scale: np.ndarray
    ridge: np.ndarray
    """(k, OUTPUTS) on standardised features -> standardised targets."""
    members: list
    """[(w1 (h, k), b1 (h,), w2 (OUTPUTS, h), b2 (OUTPUTS,))] in standardised units."""
    base_w: np.ndarray | None = None
    """(OUTPUTS, INPUTS) and base_b (OUTPUTS,): a fixed linear prediction added to the rest (target units)."""
    base_b: np.ndarray | None = None

    def base(self, x: np.ndarray) -> np.ndarray:
        if self.base_w is None:
            return np.zeros((len(x), len(self.target_mean)))
        return x @ self.base_w.T + self.base_b

    def features(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.shape_mean) @ self.basis.T - self.feature_mean) / self.feature_scale

    def predict(self, x: np.ndarray, members: bool = True) -> np.ndarray:
        """x : (n, INPUTS) -> (n, OUTPUTS) in target units (float64 reference of the ONNX graph)."""
        f = self.features(np.asarray(x, np.float64))
        out = f @ self.ridge
        if members and self.members:
            out = out + np.mean([np.maximum(f @ w1.T + b1, 0) @ w2.T + b2 for w1, b1, w2, b2 in self.members], 0)
        return out * self.target_scale + self.target_mean + self.base(np.asarray(x, np.float64))


def correction_base(n_out: int, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The landmark correction's identity prior as (OUTPUTS, INPUTS) weights and (OUTPUTS,) bias (zero rows for
    the expression and pose)."""
    from avatar_engine.build.landmark_model import LandmarkCorrection

    c = LandmarkCorrection.default()
    if tuple(c.identity_names) != tuple(names):
        raise InputError("the landmark correction was made for another head model")
    proj = c.shape_basis.T / c.feature_scale  # (INPUTS, k)
    w = np.zeros((n_out, INPUTS))
    b = np.zeros(n_out)
    p = len(names)
    w[:p] = (proj @ c.identity_coef).T
    b[:p] = c.identity_mean + (-(c.shape_mean @ proj) - c.feature_mean / c.feature_scale) @ c.identity_coef
    return w, b


def _split(seeds: np.ndarray, every: int) -> tuple[np.ndarray, np.ndarray]:
    held = seeds % max(every, 1) == 0
    return np.flatnonzero(~held), np.flatnonzero(held)


def train(samples: dict[str, np.ndarray], options: TrainOptions = TrainOptions(), model: HeadModel | None = None,
          log=print) -> tuple[Trained, dict]:
    """The trained network and its metrics (training and held-out losses, per-parameter identity rms)."""
    import torch

    model = model or HeadModel.default()
    n_id = len(model.identity_names)
    fit_rows, val_rows = _split(samples["seed"], options.validation_every)
    if len(fit_rows) < 8:
        raise InputError(f"too few training samples ({len(fit_rows)}): make more with scripts/make_recon_samples.py")
    if not len(val_rows):
        raise InputError(f"no held-out samples (seeds divisible by {options.validation_every}): the fit's prior "
                         f"needs their error; give more seeds")
    fit_samples = {k: v[fit_rows] for k, v in samples.items()}
    x, y = arrays(fit_samples, options.mirror, model)
    base_w = base_b = None
    if options.correction_base:
        base_w, base_b = correction_base(y.shape[1], model.identity_names)
        y = y - (x @ base_w.T + base_b)
    shape_mean = x.mean(0).astype(np.float64)
    _, singular, vt = np.linalg.svd(x - shape_mean, full_matrices=False)
    k = min(options.components, int((singular > 1e-6 * singular[0]).sum()))
    basis = vt[:k]
    z = (x - shape_mean) @ basis.T
    feature_mean, feature_scale = z.mean(0), z.std(0) + 1e-12
    f = (z - feature_mean) / feature_scale
    target_mean, target_scale = y.mean(0), np.maximum(y.std(0), 1e-3)
    t = (y - target_mean) / target_scale
    gram, cross = f.T @ f, f.T @ t
    ridge = np.linalg.solve(gram + options.ridge_other * np.eye(k), cross)
    ridge[:, :n_id] = np.linalg.solve(gram + options.ridge * np.eye(k), cross[:, :n_id])
    trained = Trained(shape_mean, basis, feature_mean, feature_scale, target_mean, target_scale, ridge, [],
                      base_w, base_b)

    metric = face_metric(model)
    loss_parts = _loss_parts(torch, metric, target_scale, n_id)
    base = [float(v) for v in loss_parts(torch.from_numpy(f @ ridge - t))]
    weights = torch.tensor([1.0 / max(b, 1e-12) for b in base], dtype=torch.float64)

    torch.manual_seed(options.seed)
    torch.use_deterministic_algorithms(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ft, residual = torch.from_numpy(f), torch.from_numpy(t - f @ ridge)
        for m in range(options.members):
            generator = torch.Generator().manual_seed(options.seed * 1000 + m)
            net = torch.nn.Sequential(torch.nn.Linear(k, options.hidden), torch.nn.ReLU(),
                                      torch.nn.Dropout(options.dropout), torch.nn.Linear(options.hidden, t.shape[1]))
            net = net.double()
            torch.nn.init.zeros_(net[3].weight)
            torch.nn.init.zeros_(net[3].bias)
            optimiser = torch.optim.AdamW(net.parameters(), lr=options.learning_rate,
                                          weight_decay=options.weight_decay)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, options.epochs)
            for _ in range(options.epochs):
                net.train()
                for batch in torch.randperm(len(ft), generator=generator).split(128):
                    noise = torch.randn(len(batch), k, generator=generator, dtype=torch.float64)
                    out = net(ft[batch] + options.input_noise * noise)
                    loss = (torch.stack(loss_parts(out - residual[batch])) * weights).sum()
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                schedule.step()
            net.eval()
            trained.members.append(tuple(p.detach().numpy().copy() for p in
                                         (net[0].weight, net[0].bias, net[3].weight, net[3].bias)))
            log(f"member {m + 1}/{options.members} trained")
    finally:
        torch.set_num_threads(threads)
    metrics = {"train": evaluate(trained, fit_samples, metric, n_id),
               "train_samples": int(len(fit_rows)), "validation_samples": int(len(val_rows))}
    if len(val_rows):  # always, with validation_every > 0 (checked above)
        val = {k: v[val_rows] for k, v in samples.items()}
        metrics["validation"] = evaluate(trained, val, metric, n_id)
        metrics["validation_ridge_only"] = evaluate(trained, val, metric, n_id, members=False)
        xv, yv = arrays(val, False, model)
        err = trained.predict(xv)[:, :n_id] - yv[:, :n_id]
        metrics["identity_rms"] = np.sqrt((err ** 2).mean(0)).round(5).tolist()
    return trained, metrics


def _loss_parts(torch, metric: np.ndarray, target_scale: np.ndarray, n_id: int):
    """Per-batch (identity mm^2, expression MSE, pose MSE deg^2) of a standardised-units error."""
    lm = torch.from_numpy(target_scale[:n_id, None] * metric)
    scale = torch.from_numpy(target_scale)

    def parts(delta):
        ident = ((delta[:, :n_id] @ lm) ** 2).sum(1).mean()
        expr = ((delta[:, n_id:n_id + EXPRESSIONS] * scale[n_id:n_id + EXPRESSIONS]) ** 2).mean()
        pose = ((delta[:, n_id + EXPRESSIONS:] * scale[n_id + EXPRESSIONS:]) ** 2).mean()
        return [ident, expr, pose]
    return parts


def evaluate(trained: Trained, samples: dict[str, np.ndarray], metric: np.ndarray, n_id: int,
             members: bool = True) -> dict:
    """Linearised face error (rms over vertices, mm: median and mean over samples), expression MAE, pose MAE (deg);
    the photos as taken (not mirrored). `members=False`: the linear part alone."""
    x, y = arrays(samples, False)
    err = trained.predict(x, members) - y
    face = np.sqrt(((err[:, :n_id] @ metric) ** 2).sum(1))
    return {"face_rms_mm_median": round(float(np.median(face)), 4),
            "face_rms_mm_mean": round(float(face.mean()), 4),
            "expression_mae": round(float(np.abs(err[:, n_id:n_id + EXPRESSIONS]).mean()), 5),
            "pose_deg_mae": [round(float(v), 3) for v in np.abs(err[:, n_id + EXPRESSIONS:]).mean(0)]}


# --- export ----------------------------------------------------------------------------------------------------------
def to_onnx(trained: Trained, path: Path) -> None:
    """Write the network as ONNX opset 17: (batch, INPUTS) `shape` -> (batch, OUTPUTS) `recon`, in target units.

    The features' centring, projection and scaling fold into one Gemm; the ridge and every member's output layer
    carry the target scale; the members' mean is the sum (Add) of their outputs, each scaled by 1/members."""
    from onnx import TensorProto, helper, numpy_helper

    from avatar_engine.nets.onnx_file import write_model

    proj = trained.basis.T / trained.feature_scale  # (INPUTS, k)
    proj_bias = -(trained.shape_mean @ proj) - trained.feature_mean / trained.feature_scale
    scale = trained.target_scale
    inits = [("proj_w", proj.T), ("proj_b", proj_bias),
             ("ridge_w", (trained.ridge * scale).T), ("ridge_b", trained.target_mean)]
    nodes = [helper.make_node("Gemm", ["shape", "proj_w", "proj_b"], ["features"], transB=1),
             helper.make_node("Gemm", ["features", "ridge_w", "ridge_b"], ["linear"], transB=1)]
    summed = ["linear"]
    if trained.base_w is not None:
        inits += [("base_w", trained.base_w), ("base_b", trained.base_b)]
        nodes.append(helper.make_node("Gemm", ["shape", "base_w", "base_b"], ["base"], transB=1))
        summed.append("base")
    count = max(len(trained.members), 1)
    for m, (w1, b1, w2, b2) in enumerate(trained.members):
        inits += [(f"m{m}_w1", w1), (f"m{m}_b1", b1), (f"m{m}_w2", w2 * scale[:, None] / count),
                  (f"m{m}_b2", b2 * scale / count)]
        nodes += [helper.make_node("Gemm", ["features", f"m{m}_w1", f"m{m}_b1"], [f"m{m}_h"], transB=1),
                  helper.make_node("Relu", [f"m{m}_h"], [f"m{m}_r"]),
                  helper.make_node("Gemm", [f"m{m}_r", f"m{m}_w2", f"m{m}_b2"], [f"m{m}_out"], transB=1)]
        summed.append(f"m{m}_out")
    for k, name in enumerate(summed[1:], start=1):  # Add, not Sum: every backend interprets it
        nodes.append(helper.make_node("Add", [summed[0] if k == 1 else f"acc{k - 1}", name],
                                      ["recon" if k == len(summed) - 1 else f"acc{k}"]))
    if len(summed) == 1:
        nodes.append(helper.make_node("Identity", ["linear"], ["recon"]))
    outputs = len(trained.target_mean)
    graph = helper.make_graph(
        nodes, NETWORK, [helper.make_tensor_value_info("shape", TensorProto.FLOAT, ["batch", INPUTS])],
        [helper.make_tensor_value_info("recon", TensorProto.FLOAT, ["batch", outputs])],
        [numpy_helper.from_array(np.asarray(a, np.float32), name) for name, a in inits])
    write_model(graph, path)


def correction_fingerprint() -> str:
    """sha256 of the landmark correction's face frame (its `reference`): the network's input depends on it."""
    from avatar_engine.build.landmark_model import LandmarkCorrection

    return hashlib.sha256(np.ascontiguousarray(LandmarkCorrection.default().reference, np.float64)
                          .tobytes()).hexdigest()


def run(folders: list[Path], output: Path, options: TrainOptions = TrainOptions(), command: str | None = None,
        log=print) -> dict:
    """Train on the sample folders, write `output` (.onnx) and its card (.json); returns the card."""
    if output.suffix != ".onnx":
        raise InputError(f"output must end in .onnx, got {output.name}")
    start = time.perf_counter()
    model = HeadModel.default()
    samples = load_samples(folders)
    if samples["identity"].shape[1:] != (len(model.identity_names),):
        raise InputError(f"reconstruction samples made for another head model ({samples['identity'].shape[1:]} "
                         f"identity values, this one has {len(model.identity_names)}): re-make them with "
                         "scripts/make_recon_samples.py")
    trained, metrics = train(samples, options, model, log)
    output.parent.mkdir(parents=True, exist_ok=True)
    seeds = samples["seed"]
    card = {"network": NETWORK, "inputs": f"shape ({INPUTS},): recon_features.recon_input",
            "outputs": {"identity": list(model.identity_names), "expression": EXPRESSIONS, "pose": list(POSE)},
            "correction_reference_sha256": correction_fingerprint(),
            "data": {"folders": [str(f) for f in folders], "seeds": [int(seeds.min()), int(seeds.max())],
                     "samples": int(len(seeds))},
            "command": command, "options": asdict(options), **metrics,
            "train_seconds": round(time.perf_counter() - start, 1)}
    return write_network(output, card, lambda path: to_onnx(trained, path))
