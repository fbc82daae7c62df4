"""The hair colour made an albedo, and the scalp under the hair painted in it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from texture_scenes import truth_texture

from avatar_engine.build import delight
from avatar_engine.build.scalp import (HAIR_RESPONSE, MIN_HAIR_ALBEDO, ROOT_SHADE, SCALP_TINT, hair_albedo_color,
                                      hair_light, paint_scalp)
from avatar_engine.head.hair import PLAIN_ALBEDO_MAX, HairStyle
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import default_materials

PAINT_TOLERANCE = 2
"""0-255 units: rounding of the blend."""
HAIR = (40, 90, 30)
"""A colour no skin has, so painted texels are unmistakable."""


def _skin_layout():
    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    joints = dict(zip(model.joint_names, model.joint_rest))
    return model.positions[vs], model.uvs[vs], model.triangles[ts] - vs.start, joints


def _texels_at(texture_size: int, uvs: np.ndarray, triangles: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Texture (row, col) at the UV centroid of the given skin triangles (inside their island, off its border)."""
    px = np.clip((uvs[triangles[which]].mean(1) * texture_size).astype(int), 0, texture_size - 1)
    return px[:, 1], px[:, 0]


def test_scalp_under_the_hair_takes_the_hair_colour_and_the_face_keeps_its_skin():
    positions, uvs, triangles, joints = _skin_layout()
    skin = truth_texture()
    painted = paint_scalp(default_materials(skin_texture=skin), HairStyle(color=HAIR), positions, uvs, triangles,
                          joints)["skin"].texture
    centres = positions[triangles].mean(1)
    crown = np.argsort(centres[:, 1])[-20:]  # the top of the head: well inside any hairline
    face = np.argsort(centres[:, 2])[-20:]  # the tip of the nose and round it
    rows, cols = _texels_at(skin.shape[0], uvs, triangles, crown)
    expected = skin[rows, cols, :3] * (1 - SCALP_TINT) + np.array(HAIR) * ROOT_SHADE * SCALP_TINT
    assert np.abs(painted[rows, cols, :3].astype(float) - expected).max() <= PAINT_TOLERANCE
    rows, cols = _texels_at(skin.shape[0], uvs, triangles, face)
    assert np.array_equal(painted[rows, cols], skin[rows, cols])


def test_a_bald_head_is_not_painted():
    positions, uvs, triangles, joints = _skin_layout()
    skin = truth_texture()
    painted = paint_scalp(default_materials(skin_texture=skin), HairStyle(baldness=1.0, color=HAIR), positions, uvs,
                          triangles, joints)["skin"].texture
    assert np.array_equal(painted, skin)


def _rendered_hair(color: tuple[int, int, int]) -> np.ndarray:
    return delight.linear_to_display(hair_light(delight.texture_to_albedo(np.array(color)))) * 255


PHOTO_SKIN, SKIN_ALBEDO = np.array([225.0, 190.0, 165.0]), np.array([175, 149, 124], np.uint8)
"""A photo's cheeks and the skin albedo the texture stage made of them."""


def test_hair_as_bright_as_the_skin_in_the_photo_renders_as_bright_as_the_skin():
    hair = hair_albedo_color(tuple(int(c) for c in PHOTO_SKIN), PHOTO_SKIN, SKIN_ALBEDO)
    skin = delight.linear_to_display(np.asarray(HAIR_RESPONSE[2]) * delight.texture_to_albedo(SKIN_ALBEDO)) * 255
    assert np.abs(_rendered_hair(hair) - skin).max() < 2.5  # display levels: the texture's 8-bit rounding
    # hair catches more light than skin: its albedo is darker than the skin's it renders like
    assert delight.texture_to_albedo(np.array(hair)) @ delight.LUMA < 0.7 * delight.texture_to_albedo(SKIN_ALBEDO) @ delight.LUMA


def test_a_colour_cast_leaves_the_hair_as_it_leaves_the_skin():
    photo_hair = np.array([120.0, 98.0, 59.0])
    cast = np.array([0.92, 0.97, 1.12])  # a cool light on both
    plain = hair_albedo_color(tuple(int(c) for c in photo_hair), PHOTO_SKIN, SKIN_ALBEDO)
    cooled = hair_albedo_color(tuple(int(round(c)) for c in photo_hair * cast), PHOTO_SKIN * cast, SKIN_ALBEDO)
    assert np.abs(np.array(plain) - np.array(cooled)).max() <= 2


def test_black_hair_keeps_a_floor():
    hair = hair_albedo_color((12, 10, 9), PHOTO_SKIN, SKIN_ALBEDO)
    assert min(hair) >= int(np.sqrt(MIN_HAIR_ALBEDO) * 255)

def test_hair_as_bright_as_the_skin_in_the_photo_is_the_skins_albedo_as_a_plain_surface():
    """Other engines render the file's texture as a plain PBR surface: hair the photo shows as bright as the cheeks
    gets the skin's albedo there (luminance), about twice our shader's, whose strands catch more light."""
    from avatar_engine.build.scalp import plain_surface_gain

    ours = hair_albedo_color(tuple(int(c) for c in PHOTO_SKIN), PHOTO_SKIN, SKIN_ALBEDO)
    gain = plain_surface_gain(tuple(int(c) for c in PHOTO_SKIN), PHOTO_SKIN, SKIN_ALBEDO, ours)
    plain = delight.texture_to_albedo(np.array(ours)) * gain
    skin = delight.texture_to_albedo(SKIN_ALBEDO)
    assert plain @ delight.LUMA == pytest.approx(skin @ delight.LUMA, rel=0.03)
    assert 1.3 < gain < 3.0
    # halving the hair's light in the photo halves its plain albedo; the gain never pushes a channel past the cap
    dim = tuple(int(round(c)) for c in delight.linear_to_display(delight.display_to_linear(PHOTO_SKIN / 255) / 2) * 255)
    ours_dim = hair_albedo_color(dim, PHOTO_SKIN, SKIN_ALBEDO)
    plain_dim = delight.texture_to_albedo(np.array(ours_dim)) * plain_surface_gain(dim, PHOTO_SKIN, SKIN_ALBEDO, ours_dim)
    assert plain_dim @ delight.LUMA == pytest.approx(0.5 * skin @ delight.LUMA, rel=0.06)
    white = plain_surface_gain((250, 250, 250), PHOTO_SKIN, SKIN_ALBEDO, (240, 240, 240))
    assert delight.texture_to_albedo(np.array((240, 240, 240))).max() * white <= PLAIN_ALBEDO_MAX + 1e-9


def test_the_files_hair_is_the_plain_albedo_and_our_render_is_unchanged(gl_context):
    """hair_material writes the plain-surface albedo into the texture and takes it back for our renderer through
    shader_scale: the same picture as with our shader's albedo in the texture, within the textures' 8-bit steps."""
    from avatar_engine.head.hair import hair_material
    from avatar_engine.head.template import template_avatar
    from avatar_engine.records import Expression
    from avatar_engine.render.camera import Camera
    from avatar_engine.render.renderer import Renderer, RenderOptions

    style = HairStyle(color=(90, 70, 45))
    brighter, same = hair_material(style, 2.1), hair_material(style, 1.0)
    assert same.shader_scale == (1.0, 1.0, 1.0) and brighter.shader_scale == pytest.approx((1 / 2.1,) * 3)
    kept = brighter.texture[..., 3] >= 128
    ratio = (brighter.texture[kept][:, :3].astype(float) ** 2).mean(0) / (same.texture[kept][:, :3].astype(float) ** 2).mean(0)
    assert ratio == pytest.approx([2.1] * 3, rel=0.05)
    images = []
    for material in (brighter, same):
        avatar = template_avatar(hair=HairStyle(color=style.color))
        avatar = dataclasses.replace(avatar, materials={**avatar.materials, "hair": material})
        with Renderer(gl_context, RenderOptions(size=(160, 160))) as renderer:
            renderer.load(avatar)
            renderer.render(Expression(), Camera(distance=0.6, target=(0.0, 0.16, 0.0)))
            images.append(renderer.read().astype(int))
    assert np.abs(images[0] - images[1]).max() <= RENDER_STEPS


RENDER_STEPS = 6
"""Display levels between two renders of one hair whose texture differs only by a gain taken back in the shader:
the texture's 8-bit rounding at two brightnesses."""


def test_grey_hair_in_a_black_and_white_photo_stays_grey():
    """A black-and-white photo's cheeks are grey; the skin stage invents a skin colour for them. The hair follows
    the skin's brightness, not that invented colour (it came out peach, [133, 102, 86], on grace_hopper in grey)."""
    grey_skin = np.full(3, 180.0)
    hair = np.array(hair_albedo_color((140, 140, 140), grey_skin, SKIN_ALBEDO), float)
    assert (hair.max() - hair.min()) / hair.max() < 0.05
    # as bright as the same hair read in a colour photo whose cheeks have that luminance
    coloured = np.array(hair_albedo_color((140, 140, 140), PHOTO_SKIN * 180.0 / (PHOTO_SKIN @ delight.LUMA),
                                          SKIN_ALBEDO), float)
    assert abs(hair @ delight.LUMA - coloured @ delight.LUMA) < 0.08 * (coloured @ delight.LUMA)
