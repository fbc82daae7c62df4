"""The teeth's biting edge and the gaps the shader draws between teeth."""

from __future__ import annotations

import dataclasses

import numpy as np

from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import RenderOptions, Renderer
from avatar_engine.render.tooth_edge import EDGE_SAMPLES, arch_angle, biting_edge

EDGE_SLACK_M = 0.0015
"""A row's vertices may lie this far beyond its traced edge (the edge is interpolated between arch steps)."""
SMILE = Expression.from_names({"jawOpen": 0.3, "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8})
CLOSE_UP = Camera(fov_y_deg=4.0, target=(0.0, 0.082, 0.11), distance=0.7, pitch_deg=2.0)


def teeth_rows(avatar):
    return {p.name: p for p in avatar.parts if avatar.materials[p.material].kind == "teeth"}


def signed_tip_distance(positions: np.ndarray, edge) -> np.ndarray:
    step = arch_angle(positions) / edge.max_angle * (EDGE_SAMPLES - 1)
    return edge.side * (positions[:, 1] - np.interp(step, np.arange(EDGE_SAMPLES), edge.heights))


def test_biting_edge_traces_each_rows_tips(template):
    rows = teeth_rows(template)
    assert set(rows) == {"teeth_upper", "teeth_lower"}
    for name, upper in (("teeth_upper", True), ("teeth_lower", False)):
        positions = rows[name].positions.astype(np.float64)
        edge = biting_edge(positions, upper)
        assert edge.side == (1.0 if upper else -1.0)
        # the smile line rises from the incisors toward the molars, in both rows
        assert np.all(np.diff(edge.heights) >= 0), f"{name}: {edge.heights}"
        distance = signed_tip_distance(positions, edge)
        assert distance.min() > -EDGE_SLACK_M, f"{name}: a vertex {-distance.min() * 1000:.1f} mm past the edge"
        front = positions[arch_angle(positions) < 0.1, 1]
        assert abs(edge.heights[0] - (front.min() if upper else front.max())) < 0.0005


def test_no_edge_for_a_degenerate_row():
    assert biting_edge(np.zeros((2, 3)), True).side == 0.0


def test_the_central_incisors_are_two_teeth(gl_context, template):
    """A smile's front teeth show the gap between the central incisors at the midline, darker than the teeth
    (0.62 of them here; 1.0, no gap, before the shader drew one there)."""
    no_teeth = dataclasses.replace(template, parts=tuple(p for p in template.parts
                                                         if template.materials[p.material].kind != "teeth"))
    with Renderer(gl_context, RenderOptions(size=(320, 200), samples=0, shading="vertex")) as r:
        r.load(template)
        r.render(SMILE, CLOSE_UP)
        image = r.read().astype(np.float64)
        r.load(no_teeth)
        r.render(SMILE, CLOSE_UP)
        bare = r.read().astype(np.float64)
    shown = np.abs(image - bare)[..., :3].max(-1) > 30  # where the teeth are seen between the lips
    row = int(np.argmax(shown[:, 120:200].sum(1)))
    assert shown[row, 125:196].all(), "the central incisors must be in view"
    luma = image[row, :, :3] @ np.array([0.2126, 0.7152, 0.0722])
    middle = luma[155:166].min()  # the camera looks at x = 0: the midline is the image's middle column
    incisors = np.median(np.concatenate([luma[130:140], luma[181:191]]))  # the two central incisors' middles
    assert middle < 0.8 * incisors, f"midline {middle:.0f} vs incisors {incisors:.0f}"
