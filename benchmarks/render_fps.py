"""Renderer speed: frames per second at 1280x720 with morphs and skinning animating, readback timed apart.

    python benchmarks/render_fps.py [--frames 300] [--size 1280x720] [--pool-runs 5] [--out result.json]

Cases: the default avatar (hair included) in the preset the renderer picks for this GL driver ("auto": on
llvmpipe no MSAA and per-vertex light; on a GPU 4x MSAA and per-pixel light), the same avatar bald, with its
skin subdivided once (midpoint split, 4x the skin triangles), and in the high-quality preset (4x MSAA, per-pixel)
for comparison; then the default avatar and a 21,346-triangle one (the default head with four hair sheets, the
hair generator's densest: issue 2 states its target for a 20k-triangle avatar) on a `RenderPool` of worker
processes (render/pool.py: on llvmpipe one context leaves a core idle while its calling thread bins a frame,
two processes fill each other's gaps). A pool's `render_fps` is frames per second with the workers waiting for
each frame but not reading it back (readback excluded, as the in-process figure); `fps_with_readback` has every
frame read back and handed to the parent process as its own array; both are the median of `--pool-runs` runs
(each listed). Every frame sets all 52 weights, as live
tracking does (the demo's keyframes plus a small per-frame wobble on every shape), and moves the head bones.
Render time is measured to `ctx.finish()`; readback (`fbo.read` + un-premultiply) separately. Besides wall time it
reports CPU time per frame (all threads) and the calling thread's share: on a busy machine wall time inflates, CPU
time much less. `load_average` is
the 1-minute load when the run started: above the core count, wall figures are not the machine's best.
The driver's floor (render_floor.py: the avatar's triangles with the cheapest shading) is measured in the same run;
`default_over_floor` (default avatar p50 / floor p50) stays comparable when the shared host's speed drifts.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import numpy as np

from render_floor import Mesh
from render_floor import measure as floor_measure
from result_file import emit

from avatar_engine import demo
from avatar_engine.head.hair import HairStyle
from avatar_engine.head.template import template_avatar
from avatar_engine.records import Avatar, Expression, Part
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.pool import RenderPool
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


def live_like_expressions(frames: int, seed: int = 0) -> list[Expression]:
    """The demo's performance with every one of the 52 weights nudged each frame, as a tracker reports them."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(frames):
        base = demo.expression_at(i / 30.0 % demo.duration())
        weights = np.clip(base.weights + rng.uniform(0.01, 0.08, 52), 0.0, 1.0).astype(np.float32)
        out.append(dataclasses.replace(base, weights=weights))
    return out


def measure(ctx, avatar: Avatar, options: RenderOptions, frames: int) -> dict:
    with Renderer(ctx, options) as r:
        r.load(avatar)
        camera = Camera()
        expressions = live_like_expressions(frames)
        for e in expressions[:20]:  # warm-up: shader compilation, driver caches
            r.render(e, camera)
        r.finish()
        wall, cpu, main_thread = [], [], []
        for e in expressions:
            t, c, m = time.perf_counter(), time.process_time(), time.thread_time()
            r.render(e, camera)
            r.finish()
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            main_thread.append(time.thread_time() - m)
        read_s = []
        for _ in range(min(frames, 100)):
            t = time.perf_counter()
            r.read()
            read_s.append(time.perf_counter() - t)
        opts = r.options
    ms = lambda x: np.array(x) * 1e3  # noqa: E731
    render_ms, read_ms = ms(wall), ms(read_s)
    return {"triangles": avatar.triangle_count, "samples": opts.samples, "shading": opts.shading,
            "render_fps": round(1e3 / render_ms.mean(), 1), "render_fps_median_frame": round(1e3 / np.median(render_ms), 1),
            "render_ms_mean": round(float(render_ms.mean()), 2), "render_ms_p50": round(float(np.median(render_ms)), 2),
            "render_ms_p95": round(float(np.percentile(render_ms, 95)), 2),
            "cpu_ms_per_frame_p50": round(float(np.median(ms(cpu))), 2),
            "calling_thread_ms_p50": round(float(np.median(ms(main_thread))), 2),
            "readback_ms_mean": round(float(read_ms.mean()), 2),
            "fps_with_readback": round(1e3 / (render_ms.mean() + read_ms.mean()), 1)}


def measure_pool(avatar: Avatar, options: RenderOptions, frames: int, workers: int, runs: int = 1) -> dict:
    """Sustained frames per second of a RenderPool: frames submitted as fast as it takes them, in order. With
    `runs` > 1 each figure is the median of that many runs, each run's frames per second listed beside it
    (`*_runs`): on a shared host one run's wall time moves with the neighbours' load."""
    camera = Camera()
    expressions = live_like_expressions(frames)
    out: dict = {"triangles": avatar.triangle_count, "workers": workers}
    figures: dict[str, list[float]] = {"render_fps": [], "fps_with_readback": [], "worker_frame_ms_p50": [],
                                       "worker_readback_ms_p50": []}
    for _ in range(runs):
        for read in (False, True):
            with RenderPool(avatar, options, workers=workers, read=read) as pool:
                for _ in pool.map((e, camera) for e in expressions[:20]):  # warm-up
                    pass
                pool.render_ms.clear()
                pool.read_ms.clear()
                t = time.perf_counter()
                for _ in pool.map((e, camera) for e in expressions):
                    pass
                fps = round(frames / (time.perf_counter() - t), 1)
                if read:
                    figures["fps_with_readback"].append(fps)
                    figures["worker_readback_ms_p50"].append(round(float(np.median(pool.read_ms)), 2))
                else:
                    figures["render_fps"].append(fps)
                    figures["worker_frame_ms_p50"].append(round(float(np.median(pool.render_ms)), 2))
                    out["samples"], out["shading"] = pool.options.samples, pool.options.shading
    for name, values in figures.items():
        out[name] = round(float(np.median(values)), 2 if name.endswith("_ms_p50") else 1)
        if runs > 1 and not name.endswith("_ms_p50"):
            out[f"{name}_runs"] = values
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the pool cases")
    parser.add_argument("--pool-runs", type=int, default=5,
                        help="runs of each pool case; its figures are their median (each run listed)")
    parser.add_argument("--out")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    ctx = headless_context()
    load = os.getloadavg()[0]
    avatar = template_avatar()
    bald = template_avatar(hair=None)
    hair4 = template_avatar(hair=HairStyle(layers=4))
    dense = dataclasses.replace(avatar, parts=tuple(subdivide(p) if p.name == "skin" else p for p in avatar.parts))
    auto = RenderOptions(size=size, background=STUDIO_BACKDROP)
    cases = {
        "default_auto": measure(ctx, avatar, auto, args.frames),
        "default_auto_transparent": measure(ctx, avatar, dataclasses.replace(auto, background=None), args.frames),
        "bald_auto": measure(ctx, bald, auto, args.frames),
        "dense_auto": measure(ctx, dense, auto, args.frames),
        "default_high_quality": measure(ctx, avatar, dataclasses.replace(auto, samples=4, shading="pixel"),
                                        min(args.frames, 60)),
        "hair4_auto": measure(ctx, hair4, auto, args.frames),
        f"default_auto_pool_{args.workers}": measure_pool(avatar, auto, args.frames, args.workers, args.pool_runs),
        f"hair4_auto_pool_{args.workers}": measure_pool(hair4, auto, args.frames, args.workers, args.pool_runs),
    }
    # the driver's floor in the same minute (render_floor.py): the host's speed drifts between runs on a shared
    # machine, the ratio to the floor much less
    camera = Camera()
    view_projection = camera.projection(size[0] / size[1]) @ camera.view()
    floor = floor_measure(ctx, [Mesh(p.positions, p.normals, p.indices.reshape(-1, 3)) for p in avatar.parts],
                          view_projection, size, min(args.frames, 200))
    result = {"benchmark": "render_fps", "size": list(size), "frames": args.frames, "load_average": round(load, 2),
              "gl_renderer": ctx.info["GL_RENDERER"], "cpu_count": os.cpu_count(), "machine": platform.machine(),
              "budget_ms_for_120_fps": round(1e3 / 120, 2), "cases": cases, "floor_same_run": floor,
              "default_over_floor": round(cases["default_auto"]["render_ms_p50"] / floor["ms_p50"], 2)}
    emit(result, args.out)


if __name__ == "__main__":
    main()
