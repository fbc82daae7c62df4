"""The hair-style network: features that follow the face not the framing, deterministic training, an ONNX file that
computes what the trained module computes on both backends, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.errors import InputError
from avatar_engine.head.hair import HairStyle
from avatar_engine.nets.hair_features import (CHIN, FEATURES, GRID, LEFT_CHEEK, LEFT_IRIS, NOSE_TIP, RIGHT_CHEEK,
                                              RIGHT_IRIS, hair_features, mirror_features)
from avatar_engine.nets.hair_net import SCALE, TARGETS, style_from_outputs, targets_from_labels

torch = pytest.importorskip("torch", reason="training needs torch (the [infer] extra)")
from avatar_engine.nets.train_hair import TrainOptions, to_onnx, train  # noqa: E402

FRAME_TOLERANCE = 0.02
"""Mean absolute difference of the mask samples (0-1) between two framings of one photo: resampling blurs edges."""
ONNX_TOLERANCE = 1e-4
"""Largest difference between the ONNX file's outputs and the torch module's (float32 sums in another order)."""


def face(size: int, centre: tuple[float, float], iod: float, roll_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """A photo's hair mask and landmarks: a cap of hair above a face, the face `iod` pixels between the irises."""
    c, s = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
    to_image = lambda x, y: (centre[0] + iod * (c * x - s * y), centre[1] + iod * (s * x + c * y))  # noqa: E731
    points = np.zeros((478, 3), np.float32)
    for index, (x, y) in {RIGHT_IRIS: (-0.5, 0), LEFT_IRIS: (0.5, 0), NOSE_TIP: (0.05, 0.8), CHIN: (0, 2.0),
                          RIGHT_CHEEK: (-1.3, 0.6), LEFT_CHEEK: (1.3, 0.6)}.items():
        points[index, :2] = np.array(to_image(x, y)) / size
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    # back to the face frame: hair where the point lies in an ellipse around the skull, above the brows
    dx, dy = xx - centre[0], yy - centre[1]
    fx, fy = (c * dx + s * dy) / iod, (-s * dx + c * dy) / iod
    mask = ((fx / 1.6) ** 2 + ((fy + 0.4) / 2.0) ** 2 < 1) & (fy < -0.6)
    return mask, points


def test_features_follow_the_face_not_the_framing():
    a = hair_features(*face(256, (128, 140), 40, 0), (256, 256))
    b = hair_features(*face(512, (200, 300), 80, 12), (512, 512))
    assert a.shape == (FEATURES,)
    grid = GRID[0] * GRID[1]
    assert np.abs(a[:grid] - b[:grid]).mean() <= FRAME_TOLERANCE
    np.testing.assert_allclose(a[grid:], b[grid:], atol=1e-4)
    assert 0.05 < a[:grid].mean() < 0.6, "the cap covers part of the grid"


def test_mirroring_twice_is_the_identity_and_flips_the_turn():
    f = hair_features(*face(256, (128, 140), 40, 5), (256, 256))
    np.testing.assert_array_equal(mirror_features(mirror_features(f)), f)
    assert mirror_features(f)[GRID[0] * GRID[1]] == -f[GRID[0] * GRID[1]]


def test_outputs_map_to_styles():
    assert style_from_outputs(np.array([-2.0, 0.5, 0.5, 0.0, 0.0, 0.0])).bald
    style = style_from_outputs(np.array([3.0, 0.5, 0.25, 0.5, -0.5, 0.0]), color=(10, 20, 30))
    assert style.length == pytest.approx(0.5 * SCALE["length"]) and style.color == (10, 20, 30)
    assert style.fringe == pytest.approx(0.5 * SCALE["fringe"]) and style.parting == pytest.approx(-0.5)
    labels = np.array([[1, 0.2, 0.01, 0.03, -0.4, 0.1, 2], [0, 0, 0, 0, 0, 0, 0]], np.float32)
    targets = targets_from_labels(labels)
    assert targets.shape == (2, len(TARGETS)) and targets[0, 1] == pytest.approx(0.2 / SCALE["length"])


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x = rng.random((60, FEATURES), dtype=np.float32)
    y = np.concatenate([rng.integers(0, 2, (60, 1)), rng.random((60, 5))], 1).astype(np.float32)
    return x, train(x, y, TrainOptions(seed=3, epochs=3))


def test_training_is_deterministic(trained):
    x, (first, metrics) = trained
    rng = np.random.default_rng(0)  # the fixture's draws again
    x2 = rng.random((60, FEATURES), dtype=np.float32)
    y2 = np.concatenate([rng.integers(0, 2, (60, 1)), rng.random((60, 5))], 1).astype(np.float32)
    second, metrics2 = train(x2, y2, TrainOptions(seed=3, epochs=3))
    for a, b in zip(first[0].state_dict().values(), second[0].state_dict().values()):
        assert torch.equal(a, b)
    assert metrics == metrics2


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_onnx_file_computes_what_the_module_computes(trained, tmp_path, backend):
    from avatar_engine.infer.select import open_session
    from avatar_engine.infer.session import InferOptions

    x, ((model, mean, std), _) = trained
    path = tmp_path / "hair_style.onnx"
    to_onnx((model, mean, std), path)
    with torch.no_grad():
        want = model((torch.from_numpy(x[:7]) - torch.from_numpy(mean)) / torch.from_numpy(std)).numpy()
    with open_session(path, InferOptions(backend=backend, device="cpu")) as session:
        got = session.run({"features": x[:7]})["style"]
    assert np.abs(got - want).max() <= ONNX_TOLERANCE


def test_train_refuses_a_folder_that_is_not_a_set(tmp_path):
    from avatar_engine.cli import main

    assert main(["train", "hair", "--data", str(tmp_path), "-o", str(tmp_path / "x.onnx")]) == 2
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(InputError, match="onnx"):
        from avatar_engine.nets.train_hair import run

        run([tmp_path], tmp_path / "x.bin", TrainOptions())


def test_default_style_round_trips_through_targets():
    s = HairStyle(length=0.2, volume=0.012, fringe=0.03, parting=0.3, baldness=0.1)
    row = np.array([[1, s.length, s.volume, s.fringe, s.parting, s.baldness, 2]], np.float32)
    out = targets_from_labels(row)[0].copy()
    out[0] = 5.0  # a confident "has hair" logit
    back = style_from_outputs(out)
    for name in ("length", "volume", "fringe", "parting", "baldness"):
        assert getattr(back, name) == pytest.approx(getattr(s, name), abs=1e-6)


def test_the_card_says_when_a_set_was_stopped_early(tmp_path, monkeypatch):
    # an interrupted set (fewer samples than asked) trained without a word on the card
    import json

    from avatar_engine.nets import train_hair

    monkeypatch.setattr(train_hair, "load", lambda folder: {
        "hair_mask": np.zeros((2, 8, 8), np.uint8), "landmarks": np.zeros((2, 478, 2), np.float32),
        "detected": np.ones(2, bool), "hair": np.zeros((2, 7), np.float32)})
    monkeypatch.setattr(train_hair, "hair_features", lambda mask, points, size: np.zeros(FEATURES, np.float32))
    for name, interrupted in (("whole", False), ("stopped", True)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"seed": 1, "count": 2, "shards": ["s.npz"],
                                                                   **({"interrupted": True} if interrupted else {})}))
    _, _, data = train_hair.features_from_sets([tmp_path / "whole", tmp_path / "stopped"])
    assert [s.get("interrupted", False) for s in data["sets"]] == [False, True]


def test_a_set_too_small_to_hold_any_out_is_refused():
    """Sweep: `avatar train hair` on 2 samples wrote a network (by default over the shipped one) with validation
    loss NaN and exit code 0."""
    from avatar_engine.errors import InputError

    rng = np.random.default_rng(0)
    x = rng.random((4, FEATURES), dtype=np.float32)
    y = np.concatenate([rng.integers(0, 2, (4, 1)), rng.random((4, 5))], 1).astype(np.float32)
    with pytest.raises(InputError, match=r"4 samples leave none to hold out for validation \(10% of them\).*at "
                                         r"least 6 samples"):
        train(x, y, TrainOptions(seed=3, epochs=1))
