"""Shape changes that mimic the photo's expression are held to the mean face (avatar_engine.build.confound)."""

import numpy as np
import pytest
from landmark_fields import BROWS, MOUTH, POINTS, field

from avatar_engine.build.confound import STRONG_EXPRESSION_MM, confound_strength, hold_confounded


@pytest.fixture()
def expressions() -> np.ndarray:
    shapes = np.zeros((52, POINTS * 3))
    shapes[0] = field(MOUTH)  # corners up, a strong smile moves 40 points by 1 cm
    shapes[1] = field(BROWS)
    return shapes


def test_a_change_that_moves_what_the_expression_moves_is_held(expressions):
    changes = np.stack([field(MOUTH, size_m=0.004), field(BROWS, size_m=0.004)])
    smile = np.zeros(52)
    smile[0] = 1.0
    strength = confound_strength(changes, expressions, smile)
    # 40 points x 1 cm = 63 mm of motion, a strong expression; the same points: held almost fully (removing the
    # mean translation spreads a little of each field over the whole face)
    assert strength[0] > 0.85
    assert strength[1] == pytest.approx(0.0, abs=1e-6)  # elsewhere on the face: free
    mean, sigma = hold_confounded(np.array([0.8, 0.8]), np.array([0.4, 0.4]), strength, hold=0.9)
    assert mean[0] < 0.8 * 0.15 and sigma[0] < 0.4 * 0.15
    assert mean[1] == pytest.approx(0.8) and sigma[1] == pytest.approx(0.4)


def test_a_mild_expression_holds_less_and_none_holds_nothing(expressions):
    changes = field(MOUTH, size_m=0.004)[None]
    mild = np.zeros(52)
    mild[0] = 0.2  # a fifth of the motion: below a strong expression's, held in proportion
    strong = mild * 5
    motion = expressions[0].reshape(-1, 3)
    size_mm = np.linalg.norm(motion - motion.mean(0)) * 1000 * 0.2
    assert size_mm < STRONG_EXPRESSION_MM
    ratio = confound_strength(changes, expressions, mild)[0] / confound_strength(changes, expressions, strong)[0]
    assert ratio == pytest.approx(size_mm / STRONG_EXPRESSION_MM, rel=1e-6)
    assert confound_strength(changes, expressions, np.zeros(52))[0] == 0.0


def test_a_translation_is_left_to_the_camera(expressions):
    shift = np.tile([0.0, 0.004, 0.0], POINTS)[None]  # the whole face moves: the camera explains that
    smile = np.zeros(52)
    smile[0] = 1.0
    assert confound_strength(shift, expressions, smile)[0] == pytest.approx(0.0, abs=1e-6)
