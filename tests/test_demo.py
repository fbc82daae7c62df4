"""The demo film: its camera frames the avatar it films, chin to the top of the hair."""

from __future__ import annotations

import dataclasses

import numpy as np

from avatar_engine import demo
from avatar_engine.head.hair import HairStyle
from avatar_engine.head.template import template_avatar

EDGE_MARGIN = 0.02
"""Clip-space distance (of 1) the chin and the top of the hair keep from the frame's bottom and top edges."""
ASPECT = 16 / 9


def _clip_y(camera, points: np.ndarray) -> np.ndarray:
    view = camera.view() if callable(camera.view) else camera.view
    h = np.c_[points, np.ones(len(points))] @ (camera.projection(ASPECT) @ np.asarray(view)).T
    return h[:, 1] / h[:, 3]


def test_the_camera_frames_a_tall_head_from_chin_to_hair():
    tall = template_avatar(hair=HairStyle(length=0.16, volume=0.045))
    # a head lower on its neck (as a built head can sit): the default camera cut such a chin off
    low = dataclasses.replace(tall, parts=tuple(dataclasses.replace(p, positions=p.positions - [0, 0.02, 0])
                                                 for p in tall.parts))
    for avatar in (template_avatar(), tall, low):
        camera = demo.framed_camera(avatar)
        skin = avatar.part("skin").positions
        chin = skin[skin[:, 2] > skin[:, 2].max() - demo.FACE_DEPTH]
        chin = chin[np.argmin(chin[:, 1])]
        top = np.concatenate([p.positions for p in avatar.parts])
        top = top[np.argmax(top[:, 1])]
        y_chin, y_top = _clip_y(camera, np.array([chin, top]))
        assert y_chin > -1 + EDGE_MARGIN and y_top < 1 - EDGE_MARGIN
    assert demo.framed_camera(low).target[1] < demo.framed_camera(tall).target[1]


def test_the_film_uses_the_framed_camera():
    camera = demo.framed_camera(template_avatar())
    shots = list(demo.shots(2, camera=camera))
    assert shots[-1][1] == camera and shots[0][1].distance == camera.distance
