"""How far the avatar's lips part where the photo's do: the inner-lip gap at each step of the build.

    python benchmarks/build_mouth_gap.py [--yaw 0] [--size 512] [--out result.json]

Found by looking (session 49): rendered in the astronaut's pose, her avatar's lips barely part where her photo shows a
full row of teeth. The gap is MediaPipe's inner-lip points 13 (upper) and 14 (lower) apart, over the inter-ocular
distance (eye corners 33 and 263), read at each step:

- `photo`: MediaPipe on the photo;
- `target`: the same points after the landmark correction (`LandmarkCorrection`), which moves MediaPipe's points
  onto the head surface's points they stand for, on the photo's own inter-ocular distance: what the fit aims at;
- `mesh`: the fitted head's own surface points for 13 and 14 (`Correspondence`), posed with the photo's expression
  and seen through the fitted camera: what the fit reached;
- `render`: MediaPipe on a render of the avatar in the photo's pose (`render_check.check_render`): what a viewer
  sees, comparable with `photo`.

Photos: the astronaut and Grace Hopper, and the template head (no hair, the shipped skin) rendered under the studio
light with known expressions (a closed smile, a smile that shows the teeth, an open jaw), built whole; for those the
true head's own 13-14 gap (`truth_mesh`, through the same fitted camera) is known too. No target of its own: the
issue's "MediaPipe run on a render of the avatar in the photo's pose finds a face whose landmarks agree with the
photo's" holds on the mean (`build_photo_fit.py`) while this one gap may not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from avatar_engine.build.image import load_photo
from avatar_engine.build.landmark_model import Correspondence, LandmarkCorrection
from avatar_engine.build.perception import EYE_CORNERS, perceive
from avatar_engine.build.pipeline import Builder, BuildOptions
from avatar_engine.build.render_check import check_render
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import default_materials
from avatar_engine.records import Expression
from avatar_engine.render.context import headless_context

sys.path.insert(0, str(Path(__file__).parent))
from build_hair import photo_path  # noqa: E402
from build_lips import photo  # noqa: E402  (the template's studio photo)
from result_file import emit  # noqa: E402

UPPER, LOWER = 13, 14
"""MediaPipe's inner-lip midpoints."""
EXPRESSIONS = {
    "closed_smile": {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6},
    "teeth_smile": {"mouthSmileLeft": 0.85, "mouthSmileRight": 0.85, "mouthUpperUpLeft": 0.5,
                    "mouthUpperUpRight": 0.5, "mouthLowerDownLeft": 0.35, "mouthLowerDownRight": 0.35,
                    "jawOpen": 0.15},
    "jaw_open": {"jawOpen": 0.3},
}
"""ARKit weights of the template's photos (the teeth smile is `build_lips.py`'s, like the astronaut's)."""


def gap(points: np.ndarray, iod: float) -> float:
    """The 13-14 distance of `points` ((>= 468, 2) pixels) over `iod` (pixels)."""
    return round(float(np.linalg.norm(points[UPPER] - points[LOWER]) / iod), 4)


def steps(builder: Builder, ctx, photo: np.ndarray, truth_posed: np.ndarray | None) -> dict:
    """The gap at each step of building `photo`; `truth_posed` (n, 3) the true posed head, when known."""
    result = builder.build(photo)
    fit = result.fit
    seen = perceive(result.photo, builder._landmarker)
    iod = float(np.linalg.norm(seen.points_px[EYE_CORNERS[0]] - seen.points_px[EYE_CORNERS[1]]))
    corr = Correspondence.default()
    target = LandmarkCorrection.default().landmarks(seen.points_px[:468], seen.depth[:468])
    check = check_render(ctx, result.avatar, fit, builder._landmarker)
    named = fit.photo_expression.named()
    row = {"photo": gap(seen.points_px, iod), "target": gap(target, iod),
           "mesh": gap(fit.view.project(corr.points(fit.posed_positions)), iod),
           "render": gap(check.render_points_px, iod) if check.found else None,
           "render_agreement_mean": round(check.mean, 4) if check.found else None,
           "fitted_mouth": {k: round(float(v), 2) for k, v in named.items()
                            if k.startswith(("mouth", "jaw")) and v >= 0.05}}
    if truth_posed is not None:
        row["truth_mesh"] = gap(fit.view.project(corr.points(truth_posed)), iod)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yaw", type=float, default=0.0, help="yaw of the template's photos (degrees)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "build_mouth_gap.json")
    args = parser.parse_args()
    ctx = headless_context()
    model = HeadModel.default()
    skin = default_materials()["skin"].texture
    cases = {}
    with Builder(BuildOptions()) as builder:
        for name in ("astronaut", "grace_hopper"):
            cases[name] = steps(builder, ctx, load_photo(photo_path(name)), None)
            print(name, json.dumps(cases[name]), file=sys.stderr, flush=True)
        for name, weights in EXPRESSIONS.items():
            image = photo(ctx, skin, weights, args.yaw, args.size)
            # the true head in the model's frame, as the fit's posed head is (the fitted camera places both)
            truth = model.neutral_positions() + np.tensordot(Expression.from_names(weights).weights,
                                                             model.expression_offsets, 1)
            cases[name] = steps(builder, ctx, image, truth)
            print(name, json.dumps(cases[name]), file=sys.stderr, flush=True)
    result = {"benchmark": "build_mouth_gap", "unit": "inter-ocular distance (landmarks 33-263 on the photo)",
              "landmarks": [UPPER, LOWER], "yaw": args.yaw, "size": args.size, "cases": cases,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    emit(result, args.out)


if __name__ == "__main__":
    main()
