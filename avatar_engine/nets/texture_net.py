"""The texture network at run time: the builder's skin texture (or the default skin) + the photo projected into UV
-> a smooth per-texel colour correction at NET_SIZE, applied to the full 1024 x 1024 texture as a ratio.

The network sees, at NET_SIZE x NET_SIZE texels of the skin's UV layout (`uv_features`, CHANNELS channels):
the anchor (log linear albedo: the hand-made texture stage's answer in "refine" mode, the default skin in "alone"
mode), the photo's raw shaded colour where the fitted head sees it and that projection's weight, the hand stage's
`seen` and `confidence`, the layout's coverage, the default skin and the texel's (u, v). It outputs a log-albedo
offset (3 channels) over the anchor. `apply_correction` pads the offset into the gutters between UV islands,
upsamples it bilinearly and multiplies the 1024 anchor by its exponential, so the photo's fine detail stays.

It runs from its ONNX file (`assets/models/texture_refine.onnx`, made by `avatar train texture`) on any backend of
`avatar_engine.infer`, so torch is needed only to train it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_engine.build import delight
from avatar_engine.build.texture_fill import dilate, fill_base, seam_edges, seam_side_points
from avatar_engine.data_files import asset_path
from avatar_engine.head.geometry import weld_ids
from avatar_engine.build.texture_project import bilinear, project_texels, texel_map
from avatar_engine.errors import InputError, ModelError
from avatar_engine.nets.onnx_file import check_card_binding
from avatar_engine.head.skin_layout import layout_id

MODEL_DIR = asset_path("models")
MODEL_PATH = MODEL_DIR / "texture_refine.onnx"
NET_SIZE = 64
"""The network's UV resolution (16 x 16 texels of the 1024 texture per cell): the correction it makes is smooth
(lighting, tone), not detail, and a 2-core CPU trains it in minutes."""
FEATURE_SIZE = 128
"""The features are pooled at this size first (what texture sets store), then `shrink` to NET_SIZE."""
COVERAGE = 9
"""Channel of the features that holds the layout's coverage (the pooling weight of `shrink`)."""
TEXTURE_SIZE = 1024
PROJECT_SIZE = 256
"""The photo is projected into UV at this size, then pooled to NET_SIZE."""
MODES = ("refine", "alone")
"""refine: the anchor is the hand-made stage's texture; alone: the anchor is the default skin (no hand stage)."""
CHANNELS = 15
LOG_FLOOR = 1e-3
"""Linear albedo floor before the log (the darkest skin texel the renderer shows is about 0.003)."""
MAX_OFFSET = 1.5
"""The applied log offset is clipped to +-this (a factor of 4.5): a broken input never makes a black or white head."""
SEAM_SAMPLES = 4
"""Points per UV seam edge where the two sides' corrections are tied (`seam_pairs`)."""
HINT = "re-train it with `avatar train texture` or restore assets/models/texture_refine.onnx"


def pool(image: np.ndarray, weight: np.ndarray, size: int = FEATURE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Weighted block mean: image (s, s, k), weight (s, s) -> (size, size, k) mean (0 where no weight) and the
    (size, size) mean weight per block."""
    s = image.shape[0]
    f = s // size
    w = weight.astype(np.float64)
    num = (image * w[..., None]).reshape(size, f, size, f, -1).sum((1, 3))
    den = w.reshape(size, f, size, f).sum((1, 3))
    return (num / np.maximum(den, 1e-12)[..., None]).astype(np.float32), (den / (f * f)).astype(np.float32)


@functools.cache
def layout_maps(uvs_key: bytes, tris_key: bytes, n: int) -> dict[str, np.ndarray]:
    """What depends on the skin layout alone, cached: covered texels at 1024 and NET_SIZE, the default skin and
    (u, v) at NET_SIZE."""
    uvs = np.frombuffer(uvs_key, np.float32).reshape(n, 2)
    tris = np.frombuffer(tris_key, np.int64).reshape(-1, 3)
    tmap = texel_map(uvs, tris, TEXTURE_SIZE)
    covered = np.zeros(TEXTURE_SIZE * TEXTURE_SIZE, bool)
    covered[tmap.texels] = True
    covered = covered.reshape(TEXTURE_SIZE, TEXTURE_SIZE)
    base_lin = delight.texture_to_albedo(fill_base() * 255.0)
    base, coverage = pool(base_lin, covered)
    grid = (np.arange(FEATURE_SIZE, dtype=np.float32) + 0.5) / FEATURE_SIZE
    v, u = np.meshgrid(grid, grid, indexing="ij")
    coverage_net = pool(coverage[..., None], np.ones_like(coverage), NET_SIZE)[0][..., 0]
    out = {"covered": covered, "coverage": coverage, "coverage_net": coverage_net, "base": base,
           "base_full": base_lin.astype(np.float32),
           "uv": np.stack([u, v], -1).astype(np.float32)}
    for a in out.values():
        a.setflags(write=False)
    return out


def skin_layout(uvs: np.ndarray, triangles: np.ndarray) -> dict[str, np.ndarray]:
    uvs = np.ascontiguousarray(uvs, np.float32)
    return layout_maps(uvs.tobytes(), np.ascontiguousarray(triangles, np.int64).tobytes(), len(uvs))


@functools.cache
def default_layout_id() -> str:
    """`skin_layout.layout_id` of the head model's skin: the layout features and weights are made for."""
    from avatar_engine.head.model import HeadModel

    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    return layout_id(model.uvs[vs], model.triangles[ts] - vs.start)


def log_albedo(linear: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(linear, LOG_FLOOR)).astype(np.float32)


def anchor_full(texture: np.ndarray | None, layout: dict[str, np.ndarray]) -> np.ndarray:
    """(1024, 1024, 3) float32 linear albedo the correction multiplies: the hand stage's texture, or (None) the
    default skin."""
    if texture is None:
        return layout["base_full"]
    if texture.shape[:2] != (TEXTURE_SIZE, TEXTURE_SIZE) or texture.dtype != np.uint8:
        raise InputError(f"the texture network needs a {TEXTURE_SIZE}x{TEXTURE_SIZE} uint8 texture, "
                         f"got {texture.shape} {texture.dtype}")
    return delight.texture_to_albedo(texture).astype(np.float32)


def photo_projection(photo: np.ndarray, positions: np.ndarray, normals: np.ndarray, uvs: np.ndarray,
                     triangles: np.ndarray, view) -> tuple[np.ndarray, np.ndarray]:
    """The photo in the skin's UV layout, pooled at FEATURE_SIZE: (S, S, 3) sqrt of the linear colour and (S, S) the
    visibility weight. The part of the network's input that needs only the fit (the builder makes it while the
    hand-made texture is still being made). Arguments as `uv_features`'."""
    tmap = texel_map(uvs, triangles, PROJECT_SIZE)
    proj = project_texels(view, np.asarray(positions, np.float64), np.asarray(normals, np.float64),
                          np.asarray(triangles, np.int64), tmap)
    ids = np.flatnonzero(proj.weight > 0)
    linear = delight.display_to_linear(photo).astype(np.float32)
    colour = tmap.image(np.sqrt(bilinear(linear, proj.xy[ids])), subset=ids)
    weight = tmap.image(proj.weight[ids, None], subset=ids)[..., 0]
    return pool(colour, weight)


def uv_features(photo: np.ndarray, positions: np.ndarray, normals: np.ndarray, uvs: np.ndarray,
                triangles: np.ndarray, view, hand_texture: np.ndarray | None, seen: np.ndarray | None,
                confidence: np.ndarray | None, mode: str = "refine",
                projected: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(CHANNELS, NET_SIZE, NET_SIZE) float32 network input for one photo (pooled at FEATURE_SIZE, then `shrink`).

    photo : (h, w, 3) uint8; positions, normals : (n, 3) posed skin vertices in model space; uvs : (n, 2);
    triangles : (m, 3); view : the photo's PhotoView; hand_texture : (1024, 1024, 4) uint8 the hand stage's
    texture, seen, confidence : (1024, 1024) float32 its maps (all three None in "alone" mode); projected :
    `photo_projection` of the same arguments when already made.
    """
    if mode not in MODES:
        raise InputError(f"texture network mode must be one of {', '.join(MODES)}, got {mode!r}")
    layout = skin_layout(uvs, triangles)
    covered = layout["covered"]
    if mode == "refine":
        if hand_texture is None or seen is None or confidence is None:
            raise InputError("the texture network in refine mode needs the hand stage's texture, seen and confidence")
        anchor, _ = pool(anchor_full(hand_texture, layout), covered)
        maps, _ = pool(np.stack([seen, confidence], -1).astype(np.float32), covered)
    else:
        anchor = layout["base"]
        maps = np.zeros((FEATURE_SIZE, FEATURE_SIZE, 2), np.float32)
    photo_c, photo_w = projected or photo_projection(photo, positions, normals, uvs, triangles, view)
    stack = [log_albedo(anchor), photo_c, photo_w[..., None], maps, layout["coverage"][..., None],
             np.sqrt(layout["base"]), layout["uv"]]
    return shrink(np.concatenate(stack, -1).transpose(2, 0, 1))


def shrink(x: np.ndarray) -> np.ndarray:
    """(..., k, S, S) features or albedo at FEATURE_SIZE (S) -> (..., k, NET_SIZE, NET_SIZE): the mean of each
    block weighted by the layout's coverage (`coverage`: (S, S), default the features' own COVERAGE channel);
    the coverage channel itself is averaged plainly. Already at NET_SIZE: returned as it is."""
    x = np.asarray(x, np.float32)
    if x.shape[-1] == NET_SIZE:
        return np.ascontiguousarray(x)
    return _shrink(x, x[..., COVERAGE, :, :])


def shrink_albedo(albedo: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """(..., 3, S, S) linear albedo pooled at FEATURE_SIZE -> NET_SIZE with the layout's coverage (S, S)."""
    albedo = np.asarray(albedo, np.float32)
    return np.ascontiguousarray(albedo) if albedo.shape[-1] == NET_SIZE else _shrink(albedo, coverage, plain=None)


def _shrink(x: np.ndarray, weight: np.ndarray, plain: int | None = COVERAGE) -> np.ndarray:
    f = x.shape[-1] // NET_SIZE
    lead = x.shape[:-2]
    w = np.broadcast_to(weight, x.shape[:-3] + weight.shape[-2:]).astype(np.float64)[..., None, :, :]
    blocks = (NET_SIZE, f, NET_SIZE, f)
    num = (x * w).reshape(lead + blocks).sum((-3, -1))
    den = w.reshape(w.shape[:-2] + blocks).sum((-3, -1))
    out = num / np.maximum(den, 1e-12)
    if plain is not None:
        out[..., plain, :, :] = x[..., plain, :, :].reshape(lead[:-1] + blocks).mean((-3, -1))
    return np.ascontiguousarray(out, np.float32)


def upsample(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear (half-pixel centres, edge clamped) resize of (s, s, k) to (size, size, k)."""
    s = image.shape[0]
    x = np.clip((np.arange(size) + 0.5) * s / size - 0.5, 0, s - 1)
    i0 = np.minimum(x.astype(np.int64), s - 2)
    f = (x - i0).astype(np.float32)
    rows = image[i0] * (1 - f)[:, None, None] + image[i0 + 1] * f[:, None, None]
    return rows[:, i0] * (1 - f)[None, :, None] + rows[:, i0 + 1] * f[None, :, None]


@functools.cache
def seam_pairs(size: int = NET_SIZE) -> np.ndarray:
    """(p, 2) int64 flat texel indices (row * size + col) of the two sides of the skin layout's UV seams at `size`:
    SEAM_SAMPLES points along each seam edge, half a texel inside each side's triangle."""
    from avatar_engine.head.model import HeadModel

    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    uvs, tri = model.uvs[vs].astype(np.float64), model.triangles[ts] - vs.start
    along = (np.arange(SEAM_SAMPLES) + 0.5) / SEAM_SAMPLES

    def texels(side: tuple[int, int, int]) -> np.ndarray:
        ij = np.clip(seam_side_points(uvs, side, along, size, 0.5).astype(np.int64), 0, size - 1)
        return ij[:, 1] * size + ij[:, 0]

    pairs = [np.stack([texels(first), texels(second)], 1)
             for first, second in seam_edges(tri, weld_ids(model.positions[vs]))]
    out = np.unique(np.concatenate(pairs), axis=0)
    return out[out[:, 0] != out[:, 1]]


def apply_correction(offset: np.ndarray, anchor: np.ndarray, layout: dict[str, np.ndarray]) -> np.ndarray:
    """offset : (3, NET_SIZE, NET_SIZE) log-albedo offset; anchor : (1024, 1024, 3) linear albedo
    -> (1024, 1024, 4) uint8 texture. The offset is padded from covered blocks into the gutters before the
    upsampling, so island borders take their own island's correction."""
    off = np.clip(np.asarray(offset, np.float32).transpose(1, 2, 0), -MAX_OFFSET, MAX_OFFSET).copy()
    # the two sides of a UV seam are one place on the head: they take the mean of their two corrections
    pairs = seam_pairs(off.shape[0])
    flat = off.reshape(-1, 3)
    for _ in range(2):  # a cell on two seams: the second pass settles most chains
        mean = 0.5 * (flat[pairs[:, 0]] + flat[pairs[:, 1]])
        flat[pairs[:, 0]] = mean
        flat[pairs[:, 1]] = mean
    keep = layout["coverage_net"] > 0.25
    keep.flat[pairs.ravel()] = True
    off = dilate(off, keep, smooth=True)
    ratio = np.exp(upsample(off, TEXTURE_SIZE))
    rgb = delight.albedo_to_texture(anchor * ratio)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@dataclass
class TextureNet:
    """The trained network, opened once: `offset(features)` per photo; `card` is its JSON card."""

    session: object
    card: dict
    mode: str

    @staticmethod
    def open(path: Path = MODEL_PATH, backend: str = "onnxruntime", device: str = "auto") -> "TextureNet":
        from avatar_engine.infer.select import open_session
        from avatar_engine.infer.session import InferOptions

        path = Path(path)
        card_path = path.with_suffix(".json")
        try:
            card = json.loads(card_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{card_path.name}: the texture network's card is missing or unreadable "
                             f"({type(exc).__name__}); {HINT}") from None
        if not isinstance(card, dict):
            raise ModelError(f"{card_path.name}: the texture network's card is not a card (JSON {type(card).__name__});"
                             f" {HINT}")
        mode = card.get("mode")
        if mode not in MODES or card.get("channels") != CHANNELS or card.get("net_size") != NET_SIZE:
            raise ModelError(f"{card_path.name} does not describe a texture network this code runs (mode {mode!r}, "
                             f"channels {card.get('channels')}, size {card.get('net_size')}); {HINT}")
        if card.get("skin_layout") != default_layout_id():
            raise ModelError(f"{path.name} was trained on another skin UV layout ({card.get('skin_layout')!r}, the "
                             f"head model's is {default_layout_id()!r}); {HINT}")
        check_card_binding(card, path, HINT)
        session = open_session(path, InferOptions(backend=backend, device=device, threads=1), hint=HINT)
        spec = session.inputs[0]
        if len(session.inputs) != 1 or tuple(spec.shape[1:]) != (CHANNELS, NET_SIZE, NET_SIZE):
            session.close()
            raise ModelError(f"{path.name} takes {[s.shape for s in session.inputs]}, expected one input "
                             f"(N, {CHANNELS}, {NET_SIZE}, {NET_SIZE}); {HINT}")
        return TextureNet(session, card, mode)

    def offset(self, features: np.ndarray) -> np.ndarray:
        """features : (CHANNELS, NET_SIZE, NET_SIZE) -> (3, NET_SIZE, NET_SIZE) log-albedo offset; ModelError when the
        output is not what a trained network gives (another shape, values that are not numbers: one NaN weight
        made every texel black)."""
        name = self.session.inputs[0].name
        outputs = self.session.run({name: np.asarray(features, np.float32)[None]})
        out = np.asarray(outputs.get("offset", next(iter(outputs.values()))))
        if out.shape != (1, 3, NET_SIZE, NET_SIZE):
            raise ModelError(f"the texture network gave an output of shape {out.shape}, expected "
                             f"(1, 3, {NET_SIZE}, {NET_SIZE}); {HINT}")
        if not np.isfinite(out).all():
            raise ModelError(f"the texture network gave values that are not numbers (damaged weights?); {HINT}")
        return out[0]

    def close(self) -> None:
        self.session.close()


def skin_inputs(fit, model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions, normals, uvs, triangles) of the posed skin part of `fit`'s head, as the texture stage takes them."""
    vs, ts = model.part_slices("skin")
    posed = fit.posed_positions
    return posed[vs], model.normals(posed)[vs], model.uvs[vs], model.triangles[ts] - vs.start


def fit_projection(photo: np.ndarray, fit, model) -> tuple[np.ndarray, np.ndarray]:
    """`photo_projection` for the reconstruction stage's answer (`net_texture`'s `projected`)."""
    positions, normals, uvs, triangles = skin_inputs(fit, model)
    return photo_projection(photo, positions, normals, uvs, triangles, fit.view)


def net_texture(net: TextureNet, photo: np.ndarray, fit, model, hand=None,
                projected: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(1024, 1024, 4) uint8 skin texture: `hand` (a TextureResult of the hand-made stage) corrected by the network;
    in "alone" mode `hand` is not needed and the default skin is corrected. projected : `fit_projection`'s answer
    for this photo and fit, when already made."""
    positions, normals, uvs, triangles = skin_inputs(fit, model)
    refine = net.mode == "refine"
    if refine and hand is None:
        raise InputError("the refine texture network needs the hand-made stage's result")
    features = uv_features(photo, positions, normals, uvs, triangles, fit.view,
                           hand.texture if refine else None, hand.seen if refine else None,
                           hand.confidence if refine else None, net.mode, projected)
    layout = skin_layout(uvs, triangles)
    return apply_correction(net.offset(features), anchor_full(hand.texture if refine else None, layout), layout)
