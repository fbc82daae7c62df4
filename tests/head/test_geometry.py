"""Mesh helpers: vertices split at creases keep each face's shading on its own side of the crease."""

from __future__ import annotations

import numpy as np

from avatar_engine.head.geometry import crease_groups

CORNER_ANGLE_TOLERANCE_DEG = 0.5
"""Rounding allowed beyond the crease angle when checking a corner normal against its face."""


def face_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p = np.asarray(positions, np.float64)
    n = np.cross(p[triangles[:, 1]] - p[triangles[:, 0]], p[triangles[:, 2]] - p[triangles[:, 0]])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def corner_angles_deg(normals: np.ndarray, triangles: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(m, 3) angle between each triangle corner's vertex normal and its face's normal."""
    cos = np.einsum("mkc,mc->mk", normals[triangles], faces)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_a_right_angle_fold_splits_its_edge_and_a_flat_sheet_does_not():
    # two unit squares meeting at a right angle along the x axis: the floor (z = 0) and the wall (y = 0)
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]], np.float64)
    triangles = np.array([[0, 1, 2], [0, 2, 3], [0, 4, 1], [0, 5, 4]])
    source, normals, new_triangles = crease_groups(positions, triangles, 60.0)
    assert len(source) == 8  # the two edge vertices 0 and 1 each become one per side
    assert sorted(np.bincount(source, minlength=6).tolist()) == [1, 1, 1, 1, 2, 2]
    assert np.array_equal(source[new_triangles], triangles)  # same corners, same places
    faces = face_normals(positions, triangles)
    assert corner_angles_deg(normals, new_triangles, faces).max() < CORNER_ANGLE_TOLERANCE_DEG
    flat = positions[:4]
    source, normals, _ = crease_groups(flat, triangles[:2], 60.0)
    assert len(source) == 4 and np.allclose(normals, [0, 0, 1], atol=1e-6)


def test_every_tooth_corner_faces_its_own_side(template):
    """The teeth helpers are bands folded at the biting edge: the head model's smooth normals turned the front
    teeth's lower corners backwards and shaded a dark wedge on them. Split at creases, no corner turns more than
    the crease angle from its face."""
    from avatar_engine.head.model import HeadModel
    from avatar_engine.head.template import CREASED_PARTS

    model = HeadModel.default()
    positions = model.neutral_positions(model.default_identity())
    smooth_normals = model.normals(positions)
    for part in template.parts:
        if part.name not in CREASED_PARTS:
            continue
        triangles = part.indices.astype(np.int64)
        angles = corner_angles_deg(part.normals, triangles, face_normals(part.positions, triangles))
        assert angles.max() <= CREASED_PARTS[part.name] + CORNER_ANGLE_TOLERANCE_DEG, part.name
        vs, ts = model.part_slices(part.name)  # the part as the head model has it, one normal per vertex
        original = (model.triangles[ts] - vs.start).astype(np.int64)
        before = corner_angles_deg(smooth_normals[vs], original, face_normals(positions[vs], original))
        assert before.max() > 90.0, f"{part.name}: the head model's normals have no fold to split"
