"""The skin's UV layout (head/skin_layout.py, as scripts/make_head_asset.py shipped it in the head model)."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_engine.build.texture_project import texel_map
from avatar_engine.head import skin_layout
from avatar_engine.head.geometry import triangle_areas, triangle_islands
from avatar_engine.head.model import HeadModel
from avatar_engine.head.template import template_avatar
from avatar_engine.render.renderer import texel_density
from avatar_engine.synth.albedo import solid_noise


@pytest.fixture(scope="module")
def skin():
    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    tris = (model.triangles[ts] - vs.start).astype(np.int64)
    return model.positions[vs].astype(np.float64), model.uvs[vs].astype(np.float64), tris


def island_densities(positions, uvs, tris):
    """Per island: surface area (m^2), texture area (unit square) and texels per metre at 1024."""
    island = triangle_islands(tris, len(positions))
    w, t = np.bincount(island, triangle_areas(positions, tris)), np.bincount(island, triangle_areas(uvs, tris))
    return island, w, t, np.sqrt(t / w) * 1024


def test_islands_lie_apart_inside_the_square(skin):
    positions, uvs, tris = skin
    island = triangle_islands(tris, len(positions))
    assert (uvs[np.unique(tris)] >= skin_layout.MARGIN * 0.99).all()
    assert (uvs[np.unique(tris)] <= 1 - skin_layout.MARGIN * 0.99).all()
    # no texel is covered by two islands (each rasterised on its own at 1024)
    owner = np.full(1024 * 1024, -1)
    for k in range(island.max() + 1):
        texels = texel_map(uvs, tris[island == k], 1024).texels
        assert (owner[texels] == -1).all(), f"island {k} overlaps island {owner[texels].max()}"
        owner[texels] = k


def test_face_island_has_the_texels(skin):
    """The face (hairline to chin, ear to ear) is an island of its own at FACE_WEIGHT times the density of the
    rest of the head, and covers over a quarter of the texture (one common scale gave it 8.7%)."""
    positions, uvs, tris = skin
    island, world, tex, density = island_densities(positions, uvs, tris)
    face = np.argmax(density * (world > 0.2 * world.sum()))
    head = np.argmax(world)  # scalp, ears, neck: the largest island
    assert face != head
    assert tex[face] > 0.25
    assert density[face] / density[head] == pytest.approx(skin_layout.FACE_DENSITY, rel=0.01)
    c = positions[tris[island == face]].mean(axis=1)
    assert np.abs(c[:, 0]).max() < 0.08 and c[:, 2].min() > skin_layout.FACE_FRONT_Z  # in front of the ears
    # the renderer picks its mip level for the face's density, not the head's average
    part = next(p for p in template_avatar().parts if p.name == "skin")
    assert texel_density(part, (1024, 1024)) == pytest.approx(density[face], rel=1e-3)


def test_face_border_copies_keep_every_skin_vertex_id():
    """Two squares side by side: the right one is the face. Its border vertices get copies appended; old ids,
    and the triangles of the rest, stay as they were."""
    tris = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]])
    face = np.array([False, False, True, True])
    out, copies = skin_layout.split_at_face(tris, face, 6)
    assert sorted(copies.tolist()) == [1, 4]
    assert (out[~face] == tris[~face]).all()
    assert set(out[face].ravel()) == {2, 5, 6, 7}
    assert len(np.unique(triangle_islands(out))) == 2 and len(np.unique(triangle_islands(tris))) == 1


def test_pack_keeps_boxes_apart_and_inside():
    rng = np.random.default_rng(4)
    boxes = rng.uniform(0.05, 1.0, (7, 2))
    scale, spots = skin_layout.pack(boxes, margin=0.01)
    lo, hi = spots, spots + boxes * scale
    assert (lo >= 0.01 - 1e-9).all() and (hi <= 0.99 + 1e-9).all()
    for i in range(len(boxes)):
        for j in range(i):
            apart = (hi[i] <= lo[j] + 1e-9) | (hi[j] <= lo[i] + 1e-9)
            assert apart.any(), (i, j)
    # filled to at least half the square: the scale is the largest that fits, not a safe guess
    assert (boxes * scale).prod(axis=1).sum() > 0.5


def test_solid_noise_is_a_function_of_the_point():
    """The same 3D point gives the same value wherever it is in UV (continuity across seams), and the noise varies
    on its cell size: neighbours a tenth of a cell apart agree, points a few cells apart do not."""
    rng = np.random.default_rng(2)
    points = rng.uniform(-0.1, 0.1, (2000, 3))
    cell = 0.002
    a = solid_noise(points, cell, 5)
    assert np.array_equal(a, solid_noise(points.copy(), cell, 5))
    assert ((a >= 0) & (a <= 1)).all() and 0.1 < a.std() < 0.3
    near = solid_noise(points + cell * 0.01, cell, 5)
    far = solid_noise(points + cell * 5, cell, 5)
    assert np.abs(near - a).max() < 0.05
    assert np.corrcoef(a, far)[0, 1] < 0.2
