"""The teeth's biting edge and the gaps the shader draws between teeth."""

from __future__ import annotations

import dataclasses

import numpy as np

from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import RenderOptions, Renderer
from avatar_engine.head.tooth_edge import arch_angle, biting_edge, tip_distance

EDGE_SLACK_M = 0.0015
"""A row's vertices may lie this far beyond its traced edge (the edge is interpolated between arch steps)."""
SMILE = Expression.from_names({"jawOpen": 0.3, "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8})
CLOSE_UP = Camera(fov_y_deg=4.0, target=(0.0, 0.082, 0.11), distance=0.7, pitch_deg=2.0)


def teeth_rows(avatar):
    return {p.name: p for p in avatar.parts if avatar.materials[p.material].kind == "teeth"}


def teeth_in_view(renderer, avatar, expression, camera, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The avatar drawn, (h, w, 4) float, and where its teeth show: pixels that change by more than `level` when
    the teeth are left out."""
    no_teeth = dataclasses.replace(avatar, parts=tuple(p for p in avatar.parts
                                                       if avatar.materials[p.material].kind != "teeth"))
    drawn = []
    for version in (avatar, no_teeth):
        renderer.load(version)
        renderer.render(expression, camera)
        drawn.append(renderer.read().astype(np.float64))
    return drawn[0], np.abs(drawn[0] - drawn[1])[..., :3].max(-1) > level


def test_biting_edge_traces_each_rows_tips(template):
    rows = teeth_rows(template)
    assert set(rows) == {"teeth_upper", "teeth_lower"}
    for name, upper in (("teeth_upper", True), ("teeth_lower", False)):
        positions = rows[name].positions.astype(np.float64)
        edge = biting_edge(positions, upper)
        distance = tip_distance(positions, edge)
        assert distance.min() > -EDGE_SLACK_M, f"{name}: a vertex {-distance.min() * 1000:.1f} mm past the edge"
        front = positions[arch_angle(positions) < 0.1, 1]
        assert abs(edge.heights[0] - (front.min() if upper else front.max())) < 0.0005


def test_each_row_has_its_gum_beyond_its_crowns(gl_context, template):
    """Drawn alone, a row is white at its biting edge and gum-pink beyond the crowns: above them in the upper row,
    below in the lower, whether or not the other row is there (a lone lower row was once taken for an upper one,
    its crowns painted as gum)."""
    camera = Camera(fov_y_deg=6.0, target=(0.0, 0.08, 0.12), distance=0.7, pitch_deg=0.0)
    rows = teeth_rows(template)
    for name, upper in (("teeth_upper", True), ("teeth_lower", False)):
        alone = dataclasses.replace(template, parts=(rows[name],))
        with Renderer(gl_context, RenderOptions(size=(320, 320), samples=0, shading="vertex")) as r:
            r.load(alone)
            r.render(Expression(), camera)
            image = r.read().astype(np.float64)
        drawn = image[..., 3] > 0
        red, green = image[..., 0], image[..., 1]
        gum = drawn & (red > 1.6 * green)
        enamel = drawn & (np.abs(red - green) < 0.15 * red) & (red > 40)
        assert gum.sum() > 100 and enamel.sum() > 100, f"{name}: {gum.sum()} gum, {enamel.sum()} enamel pixels"
        gum_row, enamel_row = np.nonzero(gum)[0].mean(), np.nonzero(enamel)[0].mean()
        # image rows grow downward: an upper row's gum lies above its crowns
        assert (gum_row < enamel_row) == upper, f"{name}: gum at row {gum_row:.0f}, enamel at {enamel_row:.0f}"


def test_no_edge_for_a_degenerate_row():
    assert biting_edge(np.zeros((2, 3)), True).side == 0.0


def test_the_central_incisors_are_two_teeth(gl_context, template):
    """A smile's front teeth show the gap between the central incisors at the midline, darker than the teeth
    (0.62 of them here; 1.0, no gap, before the shader drew one there)."""
    with Renderer(gl_context, RenderOptions(size=(320, 200), samples=0, shading="vertex")) as r:
        image, shown = teeth_in_view(r, template, SMILE, CLOSE_UP, 30)  # where the teeth are seen between the lips
    row = int(np.argmax(shown[:, 120:200].sum(1)))
    assert shown[row, 125:196].all(), "the central incisors must be in view"
    luma = image[row, :, :3] @ np.array([0.2126, 0.7152, 0.0722])
    middle = luma[155:166].min()  # the camera looks at x = 0: the midline is the image's middle column
    incisors = np.median(np.concatenate([luma[130:140], luma[181:191]]))  # the two central incisors' middles
    assert middle < 0.8 * incisors, f"midline {middle:.0f} vs incisors {incisors:.0f}"


ROOT_REACH_M = 0.019
"""How far a row of teeth reaches from its biting edge into the face: a crown, the gum a raised lip shows, a
little more (the head model's helper band reached 22 mm, and through the skin beside the nostrils under
mouthFunnel)."""


def test_the_rows_stop_short_of_the_nose(template):
    for name, part in teeth_rows(template).items():
        positions = part.positions.astype(np.float64)
        reach = tip_distance(positions, biting_edge(positions, name == "teeth_upper")).max()
        assert reach < ROOT_REACH_M, f"{name} reaches {reach * 1000:.1f} mm from its biting edge"


STRAY_PATCH = 30
"""An 8-connected patch of visible teeth smaller than this many pixels is not a row seen through the mouth's
opening (those cover a hundred and more here) but a speck of tooth through the skin."""


def stray_pixels(mask: np.ndarray) -> int:
    """Pixels of `mask` in its 8-connected patches smaller than `STRAY_PATCH`."""
    seen = np.zeros_like(mask)
    sizes = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start], stack, size = True, [start], 0
        while stack:
            y, x = stack.pop()
            size += 1
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    n = (y + dy, x + dx)
                    if 0 <= n[0] < mask.shape[0] and 0 <= n[1] < mask.shape[1] and mask[n] and not seen[n]:
                        seen[n] = True
                        stack.append(n)
        sizes.append(size)
    return sum(size for size in sizes if size < STRAY_PATCH)


def test_pushed_out_lips_hide_the_teeth_roots(gl_context, template):
    """Under mouthFunnel and mouthPucker the teeth show only through the mouth's opening: before the rows' far roots
    were shortened, they also came through the skin beside the nostrils (6-7 stray pixels in each view of the
    funnel here; none after)."""
    stray = {}
    with Renderer(gl_context, RenderOptions(size=(240, 180), samples=0, shading="vertex")) as r:
        for shape in ("mouthFunnel", "mouthPucker"):
            for yaw in (0.0, 30.0, -30.0):
                camera = Camera(fov_y_deg=9.0, target=(0.0, 0.085, 0.1), distance=0.7, pitch_deg=2.0, yaw_deg=yaw)
                _, shown = teeth_in_view(r, template, Expression.from_names({shape: 1.0}), camera, 25)
                stray[(shape, yaw)] = stray_pixels(shown)
    assert max(stray.values()) == 0, f"teeth show outside the mouth's opening: {stray}"
