"""Stubble on known truth: does the avatar keep a man's stubble, or shave him?

    python benchmarks/build_stubble.py [--amounts 0 0.5 1] [--yaws 0 20] [--size 512] [--out result.json]

Like `build_lips.py`: the template head (no hair) wears a `synth.albedo.paint_albedo` skin, here with stubble of
each amount (`SkinLook.stubble`, dark brown `STUBBLE`) over the painter's stubble zone (upper lip, chin, jaw,
cheeks), is rendered under the studio light at each yaw and built whole. Scored over that zone (over 0.5): the CIE76
Delta E between the rebuilt and the true mean linear albedo, and `kept`, the share of the stubble's darkening (the
zone's CIELAB lightness without stubble less with it) the rebuilt zone shows; `kept_sides` the same over the jaw's
sides (`JAW_SIDE_X` and out), which a frontal photo barely shows: an avatar filled clean-shaven there looks half
shaved from the side. No target of its own: the issue's skin "kept", measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from avatar_engine.build.pipeline import Builder, BuildOptions
from avatar_engine.render.context import headless_context
from avatar_engine.synth.albedo import SkinLook, UVSurface, paint_albedo, stubble_zone

sys.path.insert(0, str(Path(__file__).parent))
from build_lips import SKIN, mean_lab, photo  # noqa: E402
from result_file import emit  # noqa: E402

STUBBLE = (48, 38, 32)
"""sRGB colour of the stubble's hairs."""
JAW_SIDE_X = 0.045
"""|x| (m) on the template at rest beyond which the zone is the jaw's side (0.31 of the zone)."""


def jaw_sides(zone: np.ndarray) -> np.ndarray:
    """(SIZE, SIZE) bool: the texels of `zone` on the jaw's sides."""
    return zone & (np.abs(UVSurface.default().positions[..., 0]) > JAW_SIDE_X)


def kept(shaved: np.ndarray, truth: np.ndarray, built: np.ndarray) -> float | None:
    """The share of the darkening from `shaved` to `truth` (CIELAB) that `built` shows; None without any."""
    darkening = shaved[0] - truth[0]
    return round(float((shaved[0] - built[0]) / darkening), 2) if darkening > 1.0 else None


def summary(rows: list[dict]) -> dict:
    """The median Delta E of `rows` and the median share kept (None without stubble to keep)."""
    def median(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return round(float(np.median(values)), 2) if values else None

    return {"delta_e_median": median("delta_e"), "kept_median": median("kept"),
            "kept_sides_median": median("kept_sides")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amounts", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument("--yaws", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "build_stubble.json")
    args = parser.parse_args()
    zone = stubble_zone() > 0.5
    sides = jaw_sides(zone)
    ctx = headless_context()
    bare = paint_albedo(SkinLook(skin=SKIN, seed=1))
    shaved, shaved_sides = mean_lab(bare, zone), mean_lab(bare, sides)
    cases = []
    with Builder(BuildOptions()) as builder:
        for amount in args.amounts:
            truth = paint_albedo(SkinLook(skin=SKIN, stubble=amount, stubble_color=STUBBLE, seed=1))
            true_lab, true_sides = mean_lab(truth, zone), mean_lab(truth, sides)
            for yaw in args.yaws:
                built = builder.build(photo(ctx, truth, {}, yaw, args.size)).avatar.materials["skin"].texture
                got = mean_lab(built, zone)
                case = {"stubble": amount, "yaw": yaw,
                        "delta_e": round(float(np.linalg.norm(got - true_lab)), 2),
                        "kept": kept(shaved, true_lab, got),
                        "kept_sides": kept(shaved_sides, true_sides, mean_lab(built, sides)),
                        "true_lab": [round(float(v), 1) for v in true_lab],
                        "built_lab": [round(float(v), 1) for v in got]}
                cases.append(case)
                print(json.dumps(case), file=sys.stderr, flush=True)
    result = {"benchmark": "build_stubble", "size": args.size, "yaws": args.yaws, "skin": list(SKIN),
              "stubble_color": list(STUBBLE),
              "by_amount": {str(a): summary([c for c in cases if c["stubble"] == a]) for a in args.amounts},
              "delta_e_formula": "CIE76 between mean linear albedos over the painter's stubble zone",
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "cases": cases}
    emit(result, args.out)


if __name__ == "__main__":
    main()
