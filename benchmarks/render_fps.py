"""Renderer speed: frames per second at 1280x720 with morphs and skinning animating, readback timed apart.

    python benchmarks/render_fps.py [--frames 300] [--size 1280x720] [--out result.json]

Cases: the default avatar as shipped, and the same avatar with its skin subdivided once (midpoint split,
4x the skin triangles) so the scene is above the 20k-triangle target. Each case runs with 4x MSAA and without.
Render time is measured to `ctx.finish()`; readback (`fbo.read` + un-premultiply) is measured separately.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import numpy as np

from avatar_engine import demo
from avatar_engine.head.template import template_avatar
from avatar_engine.records import Avatar, Part
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer


def subdivide(part: Part) -> Part:
    """Split every triangle in four at its edge midpoints (attributes averaged)."""
    tris = part.indices.astype(np.int64)
    edges = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    unique, inverse = np.unique(edges, axis=0, return_inverse=True)
    mid = part.vertex_count + inverse.reshape(3, -1).T  # (m, 3): midpoints of edges 01, 12, 20
    a, b, c = tris.T
    ab, bc, ca = mid.T
    new_tris = np.stack([np.stack(t, 1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))]).reshape(-1, 3)

    def grow(x: np.ndarray, axis: int = 0) -> np.ndarray:
        x = np.moveaxis(x, axis, 0)
        out = np.concatenate([x, (x[unique[:, 0]] + x[unique[:, 1]]) / 2])
        return np.moveaxis(out, 0, axis).astype(x.dtype)

    j = np.concatenate([part.joints, part.joints[unique[:, 0]]])
    w = np.concatenate([part.weights, part.weights[unique[:, 0]]])
    return dataclasses.replace(part, positions=grow(part.positions), normals=grow(part.normals), uvs=grow(part.uvs),
                               indices=new_tris.astype(np.uint32), joints=j, weights=w,
                               morph_positions=grow(part.morph_positions, 1), morph_normals=grow(part.morph_normals, 1))


def measure(ctx, avatar: Avatar, size: tuple[int, int], samples: int, frames: int) -> dict:
    with Renderer(ctx, RenderOptions(size=size, samples=samples, background=STUDIO_BACKDROP)) as r:
        r.load(avatar)
        camera = Camera()
        expressions = [demo.expression_at(i / 30.0 % demo.duration()) for i in range(frames)]
        for e in expressions[:20]:  # warm-up: shader compilation, driver caches
            r.render(e, camera)
        r.finish()
        render_s = []
        for e in expressions:
            t = time.perf_counter()
            r.render(e, camera)
            r.finish()
            render_s.append(time.perf_counter() - t)
        read_s = []
        for _ in range(min(frames, 100)):
            t = time.perf_counter()
            r.read()
            read_s.append(time.perf_counter() - t)
    render_ms, read_ms = np.array(render_s) * 1e3, np.array(read_s) * 1e3
    return {"triangles": avatar.triangle_count, "samples": samples,
            "render_fps": round(1e3 / render_ms.mean(), 1), "render_ms_mean": round(float(render_ms.mean()), 2),
            "render_ms_p95": round(float(np.percentile(render_ms, 95)), 2),
            "readback_ms_mean": round(float(read_ms.mean()), 2),
            "fps_with_readback": round(1e3 / (render_ms.mean() + read_ms.mean()), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--out")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    ctx = headless_context()
    avatar = template_avatar()
    dense = dataclasses.replace(avatar, parts=tuple(subdivide(p) if p.name == "skin" else p for p in avatar.parts))
    cases = {}
    for label, av in (("default", avatar), ("dense", dense)):
        for samples in (4, 0):
            cases[f"{label}_msaa{samples}"] = measure(ctx, av, size, samples, args.frames)
    result = {"benchmark": "render_fps", "size": list(size), "frames": args.frames,
              "gl_renderer": ctx.info["GL_RENDERER"], "cpu_count": os.cpu_count(), "machine": platform.machine(),
              "cases": cases}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
