"""The hair's colour as an albedo, and the scalp under the hair painted in it.

The hair region's colour is what the photo shows: the hair's albedo times the photo's light, through its tone
curve. The texture stage has already found how bright the photo's light is on the face (its skin albedo against
the photo's skin); the hair is taken to be lit alike, so it gets the same brightness correction (luminance only:
the per-channel ratio is too noisy a white balance for a colour that small a region gives).

Between hair cards the scalp shows. The template's skin texture is painted in the hair colour under the hairline
(scripts/make_skin_texture.py); a texture made from a photo gets the same paint once the hair is fitted, so gaps
between locks read as dense hair, not as skin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

from avatar_engine.build import delight
from avatar_engine.build.texture_project import texel_map
from avatar_engine.head.hair import PLAIN_ALBEDO_MAX, HairStyle, hair_coverage
from avatar_engine.head.hair_scalp import scalp_centre
from avatar_engine.records import Material
from avatar_engine.render.renderer import HAIR_HIGHLIGHT_TINT

SCALP_TINT = 0.85
"""How far the scalp under the hairline takes the hair colour (as the template's texture)."""
ROOT_SHADE = 0.7
"""The painted scalp is this much darker than the hair: the roots are in the hair's own shadow."""
RATIO_RANGE = (0.5, 2.0)
"""How far the skin's render may stand from the photo's cheeks (display values) before the hair follows no further:
beyond, it says more about the skin estimate than about the light."""
HAIR_RESPONSE = ((1.475, 1.444, 1.469), (0.024, 0.023, 0.022), (0.933, 0.839, 0.823))
"""(hair slope, hair offset, skin slope), per linear RGB channel: the studio light's mean over the hair's pixels is
slope * albedo + offset (the strand texture's lighter outer layer, light that wraps round a surface facing up, the
highlight), the skin's where the builder reads it (delight.skin_color's patches) about skin slope * albedo. Hair
renders nearly twice as bright as skin of its albedo, plus the highlight (scripts/calibrate_hair_color.py: grey
albedos, so the offset is a white highlight's; `hair_albedo_color` tints it as the shader does)."""
GREY_SKIN_SATURATION = 0.04
"""Cheeks this colourless ((max - min) / max of their display colour) are a black-and-white photo's, not any skin's
(skin in colour photos: 0.15 and up): their colour says nothing of the light, so the hair follows the skin's
brightness alone (per channel, the skin's invented colour turned grey hair peach)."""
MIN_HAIR_ALBEDO = 0.002
"""Black hair: the darkest albedo given (the highlight alone keeps it off black)."""
TINT_ROUNDS = 6
"""Fixed-point rounds for the highlight's tint, which depends on the albedo being solved for (converged to well
under a texture step after three)."""


def highlight_tint(albedo: np.ndarray) -> np.ndarray:
    """(3,) how much of a white highlight each channel keeps on hair of linear `albedo` (as the hair shader)."""
    albedo = np.asarray(albedo, np.float64)
    return 1.0 - HAIR_HIGHLIGHT_TINT + HAIR_HIGHLIGHT_TINT * albedo / max(float(albedo.max()), 1e-4)


def hair_light(albedo: np.ndarray) -> np.ndarray:
    """(3,) the mean linear light the studio renders hair of linear `albedo` (3,) to (HAIR_RESPONSE's line with
    its highlight tinted)."""
    hair_slope, hair_offset, _ = (np.asarray(v, np.float64) for v in HAIR_RESPONSE)
    return hair_slope * np.asarray(albedo, np.float64) + hair_offset * highlight_tint(albedo)


def hair_albedo_color(photo_color: tuple[int, int, int], photo_skin: np.ndarray,
                      skin_albedo: np.ndarray) -> tuple[int, int, int]:
    """The hair region's display colour (0-255) -> the hair texture's colour (uint8, decoded c * c by the renderer):
    the albedo whose hair renders under the studio light as the photo shows it, in the skin's proportion.

    photo_skin : (3,) 0-255 the photo's cheeks; skin_albedo : (3,) uint8 texture value of the mean skin albedo
    (TextureResult.skin_rgb). The skin renders to linear_to_display(skin slope * albedo); the photo's hair, scaled
    per channel by what that is to the photo's cheeks (so the photo's exposure and colour cast leave the hair as they
    leave the skin), is what the hair should render to; HAIR_RESPONSE's hair line is inverted for it. Matched in
    display values: the display curve's shoulder makes linear ratios at skin brightness mean little."""
    hair_slope, hair_offset, skin_slope = (np.asarray(v, np.float64) for v in HAIR_RESPONSE)
    skin_render = delight.linear_to_display(skin_slope * delight.texture_to_albedo(np.asarray(skin_albedo)))
    photo_skin = np.asarray(photo_skin, np.float64)
    if (photo_skin.max() - photo_skin.min()) / max(photo_skin.max(), 1.0) < GREY_SKIN_SATURATION:
        skin_render = np.full(3, skin_render @ delight.LUMA)
        photo_skin = np.full(3, photo_skin @ delight.LUMA)
    ratio = np.clip(skin_render / np.maximum(photo_skin / 255.0, 1e-3), *RATIO_RANGE)
    target = np.clip(np.asarray(photo_color, np.float64) / 255.0 * ratio, 0.0, 0.99)
    linear = delight.display_to_linear(target)
    albedo = np.maximum((linear - hair_offset) / hair_slope, MIN_HAIR_ALBEDO)
    for _ in range(TINT_ROUNDS):  # the highlight's tint depends on the albedo: solve for both
        albedo = np.maximum((linear - hair_offset * highlight_tint(albedo)) / hair_slope, MIN_HAIR_ALBEDO)
    return tuple(int(c) for c in delight.albedo_to_texture(albedo))


def plain_surface_gain(photo_color: tuple[int, int, int], photo_skin: np.ndarray, skin_albedo: np.ndarray,
                       hair_texture: tuple[int, int, int]) -> float:
    """How much brighter than `hair_texture` (our shader's albedo, `hair_albedo_color`) the hair's albedo is as a
    plain PBR surface, which other engines render the file's texture as: a plain surface's albedos stand in the
    ratio of the light they send back under one light, so the hair's is the skin's albedo times the photo's light
    on the hair over its light on the cheeks (luminance, as `hair_albedo_color`). Our shader lights strands about
    twice as brightly as that (synthetic people and the astronaut: 2.0-2.3; dark hair, where its highlight counts
    for more, up to 4), so the file's hair texture was half as bright as the photo's hair in Blender and three.js.

    photo_color, photo_skin : 0-255 display colours of the hair region and the cheeks; skin_albedo, hair_texture :
    uint8 texture values. Clamped so that no channel of the brighter albedo passes `PLAIN_ALBEDO_MAX`."""
    luma = np.asarray(delight.LUMA)
    ratio = (delight.display_to_linear(np.asarray(photo_color, np.float64) / 255.0) @ luma) / max(
        float(delight.display_to_linear(np.asarray(photo_skin, np.float64) / 255.0) @ luma), 1e-4)
    ours = delight.texture_to_albedo(np.asarray(hair_texture))
    plain = float(delight.texture_to_albedo(np.asarray(skin_albedo)) @ luma) * ratio
    gain = plain / max(float(ours @ luma), 1e-6)
    return float(np.clip(gain, 1.0, PLAIN_ALBEDO_MAX / max(float(ours.max()), 1e-6)))


@dataclass(frozen=True)
class ScalpCover:
    """How strongly each skin texel under a hair style takes the hair colour: what painting needs besides the
    texture and the colour (the builder finds it while the texture is still being made)."""

    texels: np.ndarray
    """texels : (t,) flat ids of the skin's texels in a size x size texture."""
    cover: np.ndarray
    """cover : (t, 1) float64 paint strength per texel, 0 (skin) to SCALP_TINT (under the hair)."""
    size: int


def scalp_cover(style: HairStyle, positions: np.ndarray, uvs: np.ndarray, triangles: np.ndarray,
                joints: Mapping[str, np.ndarray], size: int) -> ScalpCover | None:
    """The paint strength under `style`'s hairline on a size x size skin texture; None for a bald style.

    positions : (n, 3) rest skin vertices; uvs : (n, 2); triangles : (m, 3) skin triangles; joints : rest joint
    positions by name (the eyes place the scalp centre)."""
    if style.clamped().bald:
        return None
    tmap = texel_map(np.asarray(uvs), np.asarray(triangles), size)
    rest = tmap.interpolate(np.asarray(positions, np.float64), triangles)
    return ScalpCover(tmap.texels, hair_coverage(rest, scalp_centre(joints), style)[:, None] * SCALP_TINT, size)


def paint_cover(materials: Mapping[str, Material], cover: ScalpCover | None,
                color: tuple[int, int, int]) -> dict[str, Material]:
    """The materials with the skin texture painted in the hair `color` (darkened at the roots) by `cover`.
    No cover (bald) or an untextured skin changes nothing."""
    skin = materials["skin"]
    if cover is None or skin.texture is None:
        return dict(materials)
    texture = skin.texture
    if texture.shape[0] != cover.size:
        raise ValueError(f"scalp cover made for a {cover.size}-texel texture, the skin's is {texture.shape[0]}")
    painted = texture.reshape(-1, texture.shape[2]).copy()
    rgb = painted[cover.texels, :3].astype(np.float64)
    rgb = rgb * (1 - cover.cover) + np.asarray(color, np.float64) * ROOT_SHADE * cover.cover
    painted[cover.texels, :3] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    return {**materials, "skin": replace(skin, texture=painted.reshape(texture.shape))}


def bare_head_painted(model, positions: np.ndarray, skeleton, style: HairStyle) -> dict[str, Material]:
    """The template's materials for a head of `model` whose rest vertices (all parts) are `positions` and whose
    joints are `skeleton`'s: the bare skin painted in `style`'s colour under its hairline."""
    from avatar_engine.head.template import default_materials

    vs, ts = model.part_slices("skin")
    return paint_scalp(default_materials(bare_scalp=True), style, np.asarray(positions)[vs], model.uvs[vs],
                       model.triangles[ts] - vs.start, dict(zip(skeleton.names, skeleton.rest_positions)))


def paint_scalp(materials: Mapping[str, Material], style: HairStyle, positions: np.ndarray, uvs: np.ndarray,
                triangles: np.ndarray, joints: Mapping[str, np.ndarray]) -> dict[str, Material]:
    """The materials with the skin texture painted in the hair colour under `style`'s hairline
    (`scalp_cover` then `paint_cover`). A bald style or an untextured skin changes nothing."""
    skin = materials["skin"]
    if skin.texture is None:
        return dict(materials)
    cover = scalp_cover(style, positions, uvs, triangles, joints, skin.texture.shape[0])
    return paint_cover(materials, cover, style.color)
