"""One synthetic photo: a random person (identity, expression, head pose, skin, eyes, hair) under random studio
light in front of a random background, rendered by our renderer, with the hair's visible silhouette as a mask.

The person and pose come from the builder's known-truth subjects (`build/synthetic.py`); this adds what a
trained network must not overfit to: skin colouring (`albedo.py`), iris colour, hairstyle and hair colour,
light directions and colours, exposure and a cluttered background.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from avatar_engine.build.records import PhotoView
from avatar_engine.build.synthetic import Subject, person_model, random_subject, subject_view
from avatar_engine.head.hair import HAIR_PRESETS, HairStyle
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import default_materials, template_avatar
from avatar_engine.records import Avatar
from avatar_engine.render.renderer import Lighting, Renderer, RenderOptions
from avatar_engine.synth.albedo import SkinLook, paint_albedo, random_look, value_noise

HAIR_COLORS = ((24, 18, 14), (44, 30, 22), (70, 46, 30), (110, 72, 40), (150, 100, 55), (190, 150, 95),
               (120, 50, 25), (130, 125, 120), (200, 195, 185))
"""sRGB hair colours drawn from: black, browns, auburn, blond, grey, white (jittered per person)."""
IRIS_COLORS = ((60, 40, 25), (95, 65, 35), (84, 110, 140), (70, 100, 70), (110, 100, 70), (100, 120, 130))
BALD_CHANCE = 0.12
MASK_THRESHOLD = 6
"""A pixel belongs to the hair mask when adding the hair changes it by more than this (0-255, any channel)."""


@dataclass(frozen=True)
class Scene:
    subject: Subject
    """Identity, expression, head pose (and the key light direction)."""
    look: SkinLook
    hair: HairStyle | None
    iris: tuple[int, int, int]
    lighting: Lighting
    background_seed: int
    background_colors: tuple[tuple[float, float, float], tuple[float, float, float]]
    """Two linear-ish RGB colours the background blends between."""


def random_hair(rng: np.random.Generator) -> HairStyle | None:
    """A random hairstyle around the named presets (None: bald)."""
    if rng.random() < BALD_CHANCE:
        return None
    start = HAIR_PRESETS[str(rng.choice(["buzz", "short", "medium", "long", "fringe"]))]
    color = np.asarray(HAIR_COLORS[rng.integers(len(HAIR_COLORS))], np.float64) * rng.uniform(0.85, 1.15)
    style = replace(start, color=tuple(int(c) for c in np.clip(color, 0, 255)),
                    length=start.length + float(rng.uniform(-0.03, 0.06)) * (start.length > 0),
                    volume=start.volume * float(rng.uniform(0.7, 1.4)),
                    fringe=start.fringe * float(rng.uniform(0.5, 1.2)) if start.fringe else 0.0,
                    parting=float(rng.uniform(-0.8, 0.8)), baldness=float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0, 0.6)])))
    return style.clamped()


def random_lighting(rng: np.random.Generator, key: tuple[float, float, float]) -> Lighting:
    """The studio rig with the subject's key light, random fill and rim directions, colour temperatures and exposure."""
    warm = rng.uniform(-1, 1)  # -1 cool daylight, +1 tungsten
    tint = np.array([1.0 + 0.25 * warm, 1.0, 1.0 - 0.3 * warm])
    base = Lighting()
    fill = (float(rng.uniform(-0.9, -0.3)) * np.sign(key[0] or 1.0), float(rng.uniform(-0.2, 0.4)), 0.55)
    strength = rng.uniform(0.6, 1.3, 3)
    colors = tuple(tuple(float(v) for v in np.asarray(c) * tint * s) for c, s in zip(base.colors, strength))
    return Lighting(directions=(key, fill, base.directions[2]), colors=colors,
                    sky=tuple(float(v) for v in np.asarray(base.sky) * rng.uniform(0.6, 1.4)),
                    exposure=float(rng.uniform(0.75, 1.25)))


def random_scene(rng: np.random.Generator, model: HeadModel | None = None, max_yaw: float = 30.0) -> Scene:
    subject = random_subject(rng, model, max_yaw=max_yaw)
    hair = random_hair(rng)
    look = random_look(rng, hair)
    iris = np.asarray(IRIS_COLORS[rng.integers(len(IRIS_COLORS))], np.float64) * rng.uniform(0.8, 1.2)
    colors = tuple(tuple(float(v) for v in rng.uniform(0.05, 0.9, 3)) for _ in range(2))
    return Scene(subject, look, hair, tuple(int(c) for c in np.clip(iris, 0, 255)),
                 random_lighting(rng, subject.key_light), int(rng.integers(1 << 31)), colors)


def scene_avatar(scene: Scene, model: HeadModel | None = None, hair: bool = True) -> Avatar:
    """The scene's person as an avatar (its own skin texture, iris and hair; `hair=False` leaves the hair off)."""
    materials = default_materials(paint_albedo(scene.look), scene.iris)
    return template_avatar(scene.subject.identity, materials, person_model(scene.subject.identity, model),
                           hair=scene.hair if hair else None)


def background(scene: Scene, size: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) float32 in [0, 1]: a soft blotchy backdrop in the scene's two colours, with a little clutter."""
    w, h = size
    rng = np.random.default_rng(scene.background_seed)
    blend = 0.7 * value_noise((h, w), max(h // 3, 1), rng) + 0.3 * value_noise((h, w), max(h // 16, 1), rng)
    a, b = (np.asarray(c, np.float32) for c in scene.background_colors)
    return (a * (1 - blend[..., None]) + b * blend[..., None]).astype(np.float32)


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray
    """image : (h, w, 3) uint8 the photo."""
    hair_mask: np.ndarray
    """hair_mask : (h, w) bool where the hair is the visible surface."""
    view: PhotoView


def render_scene(ctx, scene: Scene, size: tuple[int, int] = (256, 256), model: HeadModel | None = None) -> Rendered:
    """Render the scene's photo (MSAA, per-pixel light) and its hair mask (the pixels adding the hair changes)."""
    model = model or HeadModel.default()
    view = subject_view(scene.subject, size, model=model)
    options = RenderOptions(size=size, samples=4, shading="pixel", lighting=scene.lighting)
    avatar = scene_avatar(scene, model)
    bare = replace(avatar, parts=tuple(p for p in avatar.parts if avatar.materials[p.material].kind != "hair"))
    layers = []
    with Renderer(ctx, options) as renderer:
        for person in (avatar, bare) if len(bare.parts) < len(avatar.parts) else (avatar,):
            renderer.load(person)
            renderer.render(scene.subject.expression, view)
            layers.append(renderer.read())
    rgba = layers[0].astype(np.float32) / 255.0
    alpha = rgba[..., 3:4]
    photo = rgba[..., :3] * alpha + background(scene, size) * (1 - alpha)
    if len(layers) == 1:
        mask = np.zeros(size[::-1], bool)
    else:
        mask = (np.abs(layers[0].astype(np.int16) - layers[1].astype(np.int16)).max(-1) > MASK_THRESHOLD)
    return Rendered(np.clip(photo * 255 + 0.5, 0, 255).astype(np.uint8), mask, view)
