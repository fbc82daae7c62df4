"""Known-truth subjects for tests and benchmarks: random head-model identities rendered by our own renderer.

A subject is an identity, a skin tint, a light rig, a head pose and an expression (none, mild, or broad: what
people show in photos); `render_subject` draws it through a `PhotoView`, so the true mesh, camera and expression of
every pixel are known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from avatar_engine.build.records import PhotoView
from avatar_engine.head.model import HeadModel
from avatar_engine.records import Expression, euler_rotation

CHANGE_SIGMA = 0.35
"""Random shape changes are drawn from N(0, CHANGE_SIGMA), clipped to [-1, 1]."""
ASYMMETRY_SIGMA = 0.1
"""Left and right versions of a shape change differ by N(0, ASYMMETRY_SIGMA)."""
PHENOTYPE_RANGE = (0.15, 0.85)
MILD_EXPRESSIONS = ("mouthSmileLeft", "mouthSmileRight", "jawOpen", "browInnerUp", "eyeSquintLeft",
                    "eyeSquintRight", "mouthFunnel", "browDownLeft", "browDownRight", "cheekSquintLeft")
"""Shapes a mild expression is drawn from, each up to MILD_MAX."""
MILD_MAX = 0.35
BROAD_EXPRESSIONS = (
    ("mouthSmileLeft", "mouthSmileRight"), ("mouthSmileLeft",), ("mouthSmileRight",), ("jawOpen",), ("mouthPucker",),
    ("mouthFunnel",), ("browInnerUp",), ("browDownLeft", "browDownRight"), ("browOuterUpLeft", "browOuterUpRight"),
    ("eyeBlinkLeft", "eyeBlinkRight"), ("eyeBlinkLeft",), ("eyeBlinkRight",), ("eyeSquintLeft", "eyeSquintRight"),
    ("eyeWideLeft", "eyeWideRight"), ("cheekSquintLeft", "cheekSquintRight"), ("cheekPuff",),
    ("noseSneerLeft", "noseSneerRight"), ("mouthFrownLeft", "mouthFrownRight"), ("mouthPressLeft", "mouthPressRight"),
    ("mouthRollLower", "mouthRollUpper"), ("mouthStretchLeft", "mouthStretchRight"),
    ("mouthDimpleLeft", "mouthDimpleRight"), ("mouthUpperUpLeft", "mouthUpperUpRight"),
    ("mouthLowerDownLeft", "mouthLowerDownRight"), ("mouthShrugLower", "mouthShrugUpper"), ("mouthLeft",),
    ("mouthRight",), ("jawLeft",), ("jawRight",), ("jawForward",))
"""Movements a broad expression combines (a pair moves together, each side within 15% of the other): what faces
in photos and on camera do, beyond the mild set, so that what is learnt from subjects holds for smiling, talking,
frowning and blinking faces too."""
BROAD_RANGE = (0.15, 0.9)
"""Weight range of each movement of a broad expression."""
BROAD_MOVES = (1, 3)
"""A broad expression combines this many movements (inclusive range)."""
EXPRESSION_KINDS = ("none", "mild", "broad")


@dataclass(frozen=True)
class Subject:
    identity: dict[str, float]
    expression: Expression
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    skin_tint: tuple[float, float, float]
    """Multiplies the default skin texture (linear-ish RGB factors)."""
    key_light: tuple[float, float, float]
    """Direction toward the key light."""
    iris_rgb: tuple[int, int, int] | None = None
    """Iris colour (texture units, `head.eyes.iris_texture`); None: the template's. `random_subject` leaves it None."""


def broad_expression(rng: np.random.Generator) -> dict[str, float]:
    """A random broad expression: `BROAD_MOVES` movements of `BROAD_EXPRESSIONS` at `BROAD_RANGE` weights."""
    weights: dict[str, float] = {}
    count = int(rng.integers(BROAD_MOVES[0], BROAD_MOVES[1] + 1))
    for move in rng.choice(len(BROAD_EXPRESSIONS), size=count, replace=False):
        level = rng.uniform(*BROAD_RANGE)
        for name in BROAD_EXPRESSIONS[move]:
            weights[name] = float(np.clip(max(weights.get(name, 0.0), level * rng.uniform(0.85, 1.0)), 0.0, 1.0))
    return weights


def random_subject(rng: np.random.Generator, model: HeadModel | None = None, max_yaw: float = 30.0,
                   expression: str = "mild") -> Subject:
    """A random identity, skin tint, key light and pose, with an expression of kind `expression`
    (`EXPRESSION_KINDS`: none, mild (two of `MILD_EXPRESSIONS` up to `MILD_MAX`) or broad (`broad_expression`))."""
    if expression not in EXPRESSION_KINDS:
        raise ValueError(f"expression must be one of {EXPRESSION_KINDS}, got {expression!r}")
    model = model or HeadModel.default()
    identity = {n: float(rng.uniform(*PHENOTYPE_RANGE)) for n in model.phenotype_names}
    # faces are nearly symmetric: a left/right pair shares one draw, plus a small difference
    shared = {n[2:]: rng.normal(0, CHANGE_SIGMA) for n in model.change_names if n[:2] in ("l-", "r-")}
    for n in model.change_names:
        value = shared[n[2:]] + rng.normal(0, ASYMMETRY_SIGMA) if n[2:] in shared else rng.normal(0, CHANGE_SIGMA)
        identity[n] = float(np.clip(value, -1, 1))
    weights = {}
    if expression == "mild":
        for name in rng.choice(MILD_EXPRESSIONS, size=2, replace=False):
            weights[str(name)] = float(rng.uniform(0.1, MILD_MAX))
    elif expression == "broad":
        weights = broad_expression(rng)
    tint = tuple(float(v) for v in rng.uniform([0.55, 0.5, 0.45], [1.05, 1.0, 1.0]))
    key = (float(rng.uniform(-0.8, 0.8)), float(rng.uniform(0.2, 0.7)), 0.6)
    return Subject(identity, Expression.from_names(weights), float(rng.uniform(-max_yaw, max_yaw)),
                   float(rng.uniform(-10, 10)), float(rng.uniform(-6, 6)), tint, key)


def subject_view(subject: Subject, size: tuple[int, int] = (512, 512), fov_y_deg: float = 28.0,
                 model: HeadModel | None = None) -> PhotoView:
    """The camera that sees the subject's head turned by its yaw/pitch/roll, the face filling about half the frame."""
    model = model or HeadModel.default()
    vs, _ = model.part_slices("skin")
    skin = model.neutral_positions(subject.identity)[vs].astype(np.float64)
    centre = 0.5 * (skin.min(0) + skin.max(0))  # phenotypes move the whole head: frame this one
    rotation = euler_rotation(subject.yaw_deg, subject.pitch_deg, subject.roll_deg).astype(np.float64)
    focal = size[1] / 2 / np.tan(np.radians(fov_y_deg) / 2)
    distance = focal * 0.2 / (0.75 * size[1])  # a 20 cm tall head spans 75% of the frame
    view = np.eye(4)
    view[:3, :3] = rotation
    view[:3, 3] = -rotation @ centre + [0, 0, -distance]
    return PhotoView(size=size, view=view, focal_px=float(focal))


def person_model(identity, model: HeadModel | None = None):
    """The head model as a synthetic person's avatar takes it: the identity's rest mesh, skeleton and targets as the
    model's tables have them (what the benchmarks' truth is), but the teeth seated in its mouth (`teeth.seat_teeth`):
    the average head's stood out of narrower and shallower mouths, and their gum showed through the skin under the
    nose on a funnel. Only the teeth and tongue move; the skin is the model's."""
    from avatar_engine.build.rig import FittedHeadModel
    from avatar_engine.build.teeth import seat_teeth

    model = model or HeadModel.default()
    identity = {**model.default_identity(), **(identity or {})}
    positions = seat_teeth(model, model.neutral_positions(identity))
    return FittedHeadModel(model, positions, model.skeleton(identity), scale_targets=False)


def subject_avatar(subject: Subject, model: HeadModel | None = None, hair: bool = False):
    """The subject's avatar: the template for its identity with the skin texture tinted (and its iris colour)."""
    from avatar_engine.head.hair import HairStyle
    from avatar_engine.head.template import default_materials, template_avatar

    materials = default_materials()
    if subject.iris_rgb is not None:
        from avatar_engine.head.eyes import iris_texture

        materials["eye"] = replace(materials["eye"], texture=iris_texture(tuple(subject.iris_rgb)))
    skin = materials["skin"]
    if skin.texture is not None:
        tex = skin.texture.astype(np.float32)
        tex[..., :3] *= np.array(subject.skin_tint, np.float32)
        materials["skin"] = replace(skin, texture=np.clip(tex, 0, 255).astype(np.uint8))
    return template_avatar(subject.identity, materials, person_model(subject.identity, model),
                           hair=HairStyle() if hair else None)


def render_subject(renderer, subject: Subject, view: PhotoView) -> np.ndarray:
    """(h, w, 3) uint8 photo of the subject; `renderer` is a loaded `Renderer` of `subject_avatar` at view.size."""
    renderer.render(subject.expression, view)
    return np.ascontiguousarray(renderer.read()[..., :3])


def true_posed(subject: Subject, model: HeadModel | None = None) -> np.ndarray:
    """(n, 3) float32 the subject's vertices as the model's tables pose them (identity + expression): as rendered
    but for the teeth and tongue, which `person_model` seats in the mouth."""
    model = model or HeadModel.default()
    return (model.neutral_positions(subject.identity)
            + np.tensordot(subject.expression.weights, model.expression_offsets, 1)).astype(np.float32)


def face_region(model: HeadModel | None = None) -> np.ndarray:
    """(k,) skin vertex ids of the face: in front of the ears, between the hairline and under the chin."""
    from avatar_engine.build.landmark_model import Correspondence

    model = model or HeadModel.default()
    corr = Correspondence.default()
    pts = corr.points(model.positions)
    oval = pts[corr.contour]
    vs, _ = model.part_slices("skin")
    p = model.positions[vs]
    inside = ((p[:, 0] > oval[:, 0].min()) & (p[:, 0] < oval[:, 0].max()) & (p[:, 1] > oval[:, 1].min())
              & (p[:, 1] < oval[:, 1].max()) & (p[:, 2] > np.percentile(oval[:, 2], 25)))
    return np.flatnonzero(inside) + vs.start


def subject_lighting(subject: Subject):
    """The studio rig with the subject's own key light: how its photos are lit."""
    from avatar_engine.render.renderer import Lighting

    return Lighting(directions=(subject.key_light,) + Lighting().directions[1:])


def subject_photo(ctx, subject: Subject, view: PhotoView, model: HeadModel | None = None) -> np.ndarray:
    """(h, w, 3) uint8 photo of the subject lit by its own key light on a studio backdrop (one renderer per call)."""
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    with Renderer(ctx, RenderOptions(size=view.size, background=STUDIO_BACKDROP,
                                     lighting=subject_lighting(subject))) as renderer:
        renderer.load(subject_avatar(subject, model))
        return render_subject(renderer, subject, view)
