"""The landmark correction asset: loads, matches its script's format, and undoes a known linear offset."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from avatar_engine.build.landmark_model import LandmarkCorrection
from avatar_engine.head.model import HeadModel

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_landmark_correction.py"
FRAME_TOL_PX = 1e-6
"""Correcting a moved, turned and scaled face gives the same correction moved, turned and scaled (pixels)."""
LEARNT_TOL = 0.15
"""On samples whose offset is an exact linear function of the shape, the learnt offset's error stays below this
fraction of the offset's size (ridge shrinkage and the 40-component truncation cost a little)."""


def _script():
    spec = importlib.util.spec_from_file_location("make_landmark_correction", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _face_px(correction: LandmarkCorrection) -> np.ndarray:
    return correction.reference * 120.0 + [256.0, 270.0]


def _depth_px(correction: LandmarkCorrection) -> np.ndarray:
    """(468,) a plausible relative depth in pixels: the training mean (face-frame units) at 120 px per unit."""
    if correction.depth_weight <= 0:
        return np.zeros(468)
    return correction.shape_mean[936:] / correction.depth_weight * 120.0


def test_shipped_asset_loads_with_consistent_shapes():
    c = LandmarkCorrection.default()
    k = len(c.shape_basis)
    model = HeadModel.default()
    width = 936 + (468 if c.depth_weight > 0 else 0)  # x, y (and relative depth) of 468 points
    assert c.reference.shape == (468, 2) and c.shape_basis.shape == (k, width) and c.offset_coef.shape == (k, 936)
    assert c.identity_names == tuple(model.phenotype_names) + tuple(model.change_names)
    assert c.identity_coef.shape == (k, len(c.identity_names)) and (c.identity_sigma > 0).all()
    assert c.offset_sigma is not None and c.offset_sigma.shape == (468,) and (c.offset_sigma > 0).all()
    depth = _depth_px(c)
    corrected = c.landmarks(_face_px(c), depth)
    assert corrected.shape == (468, 2) and np.isfinite(corrected).all()
    mean, sigma = c.identity_prior(_face_px(c), c.identity_names, depth)
    assert mean.shape == sigma.shape == (len(c.identity_names),)
    with pytest.raises(ValueError, match="another head model"):
        c.identity_prior(_face_px(c), c.identity_names[:-1], depth)
    if c.depth_weight > 0:
        with pytest.raises(ValueError, match="depth"):
            c.landmarks(_face_px(c))


def test_shipped_asset_was_refitted_for_light():
    """The asset is the training sets' regressions refitted for the light set at the script's weight: one written
    by `train` alone rebuilt a face up to 1.08 mm away from itself under a hard side key (build_light.py)."""
    from avatar_engine.build.landmark_model import CORRECTION_PATH

    with np.load(CORRECTION_PATH) as d:
        assert "light_weight" in d.files and float(d["light_weight"]) == pytest.approx(_script().LIGHT_WEIGHT)


def test_correction_follows_the_face_frame():
    c = LandmarkCorrection.default()
    points = _face_px(c) + np.random.default_rng(0).normal(0, 1.5, (468, 2))
    depth = _depth_px(c)
    angle, scale, shift = np.radians(12.0), 1.7, np.array([40.0, -25.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = scale * points @ rot.T + shift
    # MediaPipe's depth is in pixels: it scales with the face (and its offset does not matter)
    assert np.allclose(c.landmarks(moved, scale * depth + 7.0), scale * c.landmarks(points, depth) @ rot.T + shift,
                       atol=FRAME_TOL_PX)


def test_script_output_loads_and_learns_a_linear_offset(tmp_path):
    script = _script()
    ref = LandmarkCorrection.default().reference
    rng = np.random.default_rng(1)
    modes = rng.normal(0, 1, (5, 468, 2)) * 0.02
    coeffs = rng.normal(0, 1, (800, 5))
    shapes = ref[None] + np.einsum("sm,mlj->slj", coeffs, modes)
    gain = 0.5 * modes[::-1]  # the true point moves by a linear function of the observed shape
    truth = shapes + np.einsum("sm,mlj->slj", coeffs, gain)
    model = HeadModel.default()
    n_id = len(model.phenotype_names) + len(model.change_names)
    samples = {"seed": np.arange(800), "mediapipe": shapes * 100 + 200, "truth": truth * 100 + 200,
               "identity": rng.uniform(0, 1, (800, n_id))}
    out = tmp_path / "correction.npz"
    script.save(script.train(samples), samples["seed"], out, model)
    learnt = LandmarkCorrection.load(out)
    observed, expected = samples["mediapipe"][7], samples["truth"][7]
    error = np.abs(learnt.landmarks(observed) - expected).max()
    assert error < LEARNT_TOL * np.abs(expected - observed).max(), error


AUGMENT_TOL = 1e-9
"""The closed-form refit and an explicit ridge over the augmented faces agree to rounding."""


def _explicit_augmented_ridge(features, targets, penalty, weight, d_features, d_targets):
    """A ridge with intercept over the faces plus every (face, change) pair, the pairs weighing `weight` faces in
    all per face: what `augmented_ridge` stands for."""
    n, m = len(features), len(d_features)
    f = np.concatenate([features, (features[:, None] + d_features[None]).reshape(-1, features.shape[1])])
    y = np.concatenate([targets, (targets[:, None] + d_targets[None]).reshape(-1, targets.shape[1])])
    w = np.concatenate([np.ones(n), np.full(n * m, weight / m)])
    f_mean, y_mean = w @ f / w.sum(), w @ y / w.sum()
    fc, yc = f - f_mean, y - y_mean
    coef = np.linalg.solve((fc * w[:, None]).T @ fc + penalty * np.eye(f.shape[1]), (fc * w[:, None]).T @ yc)
    return coef, y_mean - f_mean @ coef


def test_the_light_refit_is_the_ridge_over_faces_seen_under_each_light():
    """`augmented_ridge` refits from the trained coefficients alone (the features are standardised principal
    coordinates), exactly as a ridge over the training faces plus each face with each light change added; an
    identity (unchanged by light) ignores the features the light moves."""
    script = _script()
    rng = np.random.default_rng(3)
    n, k, m, penalty, weight = 40, 5, 6, 10.0, 0.5
    raw = rng.normal(size=(n, k))
    features, _ = np.linalg.qr(raw - raw.mean(0))  # orthonormal columns of mean 0
    features = features * np.sqrt(n)  # F'F = n I: as train's standardised principal coordinates
    assert np.allclose(features.T @ features, n * np.eye(k)) and np.allclose(features.mean(0), 0, atol=1e-12)
    targets = features @ rng.normal(size=(k, 3)) + rng.normal(0, 0.3, (n, 3)) + [1.0, -2.0, 0.5]
    mean, coef = script.ridge(features, targets, penalty)
    d_features = rng.normal(0, 0.7, (m, k)) + 0.2
    d_targets = rng.normal(0, 0.4, (m, 3))
    for changes, given in ((d_targets, d_targets), (np.zeros_like(d_targets), None)):
        closed = script.augmented_ridge(coef, mean, n, penalty, weight, d_features, given)
        explicit = _explicit_augmented_ridge(features, targets, penalty, weight, d_features, changes)
        assert np.abs(closed[0] - explicit[0]).max() < AUGMENT_TOL
        assert np.abs(closed[1] - explicit[1]).max() < AUGMENT_TOL
    # a target the light does not change, and a light that moves one feature alone: the weight on that feature
    # shrinks; the others only lose some of the penalty's shrinkage (the faces count 1 + weight times)
    direction = np.zeros((1, k))
    direction[0, 0] = 3.0
    heavy = 4.0
    only_light = script.augmented_ridge(coef, mean, n, penalty, heavy, np.vstack([direction, -direction]), None)[0]
    assert abs(only_light[0, 0]) < 0.2 * abs(coef[0, 0])
    assert np.allclose(only_light[1:], coef[1:] * (1 + heavy) * (n + penalty) / ((1 + heavy) * n + penalty))
