"""Eyeglasses painted onto a photo from its landmarks: known-truth photos of people wearing glasses (the same
photo without them is the truth), for the builder's glasses handling (`build.glasses`, benchmarks/build_glasses.py).

Frames are drawn in the face's own frame (`build.glasses.FaceFrame`: one unit the outer eye corners' distance),
supersampled, and blended over the photo: two rounded lenses with a rim, a bridge, the arms running back to the
ears, a faint tint and a reflection streak on each lens. Styles cover thin metal, plastic and translucent frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from avatar_engine.build.glasses import FaceFrame, superellipse

SUPERSAMPLE = 4
"""Frames are drawn this many times larger and averaged down: smooth, anti-aliased rims."""
FRAME_COLOURS = ((18, 16, 16), (70, 42, 26), (150, 100, 52), (140, 140, 145), (178, 150, 86), (40, 40, 90))
"""Black, brown and amber plastic, steel, gold metal, navy."""


@dataclass(frozen=True)
class GlassesStyle:
    """One pair of glasses, in face units (outer eye corners' distance)."""

    half_width: float
    half_height: float
    centre: tuple[float, float]
    """Right lens's centre (x toward the subject's left, y down); the left lens is its mirror."""
    roundness: float
    """Superellipse exponent of the lens outline: 2 round, higher squarer."""
    rim: float
    """Rim thickness."""
    colour: tuple[int, int, int]
    opacity: float
    """How much of the skin the rim hides (translucent plastic below 1)."""
    tint: float
    """How much of the lens's area takes the frame's colour (tinted lenses)."""
    glare: float
    """Opacity of the white reflection streak across each lens."""

    @classmethod
    def random(cls, rng: np.random.Generator) -> "GlassesStyle":
        metal = rng.random() < 0.35
        return cls(half_width=float(rng.uniform(0.2, 0.29)), half_height=float(rng.uniform(0.13, 0.24)),
                   centre=(float(-rng.uniform(0.3, 0.35)), float(rng.uniform(0.0, 0.1))),
                   roundness=float(rng.uniform(2.0, 5.0)),
                   rim=float(rng.uniform(0.006, 0.014) if metal else rng.uniform(0.015, 0.045)),
                   colour=FRAME_COLOURS[int(rng.integers(3, 5) if metal else rng.choice([0, 1, 2, 5]))],
                   opacity=float(1.0 if metal else rng.uniform(0.55, 1.0)), tint=float(rng.uniform(0.0, 0.12)),
                   glare=float(rng.uniform(0.0, 0.3)))


def lens_outline(style: GlassesStyle, side: int, n: int = 96) -> np.ndarray:
    """(n, 2) face-unit points round one lens (side -1: the subject's right, +1: left)."""
    centre = np.array([side * abs(style.centre[0]), style.centre[1]])
    return centre + superellipse(n, style.half_width, style.half_height, 2.0 / style.roundness)


def paint_glasses(rgb: np.ndarray, landmarks_px: np.ndarray, style: GlassesStyle) -> np.ndarray:
    """The photo with the glasses drawn on: (h, w, 3) uint8 in and out. landmarks_px : (478, 2) of the photo."""
    h, w = rgb.shape[:2]
    frame = FaceFrame.of(landmarks_px)
    k = SUPERSAMPLE

    def px(points: np.ndarray) -> list[tuple[float, float]]:
        return [tuple(p) for p in frame.to_px(points) * k]

    rim_px = max(1, int(round(style.rim * frame.unit_px * k)))
    rim = Image.new("L", (w * k, h * k), 0)
    lens = Image.new("L", (w * k, h * k), 0)
    glare = Image.new("L", (w * k, h * k), 0)
    draw_rim, draw_lens, draw_glare = ImageDraw.Draw(rim), ImageDraw.Draw(lens), ImageDraw.Draw(glare)
    cx, cy = abs(style.centre[0]), style.centre[1]
    for side in (-1, 1):
        outline = lens_outline(style, side)
        draw_lens.polygon(px(outline), fill=255)
        draw_rim.line(px(np.vstack([outline, outline[:1]])), fill=255, width=rim_px, joint="curve")
        # a streak of reflected light across the upper outer part of the lens
        streak = np.array([[side * (cx + 0.5 * style.half_width), cy - 0.7 * style.half_height],
                           [side * (cx + 0.1 * style.half_width), cy + 0.2 * style.half_height]])
        draw_glare.line(px(streak), fill=255, width=max(1, int(0.05 * frame.unit_px * k)))
        # the arm, from the lens's outer edge back toward the ear
        top = cy - 0.55 * style.half_height
        draw_rim.line(px(np.array([[side * (cx + style.half_width), top], [side * 0.95, top - 0.02]])), fill=255,
                      width=rim_px)
    # the bridge, between the lenses' inner edges, a little above their middle
    inner = cx - style.half_width
    bridge_y = cy - 0.45 * style.half_height
    bridge = np.array([[-inner - 0.01, bridge_y], [-inner * 0.4, bridge_y - 0.03], [inner * 0.4, bridge_y - 0.03],
                       [inner + 0.01, bridge_y]])
    draw_rim.line(px(bridge), fill=255, width=rim_px, joint="curve")

    def down(image: Image.Image) -> np.ndarray:
        return np.asarray(image.resize((w, h), Image.BOX), np.float32)[..., None] / 255.0

    a_rim, a_lens = down(rim) * style.opacity, down(lens)
    a_glare = down(glare) * a_lens * style.glare
    out = np.asarray(rgb, np.float32)
    colour = np.asarray(style.colour, np.float32)
    out = out * (1 - a_lens * style.tint) + colour * a_lens * style.tint
    out = out * (1 - a_glare) + 255.0 * a_glare
    out = out * (1 - a_rim) + colour * a_rim
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
