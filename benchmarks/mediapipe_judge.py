"""MediaPipe judges all 52 ARKit shapes of the default head; prints JSON (and writes it to --out).

For each shape the head is rendered with that shape at weight 1 and MediaPipe's 52 scores are compared with
those of the neutral render. A shape is ranked correctly (top-1) when its own score rises above its neutral
baseline more than any other score does; top-3 counts it when it is among the three largest rises.
MediaPipe does not score `tongueOut` (see `avatar_engine.perception.landmarker.UNSCORED`): it is listed but
not ranked.

    python benchmarks/mediapipe_judge.py --out /tmp/judge.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES
from avatar_engine.head.template import template_avatar
from avatar_engine.perception import FaceLandmarker
from avatar_engine.perception.landmarker import UNSCORED
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

CAMERA = Camera(distance=0.55, target=(0.0, 0.10, 0.05))
"""The framing of tests/render/test_expressions_judged.py: the face fills most of a square frame."""
NEUTRAL_HIGH = 0.3
"""Neutral-face scores above this are reported: MediaPipe reads an expression into the rest pose."""
TOP_K = 3
"""How many of the largest rises each shape lists under "top"."""


def device_name() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def judge_all(size: int) -> dict:
    start = time.perf_counter()
    ctx = headless_context()
    gl_renderer = ctx.info["GL_RENDERER"]
    renderer = Renderer(ctx, RenderOptions(size=(size, size), background=STUDIO_BACKDROP))
    renderer.load(template_avatar())
    render_s: list[float] = []
    detect_s: list[float] = []

    with FaceLandmarker() as landmarker:
        def observe(weights: dict[str, float]) -> np.ndarray | None:
            t0 = time.perf_counter()
            renderer.render(Expression.from_names(weights), CAMERA)
            rgb = np.ascontiguousarray(renderer.read()[..., :3])
            t1 = time.perf_counter()
            faces = landmarker.detect(rgb)
            render_s.append(t1 - t0)
            detect_s.append(time.perf_counter() - t1)
            return faces[0].scores if faces else None

        neutral = observe({})
        if neutral is None:
            raise SystemExit("MediaPipe found no face in the neutral render; nothing to judge")
        per_shape: dict[str, dict] = {}
        for name in ARKIT_NAMES:
            scores = observe({name: 1.0})
            if scores is None:
                per_shape[name] = {"face_found": False, "delta": None, "rank": None, "top": []}
                continue
            delta = scores - neutral
            scored = np.array([n not in UNSCORED for n in ARKIT_NAMES])
            order = [i for i in np.argsort(-delta, kind="stable") if scored[i]]
            entry = {"face_found": True, "score": round(float(scores[ARKIT_INDEX[name]]), 4),
                     "delta": round(float(delta[ARKIT_INDEX[name]]), 4),
                     "rank": order.index(ARKIT_INDEX[name]) + 1 if name not in UNSCORED else None,
                     "top": [[ARKIT_NAMES[i], round(float(delta[i]), 4)] for i in order[:TOP_K]]}
            if name in UNSCORED:
                entry["delta"] = entry["score"] = None
                entry["note"] = "MediaPipe does not score this shape"
            per_shape[name] = entry
    renderer.release()
    ctx.release()

    ranks = [e["rank"] for e in per_shape.values() if e["rank"] is not None]
    return {
        "device": device_name(),
        "renderer": gl_renderer,
        "size": [size, size],
        "scored_shapes": len(ARKIT_NAMES) - len(UNSCORED),
        "ranked_top1": sum(r == 1 for r in ranks),
        "ranked_top3": sum(r <= 3 for r in ranks),
        "faces_missed": [n for n, e in per_shape.items() if not e["face_found"]],
        "per_shape": per_shape,
        "neutral_high_scores": {n: round(float(s), 4) for n, s in zip(ARKIT_NAMES, neutral) if s > NEUTRAL_HIGH},
        "render_ms_median": round(1e3 * float(np.median(render_s)), 1),
        "detect_ms_median": round(1e3 * float(np.median(detect_s)), 1),
        "seconds": round(time.perf_counter() - start, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument("--size", type=int, default=384, help="square render size in pixels (default 384)")
    args = parser.parse_args(argv)
    report = json.dumps(judge_all(args.size), indent=2)
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
