"""The teeth's pattern baked into a texture for other engines: where it lands, what it shows, and that this project's
renderer keeps drawing the pattern itself."""

from __future__ import annotations

import dataclasses

import numpy as np

from avatar_engine.head.teeth_texture import TEETH_PARTS, tooth_shade, with_baked_teeth
from avatar_engine.head.tooth_edge import biting_edge
from avatar_engine.io import read_glb, write_glb
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import RenderOptions, Renderer

TEXEL_AGREEMENT = (0.01, 0.03)
"""The texture at the triangles' centres' UVs matches the shader's pattern at their rest positions within these
(linear, 0-1), median and 90th percentile: 8-bit steps, and the nearest texel's centre up to half a texel (0.1 mm)
away where the pattern changes steeply, at the seams and the gum line (up to 0.10 there)."""
SMILE = Expression.from_names({"jawOpen": 0.3, "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8})
CLOSE_UP = Camera(fov_y_deg=4.0, target=(0.0, 0.082, 0.11), distance=0.7, pitch_deg=2.0)


def linear(srgb: np.ndarray) -> np.ndarray:
    c = np.asarray(srgb, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def test_the_baked_pattern_lies_under_each_triangle(template):
    """At every triangle's centre the texture holds what the shader draws there: the UVs and the bake agree."""
    texture = template.materials["teeth"].texture
    assert texture is not None and texture.shape == (512, 512, 4)
    size = texture.shape[0]
    for row in (template.part(name) for name in TEETH_PARTS):
        positions, uvs = row.positions.astype(np.float64), row.uvs.astype(np.float64)
        assert uvs.min() >= 0.0 and uvs.max() <= 1.0
        z = positions[:, 2]
        edge = biting_edge(positions, row.name == "teeth_upper")
        centres = positions[row.indices].mean(1)
        texel = np.clip(np.round(uvs[row.indices].mean(1) * size - 0.5).astype(int), 0, size - 1)
        baked = linear(texture[texel[:, 1], texel[:, 0], :3])
        drawn = tooth_shade(centres, (float(z.max()), float(z.min())), edge)
        error = np.percentile(np.abs(baked - drawn).max(1), [50, 90])
        assert error[0] <= TEXEL_AGREEMENT[0] and error[1] <= TEXEL_AGREEMENT[1], f"{row.name}: {error}"


def test_the_central_incisors_are_two_teeth_in_the_texture(template):
    """The pattern's gap between the central incisors: at the midline of the upper row, 3 mm above its biting edge,
    darker than the incisors 4 mm to either side (the shader's test `test_the_central_incisors_are_two_teeth`)."""
    row = template.part("teeth_upper")
    positions = row.positions.astype(np.float64)
    z = positions[:, 2]
    edge = biting_edge(positions, True)
    front = float(z.max())
    points = np.array([[x, edge.heights[0] + 0.003, front] for x in (-0.004, 0.0, 0.004)])
    shade = tooth_shade(points, (front, float(z.min())), edge).mean(1)
    assert shade[1] < 0.8 * min(shade[0], shade[2]), f"midline {shade[1]:.2f} vs incisors {shade[[0, 2]]}"


def test_this_renderer_draws_the_teeth_with_or_without_the_texture_alike(gl_context, template):
    """The pattern is drawn from the rest position here: the baked texture (for other engines) is not applied on
    top of it, which would darken every gap twice."""
    bare = dataclasses.replace(template, materials={**template.materials, "teeth": dataclasses.replace(
        template.materials["teeth"], texture=None)})
    images = []
    with Renderer(gl_context, RenderOptions(size=(160, 100), samples=0, shading="vertex")) as r:
        for avatar in (template, bare):
            r.load(avatar)
            r.render(SMILE, CLOSE_UP)
            images.append(r.read())
    assert np.array_equal(images[0], images[1])


def test_another_tools_teeth_texture_is_drawn(gl_context, template):
    """Only the pattern baked here is left out (`Material.texture_is_pattern`): a teeth texture of the user's own,
    or another tool's, is drawn (under the pattern)."""
    brown = np.zeros((64, 64, 4), np.uint8)
    brown[...] = (120, 80, 40, 255)
    teeth = template.materials["teeth"]
    theirs = dataclasses.replace(template, materials={**template.materials, "teeth": dataclasses.replace(
        teeth, texture=brown, texture_is_pattern=False)})
    images = []
    with Renderer(gl_context, RenderOptions(size=(160, 100), samples=0, shading="vertex")) as r:
        for avatar in (template, theirs):
            r.load(avatar)
            r.render(SMILE, CLOSE_UP)
            images.append(r.read().astype(np.int64))
    changed = np.abs(images[0] - images[1])[..., :3].max(-1) > 20
    assert changed.sum() > 50, f"{int(changed.sum())} pixels changed"


def test_the_file_carries_the_teeth_texture(tmp_path, template):
    path = tmp_path / "head.glb"
    write_glb(template, path)
    back = read_glb(path)
    assert back.materials["teeth"].texture is not None
    assert np.array_equal(back.materials["teeth"].texture, template.materials["teeth"].texture)
    assert back.materials["teeth"].texture_is_pattern and not back.materials["skin"].texture_is_pattern
    for name in TEETH_PARTS:
        assert np.allclose(back.part(name).uvs, template.part(name).uvs, atol=1e-6)
    # baked once: an avatar read back (its teeth already textured) is left as it is
    assert with_baked_teeth(back) is back
