"""The avatar renderer: 52 morph targets and skinning on the GPU, studio-lit materials, MSAA, RGBA output.

One code path for every context: it draws into its own multisampled framebuffer, resolves it, and either
reads the pixels back (headless, video) or blits them to a window (`blit_to_screen`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

import moderngl
import numpy as np

from avatar_engine.errors import InputError
from avatar_engine.head.geometry import triangle_areas, triangle_islands
from avatar_engine.head.rig import joint_matrices
from avatar_engine.records import Avatar, Expression, Material, Part
from avatar_engine.render.alpha_coverage import mip_chain
from avatar_engine.render.camera import Camera
from avatar_engine.render.eye_occlusion import socket_occlusion
from avatar_engine.render.lip_gap import LipGap, lip_gap
from avatar_engine.render.mip_levels import MipLevels
from avatar_engine.render.morphs import MorphBlender, sparse_targets
from avatar_engine.render.occluder import SkullOccluder, skull_occluder
from avatar_engine.render.shaders import stage_sources
from avatar_engine.head.tooth_edge import BitingEdge, biting_edge

MATERIAL_DEFINES = {"skin": "MATERIAL_SKIN", "eye": "MATERIAL_EYE", "teeth": "MATERIAL_TEETH",
                    "tongue": "MATERIAL_TONGUE", "hair": "MATERIAL_HAIR", "lash": "MATERIAL_HAIR"}
DRAW_ORDER = {"skin": 0, "eye": 1, "teeth": 2, "tongue": 3, "lash": 4, "hair": 5}
MAX_JOINTS = 8
GL_CLIP_DISTANCE0 = 0x3000
OCCLUDER_MIN_CAMERA_DISTANCE = 1.5
"""A camera nearer the skull occluder's centre than this (in its radii) culls nothing: the test in
shaders/avatar.glsl assumes a camera well outside it."""
OCCLUDER_MIN_ELEVATION_SIN = float(np.sin(np.radians(-40.0)))
"""Culling needs the camera above this elevation in the skull occluder's frame: from lower, the long preset's hair
showed through the neck opening and was wrongly culled (differences from -50 degrees, head turned or not)."""
EYE_JOINTS = ("eye_L", "eye_R")
"""The eyes' joints: the joint they hang from (the head) carries their sockets, which shade the eyeballs' top
and corners (shaders/lib/materials.glsl, shade_eye)."""
ALPHA_CUTOFF = 0.5
"""Alpha-masked materials (hair, lashes) keep a texel where alpha times the base colour's alpha reaches this (glTF's
default alphaCutoff); their mip levels keep level 0's coverage at it (render/alpha_coverage.py)."""
LASH_EDGE = (0.2, 0.5)
"""Lashes are blended, not alpha-tested: drawn where alpha reaches the first value, opaque the second above it
(`u_edge_ramp`). Alpha-tested at ALPHA_CUTOFF without MSAA (the software rasteriser's preset), lashes a pixel or two
thick drew as jagged black specks that sparkled as the head moved. They are thin, dark and drawn over the skin and
eyes, so the order they blend in does not show."""
HAIR_HIGHLIGHT_TINT = 0.5
"""How far a hair highlight takes the hair's own colour (0: white light, 1: fully tinted). Light glancing off a
strand's surface keeps its colour; light that passed through the strand takes the hair's."""


@dataclass(frozen=True)
class Lighting:
    """A three-point studio rig, directions toward the lights in world space (the face looks toward +Z)."""

    directions: tuple[tuple[float, float, float], ...] = ((0.55, 0.55, 0.63), (-0.75, 0.05, 0.55), (-0.2, 0.5, -0.85))
    """Key (upper left of the face), fill (right, low), rim (behind, above)."""
    colors: tuple[tuple[float, float, float], ...] = ((3.3, 3.1, 2.9), (0.85, 0.95, 1.15), (2.2, 2.2, 2.4))
    sky: tuple[float, float, float] = (0.30, 0.32, 0.36)
    ground: tuple[float, float, float] = (0.14, 0.12, 0.11)
    exposure: float = 1.0


MSAA_SAMPLES = (0, 1, 2, 4, 8)
"""The MSAA sample counts OpenGL drivers offer (moderngl refused others with a bare 'the number of samples is
invalid'); 0 and 1 turn multisampling off."""


@dataclass(frozen=True)
class RenderOptions:
    """How frames look and how they are made. `None` fields pick what suits the GL driver (see `resolve`)."""

    size: tuple[int, int] = (1280, 720)
    """Width, height in pixels."""
    samples: int | None = None
    """MSAA samples (0 or 1 turns multisampling off). None: 4 on a GPU, 0 on a software rasteriser, where a
    multisampled frame costs about three times as much and its resolve is a full-screen pass of its own."""
    shading: Literal["pixel", "vertex"] | None = None
    """Where lighting is evaluated; the albedo texture is always sampled per pixel. None: per pixel on a GPU, per
    vertex on a software rasteriser (there every interpolated value and fragment instruction is CPU time)."""
    morphs: Literal["gpu", "cpu"] | None = None
    """Who sums the active morph targets each frame (skinning is always in the vertex shader). None: a fragment
    pass on a GPU; numpy on a software rasteriser, where both run on the same CPU and numpy's scatter-add is ~10x
    cheaper than the pass (avatar_engine/render/morphs.py)."""
    background: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    """None for a transparent background (RGBA for compositing), else a (top, bottom) gradient of display colours,
    each channel 0-1, darkened toward the corners (a studio backdrop's vignette: not for chroma keying, which
    the transparent background serves)."""
    lighting: Lighting = field(default_factory=Lighting)
    anisotropy: float | None = None
    """Anisotropic texture filtering (1 = off). None: 8 on a GPU, 1 on a software rasteriser."""
    texture_filter: Literal["linear", "nearest"] | None = None
    """How texels are filtered within the chosen mip level. None: nearest in the software preset (per-vertex
    shading on a software rasteriser), where a bilinear fetch adds about 30% to a textured frame and, with the mip
    level picked so a texel is about a pixel, looks the same at 720p; linear otherwise."""
    mip_levels: bool = True
    """With per-vertex shading, keep each mip level of a texture as a texture of its own and bind the one the
    frame needs (render/mip_levels.py): the same picture, about a tenth less CPU a frame on llvmpipe. Off only
    to compare."""
    occlusion_culling: bool = True
    """Drop the hair triangles the skull hides before they are rasterised (render/occluder.py). The picture is
    the same either way; off only to compare."""

    def resolve(self, software: bool) -> "RenderOptions":
        """These options with every `None` replaced by the choice for a software (or hardware) rasteriser; ValueError
        for a value no renderer has (`morphs="GPU"` once chose neither blender and every expression was lost)."""
        for name, allowed in (("shading", ("pixel", "vertex")), ("morphs", ("gpu", "cpu")),
                              ("texture_filter", ("linear", "nearest"))):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"RenderOptions.{name} must be one of {', '.join(allowed)} or None, got {value!r}")
        self._check_values()
        shading = ("vertex" if software else "pixel") if self.shading is None else self.shading
        return replace(
            self,
            samples=(0 if software else 4) if self.samples is None else self.samples,
            shading=shading,
            anisotropy=(1.0 if software else 8.0) if self.anisotropy is None else self.anisotropy,
            texture_filter=(("nearest" if software and shading == "vertex" else "linear") if self.texture_filter is None
                            else self.texture_filter),
            morphs=("cpu" if software else "gpu") if self.morphs is None else self.morphs)

    def _check_values(self) -> None:
        """ValueError for a size, sample count or backdrop no frame can have; moderngl said "the number of samples
        is invalid" for 3, or "'float' object cannot be interpreted as an integer" for a size of (640.0, 360.0)."""
        size = tuple(self.size) if isinstance(self.size, (tuple, list, np.ndarray)) else ()
        if len(size) != 2 or not all(whole_number(v) and v > 0 for v in size):
            raise ValueError(f"RenderOptions.size must be (width, height), two whole numbers of pixels above 0, "
                             f"got {self.size!r}")
        if self.samples is not None and not (whole_number(self.samples) and self.samples in MSAA_SAMPLES):
            raise ValueError(f"RenderOptions.samples must be 0 or 1 (off), or {', '.join(map(str, MSAA_SAMPLES[2:]))} "
                             f"MSAA samples, got {self.samples!r}")
        if self.background is not None:
            rows = np.asarray(self.background, dtype=object)
            if rows.shape != (2, 3) or not all(isinstance(v, (int, float, np.number)) and np.isfinite(float(v))
                                                for v in rows.ravel()):
                raise ValueError(f"RenderOptions.background must be None (transparent) or two RGB colours (top, "
                                 f"bottom), e.g. STUDIO_BACKDROP, got {self.background!r}")
            if not all(0.0 <= float(v) <= 1.0 for v in rows.ravel()):  # 0-255 values drew a white frame
                raise ValueError(f"RenderOptions.background colours are 0-1 per channel (not 0-255), got "
                                 f"{self.background!r}")


def numbers_of_shape(value, shape: tuple[int, ...]) -> bool:
    """`value` is an array (or list) of numbers of this shape."""
    array = np.asarray(value)
    return array.shape == shape and array.dtype.kind in "fiu"


def whole_number(value) -> bool:
    """An int (numpy's too), not a bool or a float."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swiftshader", "software rasterizer")


def is_software(ctx: moderngl.Context) -> bool:
    """True when the context rasterises on the CPU (Mesa llvmpipe and the like)."""
    name = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(s in name for s in SOFTWARE_RENDERERS)


STUDIO_BACKDROP = ((0.34, 0.36, 0.40), (0.12, 0.12, 0.14))


@dataclass
class _GpuPart:
    vao: moderngl.VertexArray
    program: moderngl.Program
    first: int
    count: int
    texture: moderngl.Texture | MipLevels
    """The albedo; per-vertex shading keeps each mip level apart and binds the one `texture_lod` picks."""
    material_kind: str
    color: tuple[float, float, float, float]
    roughness: float
    cavity: tuple[float, float]
    double_sided: bool
    texel_density: float
    """Texels per metre of the part's surface at rest: with the camera, it picks the texture's mip level."""
    alpha_cutoff: float = ALPHA_CUTOFF
    """Hair: the alpha test's threshold (the material's alphaCutoff when it is MASK)."""
    strand_luma: float = 1.0
    """Hair: the root mean square of its strands' texture values (see `strand_luma`)."""
    eye_occlusion: bytes = bytes(36)
    """Eyes: 9 float32, the baked occlusion over the socket's directions (`render/eye_occlusion.py`)."""
    tooth_edge: bytes = BitingEdge.none().heights.tobytes()
    """Teeth: the row's biting edge, EDGE_SAMPLES float32 heights (`head/tooth_edge.py`)..."""
    tooth_edge_range: tuple[float, float] = (1.0, 0.0)
    """...and (the arch angle of its last sample, its side: 1 upper, -1 lower, 0 none)."""


def cutoff(material: Material) -> float:
    """The alpha test's threshold for a hair material: its own alphaCutoff when it is MASK, else `ALPHA_CUTOFF`."""
    return float(material.alpha_cutoff) if material.alpha_mode == "MASK" else ALPHA_CUTOFF


MAIN_ISLAND_SHARE = 0.2
"""An island holding at least this share of a part's surface may set the part's texel density (`texel_density`)."""


def texel_density(part: Part, texture_size: tuple[int, int]) -> float:
    """Texels per metre of `part` at rest, for choosing its mip level: the square root of texture area over
    surface area, on the densest UV island that holds at least `MAIN_ISLAND_SHARE` of the surface, else over the
    whole part. A layout gives its most looked-at region the most texels (the skin's face island,
    `head/skin_layout.py`); an average over the head would sample the face a level too coarse."""
    world = triangle_areas(part.positions, part.indices)
    texels = triangle_areas(part.uvs, part.indices) * (texture_size[0] * texture_size[1])
    if world.sum() <= 0:
        return 0.0
    island = triangle_islands(part.indices, len(part.positions))
    island_world = np.bincount(island, world)
    big = island_world >= MAIN_ISLAND_SHARE * world.sum()
    if not big.any():
        return float(np.sqrt(texels.sum() / world.sum()))
    density = np.sqrt(np.bincount(island, texels)[big] / island_world[big])
    return float(density.max())


STRAND_LUMA_FLOOR = 8 / 255
"""The least `strand_luma`: below it the texture's level steps are noise, not strands."""


def strand_luma(image: np.ndarray) -> float:
    """The root mean square, 0-1, of a (h, w, 4) uint8 texture's texel values (mean of RGB) over the texels its
    alpha cut keeps; 1 when it keeps none. The hair shader scales its highlight by (value / this)^2: brighter
    strands catch more, and over the strands the highlight keeps its strength."""
    kept = image[..., 3] >= 128
    if not kept.any():
        return 1.0
    value = image[kept][:, :3].astype(np.float64).mean(axis=1) / 255.0
    # floored: black hair gave 0 (a division by zero in the shader) and near-black 1/255 steps a 15x highlight
    return max(float(np.sqrt(np.mean(value * value))), STRAND_LUMA_FLOOR)


def shaded_base_color(material: Material) -> tuple[float, float, float, float]:
    """The base colour factor the shaders take: the material's, times its `shader_scale` (RGB)."""
    r, g, b, a = material.base_color
    sr, sg, sb = material.shader_scale
    return (float(r * sr), float(g * sg), float(b * sb), float(a))


def dense_weights(joints: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n, MAX_JOINTS) float32 weight of every joint per vertex, from (n, 4) joint ids and their weights."""
    dense = np.zeros((len(joints), MAX_JOINTS), np.float32)
    np.add.at(dense, (np.repeat(np.arange(len(joints)), joints.shape[1]), joints.astype(np.int64).ravel()),
              np.asarray(weights, np.float32).ravel())
    return dense


def straight_alpha(rgba: np.ndarray) -> np.ndarray:
    """rgba : (h, w, 4) uint8 drawn over a transparent background, premultiplied there (an MSAA resolve, blended
    lashes) -> the same pixels with straight alpha (in place when `rgba` is contiguous). Only partly covered pixels
    change (the silhouette's with MSAA, a lash's soft edge beyond it): they are found by one pass over the alpha
    bytes and undone alone (0.6 ms a 1280x720 frame, was 3.2 with boolean masks)."""
    rgba = np.ascontiguousarray(rgba)
    flat = rgba.reshape(-1, 4)
    partial = np.flatnonzero((flat[:, 3] - np.uint8(1)) < np.uint8(254))  # alpha 1..254: 0 wraps to 255
    px = flat[partial].astype(np.float32)
    px[:, :3] = np.clip(px[:, :3] * (255.0 / px[:, 3:4]) + 0.5, 0, 255)
    flat[partial] = px.astype(np.uint8)
    return rgba


def top_down_rgba(bottom_up: np.ndarray, options: RenderOptions) -> np.ndarray:
    """A framebuffer read, (h, w, 4) uint8 bottom row first as GL gives it, rendered with resolved `options` -> an
    array of its own, top row first, straight alpha (over a transparent background MSAA resolves, and lashes blend,
    premultiplied)."""
    rgba = bottom_up[::-1].copy()
    return straight_alpha(rgba) if options.background is None else rgba


def upper_row(part: Part, teeth: list[Part], skeleton) -> bool:
    """Whether `part`, one of the avatar's `teeth` parts, is the upper row: the one the jaw does not carry (the
    lower row rides on the jaw joint); without a jaw joint, the row that lies higher than the teeth's middle."""
    names = list(skeleton.names)
    if "jaw" in names:
        jaw = names.index("jaw")
        on_jaw = float(np.sum(np.asarray(part.weights)[np.asarray(part.joints) == jaw]))
        return on_jaw < 0.5 * len(part.positions)
    middle = float(np.concatenate([t.positions[:, 1] for t in teeth]).mean())
    return float(part.positions[:, 1].mean()) >= middle


CAMERA_FIELDS = ("view", "projection", "position", "fov_y_deg")
"""What `Renderer.render` reads of a camera (a `Camera`, the builder's `PhotoView`, or the like)."""


def check_frame(expression: Expression, camera, model: np.ndarray | None = None) -> None:
    """InputError naming what is wrong with one frame's arguments, before any GL work (and before a render pool
    sends them to a worker, whose failure would read as a broken backend): passed a name, a dict or None, the
    renderer failed deep inside with "'str' object has no attribute 'weights'"."""
    if not isinstance(expression, Expression):
        raise InputError(f"the expression must be an avatar_engine.records.Expression (e.g. "
                         f"Expression.from_names({{'jawOpen': 1.0}})), got {type(expression).__name__}")
    if not numbers_of_shape(expression.weights, (52,)):
        weights = np.asarray(expression.weights)
        raise InputError(f"Expression.weights must be the 52 ARKit weights, got {weights.dtype} of shape "
                         f"{weights.shape}")
    for joint, rotation in expression.rotations.items():  # a NaN turn drew nothing, silently
        rotation = np.asarray(rotation)
        if not numbers_of_shape(rotation, (3, 3)):
            raise InputError(f"the {joint} joint's rotation must be a (3, 3) matrix, got {rotation.dtype} of shape "
                             f"{rotation.shape}")
        if not np.isfinite(rotation).all():
            raise InputError(f"the {joint} joint's rotation holds NaN or infinite values")
    # (a Camera has them all; hasattr on its position property did its trigonometry every frame)
    missing = [] if isinstance(camera, Camera) else [name for name in CAMERA_FIELDS if not hasattr(camera, name)]
    if missing:
        raise InputError(f"the camera must be an avatar_engine.render.camera.Camera (or have "
                         f"{', '.join(CAMERA_FIELDS)}); a {type(camera).__name__} lacks {', '.join(missing)}")
    if model is not None:
        matrix = np.asarray(model)
        if not numbers_of_shape(matrix, (4, 4)) or not np.isfinite(matrix).all():
            raise InputError(f"the model matrix must be a finite (4, 4) matrix, got {matrix.dtype} of shape "
                             f"{matrix.shape}")


def texture_lod(texel_density: float, pixels_per_metre: float) -> float:
    """The mip level whose texels are about one pixel on screen (0 when magnified)."""
    return float(max(np.log2(max(texel_density, 1e-9) / max(pixels_per_metre, 1e-9)), 0.0))


class Renderer:
    """Renders one loaded avatar. Use as a context manager or call `release()`."""

    def __init__(self, ctx: moderngl.Context, options: RenderOptions | None = None) -> None:
        self.ctx = ctx
        self.options = (options or RenderOptions()).resolve(is_software(ctx))
        w, h = self.options.size
        largest = min(int(ctx.info.get("GL_MAX_RENDERBUFFER_SIZE", 0) or 16384),
                      int(ctx.info.get("GL_MAX_TEXTURE_SIZE", 0) or 16384))
        if max(w, h) > largest:  # moderngl said only "the framebuffer is not complete (INCOMPLETE_ATTACHMENT)"
            driver = ctx.info.get("GL_RENDERER", "unknown")
            raise InputError(f"a {w}x{h} frame is larger than this GL driver ({driver}) can draw: at most {largest} "
                             "pixels a side")
        samples = self.options.samples if self.options.samples > 1 else 0
        if samples > ctx.max_samples:
            raise InputError(f"{samples} MSAA samples: this GL driver ({ctx.info.get('GL_RENDERER', 'unknown')}) "
                             f"allows at most {ctx.max_samples}")
        self._color = ctx.texture((w, h), 4)
        self.fbo = ctx.framebuffer([self._color])
        self._owned = [self._color, self.fbo]
        vs, fs = stage_sources("backdrop")
        self._backdrop = ctx.program(vertex_shader=vs, fragment_shader=fs)
        self._backdrop_vao = ctx.vertex_array(self._backdrop, [])
        self._owned += [self._backdrop_vao, self._backdrop]
        if samples:
            color_ms = ctx.renderbuffer((w, h), 4, samples=samples)
            depth_ms = ctx.depth_renderbuffer((w, h), samples=samples)
            self._draw_fbo = ctx.framebuffer([color_ms], depth_ms)
            self._owned += [self._draw_fbo, color_ms, depth_ms]
            self._blank_fbo = None
        else:
            # Draw straight into the output texture (a resolve blit is a full-screen pass on software GL), and
            # start each frame by copying a prepared backdrop and cleared depth: cheaper there than clear + draw.
            depth = ctx.depth_renderbuffer((w, h))
            self._draw_fbo = ctx.framebuffer([self._color], depth)
            blank_color, blank_depth = ctx.texture((w, h), 4), ctx.depth_renderbuffer((w, h))
            self._blank_fbo = ctx.framebuffer([blank_color], blank_depth)
            self._owned += [self._draw_fbo, depth, self._blank_fbo, blank_color, blank_depth]
            self._blank_fbo.use()
            self._clear_and_draw_backdrop()
        self._programs: dict[str, moderngl.Program] = {}
        self._uniform_names: dict[str, frozenset[str]] = {}
        self._uniform_values: dict[str, dict] = {}
        """Per program, the value each uniform was last set to."""
        self._morphs: MorphBlender | None = None
        self._parts: list[_GpuPart] = []
        self._resources: list = []
        self._avatar: Avatar | None = None
        self._socket_joint: int | None = None
        self._occluder: SkullOccluder | None = None
        self._lip_gap: LipGap | None = None
        self._jaw_joints: tuple[int, int] | None = None
        light = self.options.lighting
        dirs = np.array(light.directions, np.float32)
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        self._light_uniforms = {
            "u_light_dirs": dirs.tobytes(), "u_light_colors": np.array(light.colors, np.float32).tobytes(),
            "u_sky_color": light.sky, "u_ground_color": light.ground, "u_exposure": light.exposure}
        self._started = False
        """`start_next_frame` has laid the backdrop for the coming `render`."""
        self._released = False
        self._present = None
        """(program, vertex array) drawing the frame onto a screen of another size, made when first needed."""
        self._view_key: tuple | None = None
        self._view_cache: tuple[dict, float] = ({}, 0.0)

    def _clear_and_draw_backdrop(self) -> None:
        ctx, background = self.ctx, self.options.background
        ctx.viewport = (0, 0, *self.options.size)
        ctx.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        if background is not None:
            ctx.disable(moderngl.DEPTH_TEST)
            self._backdrop["u_top"].value, self._backdrop["u_bottom"].value = background
            self._backdrop_vao.render(moderngl.TRIANGLE_STRIP, vertices=4)

    # --- loading ------------------------------------------------------------------------------------
    def _write_uniforms(self, kind: str, values: dict) -> None:
        """Set the uniforms the program for `kind` has (the GLSL compiler drops unused ones); bytes are raw arrays."""
        prog, names, last = self._programs[kind], self._uniform_names[kind], self._uniform_values[kind]
        for name, value in values.items():
            if name in names and last.get(name) != value:  # most values repeat frame to frame: skip the GL call
                if isinstance(value, bytes):
                    prog[name].write(value)
                else:
                    prog[name].value = value
                last[name] = value

    def _program(self, kind: str) -> moderngl.Program:
        if kind not in self._programs:
            defines = [MATERIAL_DEFINES[kind]] + (["SHADE_PER_VERTEX"] if self.options.shading == "vertex" else [])
            defines += ["LEVEL_TEXTURES"] if self.options.shading == "vertex" and self.options.mip_levels else []
            defines += ["MORPH_ATTRIBUTES"] if self.options.morphs == "cpu" else []
            vs, fs = stage_sources("avatar", defines)
            self._programs[kind] = self.ctx.program(vertex_shader=vs, fragment_shader=fs)
            self._uniform_names[kind] = frozenset(self._programs[kind])
            self._uniform_values[kind] = {}
        return self._programs[kind]

    def load(self, avatar: Avatar) -> None:
        """Upload the avatar's geometry, targets and textures (replacing any previous avatar)."""
        if self._released:
            raise RuntimeError("this renderer was released: make a new one")
        if not isinstance(avatar, Avatar):
            raise InputError(f"Renderer.load takes an avatar_engine.records.Avatar (avatar_engine.io.read_glb(path) "
                             f"reads one from a file), got {type(avatar).__name__}")
        self._release_avatar()
        if len(avatar.skeleton.names) > MAX_JOINTS:
            raise ValueError(f"the renderer supports up to {MAX_JOINTS} joints, the avatar has {len(avatar.skeleton.names)}")
        ctx = self.ctx
        parts = sorted(avatar.parts, key=lambda p: DRAW_ORDER[avatar.materials[p.material].kind])
        starts = np.cumsum([0] + [p.vertex_count for p in parts])
        cat = lambda attr: np.concatenate([getattr(p, attr) for p in parts]).astype(np.float32)  # noqa: E731
        tangents = np.concatenate([p.tangents if p.tangents is not None else np.zeros((p.vertex_count, 4))
                                   for p in parts]).astype(np.float32)
        dense = dense_weights(np.concatenate([p.joints for p in parts]), cat("weights"))
        buffers = {
            "in_position": (cat("positions"), "3f"), "in_normal": (cat("normals"), "3f"), "in_uv": (cat("uvs"), "2f"),
            "in_weights": (dense[:, :4], "4f"), "in_weights_hi": (dense[:, 4:], "4f"), "in_tangent": (tangents, "4f"),
            "in_occlusion": (np.concatenate([p.occlusion if p.occlusion is not None else np.ones(p.vertex_count)
                                             for p in parts]).astype(np.float32), "1f"),
        }
        vbos = {name: (ctx.buffer(np.ascontiguousarray(data).tobytes()), fmt) for name, (data, fmt) in buffers.items()}
        indices = np.concatenate([p.indices.astype(np.int64) + s for p, s in zip(parts, starts)]).astype(np.uint32)
        ibo = ctx.buffer(indices.tobytes())
        self._resources += [b for b, _ in vbos.values()] + [ibo]

        morph = lambda attr: np.concatenate([getattr(p, attr) for p in parts], axis=1)  # noqa: E731
        self._morphs = MorphBlender(ctx, sparse_targets(morph("morph_positions"), morph("morph_normals")),
                                    on_gpu=self.options.morphs == "gpu")

        textures: dict[str, moderngl.Texture | MipLevels] = {}
        strands: dict[str, float] = {}
        teeth = [p for p in parts if avatar.materials[p.material].kind == "teeth"]
        first = 0
        for part in parts:
            material = avatar.materials[part.material]
            if part.material not in textures:
                # a pattern our shaders draw themselves, baked for other engines, would be drawn twice
                image = material.texture if material.texture is not None and not material.texture_is_pattern \
                    else np.full((1, 1, 4), 255, np.uint8)
                nearest = self.options.texture_filter == "nearest"
                # per-vertex shading samples one mip level chosen per frame (`texture_lod`): a nearest or bilinear
                # fetch in that level instead of trilinear filtering with per-pixel derivatives
                vertex = self.options.shading == "vertex"
                # strands thinner than a texel of a smaller level would fail the alpha test: keep their coverage
                # (lashes too: ours blends them from the alpha test's own cutoff up, `LASH_EDGE`, whatever the file
                # asks other viewers for)
                keep_coverage = material.alpha_mode == "MASK" or material.kind == "lash"
                chain = mip_chain(image, cutoff(material)) if keep_coverage and material.texture is not None \
                    else None
                if vertex and self.options.mip_levels:
                    tex = MipLevels.of(ctx, image, nearest, chain)
                else:
                    tex = ctx.texture((image.shape[1], image.shape[0]), 4, np.ascontiguousarray(image).tobytes())
                    tex.build_mipmaps()
                    for k, level in enumerate(chain[1:] if chain else [], start=1):
                        tex.write(np.ascontiguousarray(level).tobytes(), level=k)
                    tex.filter = ((moderngl.NEAREST_MIPMAP_NEAREST if nearest else moderngl.LINEAR_MIPMAP_NEAREST)
                                  if vertex else moderngl.NEAREST_MIPMAP_LINEAR if nearest
                                  else moderngl.LINEAR_MIPMAP_LINEAR, moderngl.NEAREST if nearest else moderngl.LINEAR)
                    tex.anisotropy = self.options.anisotropy
                textures[part.material] = tex
                # only the hair shader reads it: skip the pass over a 1024^2 skin texture
                hair = MATERIAL_DEFINES[material.kind] == "MATERIAL_HAIR" and material.texture is not None
                strands[part.material] = strand_luma(material.texture) if hair else 1.0
                self._resources.append(tex)
            program = self._program(material.kind)
            content = [(vbo, fmt, name) for name, (vbo, fmt) in vbos.items() if name in program]
            morph_inputs = [name for name in ("in_morph_position", "in_morph_normal") if name in program]
            if not self._morphs.on_gpu and morph_inputs:
                # a program may not read both offsets (the GLSL compiler drops unused inputs): skip those bytes
                fmt = " ".join("3f" if name in program else "3x4" for name in ("in_morph_position", "in_morph_normal"))
                content.append((self._morphs.buffer, fmt, *morph_inputs))
            vao = ctx.vertex_array(program, content, index_buffer=ibo, index_element_size=4)
            self._resources.append(vao)
            z = part.positions[:, 2]
            gpu = _GpuPart(vao, program, first * 3, len(part.indices) * 3, textures[part.material],
                           material.kind, shaded_base_color(material), material.roughness,
                           (float(z.max()), float(z.min())), material.double_sided,
                           texel_density(part, textures[part.material].size), cutoff(material),
                           strands[part.material])
            if material.kind == "eye":  # no baked occlusion (another tool's file): an unshaded ball, not a black one
                occlusion = np.ones(part.vertex_count, np.float32) if part.occlusion is None else part.occlusion
                gpu = replace(gpu, eye_occlusion=socket_occlusion(part.normals, occlusion).tobytes())
            if material.kind == "teeth":
                edge = biting_edge(part.positions, upper_row(part, teeth, avatar.skeleton))
                gpu = replace(gpu, tooth_edge=edge.heights.tobytes(), tooth_edge_range=(edge.max_angle, edge.side))
            hidden = part.back_hidden if material.double_sided else 0
            if hidden:  # the triangles whose back is never seen skip rasterising it (half the hair, from any view)
                self._parts.append(replace(gpu, count=hidden * 3, double_sided=False))
                gpu = replace(gpu, first=gpu.first + hidden * 3, count=gpu.count - hidden * 3)
            if gpu.count:
                self._parts.append(gpu)
            first += len(part.indices)
        self._avatar = avatar
        names, parents = avatar.skeleton.names, avatar.skeleton.parents
        eye = next((j for j, n in enumerate(names) if n in EYE_JOINTS), None)
        self._socket_joint = int(parents[eye]) if eye is not None and parents[eye] >= 0 else None
        self._occluder = skull_occluder(avatar) if self.options.occlusion_culling else None
        self._lip_gap = lip_gap(avatar)
        self._jaw_joints = (names.index("head"), names.index("jaw")) if {"head", "jaw"} <= set(names) else None

    # --- drawing ------------------------------------------------------------------------------------
    def render(self, expression: Expression, camera: Camera, model: np.ndarray | None = None) -> None:
        """Draw one frame into the renderer's framebuffer (`read()` or `blit_to_screen()` to get it).

        `camera` is a `Camera` or anything with `view` (a (4, 4) matrix or a method returning one), `projection(aspect)`,
        `position` and `fov_y_deg`, such as the builder's `PhotoView`."""
        if self._released:
            raise RuntimeError("this renderer was released: make a new one")
        if self._avatar is None:
            raise RuntimeError("no avatar loaded: call Renderer.load(avatar) first")
        check_frame(expression, camera, model)
        ctx, opts = self.ctx, self.options
        w, h = opts.size
        self._morphs.blend(expression.weights)
        if self._blank_fbo is not None:
            if not self._started:
                ctx.copy_framebuffer(self._draw_fbo, self._blank_fbo)
            self._started = False
            self._draw_fbo.use()
        else:
            self._draw_fbo.use()
            self._clear_and_draw_backdrop()
        ctx.viewport = (0, 0, w, h)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.BLEND)
        mats = np.tile(np.eye(4, dtype=np.float32), (MAX_JOINTS, 1, 1))
        skel_mats = joint_matrices(self._avatar.skeleton, expression.rotations)
        mats[:len(skel_mats)] = skel_mats
        model = np.eye(4, dtype=np.float32) if model is None else np.asarray(model, np.float32)
        # a mirroring model matrix turns every triangle's winding: front faces are then clockwise on screen
        ctx.front_face = "cw" if np.linalg.det(model[:3, :3]) < 0 else "ccw"
        ctx.cull_face = "back"
        view_uniforms, pixels_per_metre = self._view_uniforms(camera, model)
        # the eyes' sockets turn with the joint the eyes hang from (a skinning matrix's rotation is the joint's)
        socket = model[:3, :3] @ mats[self._socket_joint, :3, :3] if self._socket_joint is not None else model[:3, :3]
        shared = {"u_morph_width": self._morphs.width, "u_morph_rows": self._morphs.vertex_rows,
                  "u_socket": np.ascontiguousarray(socket.T, np.float32).tobytes(),
                  **self._light_uniforms, **view_uniforms, **self._occluder_uniforms(mats, model, camera)}
        arrays = {"u_joint_matrices": np.ascontiguousarray(mats.transpose(0, 2, 1)).tobytes()}
        if self._morphs.on_gpu:
            self._morphs.offsets.use(1)
        mouth_light = 1.0
        if self._lip_gap is not None:
            jaw = None
            if self._jaw_joints is not None and "jaw" in expression.rotations:
                # the jaw bone turned: its skinning transform relative to the head's carries the lower lip
                jaw = np.linalg.solve(skel_mats[self._jaw_joints[0]], skel_mats[self._jaw_joints[1]])
            mouth_light = self._lip_gap.light(expression.weights, jaw)
        frame_uniforms = {**shared, **arrays, "u_morph_blend": 1, "u_base_texture": 0, "u_mouth_light": mouth_light}
        written: set[str] = set()
        for part in self._parts:
            if part.material_kind not in written:  # parts of one kind share a program: write per-frame values once
                self._write_uniforms(part.material_kind, frame_uniforms)
                written.add(part.material_kind)
            lod = texture_lod(part.texel_density, pixels_per_metre)
            (part.texture.at(lod) if isinstance(part.texture, MipLevels) else part.texture).use(0)
            lash = part.material_kind == "lash"
            self._write_uniforms(part.material_kind, {
                "u_texture_lod": lod, "u_base_color": part.color, "u_roughness": part.roughness,
                "u_cavity_depth": part.cavity, "u_alpha_cutoff": LASH_EDGE[0] if lash else part.alpha_cutoff,
                "u_edge_ramp": LASH_EDGE[1] if lash else 0.0,
                "u_strand_luma": part.strand_luma, "u_highlight_tint": HAIR_HIGHLIGHT_TINT,
                "u_eye_occlusion": part.eye_occlusion, "u_tooth_edge": part.tooth_edge,
                "u_tooth_edge_range": part.tooth_edge_range})
            if part.double_sided:
                ctx.disable(moderngl.CULL_FACE)
            else:
                ctx.enable(moderngl.CULL_FACE)
            hair = part.material_kind in ("hair", "lash") and self._occluder is not None
            if hair:  # only the hair program writes a clip distance (the skull occluder's)
                ctx.enable_direct(GL_CLIP_DISTANCE0)
            if lash:  # the frame's alpha stays opaque over the skin, and covers the backdrop as much as the lash does
                ctx.enable(moderngl.BLEND)
                ctx.blend_func = (moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ONE,
                                  moderngl.ONE_MINUS_SRC_ALPHA)
            part.vao.render(moderngl.TRIANGLES, vertices=part.count, first=part.first)
            if lash:
                ctx.disable(moderngl.BLEND)
            if hair:
                ctx.disable_direct(GL_CLIP_DISTANCE0)
        ctx.disable(moderngl.CULL_FACE)
        if self._blank_fbo is None:
            ctx.copy_framebuffer(self.fbo, self._draw_fbo)  # MSAA resolve

    def start_next_frame(self) -> None:
        """Lay the next frame's backdrop and cleared depth now, so `render` skips that step (a copy of two full
        1280x720 buffers on software GL, ~0.5 ms on the calling thread). A live loop calls this while it waits for
        the tracker, which takes the copy off the latency path. The last frame is gone afterwards: read or show it
        first. Nothing to do with MSAA, where the frame is cleared and resolved as part of `render`."""
        if self._blank_fbo is not None and not self._started:
            self.ctx.copy_framebuffer(self._draw_fbo, self._blank_fbo)
            self._started = True

    def _occluder_uniforms(self, mats: np.ndarray, model: np.ndarray, camera) -> dict:
        """The skull occluder posed for this frame; culling is off without one or with the camera inside it."""
        if self._occluder is None:
            return {"u_occluder_eye": (0.0, 0.0, 0.0, 0.0)}
        to_unit = self._occluder.world_to_unit(mats[self._occluder.joint], model)
        eye = to_unit[:3, :3] @ np.asarray(camera.position, np.float32) + to_unit[:3, 3]
        distance = float(np.linalg.norm(eye))
        # from well below, a view ray can reach hair through the open neck without crossing any skin: no culling
        cull = float(distance > OCCLUDER_MIN_CAMERA_DISTANCE and eye[1] / distance > OCCLUDER_MIN_ELEVATION_SIN)
        return {"u_occluder": np.ascontiguousarray(to_unit.T).tobytes(),
                "u_occluder_eye": (*(float(c) for c in eye), cull)}

    def _view_uniforms(self, camera, model: np.ndarray) -> tuple[dict, float]:
        """The camera's uniforms and pixels per metre at the model's origin. A `Camera` (frozen) that repeats with
        the same model matrix, as in a live loop, reuses the last frame's: the look-at maths is ~0.1 ms of numpy."""
        key = None
        if isinstance(camera, Camera):  # by value: a field may be a numpy array (e.g. the target)
            key = (type(camera), tuple(tuple(np.ravel(getattr(camera, f.name)).tolist()) for f in fields(camera)),
                   model.tobytes())
        if key is not None and key == self._view_key:
            return self._view_cache
        w, h = self.options.size
        view = camera.view() if callable(camera.view) else camera.view
        view_projection = camera.projection(w / h) @ np.asarray(view, np.float32)
        distance = float(np.linalg.norm(np.asarray(camera.position) - model[:3, 3]))
        pixels_per_metre = h / (2.0 * max(distance, 1e-3) * np.tan(np.radians(camera.fov_y_deg) / 2))
        uniforms = {"u_view_projection": view_projection.T.tobytes(), "u_model": model.T.tobytes(),
                    "u_camera_position": tuple(float(c) for c in camera.position)}
        self._view_key, self._view_cache = key, (uniforms, pixels_per_metre)
        return self._view_cache

    def read(self) -> np.ndarray:
        """(h, w, 4) uint8 RGBA, top row first, straight (not premultiplied) alpha."""
        if self._released:
            raise RuntimeError("this renderer was released: make a new one")
        w, h = self.options.size
        return top_down_rgba(np.frombuffer(self.fbo.read(components=4, alignment=1), np.uint8).reshape(h, w, 4),
                             self.options)

    def blit_to_screen(self, screen_size: tuple[int, int] | None = None) -> None:
        """Show the last frame on the context's screen. screen_size : the window's framebuffer in pixels, when known:
        one of another size (a resized window, a HiDPI screen) gets the frame scaled to fit, letterboxed, where a
        1:1 copy filled only its lower-left corner."""
        if screen_size is None or tuple(screen_size) == tuple(self.options.size):
            self.ctx.copy_framebuffer(self.ctx.screen, self.fbo)
            return
        if self._present is None:
            vs, fs = stage_sources("present")
            program = self.ctx.program(vertex_shader=vs, fragment_shader=fs)
            self._present = (program, self.ctx.vertex_array(program, []))
            self._owned += list(self._present)
        (sw, sh), (w, h) = screen_size, self.options.size
        scale = min(sw / w, sh / h)
        vw, vh = max(1, round(w * scale)), max(1, round(h * scale))
        self.ctx.screen.use()
        self.ctx.viewport = (0, 0, sw, sh)
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        self.ctx.viewport = ((sw - vw) // 2, (sh - vh) // 2, vw, vh)
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND | moderngl.CULL_FACE)
        self._color.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._color.use(0)
        self._present[1].render(moderngl.TRIANGLE_STRIP, vertices=4)

    def finish(self) -> None:
        """Wait for the GPU (benchmarks time with this)."""
        self.ctx.finish()

    # --- lifetime -----------------------------------------------------------------------------------
    def _release_avatar(self) -> None:
        for r in self._resources:
            r.release()
        if self._morphs is not None:
            self._morphs.release()
            self._morphs = None
        self._resources, self._parts, self._avatar = [], [], None

    def release(self) -> None:
        # never leave a deleted framebuffer bound for the next user of the context
        (self.ctx.screen or self.ctx.detect_framebuffer(0)).use()
        self._release_avatar()
        for obj in (*self._programs.values(), *self._owned):
            obj.release()
        self._owned = []
        self._programs, self._uniform_values = {}, {}
        self._released = True

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
