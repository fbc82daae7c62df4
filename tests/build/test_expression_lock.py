"""A strong expression is kept out of the rest face (avatar_engine.build.expression_lock), on the issue's photo too."""

from pathlib import Path

import numpy as np
import pytest
from landmark_fields import BROWS, MOUTH, POINTS, field

from avatar_engine.build.expression_lock import LOCK_FROM, expression_excess, lock_rows, residual_trust

ASTRONAUT = Path(__file__).resolve().parents[2] / "assets" / "photos" / "astronaut.png"
NEUTRAL_READ_MAX = 0.3
"""MediaPipe's smile scores on the rebuilt rest face stay below this (the issue's target; 0.37/0.40 before)."""
PHOTO_SMILE_MIN = 0.8
"""The photo itself reads a broad smile (0.92/0.91): the test is about taking it off, not about finding none."""


@pytest.fixture()
def shapes() -> np.ndarray:
    fields = np.zeros((52, POINTS * 3))
    fields[0] = field(MOUTH)
    fields[1] = field(BROWS)
    return fields


def test_the_lock_leaves_the_mild_range_alone():
    from avatar_engine.build.synthetic import MILD_MAX

    assert LOCK_FROM == MILD_MAX


def test_excess_needs_mediapipe_and_the_fit_to_agree_beyond_the_mild_range():
    seen = np.zeros(52)
    fitted = np.zeros(52)
    seen[:4] = [0.9, 0.9, 0.3, 1.0]
    fitted[:4] = [1.0, 0.1, 0.9, 1.0]  # a misread the fit rejects; a fitted shape MediaPipe reads mild
    excess = expression_excess(seen, fitted)
    assert excess[0] == pytest.approx((0.9 - LOCK_FROM) / (1 - LOCK_FROM))
    assert excess[1] == 0.0 and excess[2] == 0.0 and excess[3] == pytest.approx(1.0)
    assert not expression_excess(np.full(52, LOCK_FROM), np.ones(52)).any()


def test_lock_rows_measure_identity_motion_along_the_expression_only(shapes):
    excess = np.zeros(52)
    excess[0] = 0.5
    rows = lock_rows(shapes, excess, sigma_m=0.001)
    assert rows.shape == (1, POINTS * 3)
    # an identity that moves the mouth as the smile does, by 2 mm per point: its projection in sigmas, times excess
    mimic = field(MOUTH, size_m=0.002)
    centred = (mimic.reshape(-1, 3) - mimic.reshape(-1, 3).mean(0)).ravel()
    assert rows[0] @ mimic == pytest.approx(0.5 * np.linalg.norm(centred) / 0.001, rel=1e-9)
    assert rows[0] @ field(BROWS, direction=(1.0, 0.0, 0.0)) == pytest.approx(0.0, abs=1e-9)  # elsewhere: free
    assert rows[0] @ np.tile([0.0, 0.003, 0.0], POINTS) == pytest.approx(0.0, abs=1e-9)  # the camera's translation
    assert lock_rows(shapes, np.zeros(52)).shape == (0, POINTS * 3)


def test_residual_ignores_landmarks_the_excess_moves(shapes):
    excess = np.zeros(52)
    excess[0] = 0.5  # moves the mouth points 5 mm
    trust = residual_trust(shapes, excess, reach_m=0.004)
    assert (trust[MOUTH] == 0.0).all() and (trust[BROWS] == 1.0).all()
    assert residual_trust(shapes, excess, reach_m=0.01)[0] == pytest.approx(0.5)


@pytest.fixture(scope="module")
def astronaut(landmarker):
    from avatar_engine.build.fit import FitOptions, fit_landmarks
    from avatar_engine.build.image import load_photo
    from avatar_engine.build.perception import perceive
    from avatar_engine.head.model import HeadModel

    seen = perceive(load_photo(ASTRONAUT), landmarker)
    model = HeadModel.default()
    return model, seen, fit_landmarks(seen, model), fit_landmarks(seen, model, FitOptions(expression_lock=False))


def _smile_read(gl_context, landmarker, model, fit, expression) -> tuple[dict[str, float], np.ndarray]:
    from avatar_engine.build.rig import rigged_avatar
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    avatar = rigged_avatar(model, fit.identity, fit.neutral_positions, hair=None)
    with Renderer(gl_context, RenderOptions(size=fit.view.size, background=STUDIO_BACKDROP)) as renderer:
        renderer.load(avatar)
        renderer.render(expression, fit.view)
        faces = landmarker.detect(np.ascontiguousarray(renderer.read()[..., :3]))
    assert faces, "MediaPipe finds the rebuilt face"
    return faces[0].scores_by_name(), faces[0].points[:468, :2] * np.array(fit.view.size, np.float64)


def test_astronaut_rest_face_reads_neutral_and_her_smile_is_the_expression(astronaut, gl_context, landmarker):
    from avatar_engine.head.arkit import ARKIT_INDEX
    from avatar_engine.records import Expression

    model, seen, fit, unlocked = astronaut
    rest, rest_points = _smile_read(gl_context, landmarker, model, fit, Expression())
    driven, driven_points = _smile_read(gl_context, landmarker, model, fit, fit.photo_expression)
    target = seen.points_px[:468]
    for side in ("Left", "Right"):
        name = f"mouthSmile{side}"
        assert seen.scores[ARKIT_INDEX[name]] > PHOTO_SMILE_MIN
        assert rest[name] < NEUTRAL_READ_MAX, rest[name]
        assert driven[name] > NEUTRAL_READ_MAX  # the smile moved into the expression, not away
        # the lock reads more of the smile as expression than the unlocked fit
        assert fit.photo_expression.weights[ARKIT_INDEX[name]] > unlocked.photo_expression.weights[ARKIT_INDEX[name]]
    assert (np.linalg.norm(driven_points - target, axis=1).mean()
            < np.linalg.norm(rest_points - target, axis=1).mean())


CLEAR_SUBJECTS = ((11, {"eyeBlinkLeft": 0.8, "eyeBlinkRight": 0.8}),
                  (12, {"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7}))
"""(seed, expression) of known-truth photos with a clear expression (a blink, a smile): the landmark correction
that was learnt on mild expressions alone read both as face shape (rest face eyeBlink 0.40/0.45, mouthSmile
0.52/0.55 on build_expression's subjects)."""
CLEAR_READ_MIN = 0.4
"""The fit reads at least this much of each clear expression's weight into the photo's expression."""


@pytest.mark.parametrize("seed, weights", CLEAR_SUBJECTS)
def test_a_clear_expression_is_read_as_expression_and_the_rest_face_is_neutral(seed, weights, gl_context,
                                                                               landmarker):
    from dataclasses import replace

    from avatar_engine.build.fit import fit_landmarks
    from avatar_engine.build.perception import perceive
    from avatar_engine.build.synthetic import random_subject, subject_photo, subject_view
    from avatar_engine.head.arkit import ARKIT_INDEX
    from avatar_engine.head.model import HeadModel
    from avatar_engine.records import Expression

    model = HeadModel.default()
    subject = random_subject(np.random.default_rng(seed), model, max_yaw=20.0, expression="none")
    subject = replace(subject, expression=Expression.from_names(weights))
    view = subject_view(subject, model=model)
    fit = fit_landmarks(perceive(subject_photo(gl_context, subject, view, model), landmarker), model)
    rest, _ = _smile_read(gl_context, landmarker, model, fit, Expression())
    for name in weights:
        assert fit.photo_expression.weights[ARKIT_INDEX[name]] > CLEAR_READ_MIN, name
        assert rest[name] < NEUTRAL_READ_MAX, (name, rest[name])


def test_lock_rows_ignore_the_heads_size_and_turn(shapes):
    """A smile widens the mouth, as a larger head does: given the face, the rows leave its uniform scaling and its
    rotations free (the camera and the head's size take them). Without the face, a head smaller than the mean face
    counted as mimicking the smile and the fit moved its size by 7 prior sigmas to undo it."""
    rng = np.random.default_rng(0)
    face = rng.normal(0.0, 0.05, (POINTS, 3))
    face[MOUTH, 1] += 0.08  # the moved points lie above the centre: growing the face moves them up too
    excess = np.zeros(52)
    excess[0] = 0.5
    rows = lock_rows(shapes, excess, sigma_m=0.001, face=face)
    centred = face - face.mean(0)
    bigger = 0.03 * centred.ravel()  # the face 3% larger
    turned = np.cross([0.0, 0.02, 0.0], centred).ravel()  # a small turn about the vertical
    assert abs(rows[0] @ bigger) < 1e-9 and abs(rows[0] @ turned) < 1e-9
    assert abs(lock_rows(shapes, excess, sigma_m=0.001)[0] @ bigger) > 1.0, "without the face the scale is locked"
    assert rows[0] @ field(MOUTH, size_m=0.002) > 1.0, "the smile itself stays locked"
