"""The reconstruction network: mirroring that undoes itself, deterministic training, an ONNX file that computes what
the trained network computes on both backends, clear errors for damaged or foreign weights, and the builder with
the network switched on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from avatar_engine.build.fit import FitOptions
from avatar_engine.build.landmark_model import LandmarkCorrection
from avatar_engine.errors import InputError, ModelError
from avatar_engine.head.model import HeadModel
from avatar_engine.nets.recon_features import (EXPRESSIONS, INPUTS, POSE, identity_mirror, mirror_perceived,
                                               mirror_targets, recon_input)
from avatar_engine.nets.recon_net import MODEL_PATH, ReconNet

torch = pytest.importorskip("torch", reason="training needs torch (the [infer] extra)")
from avatar_engine.nets.train_recon import TrainOptions, load_samples, run, train  # noqa: E402

ONNX_TOLERANCE = 1e-4
"""Largest difference between the ONNX file's outputs and the trained network's float64 reference, relative to the
largest output (float32 weights and sums)."""
BACKEND_TOLERANCE = 1e-4
"""Largest difference between ONNX Runtime and the torch backend on the same file, relative to the largest output."""
TINY = TrainOptions(seed=3, components=12, hidden=8, members=2, epochs=2)
REPROJECTION_MAX = 0.03
"""Mean landmark reprojection error of a build with the network on, fraction of the inter-ocular distance."""


def fake_samples(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """n faces: the mean MediaPipe face, scaled, turned and moved, with noise; random truths."""
    rng = np.random.default_rng(seed)
    model = HeadModel.default()
    reference = LandmarkCorrection.default().reference
    points, depth = [], []
    for _ in range(n):
        a = rng.normal(0, 0.1)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        face = np.concatenate([reference, reference[:10]]) @ rot.T * rng.uniform(60, 90) + rng.uniform(200, 300, 2)
        points.append(face + rng.normal(0, 1.0, face.shape))
        depth.append(rng.normal(0, 10, 478))
    p = len(model.identity_names)
    return {"seed": np.arange(n) + 100000, "points_px": np.array(points), "depth": np.array(depth),
            "size": np.tile([512, 512], (n, 1)), "identity": rng.uniform(-0.5, 0.5, (n, p)) + 0.3,
            "expression": rng.uniform(0, 0.3, (n, EXPRESSIONS)), "pose_deg": rng.uniform(-20, 20, (n, len(POSE)))}


@pytest.fixture(scope="module")
def grace_hopper():
    import matplotlib

    from avatar_engine.build.image import load_photo

    return load_photo(Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny network trained through `run` on a shard folder: (folder, onnx path, card, numpy network)."""
    folder = tmp_path_factory.mktemp("recon_samples")
    samples = fake_samples(30)
    np.savez(folder / "recon_100000.npz", **samples, refused=np.zeros(0, np.int64))
    out = folder / "tiny.onnx"
    card = run([folder], out, TINY, log=lambda m: None)
    network, _ = train(load_samples([folder]), TINY, log=lambda m: None)
    return folder, out, card, network


def test_input_follows_the_face_not_the_framing():
    face = fake_samples(1)
    p, d = face["points_px"][0], face["depth"][0]
    moved = p * 1.7 + [40.0, -25.0]
    np.testing.assert_allclose(recon_input(moved, d * 1.7), recon_input(p, d), atol=1e-4)
    assert recon_input(p, d).shape == (INPUTS,)


def test_mirroring_twice_is_the_identity():
    face = fake_samples(3)
    p, d = face["points_px"][0], face["depth"][0]
    np.testing.assert_allclose(mirror_perceived(*mirror_perceived(p, d, 512), 512)[0], p)
    y = np.concatenate([face["identity"], face["expression"], face["pose_deg"]], 1)
    np.testing.assert_allclose(mirror_targets(mirror_targets(y)), y)
    partner, sign = identity_mirror()
    names = HeadModel.default().identity_names
    left = names.index("l-cheek-volume-incr")
    assert names[partner[left]] == "r-cheek-volume-incr" and sign[left] == 1
    assert sign[names.index("nose-trans-out")] == -1, "a sideways change flips sign in the mirror"


def test_same_seed_same_weights(trained, tmp_path):
    folder, path, _, network = trained
    run([folder], tmp_path / "again.onnx", TINY, log=lambda m: None)
    assert (tmp_path / "again.onnx").read_bytes() == path.read_bytes(), "same data and seed, same ONNX file"
    again, _ = train(load_samples([folder]), TINY, log=lambda m: None)
    for a, b in zip(network.members, again.members):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    other, _ = train(load_samples([folder]), TrainOptions(**{**TINY.__dict__, "seed": 4}), log=lambda m: None)
    assert not np.array_equal(other.members[0][0], network.members[0][0])


def test_onnx_computes_the_trained_network(trained):
    folder, path, card, network = trained
    x = np.stack([recon_input(p, d) for p, d in zip(fake_samples(5, seed=9)["points_px"],
                                                     fake_samples(5, seed=9)["depth"])])
    reference = network.predict(x.astype(np.float64))
    with ReconNet.open(path) as net:
        out = net.outputs(x)
    assert out.shape == reference.shape
    assert np.abs(out - reference).max() <= ONNX_TOLERANCE * np.abs(reference).max()
    assert card["validation_samples"] == 3 and card["train_samples"] == 27
    assert len(card["identity_rms"]) == len(HeadModel.default().identity_names)


@pytest.mark.parametrize("path", ["tiny", "shipped"])
def test_backends_agree(trained, path):
    path = trained[1] if path == "tiny" else MODEL_PATH
    x = np.stack([recon_input(p, d) for p, d in zip(fake_samples(4, seed=5)["points_px"],
                                                     fake_samples(4, seed=5)["depth"])])
    with ReconNet.open(path, backend="onnxruntime") as a, ReconNet.open(path, backend="torch") as b:
        ya, yb = a.outputs(x), b.outputs(x)
    assert np.abs(ya - yb).max() <= BACKEND_TOLERANCE * np.abs(ya).max()


def test_damaged_or_foreign_weights_are_one_line_errors(trained, tmp_path):
    _, path, card, _ = trained
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    shutil.copy(path.with_suffix(".json"), bad.with_suffix(".json"))
    with pytest.raises(ModelError, match="not a valid ONNX model|not the network its card was written for") as err:
        ReconNet.open(bad)
    assert "\n" not in str(err.value)
    lone = tmp_path / "lone.onnx"
    shutil.copy(path, lone)
    with pytest.raises(ModelError, match="card .* missing or damaged"):
        ReconNet.open(lone)
    foreign = tmp_path / "foreign.onnx"
    shutil.copy(path, foreign)
    foreign.with_suffix(".json").write_text(json.dumps({**card, "outputs": {**card["outputs"],
                                                                            "identity": ["x"] * 145}}))
    with pytest.raises(ModelError, match="another head model"):
        ReconNet.open(foreign)
    foreign.with_suffix(".json").write_text(json.dumps({**card, "correction_reference_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="another landmark correction"):
        ReconNet.open(foreign)


def test_bad_training_input_exits_2(tmp_path, capsys):
    from avatar_engine.cli import main

    assert main(["train", "recon", "--data", str(tmp_path / "missing"), "-o", str(tmp_path / "r.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a folder of reconstruction samples" in err and "\n" not in err
    (tmp_path / "recon_1.npz").write_bytes(b"junk")
    assert main(["train", "recon", "--data", str(tmp_path), "-o", str(tmp_path / "r.onnx")]) == 2
    assert not (tmp_path / "r.onnx").exists()
    with pytest.raises(InputError, match="recon must be one of"):
        FitOptions(recon="always")
    no_held_out = {**fake_samples(12), "seed": np.arange(12) * 10 + 1}
    with pytest.raises(InputError, match="no held-out samples"):
        train(no_held_out, TINY, log=lambda m: None)


@pytest.mark.parametrize("mode", ["prior", "replace"])
def test_builder_with_the_network_makes_a_valid_avatar(grace_hopper, mode, tmp_path):
    pytest.importorskip("mediapipe", reason="the builder needs mediapipe")
    from avatar_engine.build.pipeline import Builder, BuildOptions
    from avatar_engine.io import read_glb, write_glb

    options = BuildOptions(fit=FitOptions(recon=mode), texture=False, hair=False)
    with Builder(options) as builder:
        result = builder.build(grace_hopper)
    assert result.fit.reprojection_error < REPROJECTION_MAX
    assert np.isfinite(result.fit.neutral_positions).all()
    model = HeadModel.default()
    assert all(-1.0 <= result.fit.identity[n] <= 1.0 for n in model.change_names)
    write_glb(result.avatar, tmp_path / "a.glb")
    assert read_glb(tmp_path / "a.glb").identity == pytest.approx(result.fit.identity, abs=1e-6)


def test_weights_changed_or_not_numbers_are_caught(trained, tmp_path):
    # bytes that still parse changed the avatar silently; one NaN weight gave NaN identities, reported as bad input
    import onnx
    from onnx import numpy_helper

    _, path, card, _ = trained
    proto = onnx.load(str(path))
    weight = next(t for t in proto.graph.initializer if numpy_helper.to_array(t).size > 100)
    values = numpy_helper.to_array(weight).copy()
    values.flat[0] += 0.5
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    changed = tmp_path / "changed.onnx"
    onnx.save(proto, str(changed))
    changed.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="not the network its card was written for"):
        ReconNet.open(changed)
    for damaged in (None, "", "ab12"):  # a null sha switched the check off, as if the card had no such field
        changed.with_suffix(".json").write_text(json.dumps({**card, "onnx_sha256": damaged}))
        with pytest.raises(ModelError, match="card has no sha256 of its network"):
            ReconNet.open(changed)
    values.flat[0] = np.nan
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    onnx.save(proto, str(changed))
    changed.with_suffix(".json").write_text(json.dumps({k: v for k, v in card.items() if k != "onnx_sha256"}))
    face = fake_samples(1)
    with ReconNet.open(changed) as net, pytest.raises(ModelError, match="not numbers"):
        net.predict(face["points_px"][0], face["depth"][0])


@pytest.mark.parametrize("change, message", [("identity", "made for another head model"),
                                             ("expression", "of another layout"), ("twice", "repeat seeds")])
def test_samples_of_another_head_model_or_named_twice_are_refused(tmp_path, capsys, change, message):
    # samples with 100 identity values gave an IndexError traceback; one set named twice was trained on twice
    from avatar_engine.cli import main

    samples = fake_samples(12)
    if change == "identity":
        samples["identity"] = samples["identity"][:, :100]
    elif change == "expression":
        samples["expression"] = samples["expression"][:, :40]
    folders = [tmp_path / "a"]
    folders[0].mkdir()
    np.savez(folders[0] / "recon_0.npz", **samples)
    if change == "twice":  # the same faces again under another folder's name (another --shard of one range)
        folders.append(tmp_path / "b")
        folders[1].mkdir()
        np.savez(folders[1] / "recon_0.npz", **samples)
    out = tmp_path / "r.onnx"
    assert main(["train", "recon", "--data", *map(str, folders), "-o", str(out), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not out.exists()
