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


def test_the_lids_keep_their_more_open_occlusion(template, monkeypatch):
    """The upper lid's skin lies in the crease at rest; baked there only, its occlusion darkened the closed lid as
    a dark triangle in every blink. Skin a blink moves keeps the more open of rest and shut; the rest is unchanged."""
    from dataclasses import replace

    from avatar_engine.head import occlusion

    bare = replace(template, parts=tuple(replace(p, occlusion=None) for p in template.parts))
    both = occlusion.with_occlusion(bare).part("skin").occlusion
    monkeypatch.setattr(occlusion, "LIDS_MOVED", np.inf)
    rest = occlusion.with_occlusion(bare).part("skin").occlusion
    assert (both >= rest - 1e-6).all()
    lifted = both > rest + 0.1
    assert lifted.sum() >= 20, "the lids' crease opens up"
    from avatar_engine.head.arkit import ARKIT_INDEX

    skin = template.part("skin")
    blink = skin.morph_positions[[ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]]].sum(axis=0)
    moved = np.linalg.norm(blink, axis=1) > 0.003  # occlusion.LIDS_MOVED before the patch
    assert moved[both != rest].all(), "only the skin a blink moves"



VIEWER_SKIN_MIN = 0.85
"""Median COLOR_0 on the skin: other viewers multiply it into the base colour, so open skin must stay near 1 (the raw
occlusion, 0.57 on average, drew every face half as bright in three.js)."""
VIEWER_TONGUE_MIN = 0.45
"""The tongue's COLOR_0 at least this (the bare light share, 0.2 on average, drew it as a black slab)."""


def _attributes(path) -> dict[str, dict]:
    from avatar_engine.io.gltf_reader import _split_glb

    document, _ = _split_glb(path.read_bytes())
    return {p["extras"]["name"]: p["attributes"] for m in document["meshes"] for p in m["primitives"]}


def test_other_viewers_get_the_light_share_not_the_raw_occlusion(template, tmp_path):
    from avatar_engine.head.occlusion import light_share, viewer_shade
    from avatar_engine.io import read_glb, write_glb

    write_glb(template, tmp_path / "head.glb")
    attributes = _attributes(tmp_path / "head.glb")
    assert all("_OCCLUSION" in a for a in attributes.values())
    assert "COLOR_0" not in attributes["eye_L"]  # baked, the eye's shade would turn with the eyeball
    assert "COLOR_0" in attributes["skin"] and "COLOR_0" in attributes["tongue"]
    skin, tongue = template.part("skin"), template.part("tongue")
    shade = viewer_shade("skin", skin.occlusion, skin.normals)
    np.testing.assert_allclose(shade, light_share(skin.occlusion))
    assert np.median(shade) >= VIEWER_SKIN_MIN
    assert viewer_shade("tongue", tongue.occlusion, tongue.normals).min() >= VIEWER_TONGUE_MIN
    back = read_glb(tmp_path / "head.glb")
    np.testing.assert_allclose(back.part("skin").occlusion, skin.occlusion, atol=1e-6)  # ours reads the raw one


def test_an_older_file_keeps_its_occlusion_in_the_vertex_colours(template, tmp_path):
    """Files written before `_OCCLUSION` carried the occlusion itself in COLOR_0: it is read from there."""
    from avatar_engine.head.occlusion import viewer_shade
    from avatar_engine.io import read_glb, write_glb

    write_glb(template, tmp_path / "head.glb")
    # the same name length keeps the JSON chunk's size: the attribute is simply not ours any more
    (tmp_path / "old.glb").write_bytes((tmp_path / "head.glb").read_bytes().replace(b'"_OCCLUSION"', b'"_SOMETHING"'))
    back = read_glb(tmp_path / "old.glb")
    skin = template.part("skin")
    np.testing.assert_allclose(back.part("skin").occlusion, viewer_shade("skin", skin.occlusion, skin.normals),
                               atol=1e-5)
    assert back.part("eye_L").occlusion is None


UNDER_HAIR_MAX = 0.3
"""Skin with hair lying within a few millimetres over it (the scalp, the forehead under a fringe) sees at most this
much of its sky on median: hair stops most of the light (`occlusion.HAIR_OPACITY`). Before hair counted from
closer than the skin's own allowance, it read 0.52-0.63 there, and the forehead between a fringe's tips drew as
pale patches brighter than the face below."""
FACE_OPEN_MIN = 0.8
"""Skin 3 cm and more from any hair (cheeks, nose) keeps its open sky: the hair's shade reaches only what it
lies close over (`occlusion.HAIR_REACH`)."""


def test_hair_shades_the_skin_it_lies_over():
    from avatar_engine.head.hair import HairStyle
    from avatar_engine.head.template import template_avatar

    for style in (HairStyle(), HairStyle(fringe=1.0)):
        avatar = template_avatar(hair=style)
        skin, hair = avatar.part("skin"), avatar.part("hair")
        gap = np.array([np.linalg.norm(hair.positions - p, axis=1).min() for p in skin.positions])
        under = gap < 0.005
        assert under.sum() > 200
        assert np.median(skin.occlusion[under]) <= UNDER_HAIR_MAX, style
        facing = skin.normals[:, 2] > 0.6
        assert np.median(skin.occlusion[facing & (gap > 0.03)]) >= FACE_OPEN_MIN, style


LIPS_INNER_MAX = 0.3
"""The lips' inner faces, where they meet at rest, see at most this much of their sky on median (0.14): baked with
the jaw a little open they read 0.54, and drew a lit line between the resting lips of built faces."""


def test_the_lips_inner_faces_are_shaded_where_they_meet(template):
    from avatar_engine.head.arkit import ARKIT_INDEX

    skin = template.part("skin")
    p, n = skin.positions, skin.normals
    lips = np.linalg.norm(skin.morph_positions[ARKIT_INDEX["mouthClose"]], axis=1) > 0.001
    # the lower lip's front edge on the midline: the highest forward-facing vertex the jaw carries down
    lowered = skin.morph_positions[ARKIT_INDEX["jawOpen"], :, 1] < -0.015
    edge = np.argmax(np.where((np.abs(p[:, 0]) < 0.002) & (n[:, 2] > 0.3) & lowered, p[:, 1], -np.inf))
    inner = lips & (np.abs(p[:, 1] - p[edge, 1]) < 0.003) & (np.abs(n[:, 1]) > 0.8) & (p[:, 2] > p[edge, 2] - 0.006)
    assert inner.sum() >= 20
    assert np.median(skin.occlusion[inner]) <= LIPS_INNER_MAX
    front = lips & (n[:, 2] > 0.8)
    assert np.median(skin.occlusion[front]) >= 0.8, "the lips' fronts stay open"
