"""Builder fixtures: the sample photo, one image landmarker for the package, renders of our own head."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def grace_hopper(grace_hopper_path) -> np.ndarray:
    from avatar_engine.build.image import load_photo

    return load_photo(grace_hopper_path)


@pytest.fixture(scope="session")
def landmarker():
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    from avatar_engine.build.perception import MAX_FACES
    from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions

    with FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES)) as lm:
        yield lm


@pytest.fixture()
def eyes_only_landmarks() -> np.ndarray:
    """(478, 2) landmarks with only the iris centres set (100 px apart at y 250): what the hair readers need."""
    landmarks = np.zeros((478, 2))
    landmarks[468], landmarks[473] = (200.0, 250.0), (300.0, 250.0)
    return landmarks
