"""Baked ambient occlusion: open surfaces see the sky, cavities do not, and it survives the avatar file."""

from __future__ import annotations

import numpy as np

from avatar_engine.head.occlusion import vertex_occlusion

OPEN_SURFACE_MIN = 0.9
"""A convex surface sees (nearly) its whole hemisphere."""
CAVITY_MAX = 0.3
"""A point with no sky at all reads at most this: grazing directions are forgiven so that open surfaces do not
shadow themselves in the height maps."""


def uv_sphere(radius: float, rings: int = 24, segments: int = 32, inward: bool = False):
    th, ph = np.meshgrid(np.linspace(0, np.pi, rings + 1), np.linspace(0, 2 * np.pi, segments + 1), indexing="ij")
    n = np.stack([np.sin(th) * np.cos(ph), np.cos(th), np.sin(th) * np.sin(ph)], -1).reshape(-1, 3)
    cols = segments + 1
    tris = [(i * cols + j, (i + 1) * cols + j, i * cols + j + 1) for i in range(rings) for j in range(segments)]
    tris += [(i * cols + j + 1, (i + 1) * cols + j, (i + 1) * cols + j + 1) for i in range(rings) for j in range(segments)]
    return radius * n, (-n if inward else n), np.array(tris)


def test_convex_surface_is_open():
    p, n, t = uv_sphere(0.1)
    assert np.median(vertex_occlusion(p, n, t)) >= OPEN_SURFACE_MIN


def test_inside_of_a_closed_shell_is_dark():
    outer = uv_sphere(0.1)
    inner = uv_sphere(0.05, inward=True)  # seen from inside the outer shell: no sky at all
    p = np.concatenate([outer[0], inner[0]])
    n = np.concatenate([outer[1], inner[1]])
    t = np.concatenate([outer[2], inner[2] + len(outer[0])])
    ao = vertex_occlusion(p, n, t)
    assert np.median(ao[len(outer[0]):]) <= CAVITY_MAX
    assert np.median(ao[:len(outer[0])]) >= OPEN_SURFACE_MIN


def test_template_mouth_is_darker_than_the_forehead(template):
    skin = template.part("skin")
    tongue = template.part("tongue")
    forehead = skin.occlusion[np.argmax(skin.positions[:, 1] + 2 * skin.positions[:, 2])]
    assert forehead >= OPEN_SURFACE_MIN
    assert np.median(tongue.occlusion) <= CAVITY_MAX


def test_occlusion_round_trips_through_gltf(template, tmp_path):
    from avatar_engine.io import read_glb, write_glb

    write_glb(template, tmp_path / "head.glb")
    back = read_glb(tmp_path / "head.glb")
    for a, b in zip(template.parts, back.parts):
        np.testing.assert_allclose(a.occlusion, b.occlusion, atol=1e-6)


def test_an_eyeball_has_one_occlusion_so_a_turned_eye_shows_no_dark_crescent(template):
    """Baked per vertex, the eyeball's occlusion turned with the eye: the rim the lids' corners shade at rest came
    into view as a dark crescent on the nose side of an eye looking sideways. Each eyeball has one value now, its
    front's, and the skin's occlusion still varies."""
    for name in ("eye_L", "eye_R"):
        ao = template.part(name).occlusion
        assert np.ptp(ao) == 0.0 and 0.3 < ao[0] < 1.0, name
    assert np.ptp(template.part("skin").occlusion) > 0.5


def test_a_build_bakes_its_eyes_before_it_has_materials(template):
    """The builder bakes the rig before the photo's materials exist (only the lashes' and hair's): the eyes are
    still told by their material's key."""
    from dataclasses import replace

    from avatar_engine.head.occlusion import with_occlusion

    bare = replace(template, materials={k: m for k, m in template.materials.items() if k in ("lashes", "hair")})
    assert np.ptp(with_occlusion(bare).part("eye_L").occlusion) == 0.0
