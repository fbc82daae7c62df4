"""The hair colour made an albedo, and the scalp under the hair painted in it."""

from __future__ import annotations

import numpy as np
from texture_scenes import truth_texture

from avatar_engine.build import delight
from avatar_engine.build.scalp import (HAIR_RESPONSE, MIN_HAIR_ALBEDO, ROOT_SHADE, SCALP_TINT, hair_albedo_color,
                                      hair_light, paint_scalp)
from avatar_engine.head.hair import HairStyle
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