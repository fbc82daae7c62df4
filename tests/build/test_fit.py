"""Stage 2 on known truth: a rendered random identity with a smile is rebuilt, its expression taken off."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.build.fit import FitOptions, expression_prior, fit_landmarks
from avatar_engine.build.landmark_model import Correspondence, LandmarkModel
from avatar_engine.build.perception import perceive
from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.geometry import similarity_fit
from avatar_engine.head.model import HeadModel
from avatar_engine.records import Expression

SEED = 7
SIZE = (384, 384)
SMILE = 0.5
REPROJECTION_MAX = 0.03
"""Mean landmark reprojection error, fraction of the inter-ocular distance (the issue's target)."""
BETTER_THAN_MEAN = 0.9
"""The rebuilt face's median error is below this fraction of the average face's (both similarity-aligned)."""
SMILE_FOUND = 0.1
"""The fitted photo expression keeps at least this much of each smile shape (true 0.5: the fit splits a smile
between the expression and identity changes such as mouth-angles-up, and MediaPipe under-reads our smiles)."""
NEUTRAL_READ_MAX = 0.3
"""MediaPipe's smile scores on a render of the rebuilt rest face stay below this."""
EYE_DISTANCE_TOLERANCE_M = 0.0002
"""The built head's eyes lie this close to a person's expected distance apart (the height setting's bisection)."""
CORRECTION_SLACK_MM = 0.05
"""The corrected fit's median face error is at most the uncorrected one's plus this (both similarity-aligned)."""


def _aligned_median_mm(estimate: np.ndarray, truth: np.ndarray) -> float:
    s, r, t = similarity_fit(estimate.astype(np.float64), truth.astype(np.float64))
    return float(np.median(np.linalg.norm(s * estimate @ r.T + t - truth, axis=1)) * 1000)


@pytest.fixture(scope="module")
def case(gl_context, landmarker):
    from dataclasses import replace

    from avatar_engine.build.synthetic import random_subject, render_subject, subject_avatar, subject_view
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    model = HeadModel.default()
    subject = random_subject(np.random.default_rng(SEED), model, max_yaw=20.0, expression="none")
    subject = replace(subject, expression=Expression.from_names({"mouthSmileLeft": SMILE, "mouthSmileRight": SMILE}))
    view = subject_view(subject, SIZE, model=model)
    with Renderer(gl_context, RenderOptions(size=SIZE, background=STUDIO_BACKDROP)) as renderer:
        renderer.load(subject_avatar(subject, model))
        photo = render_subject(renderer, subject, view)
    seen = perceive(photo, landmarker)
    return model, subject, view, seen, fit_landmarks(seen, model)


def test_landmarks_are_reprojected_within_target(case):
    *_, fit = case
    assert fit.reprojection_error < REPROJECTION_MAX
    assert fit.view.size == SIZE and fit.view.focal_px > 0


def test_rebuilt_face_beats_the_average_face(case):
    from avatar_engine.build.synthetic import face_region

    model, subject, *_, fit = case
    face = face_region(model)
    truth = model.neutral_positions(subject.identity)[face]
    rebuilt = _aligned_median_mm(fit.neutral_positions[face], truth)
    average = _aligned_median_mm(model.positions[face], truth)
    assert rebuilt < BETTER_THAN_MEAN * average, (rebuilt, average)


def test_smile_is_found_and_taken_off_the_rest_face(case):
    model, *_, fit = case
    w = fit.photo_expression.weights
    assert w[ARKIT_INDEX["mouthSmileLeft"]] > SMILE_FOUND and w[ARKIT_INDEX["mouthSmileRight"]] > SMILE_FOUND
    expected = fit.neutral_positions + np.tensordot(w, model.expression_offsets, 1)
    assert np.allclose(fit.posed_positions, expected, atol=1e-5)
    # the photo's camera sees the posed landmarks where the reported error says
    uv = fit.view.project(Correspondence.default().points(fit.posed_positions.astype(np.float64)))
    iod = np.linalg.norm(fit.landmarks_px[33] - fit.landmarks_px[263])
    assert np.mean(np.linalg.norm(uv - fit.landmarks_px[:468], axis=1)) / iod == pytest.approx(
        fit.reprojection_error, rel=1e-6)


def test_rest_face_reads_neutral_and_smiles_when_driven(case, gl_context, landmarker):
    from avatar_engine.build.rig import rigged_avatar
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    model, subject, view, seen, fit = case
    avatar = rigged_avatar(model, fit.identity, fit.neutral_positions, hair=None)
    with Renderer(gl_context, RenderOptions(size=SIZE, background=STUDIO_BACKDROP)) as renderer:
        renderer.load(avatar)
        renderer.render(Expression(), fit.view)
        rest = landmarker.detect(np.ascontiguousarray(renderer.read()[..., :3]))
        renderer.render(fit.photo_expression, fit.view)
        driven = landmarker.detect(np.ascontiguousarray(renderer.read()[..., :3]))
    assert rest and driven
    rest_scores, driven_scores = rest[0].scores_by_name(), driven[0].scores_by_name()
    for side in ("Left", "Right"):
        assert rest_scores[f"mouthSmile{side}"] < NEUTRAL_READ_MAX
        # the rest face smiles less than the photo did
        assert rest_scores[f"mouthSmile{side}"] < seen.scores[ARKIT_INDEX[f"mouthSmile{side}"]]
        assert driven_scores[f"mouthSmile{side}"] > rest_scores[f"mouthSmile{side}"]
    # re-applying the photo's expression matches the photo's landmarks better than the rest face does
    target = seen.points_px[:468]
    scale = np.array(SIZE, np.float64)
    err_driven = np.linalg.norm(driven[0].points[:468, :2] * scale - target, axis=1).mean()
    err_rest = np.linalg.norm(rest[0].points[:468, :2] * scale - target, axis=1).mean()
    assert err_driven < err_rest


def test_expression_prior_removes_mediapipe_bias():
    bias = np.zeros(52, np.float32)
    bias[ARKIT_INDEX["browInnerUp"]] = 0.75
    scores = np.zeros(52, np.float32)
    scores[ARKIT_INDEX["browInnerUp"]] = 0.75
    scores[ARKIT_INDEX["jawOpen"]] = 0.4
    prior = expression_prior(scores, bias)
    assert prior[ARKIT_INDEX["browInnerUp"]] == 0.0 and prior[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.4)
    assert ((prior >= 0) & (prior <= 1)).all()


def test_landmark_model_jacobian_matches_finite_differences():
    model = HeadModel.default()
    lm = LandmarkModel(model, Correspondence.default())
    rng = np.random.default_rng(0)
    params = np.concatenate([rng.uniform(0.2, 0.8, lm.n_phen), rng.uniform(-0.5, 0.5, lm.n_change),
                             rng.uniform(0, 0.5, 52)])
    jac = lm.jacobian(params)
    for k in (0, 3, lm.n_phen + 5, lm.n_phen + lm.n_change + 24):
        step = np.zeros_like(params)
        step[k] = 1e-3  # inside a grid cell and away from 0: each parameter alone acts linearly there
        numeric = (lm.points(params + step) - lm.points(params - step)) / 2e-3
        # the model's phenotype grid weights are float32 (a smaller step differences their rounding): compare to
        # 0.5% of the derivative's size
        assert np.allclose(jac[:, :, k], numeric, atol=5e-3 * np.abs(numeric).max()), k
    assert np.allclose(lm.points(params * 0 + np.r_[np.full(lm.n_phen, 0.5), np.zeros(lm.n_change + 52)]),
                       Correspondence.default().points(model.neutral_positions().astype(np.float64)), atol=1e-6)


def test_fit_options_residual_is_bounded(case):
    model, subject, view, seen, _ = case
    fit = fit_landmarks(seen, model, FitOptions(residual_max_m=0.001))
    assert np.linalg.norm(fit.residual, axis=1).max() <= 0.001 + 1e-6
    vs, _ = model.part_slices("eye_L")
    assert not fit.residual[vs].any()  # the residual moves skin only


def test_landmark_correction_does_not_make_the_face_worse(case):
    from avatar_engine.build.synthetic import face_region

    model, subject, view, seen, fit = case
    face = face_region(model)
    truth = model.neutral_positions(subject.identity)[face]
    plain = fit_landmarks(seen, model, FitOptions(landmark_correction=False))
    corrected = _aligned_median_mm(fit.neutral_positions[face], truth)
    uncorrected = _aligned_median_mm(plain.neutral_positions[face], truth)
    assert corrected <= uncorrected + CORRECTION_SLACK_MM, (corrected, uncorrected)


def test_held_identity_still_fits_the_camera_to_the_photo(case):
    model, subject, view, seen, _ = case
    settled = fit_landmarks(seen, model, FitOptions(photo_iterations=0))
    held = fit_landmarks(seen, model, FitOptions(photo_identity_scale=0.0))
    assert np.isfinite(held.reprojection_error)
    assert held.reprojection_error < settled.reprojection_error  # the camera moved toward MediaPipe's points
    assert np.array_equal(held.neutral_positions, settled.neutral_positions)  # the identity did not


def test_reprojection_goal_frees_the_identity_only_as_needed(case):
    model, subject, view, seen, _ = case
    held = fit_landmarks(seen, model, FitOptions(photo_identity_scale=0.0))
    met = fit_landmarks(seen, model, FitOptions(photo_reprojection_goal=held.reprojection_error + 1e-6))
    assert np.array_equal(met.neutral_positions, held.neutral_positions)  # the camera alone was enough
    tight = fit_landmarks(seen, model, FitOptions(photo_reprojection_goal=0.9 * held.reprojection_error))
    assert tight.reprojection_error < held.reprojection_error


def test_the_heads_size_is_a_persons_and_holds_under_a_jpeg_resave(landmarker):
    """A photo cannot tell a head's size from its distance: the fit sizes it as people are (eyes 62-65 mm apart for
    an adult), the same for the astronaut as a PNG and re-saved as a JPEG. Before, her eyes came out 50 or 61 mm
    apart depending on JPEG noise: the expression lock took a small head for a smile."""
    import io
    from pathlib import Path

    from PIL import Image

    from avatar_engine.build.fit import eye_distance_m

    model = HeadModel.default()
    left, right = model.joint_names.index("eye_L"), model.joint_names.index("eye_R")
    png = Image.open(Path(__file__).resolve().parents[2] / "assets" / "photos" / "astronaut.png").convert("RGB")
    buffer = io.BytesIO()
    png.save(buffer, "JPEG", quality=85)  # 4:2:0 chroma, as phones save
    apart = []
    for photo in (png, Image.open(buffer)):
        fit = fit_landmarks(perceive(np.asarray(photo.convert("RGB")), landmarker), model)
        joints = model.joint_positions(fit.identity)
        apart.append(float(np.linalg.norm(joints[left] - joints[right])))
        assert apart[-1] == pytest.approx(eye_distance_m(fit.identity), abs=EYE_DISTANCE_TOLERANCE_M)
        assert fit.reprojection_error < 0.03
    assert 0.060 < apart[0] < 0.066
    assert abs(apart[0] - apart[1]) < 0.001
