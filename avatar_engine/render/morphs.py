"""Sparse morph targets on the GPU: per vertex, the list of targets that move it, blended once per frame.

An ARKit target moves a few hundred of the head's ~10k vertices, so of 52 x n (vertex, target) pairs only about
one in eight is non-zero. The lists live in two textures (`shaders/morph_blend.glsl` reads them):

- index : (width, rows) RG32I, texel of vertex v = (start, count) into the entry list;
- entries : (width, 2 * entry_rows) RGBA32F, entry e = (offset xyz, target); positions block then normals block.

A fragment pass sums w_target * offset per vertex into an RGBA32F texture that the avatar's vertex shader reads
with one fetch per kind: constant cost whatever the number of active targets, spread over all rasteriser threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np
from avatar_engine.pools import blas_controller
from avatar_engine.render.shaders import stage_sources

TEXTURE_WIDTH = 4096


@dataclass(frozen=True)
class SparseTargets:
    """Per-vertex target lists, ready for upload."""

    index: np.ndarray
    """index : (rows, width, 2) int32 (start, count) per vertex, row-major by vertex id."""
    entries: np.ndarray
    """entries : (2 * entry_rows, width, 4) float32 (offset xyz, target), positions block then normals block."""
    vertex_rows: int
    entry_rows: int
    vertex: np.ndarray
    """vertex : (e,) int32 the vertex of each entry, ascending (the CPU blend's runs)."""


def sparse_targets(positions: np.ndarray, normals: np.ndarray, width: int = TEXTURE_WIDTH) -> SparseTargets:
    """positions, normals : (t, n, 3) float target offsets for n vertices -> the lists of non-zero entries."""
    t, n, _ = positions.shape
    moves = (np.abs(positions).max(axis=2) > 0) | (np.abs(normals).max(axis=2) > 0)  # (t, n)
    vertex, target = np.nonzero(moves.T)  # sorted by vertex, then target
    counts = np.bincount(vertex, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    vertex_rows = max(-(-n // width), 1)
    index = np.zeros((vertex_rows * width, 2), np.int32)
    index[:n, 0], index[:n, 1] = starts, counts
    entry_rows = max(-(-len(vertex) // width), 1)
    entries = np.zeros((2, entry_rows * width, 4), np.float32)
    for kind, offsets in enumerate((positions, normals)):
        entries[kind, :len(vertex), :3] = offsets[target, vertex]
        entries[kind, :len(vertex), 3] = target
    return SparseTargets(index.reshape(vertex_rows, width, 2), entries.reshape(2 * entry_rows, width, 4),
                         vertex_rows, entry_rows, vertex.astype(np.int32))


def drawn_weights(weights: np.ndarray) -> np.ndarray:
    """(52,) float32: the weights as the renderer draws them, each taken into [0, 1] and NaN as 0."""
    return np.clip(np.nan_to_num(np.asarray(weights, np.float32), nan=0.0), 0.0, 1.0)


class MorphBlender:
    """Sums the active morph targets once a frame: `blend(weights)`, then the avatar's vertex shader reads one
    position and one normal offset per vertex.

    On the GPU (`on_gpu=True`) a fragment pass writes them into the `offsets` texture (texel (id % width,
    kind * vertex_rows + id // width)). Otherwise numpy sums the same lists and uploads them into `buffer`, a vertex
    attribute stream: on a software rasteriser the "GPU" is these same CPU cores, one BLAS product over the moving
    vertices (about 0.1 ms) beats the fragment pass (about 3 ms on llvmpipe, where each 4x4 block loops as long as
    its busiest vertex), and an attribute costs the single-threaded vertex stage less than a texture fetch.
    """

    def __init__(self, ctx: moderngl.Context, targets: SparseTargets, on_gpu: bool = True) -> None:
        self.ctx = ctx
        self.on_gpu = on_gpu
        self.width, self.vertex_rows = targets.index.shape[1], targets.vertex_rows
        self._last: np.ndarray | None = None
        self._owned: list = []
        if on_gpu:
            self._init_gpu(targets)
        else:
            self._init_cpu(targets)

    def _init_cpu(self, targets: SparseTargets) -> None:
        count, entry_rows = len(targets.vertex), targets.entry_rows
        target = targets.entries[:entry_rows].reshape(-1, 4)[:count, 3].astype(np.int64)
        offsets = np.concatenate(
            [targets.entries[k * entry_rows:(k + 1) * entry_rows].reshape(-1, 4)[:count, :3] for k in (0, 1)], axis=1)
        # the lists as a dense (52, moving vertices x 6) matrix: one BLAS product per frame (~0.1 ms for 7 MB)
        self._moving, slot = np.unique(targets.vertex, return_inverse=True)
        dense = np.zeros((52, len(self._moving), 6), np.float32)
        dense[target, slot] = offsets
        self._dense = dense.reshape(52, -1)
        self._summed = np.zeros((targets.index.shape[0] * self.width, 6), np.float32)
        self.buffer = self.ctx.buffer(self._summed.tobytes())
        """Blended offsets, per vertex (position xyz, normal xyz) float32: the attributes in_morph_position and
        in_morph_normal (define MORPH_ATTRIBUTES in shaders/lib/deform.glsl)."""
        self._owned.append(self.buffer)
        self._blas = blas_controller()

    def _init_gpu(self, targets: SparseTargets) -> None:
        ctx, width = self.ctx, self.width
        index = ctx.texture((width, targets.vertex_rows), 2, targets.index.tobytes(), dtype="i4")
        entries = ctx.texture((width, 2 * targets.entry_rows), 4, targets.entries.tobytes(), dtype="f4")
        self.offsets = ctx.texture((width, 2 * targets.vertex_rows), 4, dtype="f4")
        """Blended (position, normal) offsets: texel (id % width, kind * vertex_rows + id // width)."""
        for tex in (index, entries, self.offsets):
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._textures = (index, entries)
        self._fbo = ctx.framebuffer([self.offsets])
        vs, fs = stage_sources("morph_blend")
        self._program = ctx.program(vertex_shader=vs, fragment_shader=fs)
        self._vao = ctx.vertex_array(self._program, [])
        self._owned += [self._vao, self._program, self._fbo, self.offsets, index, entries]
        names = set(self._program)
        for name, value in (("u_morph_index", 2), ("u_morph_entries", 3), ("u_vertex_rows", targets.vertex_rows),
                            ("u_entry_rows", targets.entry_rows), ("u_width", width)):
            if name in names:
                self._program[name].value = value
        self._weights = self._program["u_weights"] if "u_weights" in names else None

    def blend(self, weights: np.ndarray) -> None:
        """weights : (52,) float32, each taken into [0, 1] (NaN as 0: one NaN times the zeros of the dense product
        blanked every moving vertex). Skipped when unchanged since the last frame."""
        weights = drawn_weights(weights)
        if self._last is not None and np.array_equal(weights, self._last):
            return
        self._last = weights.copy()
        if not self.on_gpu:
            if len(self._moving):
                # One thread: OpenBLAS would wake its pool for this 0.1 ms product, and its idle workers then spin
                # for milliseconds on the cores the rasteriser threads need (measured on llvmpipe: +7 ms a frame).
                with self._blas.limit(limits=1, user_api="blas"):
                    self._summed[self._moving] = (weights @ self._dense).reshape(-1, 6)
            self.buffer.write(self._summed.tobytes())
            return
        if self._weights is not None:
            self._weights.write(weights.tobytes())
        self._fbo.use()
        self.ctx.viewport = (0, 0, *self.offsets.size)
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
        self._textures[0].use(2)
        self._textures[1].use(3)
        self._vao.render(moderngl.TRIANGLE_STRIP, vertices=4)

    def release(self) -> None:
        for obj in self._owned:
            obj.release()
        self._owned = []
