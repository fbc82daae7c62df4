"""Stubble on known truth: does the avatar keep a man's stubble, or shave him?

    python benchmarks/build_stubble.py [--amounts 0 0.5 1] [--yaws 0 20] [--size 512] [--out result.json]

Like `build_lips.py`: the template head (no hair) wears a `synth.albedo.paint_albedo` skin, here with stubble of
each amount (`SkinLook.stubble`, dark brown `STUBBLE`) over the painter's stubble zone (upper lip, chin, jaw,
cheeks), is rendered under the studio light at each yaw and built whole. Scored over that zone (over 0.5): the CIE76
Delta E between the rebuilt and the true mean linear albedo, and `kept`, the share of the stubble's darkening (the
zone's CIELAB lightness without stubble less with it) the rebuilt zone shows. No target: what a shaved avatar of a
stubbled face costs, measured.
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
from avatar_engine.synth.albedo import SkinLook, paint_albedo, stubble_zone

sys.path.insert(0, str(Path(__file__).parent))
from build_lips import SKIN, mean_lab, photo  # noqa: E402
from result_file import emit  # noqa: E402

STUBBLE = (48, 38, 32)
"""sRGB colour of the stubble's hairs."""


def summary(rows: list[dict]) -> dict:
    """The median Delta E of `rows` and the median share kept (None without stubble to keep)."""
    kept = [r["kept"] for r in rows if r["kept"] is not None]
    return {"delta_e_median": round(float(np.median([r["delta_e"] for r in rows])), 2),
            "kept_median": round(float(np.median(kept)), 2) if kept else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amounts", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument("--yaws", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "build_stubble.json")
    args = parser.parse_args()
    zone = stubble_zone() > 0.5
    ctx = headless_context()
    shaved = mean_lab(paint_albedo(SkinLook(skin=SKIN, seed=1)), zone)
    cases = []
    with Builder(BuildOptions()) as builder:
        for amount in args.amounts:
            truth = paint_albedo(SkinLook(skin=SKIN, stubble=amount, stubble_color=STUBBLE, seed=1))
            true_lab = mean_lab(truth, zone)
            for yaw in args.yaws:
                built = builder.build(photo(ctx, truth, {}, yaw, args.size)).avatar.materials["skin"].texture
                got = mean_lab(built, zone)
                darkening = shaved[0] - true_lab[0]
                case = {"stubble": amount, "yaw": yaw,
                        "delta_e": round(float(np.linalg.norm(got - true_lab)), 2),
                        "kept": round(float((shaved[0] - got[0]) / darkening), 2) if darkening > 1.0 else None,
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
