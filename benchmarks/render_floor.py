"""The GL driver's floor: how long the avatar's own triangles take with the cheapest possible shading.

    python benchmarks/render_floor.py [--frames 300] [--size 1280x720] [--out result.json]

`render_fps.py` measures the renderer; this measures what no renderer can go below on the same driver: the
default avatar's triangles at rest (all parts, same camera, same 1280x720 target, depth test and back-face
culling) drawn with `shaders/floor.glsl` (one matrix, one light, no textures, no morphs, no skinning, no alpha),
and a 20,000-triangle sphere covering a similar screen area. The textured cases add only what every textured
avatar needs: one fetch of each part's albedo texture per pixel, at the mip level the renderer would pick, bilinear
or nearest. Time is to `ctx.finish()`; no readback. If a floor is above a frame budget (8.3 ms for 120 fps), no
choice of materials that includes it meets that budget on this driver.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass

import moderngl
import numpy as np
from result_file import emit

from avatar_engine.head.template import template_avatar
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context
from avatar_engine.render.renderer import texel_density, texture_lod
from avatar_engine.render.shaders import stage_sources


def uv_sphere(rings: int, segments: int, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """positions (n, 3), normals (n, 3), triangles (2 * rings * segments, 3) of a sphere at the origin."""
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, segments + 1), np.linspace(0, np.pi, rings + 1))
    normals = np.stack([np.sin(v) * np.cos(u), np.cos(v), np.sin(v) * np.sin(u)], -1).reshape(-1, 3)
    a = (np.arange(rings)[:, None] * (segments + 1) + np.arange(segments)[None, :]).ravel()
    b, c = a + 1, a + segments + 1
    tris = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, c + 1], 1)])
    return (normals * radius).astype(np.float32), normals.astype(np.float32), tris.astype(np.uint32)


@dataclass
class Mesh:
    """One draw call of the floor: positions, normals (n, 3) float32, triangles (m, 3); with `uvs` (n, 2) and
    `texture` (h, w, 4) uint8 it is drawn textured at mip level `lod`."""

    positions: np.ndarray
    normals: np.ndarray
    triangles: np.ndarray
    uvs: np.ndarray | None = None
    texture: np.ndarray | None = None
    lod: float = 0.0


def measure(ctx: moderngl.Context, meshes: list[Mesh], view_projection, size: tuple[int, int], frames: int,
            texture_filter: int = moderngl.LINEAR_MIPMAP_NEAREST) -> dict:
    textured = meshes[0].texture is not None
    vertex, fragment = stage_sources("floor", ["TEXTURED"] if textured else [])
    program = ctx.program(vertex_shader=vertex, fragment_shader=fragment)
    program["u_view_projection"].write(np.ascontiguousarray(view_projection.T, np.float32).tobytes())
    draws = []
    for mesh in meshes:
        columns = [mesh.positions, mesh.normals] + ([mesh.uvs] if textured else [])
        content = [(ctx.buffer(np.hstack(columns).astype(np.float32)), "3f 3f 2f" if textured else "3f 3f",
                    "in_position", "in_normal", *(["in_uv"] if textured else []))]
        vao = ctx.vertex_array(program, content, ctx.buffer(mesh.triangles.astype(np.uint32)))
        texture = None
        if textured:
            image = np.ascontiguousarray(mesh.texture)
            texture = ctx.texture((image.shape[1], image.shape[0]), 4, image.tobytes())
            texture.build_mipmaps()
            texture.filter = (texture_filter, moderngl.NEAREST if texture_filter == moderngl.NEAREST_MIPMAP_NEAREST
                              else moderngl.LINEAR)
        draws.append((vao, texture, mesh.lod))
    fbo = ctx.framebuffer([ctx.renderbuffer(size, 4)], ctx.depth_renderbuffer(size))
    fbo.use()
    ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)

    def frame() -> None:
        fbo.clear(0.5, 0.5, 0.5, 1.0, depth=1.0)
        for vao, texture, lod in draws:
            if texture is not None:
                texture.use(0)
                program["u_lod"].value = lod
            vao.render()
        ctx.finish()

    for _ in range(20):
        frame()
    ms = []
    for _ in range(frames):
        t = time.perf_counter()
        frame()
        ms.append((time.perf_counter() - t) * 1e3)
    pixels = np.frombuffer(fbo.read(components=3), np.uint8).reshape(size[1], size[0], 3)
    covered = float((np.abs(pixels.astype(np.int16) - 127).sum(-1) > 3).mean())
    for vao, texture, _ in draws:
        vao.release()
        if texture is not None:
            texture.release()
    fbo.release()
    program.release()
    ms = np.array(ms)
    return {"triangles": int(sum(len(m.triangles) for m in meshes)), "draw_calls": len(meshes),
            "screen_covered": round(covered, 3), "ms_p50": round(float(np.median(ms)), 2),
            "ms_p95": round(float(np.percentile(ms, 95)), 2), "ms_min": round(float(ms.min()), 2),
            "fps_p50": round(1e3 / float(np.median(ms)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--out")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    load = os.getloadavg()[0]
    ctx = headless_context()
    camera = Camera()
    view_projection = camera.projection(size[0] / size[1]) @ camera.view()
    avatar = template_avatar()
    parts = [Mesh(p.positions, p.normals, p.indices.reshape(-1, 3)) for p in avatar.parts]
    pixels_per_metre = size[1] / (2.0 * camera.distance * np.tan(np.radians(camera.fov_y_deg) / 2))
    white = np.full((1, 1, 4), 255, np.uint8)
    textured = []
    for p in avatar.parts:
        image = avatar.materials[p.material].texture
        image = white if image is None else image
        lod = texture_lod(texel_density(p, (image.shape[1], image.shape[0])), pixels_per_metre)
        textured.append(Mesh(p.positions, p.normals, p.indices.reshape(-1, 3), p.uvs, image, lod))
    skin = next(p for p in avatar.parts if p.name == "skin")
    centre = (skin.positions.min(0) + skin.positions.max(0)) / 2
    radius = float(np.median(np.linalg.norm(skin.positions - centre, axis=1)))
    sphere_p, sphere_n, sphere_t = uv_sphere(100, 100, radius)
    cases = {
        "avatar_parts_floor": measure(ctx, parts, view_projection, size, args.frames),
        "avatar_one_draw_floor": measure(ctx, [Mesh(np.concatenate([m.positions for m in parts]),
                                                    np.concatenate([m.normals for m in parts]),
                                                    np.concatenate([m.triangles + off for m, off in zip(
                                                        parts, np.cumsum([0] + [len(m.positions) for m in parts[:-1]]))]))],
                                         view_projection, size, args.frames),
        "sphere_20k_floor": measure(ctx, [Mesh(sphere_p + centre.astype(np.float32), sphere_n, sphere_t)],
                                    view_projection, size, args.frames),
        "avatar_parts_textured_bilinear_floor": measure(ctx, textured, view_projection, size, args.frames),
        "avatar_parts_textured_nearest_floor": measure(ctx, textured, view_projection, size, args.frames,
                                                       moderngl.NEAREST_MIPMAP_NEAREST),
    }
    result = {"benchmark": "render_floor", "size": list(size), "frames": args.frames, "load_average": round(load, 2),
              "gl_renderer": ctx.info["GL_RENDERER"], "cpu_count": os.cpu_count(), "machine": platform.machine(),
              "budget_ms_for_120_fps": round(1e3 / 120, 2), "cases": cases}
    emit(result, args.out)


if __name__ == "__main__":
    main()
