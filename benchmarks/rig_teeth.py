"""Teeth seated in the mouth: how often a smile shows teeth through the lips, with and without `build.teeth`.

    PYTHONPATH=. python benchmarks/rig_teeth.py [--subjects 30] [--out result.json]

A closed-lip smile (mouthSmileLeft/Right 0.7) shows no teeth on the template. For random head-model identities
(`build.synthetic.random_subject`, seeds 6000 on) and the fitted identities of the shippable photos, each avatar is
rigged twice, with its teeth as the head model places them and seated (`build.teeth.seat_teeth`), and rendered
front and at 30 degrees with and without its teeth: the pixels that differ are teeth in view. Reported per avatar:
the most of the two views, and the lips' clearance in front of the teeth (mm: upper and lower midline, both
corners) against the template's.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
from pathlib import Path

import numpy as np
from result_file import emit

import avatar_engine.build.rig as rig
from avatar_engine.build.landmark_model import Correspondence
from avatar_engine.build.synthetic import random_subject
from avatar_engine.build.teeth import mouth, seat_teeth
from avatar_engine.head.model import HeadModel
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import Renderer, RenderOptions

SMILE = Expression.from_names({"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7})
SHOWS = 20
"""Teeth pixels (240x180, 9 degree field of view on the mouth) from which a smile counts as showing teeth."""
PHOTOS = {"astronaut.png": Path(__file__).resolve().parents[1] / "assets" / "photos" / "astronaut.png",
          "grace_hopper.jpg": Path(__import__("matplotlib").get_data_path()) / "sample_data" / "grace_hopper.jpg"}


def teeth_pixels(ctx, avatar, expression: Expression) -> int:
    """Teeth pixels in view, the more of a front and a 30 degree view of the mouth."""
    skin = avatar.part("skin").positions
    target = (0.0, float(np.percentile(skin[:, 1], 30)), float(skin[:, 2].max()) - 0.02)
    counts = []
    for yaw in (0.0, 30.0):
        images = []
        for keep in (True, False):
            shown = avatar if keep else dataclasses.replace(
                avatar, parts=[p for p in avatar.parts if avatar.materials[p.material].kind != "teeth"])
            renderer = Renderer(ctx, RenderOptions(size=(240, 180), samples=0))
            try:
                renderer.load(shown)
                renderer.render(expression, Camera(fov_y_deg=9, yaw_deg=yaw, target=target))
                images.append(renderer.read().astype(np.int16))
            finally:
                renderer.release()
        counts.append(int((np.abs(images[0] - images[1]).max(-1) > 10).sum()))
    return max(counts)


def rigged(model, identity, positions, seated: bool):
    """The rigged avatar with its teeth seated or as the head model places them."""
    seat = rig.seat_teeth
    rig.seat_teeth = seat if seated else (lambda m, p, c=None: np.array(p, copy=True))
    try:
        return rig.rigged_avatar(model, identity, positions, hair=None)
    finally:
        rig.seat_teeth = seat


def photo_identities(model) -> list[tuple[str, dict, np.ndarray]]:
    from avatar_engine.build.image import load_photo
    from avatar_engine.build.pipeline import Builder, BuildOptions

    out = []
    builder = Builder(BuildOptions(texture=False, hair=False))
    try:
        for name, path in PHOTOS.items():
            fit = builder.build(load_photo(path)).fit
            out.append((name, dict(fit.identity), np.asarray(fit.neutral_positions)))
    finally:
        builder.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=30)
    parser.add_argument("--out")
    args = parser.parse_args()
    model, correspondence, ctx = HeadModel.default(), Correspondence.default(), headless_context()
    template = mouth(model, model.neutral_positions(), correspondence).clearance * 1000
    cases = []
    for seed in range(6000, 6000 + args.subjects):
        subject = random_subject(np.random.default_rng(seed), model)
        skeleton = model.skeleton(subject.identity)
        positions = model.neutral_positions(subject.identity) - skeleton.rest_positions[skeleton.index("neck")]
        cases.append((f"subject {seed}", subject.identity, positions))
    cases += photo_identities(model)
    rows = []
    for name, identity, positions in cases:
        row = {"avatar": name}
        for seated in (False, True):
            key = "seated" if seated else "as_placed"
            placed = seat_teeth(model, positions, correspondence) if seated else positions
            row[key] = {"smile_teeth_px": teeth_pixels(ctx, rigged(model, identity, positions, seated), SMILE),
                        "clearance_mm": [round(float(c), 1) for c in mouth(model, placed, correspondence).clearance * 1000]}
        rows.append(row)
    summary = {}
    for key in ("as_placed", "seated"):
        px = np.array([r[key]["smile_teeth_px"] for r in rows])
        below = np.array([np.any(np.array(r[key]["clearance_mm"]) < template - 0.5) for r in rows])
        summary[key] = {"smiles_showing_teeth": f"{int((px > SHOWS).sum())} of {len(px)}", "max_px": int(px.max()),
                        "lips_short_of_template_clearance": f"{int(below.sum())} of {len(px)}"}
    emit({"benchmark": "rig_teeth", "template_clearance_mm": [round(float(c), 1) for c in template],
          "summary": summary, "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "avatars": rows},
         args.out)


if __name__ == "__main__":
    main()
