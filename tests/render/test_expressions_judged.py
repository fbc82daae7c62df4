"""MediaPipe judges the default head: renders of single ARKit shapes must read back as those shapes.

One renderer and one landmarker serve the module; each expression is rendered and judged once. Left and
right are ARKit's, the subject's own: `eyeBlinkLeft` closes the eye at +X, which faces the camera's right,
and MediaPipe reports it as `eyeBlinkLeft` (it does not mirror). `benchmarks/mediapipe_judge.py` runs the
same judge over all 52 shapes.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pytest

from avatar_engine.perception import FaceLandmarker, FaceObservation
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

SIZE = (384, 384)
CAMERA = Camera(distance=0.55, target=(0.0, 0.10, 0.05))
"""Frames the face from the hairline to below the chin, most of the frame's height."""
FACE_MIN_HEIGHT = 0.6
"""The face's 478 points span at least this fraction of the frame's height."""
NEUTRAL_MAX = 0.3
"""On the neutral face, the scores judged below stay under this."""
SHAPE_MIN = 0.5
"""A shape at weight 1 scores at least this."""
BLINK_SIDE_MARGIN = 0.3
"""Closing one eye: its blink score exceeds the other eye's by at least this."""
JUDGED = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight")

Judge = Callable[[Mapping[str, float]], FaceObservation | None]


@pytest.fixture(scope="module")
def judge(gl_context, template):
    """Renders an expression with the session's GL context and template head, and returns MediaPipe's view."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    ctx = gl_context
    renderer = Renderer(ctx, RenderOptions(size=SIZE, background=STUDIO_BACKDROP))
    renderer.load(template)
    landmarker = FaceLandmarker()
    seen: dict[tuple, FaceObservation | None] = {}

    def observe(weights: Mapping[str, float]) -> FaceObservation | None:
        key = tuple(sorted(weights.items()))
        if key not in seen:
            renderer.render(Expression.from_names(weights), CAMERA)
            assert ctx.error == "GL_NO_ERROR"
            faces = landmarker.detect(np.ascontiguousarray(renderer.read()[..., :3]))
            seen[key] = faces[0] if faces else None
        return seen[key]

    yield observe
    landmarker.close()
    renderer.release()
    assert ctx.error == "GL_NO_ERROR"


def scores(judge: Judge, weights: Mapping[str, float]) -> dict[str, float]:
    face = judge(weights)
    assert face is not None, f"MediaPipe found no face in the render of {dict(weights) or 'the neutral head'}"
    return face.scores_by_name()


def test_neutral_face_is_found_and_fills_the_frame(judge):
    face = judge({})
    assert face is not None, "MediaPipe found no face in the neutral render"
    xy = face.points[:, :2]
    assert (xy >= 0).all() and (xy <= 1).all(), "the face runs out of the frame"
    assert np.ptp(xy[:, 1]) >= FACE_MIN_HEIGHT


def test_neutral_scores_are_low(judge):
    neutral = scores(judge, {})
    assert {n: round(neutral[n], 2) for n in JUDGED if neutral[n] >= NEUTRAL_MAX} == {}


def test_jaw_open(judge):
    assert scores(judge, {"jawOpen": 1.0})["jawOpen"] >= SHAPE_MIN


def test_smile(judge):
    smile = scores(judge, {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0})
    assert smile["mouthSmileLeft"] >= SHAPE_MIN
    assert smile["mouthSmileRight"] >= SHAPE_MIN


@pytest.mark.parametrize("side, other", [("Left", "Right"), ("Right", "Left")])
def test_blink_one_eye_reads_on_the_same_side(judge, side, other):
    blink = scores(judge, {f"eyeBlink{side}": 1.0})
    assert blink[f"eyeBlink{side}"] >= SHAPE_MIN
    assert blink[f"eyeBlink{side}"] - blink[f"eyeBlink{other}"] >= BLINK_SIDE_MARGIN
