"""The hair colour made an albedo, and the scalp under the hair painted in it."""

from __future__ import annotations

import numpy as np
from texture_scenes import truth_texture

from avatar_engine.build import delight
from avatar_engine.build.scalp import ROOT_SHADE, SCALP_TINT, albedo_gain, hair_albedo_color, paint_scalp
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


def test_hair_as_bright_as_the_skin_in_the_photo_gets_the_skins_albedo_brightness():
    photo_skin = np.array([225.0, 190.0, 165.0])
    albedo_skin = np.array([175, 149, 124], np.uint8)
    gain = albedo_gain(photo_skin, albedo_skin)
    hair = hair_albedo_color(tuple(int(c) for c in photo_skin), gain)
    luma = delight.texture_to_albedo(np.array(hair)) @ delight.LUMA
    assert abs(luma / (delight.texture_to_albedo(albedo_skin) @ delight.LUMA) - 1) < 0.02
    # the hair's own hue is kept: only its brightness is corrected
    assert hair[0] > hair[1] > hair[2]
