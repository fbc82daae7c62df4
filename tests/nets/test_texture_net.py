"""The texture network: pooling that matches what the sets store, a correction of zero that changes nothing, an ONNX
file that computes what the trained module computes on both backends, deterministic training, clear errors for
damaged or mismatched weights, and the builder with the network switched on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from avatar_engine.errors import InputError, ModelError
from avatar_engine.nets.texture_net import (CHANNELS, COVERAGE, FEATURE_SIZE, MAX_OFFSET, MODEL_PATH, NET_SIZE,
                                            TextureNet, apply_correction, default_layout_id, pool, shrink,
                                            shrink_albedo, skin_layout)

torch = pytest.importorskip("torch", reason="training needs torch (the [infer] extra)")
from avatar_engine.nets.train_texture import (TrainOptions, make_unet, seam_pairs, to_onnx, train,  # noqa: E402
                                              unet_forward)

ONNX_TOLERANCE = 1e-4
"""Largest difference between the ONNX file's offsets and the torch module's (float32 sums in another order;
offsets are log-albedo, about +-0.5)."""
BACKEND_TOLERANCE = 1e-4
"""Largest difference between ONNX Runtime and our torch interpreter on the same file."""
POOL_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def layout():
    from avatar_engine.head.model import HeadModel

    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    return skin_layout(model.uvs[vs], model.triangles[ts] - vs.start)


def random_features(n: int, seed: int, layout) -> tuple[np.ndarray, np.ndarray]:
    """(n, CHANNELS, NET_SIZE, NET_SIZE) features with the layout's real coverage and (n, 3, ...) truths that are
    the anchor times a smooth per-person tint (what the network can learn)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, CHANNELS, NET_SIZE, NET_SIZE)).astype(np.float32)
    x[:, COVERAGE] = layout["coverage_net"]
    base = shrink_albedo(layout["base"].transpose(2, 0, 1), layout["coverage"])
    tint = rng.uniform(0.6, 1.4, (n, 3, 1, 1)).astype(np.float32)
    x[:, :3] = np.log(np.maximum(base, 1e-3))[None]
    x[:, 3:6] = np.sqrt(base * tint)  # the photo shows the tint
    return x, (base[None] * tint).astype(np.float32)


def perturbed_net(seed: int = 1):
    torch.manual_seed(seed)
    net = make_unet(torch)
    with torch.no_grad():
        net["head"].weight.normal_(0, 0.5)  # the trained head starts at zero: make the output non-trivial
    return net


def test_pooling_in_two_steps_equals_pooling_once(layout):
    rng = np.random.default_rng(0)
    image = rng.random((1024, 1024, 3)).astype(np.float32)
    direct, _ = pool(image, layout["covered"], NET_SIZE)
    fine, coverage = pool(image, layout["covered"], FEATURE_SIZE)
    two_step = shrink_albedo(fine.transpose(2, 0, 1), coverage).transpose(1, 2, 0)
    np.testing.assert_allclose(two_step, direct, atol=POOL_TOLERANCE)
    features = np.zeros((CHANNELS, FEATURE_SIZE, FEATURE_SIZE), np.float32)
    features[COVERAGE] = coverage
    features[:3] = fine.transpose(2, 0, 1)
    shrunk = shrink(features)
    assert shrunk.shape == (CHANNELS, NET_SIZE, NET_SIZE)
    np.testing.assert_allclose(shrunk[:3].transpose(1, 2, 0), direct, atol=POOL_TOLERANCE)
    np.testing.assert_allclose(shrunk[COVERAGE], layout["coverage_net"], atol=POOL_TOLERANCE)


def test_zero_offset_keeps_the_texture_and_offsets_are_bounded(layout):
    from avatar_engine.build import delight

    rng = np.random.default_rng(1)
    texture = np.dstack([rng.integers(0, 256, (1024, 1024, 3)), np.full((1024, 1024), 255)]).astype(np.uint8)
    anchor = delight.texture_to_albedo(texture).astype(np.float32)
    same = apply_correction(np.zeros((3, NET_SIZE, NET_SIZE), np.float32), anchor, layout)
    np.testing.assert_array_equal(same, texture)
    brighter = apply_correction(np.full((3, NET_SIZE, NET_SIZE), 10.0, np.float32), anchor, layout)
    ratio = delight.texture_to_albedo(brighter)[texture[..., :3] > 20] / anchor[texture[..., :3] > 20]
    assert ratio.max() <= np.exp(MAX_OFFSET) * 1.05, "offsets are clipped to +-MAX_OFFSET"


def test_onnx_matches_torch_on_both_backends(tmp_path, layout):
    from avatar_engine.infer.select import open_session
    from avatar_engine.infer.session import InferOptions

    net = perturbed_net()
    path = tmp_path / "texture_refine.onnx"
    to_onnx(net, path)
    x, _ = random_features(2, 0, layout)
    with torch.no_grad():
        expected = unet_forward(torch, net, torch.from_numpy(x)).numpy()
    assert np.abs(expected).max() > 0.01, "the test network is not trivial"
    outputs = {}
    for backend in ("onnxruntime", "torch"):
        with open_session(path, InferOptions(backend=backend, threads=1)) as session:
            outputs[backend] = session.run({"features": x})["offset"]
        assert outputs[backend].shape == (2, 3, NET_SIZE, NET_SIZE)
        assert np.abs(outputs[backend] - expected).max() <= ONNX_TOLERANCE, backend
    assert np.abs(outputs["onnxruntime"] - outputs["torch"]).max() <= BACKEND_TOLERANCE
    import onnx

    assert onnx.load(str(path)).opset_import[0].version >= 17


def test_training_is_deterministic_and_learns(layout):
    x, truth = random_features(6, 2, layout)
    options = TrainOptions(seed=3, epochs=2, batch=3, learning_rate=5e-3)
    a, metrics = train(x, truth, options)
    b, _ = train(x, truth, options)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), f"{name} differs between two runs with the same seed"
    assert metrics["train_l1"] < metrics["train_anchor_l1"], "two epochs move the texture toward the truth"
    c, _ = train(x, truth, TrainOptions(seed=4, epochs=2, batch=3, learning_rate=5e-3))
    assert not torch.equal(a["enc0a"].weight, c["enc0a"].weight), "another seed gives other weights"


def test_seam_pairs_join_two_places_of_the_layout(layout):
    pairs = seam_pairs()
    assert len(pairs) > 50 and (pairs[:, 0] != pairs[:, 1]).all()
    covered = layout["coverage_net"].ravel() > 0
    assert covered[pairs].mean() > 0.9, "seam samples fall on the layout's islands"


def trained_file(tmp_path: Path, name: str = "texture_refine.onnx") -> Path:
    path = tmp_path / name
    to_onnx(perturbed_net(), path)
    card = {"network": "texture_refine", "mode": "refine", "channels": CHANNELS, "net_size": NET_SIZE,
            "skin_layout": default_layout_id()}
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


def test_damaged_or_mismatched_weights_fail_in_one_line(tmp_path):
    good = trained_file(tmp_path)
    assert TextureNet.open(good).mode == "refine"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(good.read_bytes()[:5000])
    shutil.copy(good.with_suffix(".json"), broken.with_suffix(".json"))
    hair = tmp_path / "hair.onnx"
    shutil.copy(MODEL_PATH.parent / "hair_style.onnx", hair)
    shutil.copy(good.with_suffix(".json"), hair.with_suffix(".json"))
    no_card = tmp_path / "no_card.onnx"
    shutil.copy(good, no_card)
    other_size = tmp_path / "other.onnx"
    shutil.copy(good, other_size)
    other_size.with_suffix(".json").write_text(json.dumps({"mode": "refine", "channels": CHANNELS, "net_size": 32}))
    other_layout = tmp_path / "other_layout.onnx"  # trained before the skin's UV layout changed
    shutil.copy(good, other_layout)
    card = json.loads(good.with_suffix(".json").read_text())
    other_layout.with_suffix(".json").write_text(json.dumps({**card, "skin_layout": "0123456789abcdef"}))
    for path, words in ((broken, "not a valid ONNX model"), (hair, "expected one input"),
                        (no_card, "card is missing"), (other_size, "does not describe"),
                        (other_layout, "another skin UV layout"),
                        (tmp_path / "absent.onnx", "card is missing")):
        with pytest.raises(ModelError) as info:
            TextureNet.open(path)
        message = str(info.value)
        assert words in message and "\n" not in message and "avatar train texture" in message


def test_training_command_writes_a_model_the_builder_runs(tmp_path):
    """The long job shrunk: a one-photo texture set, one epoch, the file opened and run on that photo."""
    from avatar_engine.nets.texture_data import SceneBuilder, TextureDataOptions, generate, load
    from avatar_engine.nets.texture_net import fit_projection, net_texture
    from avatar_engine.nets.train_texture import run

    manifest = generate(tmp_path / "set", TextureDataOptions(count=1, seed=39999, size=256))
    assert manifest["kept"] == 1 and manifest["complete"]
    data = load(tmp_path / "set")
    assert data["refine"].shape == (1, CHANNELS, NET_SIZE, NET_SIZE) and np.isfinite(data["refine"]).all()
    with pytest.raises(InputError, match="1 sample leaves none to hold out for validation"):
        run([tmp_path / "set"], tmp_path / "model.onnx", TrainOptions(epochs=1, batch=1))
    assert not (tmp_path / "model.onnx").exists()
    card = run([tmp_path / "set"], tmp_path / "model.onnx", TrainOptions(epochs=1, batch=1, validation=0.0))
    assert card["train_samples"] == 1 and card["mode"] == "refine"
    net = TextureNet.open(tmp_path / "model.onnx", backend="torch")
    builder = SceneBuilder(256)
    try:
        scene = builder.run(39999, 0)
        texture = net_texture(net, scene["photo"], scene["fit"], builder.model, scene["hand"])
        # the builder hands over the photo's projection made beforehand (on its other thread): the same texture
        projected = fit_projection(scene["photo"], scene["fit"], builder.model)
        again = net_texture(net, scene["photo"], scene["fit"], builder.model, scene["hand"], projected)
    finally:
        builder.close()
        net.close()
    assert texture.shape == (1024, 1024, 4) and texture.dtype == np.uint8
    assert np.array_equal(again, texture)
    with pytest.raises(InputError):
        run([tmp_path / "set"], tmp_path / "model.pt", TrainOptions(epochs=1))


@pytest.mark.skipif(not MODEL_PATH.is_file(), reason="the shipped texture network is not in assets/models")
def test_builder_with_the_network_makes_a_valid_texture():
    import matplotlib

    from avatar_engine.build import delight
    from avatar_engine.build.image import load_photo
    from avatar_engine.build.pipeline import Builder, BuildOptions

    grace_hopper = load_photo(Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg")
    with Builder(BuildOptions(hair=False, texture_net=True)) as builder:
        with_net = builder.build(grace_hopper)
    with Builder(BuildOptions(hair=False)) as builder:
        hand = builder.build(grace_hopper)
    tex = with_net.avatar.materials["skin"].texture
    ref = hand.avatar.materials["skin"].texture
    assert tex.shape == (1024, 1024, 4) and tex.dtype == np.uint8 and (tex[..., 3] == 255).all()
    a, b = delight.texture_to_albedo(tex), delight.texture_to_albedo(ref)
    lit = b > 0.02
    ratio = a[lit] / b[lit]
    assert ratio.max() <= np.exp(MAX_OFFSET) * 1.05 and ratio.min() >= np.exp(-MAX_OFFSET) / 1.05
    assert not np.array_equal(tex, ref), "the network changed the texture"


@pytest.mark.parametrize("args, words", [
    (["train", "texture", "--data", "/nonexistent/set"], "is not a texture set"),
    (["train", "texture", "--data", "/nonexistent/set", "-o", "model.pt"], "must end in .onnx"),
    (["synth", "--texture", "-o", "out", "-n", "0"], "--count must be at least 1"),
])
def test_bad_texture_commands_exit_2_in_one_line(tmp_path, capsys, monkeypatch, args, words):
    from avatar_engine.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err


def test_a_texture_network_that_gives_non_numbers_or_a_wrong_shape_is_refused(tmp_path):
    # one NaN weight made every texel black, silently (exit 0); a card that is not a card raised AttributeError
    from types import SimpleNamespace

    from avatar_engine.errors import ModelError
    from avatar_engine.nets.texture_net import CHANNELS, NET_SIZE, TextureNet

    def net(output):
        session = SimpleNamespace(inputs=[SimpleNamespace(name="x")], run=lambda feeds: {"offset": output})
        return TextureNet(session, {}, "refine")

    features = np.zeros((CHANNELS, NET_SIZE, NET_SIZE), np.float32)
    with pytest.raises(ModelError, match="not numbers"):
        net(np.full((1, 3, NET_SIZE, NET_SIZE), np.nan, np.float32)).offset(features)
    with pytest.raises(ModelError, match="output of shape"):
        net(np.zeros((1, 1, NET_SIZE, NET_SIZE), np.float32)).offset(features)
    card = tmp_path / "t.json"
    card.write_text("[]")
    with pytest.raises(ModelError, match="is not a card"):
        TextureNet.open(tmp_path / "t.onnx")


@pytest.mark.parametrize("finished", [0, 1])
def test_a_stopped_texture_set_keeps_only_what_its_manifest_lists(tmp_path, monkeypatch, finished):
    # stopped before any shard, the folder it made stayed (the same command then refused it as not empty); a shard a
    # worker finished out of turn stayed beside the manifest that did not list it
    import json

    from avatar_engine.nets import texture_data

    def stopped(out, options, progress, jobs):
        if finished:
            (out / "shard_00000.npz").write_bytes(b"kept")
            (out / "manifest.json").write_text(json.dumps({"shards": ["shard_00000.npz"], "complete": False}))
        (out / "shard_00002.npz").write_bytes(b"out of turn")
        raise KeyboardInterrupt

    monkeypatch.setattr(texture_data, "_generate", stopped)
    out = tmp_path / "tex"
    with pytest.raises(KeyboardInterrupt):
        texture_data.generate(out, texture_data.TextureDataOptions(count=3, shard=1))
    if finished:
        assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "shard_00000.npz"]
    else:
        assert not out.exists()


def test_a_texture_set_prints_its_progress_not_mediapipes_log(tmp_path):
    """MediaPipe logs its graph's start-up and first run on file descriptor 2 (W0000 ..., INFO: Created TensorFlow
    Lite XNNPACK delegate): `avatar synth --texture` printed it between its own lines (`build` and `live` did not).
    A fresh process, as MediaPipe logs so once per process."""
    import subprocess
    import sys

    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    done = subprocess.run([sys.executable, "-c", "import sys; from avatar_engine.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", "synth", "--texture", "-o", str(tmp_path / "set"),
                           "-n", "1", "--size", "256"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "W0000" not in done.stderr and "XNNPACK" not in done.stderr, done.stderr
