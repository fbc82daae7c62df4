"""The texture stage's pieces on exact inputs: rasteriser, SH fit, tone curve, mirror map, fill."""

from __future__ import annotations

import numpy as np

from avatar_engine.build import delight
from avatar_engine.build.texture import BACKLIT_FACING, DIRECTIONAL
from avatar_engine.build.texture_fill import dilate, mirror_uv_image
from avatar_engine.build.texture_project import rasterize, texel_map
from avatar_engine.head.model import HeadModel

SH_TOLERANCE = 1e-6
MIRROR_TOLERANCE_TEXELS = 1.0
WHITE_BALANCE_TOLERANCE = 0.02
"""An image-editor cast undone by the eye-white gains to within this per channel (display units, relative)."""


def test_rasterize_covers_a_triangle_by_its_area_and_keeps_the_nearest():
    xy = np.array([[0, 0], [40, 0], [0, 40], [0, 0], [40, 0], [0, 40]], float)
    depth = np.array([1, 1, 1, 0.5, 0.5, 0.5])
    face, bary = rasterize(xy, np.array([[0, 1, 2], [3, 4, 5]]), (64, 64), depth=depth)
    covered = face >= 0
    assert abs(covered.sum() - 40 * 40 / 2) < 40 + 1  # the diagonal's pixel centres
    assert (face[covered] == 1).all(), "the nearer triangle wins"
    assert np.allclose(bary[covered].sum(-1), 1, atol=1e-5)


def test_display_to_linear_inverts_the_renderer_tone_curve():
    c = np.linspace(0.01, 2.0, 50)
    aces = np.clip((c * (2.51 * c + 0.03)) / (c * (2.43 * c + 0.59) + 0.14), 0, 1)
    assert np.allclose(delight.display_to_linear(np.sqrt(aces)), c, rtol=1e-6)


def test_sh_fit_recovers_known_shading_and_pattern():
    rng = np.random.default_rng(0)
    n = rng.normal(size=(4000, 3))
    n[:, 2] = np.abs(n[:, 2])  # one view sees a hemisphere
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    truth = np.zeros((9, 3))
    truth[0], truth[1], truth[3] = (2.0, 1.8, 1.6), (0.5, 0.5, 0.4), (0.8, 0.6, 0.5)
    pattern = rng.uniform(0.7, 1.3, size=(4000, 3))
    colors = pattern * (delight.sh_basis(n) @ truth)
    fitted = delight.fit_shading(colors, n, np.ones(4000), pattern)
    shading_error = np.abs(delight.sh_basis(n) @ (fitted - truth)).max()
    assert shading_error < 0.05 * np.abs(delight.sh_basis(n) @ truth).max()


def test_light_fit_and_level_count_skin_area_not_texels():
    """One half of the samples on an island of four times the texels (each standing for a quarter of the skin)
    gives the same light and level as one texel per unit of skin: the UV layout does not tilt the fit."""
    rng = np.random.default_rng(1)
    n = rng.normal(size=(2000, 3))
    n[:, 2] = np.abs(n[:, 2])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    truth = np.zeros((9, 3))
    truth[0], truth[3] = (0.6, 0.42, 0.3), (0.3, 0.21, 0.15)  # a key from one side: the halves are lit unlike
    pattern = rng.uniform(0.8, 1.2, size=(2000, 3))
    colors = pattern * (delight.sh_basis(n) @ truth) * rng.uniform(0.97, 1.03, size=(2000, 3))
    dense = n[:, 0] > 0  # the lit half has 4 texels for each of the other half's
    repeat = np.where(dense, 4, 1)
    nd, pd, cd = (np.repeat(a, repeat, axis=0) for a in (n, pattern, colors))
    area = np.repeat(np.where(dense, 0.25, 1.0), repeat)
    once = delight.fit_shading(colors, n, np.ones(2000), pattern)
    by_area = delight.fit_shading(cd, nd, np.ones(len(cd)), pd, area=area)
    by_texel = delight.fit_shading(cd, nd, np.ones(len(cd)), pd)
    scale = np.abs(delight.sh_basis(n) @ once).max()
    assert np.abs(delight.sh_basis(n) @ (by_area - once)).max() < 0.01 * scale
    level = delight.albedo_scale(once, n, np.ones(2000))
    assert np.allclose(delight.albedo_scale(by_area, nd, np.ones(len(cd)), area=area), level, rtol=0.01)
    # counted by texel, the densely sampled lit half fills the brightest tenth: the skin comes out lighter
    assert (delight.albedo_scale(by_texel, nd, np.ones(len(cd))) @ delight.LUMA) > 1.03 * (level @ delight.LUMA)


def test_weighted_percentile_counts_each_value_by_its_weight():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    assert delight.weighted_percentile(values, np.ones(4), 50) == 2.0
    assert delight.weighted_percentile(values, np.array([1.0, 1.0, 1.0, 9.0]), 50) == 4.0
    assert delight.weighted_percentile(values, np.array([9.0, 1.0, 1.0, 1.0]), 50) == 1.0


def test_key_facing_tells_a_key_behind_the_seen_face_from_a_frontal_one():
    """A Lambertian key plus ambient light on the hemisphere a photo sees, fitted with SH: the fitted light points
    toward the camera for a frontal key and away from it for a key behind the head's far side."""
    rng = np.random.default_rng(1)
    n = rng.normal(size=(4000, 3))
    n[:, 2] = np.abs(n[:, 2]) + 0.3  # the seen face: normals toward the camera (+Z)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    pattern = np.ones((4000, 3))
    readings = {}
    for name, key in (("front", (0.4, 0.5, 0.77)), ("behind", (0.8, 0.2, -0.6))):
        key = np.asarray(key) / np.linalg.norm(key)
        colors = (0.3 + 2.5 * np.maximum(n @ key, 0))[:, None] * np.array([0.7, 0.45, 0.32])
        readings[name] = delight.key_facing(delight.fit_shading(colors, n, np.ones(4000), pattern), n, np.ones(4000))
    assert readings["front"][0] > 0.3 and readings["behind"][0] < BACKLIT_FACING - 0.1
    assert min(readings["front"][1], readings["behind"][1]) > 2 * DIRECTIONAL, "a key light is directional"


def test_mirror_map_is_an_involution():
    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    tmap = texel_map(model.uvs[vs], model.triangles[ts] - vs.start, 1024)
    mirror = mirror_uv_image().reshape(-1, 2)
    there = mirror[tmap.texels] * 1024
    ix = np.clip(there.astype(int), 0, 1023)
    back = mirror[ix[:, 1] * 1024 + ix[:, 0]] * 1024
    here = np.stack([tmap.texels % 1024, tmap.texels // 1024], 1) + 0.5
    error = np.linalg.norm(back - here, axis=1)
    assert np.median(error) < MIRROR_TOLERANCE_TEXELS
    # left and right really swap: the mirror of a texel is elsewhere unless it lies on the midline
    assert np.median(np.linalg.norm(there - here, axis=1)) > 10


def test_dilate_fills_holes_and_keeps_known_texels():
    image = np.zeros((32, 32, 3), np.float32)
    filled = np.zeros((32, 32), bool)
    filled[:, :8], image[:, :8] = True, (0.2, 0.4, 0.6)
    out = dilate(image, filled)
    assert np.array_equal(out[filled], image[filled])
    assert np.allclose(out[~filled], (0.2, 0.4, 0.6), atol=1e-5)


def _eyes_photo(white, skin=(215, 140, 105)):
    """A 200x200 'photo' of plain skin with two eye contours showing `white` around the irises, and the landmarks."""
    photo = np.zeros((200, 200, 3), np.float64) + skin
    points = np.zeros((478, 2))
    yy, xx = np.mgrid[0:200, 0:200] + 0.5
    for contour, iris, centre in zip(delight.EYE_CONTOURS, delight.IRISES, ((70.0, 80.0), (130.0, 80.0))):
        angles = np.linspace(0, 2 * np.pi, len(contour), endpoint=False)
        points[list(contour)] = np.stack([centre[0] + 18 * np.cos(angles), centre[1] + 9 * np.sin(angles)], 1)
        points[iris[0]] = centre
        points[list(iris[1:])] = [(centre[0] + 5, centre[1]), (centre[0], centre[1] - 5), (centre[0] - 5, centre[1]),
                                  (centre[0], centre[1] + 5)]
        inside = ((xx - centre[0]) / 18) ** 2 + ((yy - centre[1]) / 9) ** 2 < 1
        photo[inside & (np.hypot(xx - centre[0], yy - centre[1]) > 5)] = white
        photo[np.hypot(xx - centre[0], yy - centre[1]) <= 5] = (60, 70, 80)
    points[list(delight.SKIN_PATCHES)] = [(60, 130), (140, 130), (70, 150), (130, 150), (100, 40)]
    return photo, points


def test_white_balance_reads_the_eye_whites_through_a_cast():
    photo, points = _eyes_photo(white=(222, 221, 222))
    cast = np.array([1.1, 1.0, 0.82])
    gains = delight.white_balance(np.clip(np.round(photo * cast), 0, 255).astype(np.uint8), points)
    assert gains is not None
    balanced = cast * gains
    assert np.abs(balanced / balanced[1] - 1).max() < WHITE_BALANCE_TOLERANCE


def test_white_balance_undoes_a_cool_cast_without_dimming_the_photo():
    """A cast that lowers red and raises blue (green as it was) is undone to the photo's own values: gains that
    kept the cast photo's luminance instead left a cool-cast face darker than the same face uncast."""
    photo, points = _eyes_photo(white=(222, 221, 222))
    cast = np.array([0.88, 1.0, 1.12])
    gains = delight.white_balance(np.clip(np.round(photo * cast), 0, 255).astype(np.uint8), points)
    assert gains is not None
    assert np.abs(cast * gains - 1).max() < WHITE_BALANCE_TOLERANCE


def test_white_balance_refuses_eyes_as_red_as_the_skin():
    """Squinting eyes behind glasses show lid skin inside the eye contour: that must not set the light's colour."""
    photo, points = _eyes_photo(white=(200, 128, 100))
    assert delight.white_balance(photo.astype(np.uint8), points) is None


def test_skin_colour_prior_without_a_white_reference():
    normals = np.tile([0.0, 0.0, 1.0], (100, 1))
    coeffs = np.zeros((9, 3))
    coeffs[0] = np.array([0.8, 0.3, 0.15]) / 0.282095  # an orange face under a light of unknown colour
    weights = np.ones(100)
    free = delight.albedo_scale(coeffs, normals, weights, prior_weight=0.0)
    drawn = delight.albedo_scale(coeffs, normals, weights, prior_weight=1.0)
    assert np.allclose(drawn[1:] / drawn[0], delight.SKIN_CHROMA_PRIOR, rtol=1e-6)
    assert abs(drawn @ delight.LUMA - free @ delight.LUMA) < 1e-9  # the level is the photo's either way


def test_skin_balance_undoes_its_share_of_a_cast_without_eye_whites():
    photo, points = _eyes_photo(white=(200, 128, 100), skin=delight.SKIN_DISPLAY)
    cast = np.array([1.1, 1.0, 0.82])
    gains = delight.skin_balance(np.clip(np.round(photo * cast), 0, 255).astype(np.uint8), points, 0.6)
    expected = cast ** -0.6
    assert np.allclose(gains, expected / (expected @ delight.LUMA), rtol=WHITE_BALANCE_TOLERANCE)


def _mouth(open_px: float, centre=(60.0, 50.0), half_width=20.0) -> np.ndarray:
    """(478, 2) landmarks with only the inner-lip contour placed: an ellipse `open_px` tall (0: lips touching)."""
    from avatar_engine.build.texture_project import INNER_LIPS

    points = np.zeros((478, 2))
    angle = np.linspace(np.pi, -np.pi, len(INNER_LIPS), endpoint=False)  # 78 (a corner) first, round the mouth
    points[list(INNER_LIPS)] = np.stack([centre[0] + half_width * np.cos(angle),
                                         centre[1] + open_px / 2 * np.sin(angle)], 1)
    return points


MOUTH_EDGE_PX = 3.0
"""The opening reaches at most this far beyond the inner-lip contour (its margin, 1-2 px at this mouth size)."""


def test_mouth_opening_covers_the_parted_lips_and_a_margin():
    from avatar_engine.build.texture_project import mouth_opening

    opening = mouth_opening(_mouth(12.0), (120, 100))
    yy, xx = np.mgrid[0:100, 0:120] + 0.5
    ellipse = ((xx - 60) / 20) ** 2 + ((yy - 50) / 6) ** 2
    assert opening[ellipse < 0.9].all(), "every pixel between the lips is hidden"
    assert not opening[np.hypot(np.maximum(np.abs(xx - 60) - 20, 0), np.maximum(np.abs(yy - 50) - 6, 0))
                       > MOUTH_EDGE_PX].any(), "the lips themselves stay seen"


def test_a_closed_mouth_hides_nothing():
    from avatar_engine.build.texture_project import mouth_opening

    assert not mouth_opening(_mouth(0.0), (120, 100)).any()
    assert not mouth_opening(_mouth(1.0), (120, 100)).any(), "the lip line of touching lips is no opening"


def test_a_highlight_takes_the_skins_colour_not_the_lights():
    """A white shine on a lip, its brightness already compressed, must not stay white (grey-blue on the pink)."""
    from avatar_engine.build.texture import _tone_chroma

    lip = np.array([[0.45, 0.12, 0.10]])
    shine = np.array([[0.60, 0.55, 0.55]])
    full = _tone_chroma(shine, lip, np.array([[1.0]]))
    assert np.allclose(full / (full @ delight.LUMA), lip / (lip @ delight.LUMA), rtol=1e-6)  # the lip's colour
    assert np.isclose(full @ delight.LUMA, shine @ delight.LUMA).all()  # at the shine's brightness
    assert np.allclose(_tone_chroma(shine, lip, np.array([[0.0]])), shine)  # plain skin (no excess) untouched
    half = _tone_chroma(shine, lip, np.array([[0.5]]))
    assert lip[0, 2] / lip[0, 0] < half[0, 2] / half[0, 0] < shine[0, 2] / shine[0, 0]


OCCLUSION_MODEL_TOLERANCE = 0.03
"""`delight.occlusion_visibility` agrees with the renderer's darkening of the face to this (share of the light)."""


def _aces_inverse(y: np.ndarray) -> np.ndarray:
    """The renderer's ACES curve undone: y = (x(2.51x + 0.03)) / (x(2.43x + 0.59) + 0.14) solved for x >= 0."""
    a, b, c = 2.51 - 2.43 * y, 0.03 - 0.59 * y, -0.14 * y
    return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)


def test_occlusion_visibility_is_the_renderers_darkening(ctx):
    """The texture stage divides the photo by the light the renderer will take from creases and sockets: the same
    face rendered with every vertex's baked occlusion at ao, against ao = 1, keeps this share of its light."""
    from dataclasses import replace

    from avatar_engine.head.template import template_avatar
    from avatar_engine.records import Expression
    from avatar_engine.render.camera import Camera
    from avatar_engine.render.renderer import Renderer, RenderOptions

    avatar = template_avatar(hair=None)
    camera = Camera(distance=0.55, target=(0.0, 0.10, 0.05))
    luminance = {}
    with Renderer(ctx, RenderOptions(size=(160, 160), samples=0, shading="pixel")) as renderer:
        for ao in (1.0, 0.8, 0.5, 0.3, 0.15):
            renderer.load(replace(avatar, parts=tuple(replace(p, occlusion=np.full(p.vertex_count, ao, np.float32))
                                                      for p in avatar.parts)))
            renderer.render(Expression(), camera)
            rgba = renderer.read().astype(np.float64)
            if ao == 1.0:
                face = rgba[..., 3] > 0
            luminance[ao] = _aces_inverse((rgba[face][:, :3] / 255.0) ** 2) @ delight.LUMA
    for ao in (0.8, 0.5, 0.3, 0.15):
        share = float(np.median(luminance[ao] / np.maximum(luminance[1.0], 1e-6)))
        assert abs(share - float(delight.occlusion_visibility(ao))) < OCCLUSION_MODEL_TOLERANCE, ao


def test_expression_folds_mark_the_skin_an_expression_shrinks():
    """Skin the photo's expression shrinks by `FOLD_COMPRESSION` or more is fully folded; unchanged or stretched
    skin is not."""
    from avatar_engine.build.texture import FOLD_COMPRESSION, expression_folds

    rest = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [3, 0, 0], [4, 0, 0], [3, 1, 0]], float)
    triangles = np.array([[0, 1, 2], [3, 4, 5]])
    posed = rest.copy()
    posed[:3, :2] *= np.sqrt(1 - 1.5 * FOLD_COMPRESSION)  # the first triangle's area shrinks by 1.5 x the limit
    posed[3:, :2] = posed[3:, :2] * 1.2 + 0.5                # the second grows
    folds = expression_folds(rest, posed, triangles)
    assert np.allclose(folds[:3], 1.0) and np.allclose(folds[3:], 0.0)
    assert np.allclose(expression_folds(rest, rest, triangles), 0.0)


def test_folded_lids_are_the_upper_lids_and_nothing_else():
    """On the head model, the skin a blink spreads out of the open eye's crease: some of it round each eye (the
    upper lids), none farther than `LID_REACH_MM` from an eye's centre; and a photo with the eyes shut folds
    nothing away."""
    from avatar_engine.build.texture import folded_lids
    from avatar_engine.head.arkit import ARKIT_INDEX

    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    rest = model.positions[vs].astype(np.float64)
    triangles = model.triangles[ts] - vs.start
    blink = model.expression_offsets[[ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]]].sum(0)[vs]
    lids = folded_lids(rest, rest + blink, triangles)
    eyes = model.joint_rest[[model.joint_names.index("eye_L"), model.joint_names.index("eye_R")]]
    to_eye = np.linalg.norm(rest[:, None] - eyes[None], axis=2)  # (n, 2) metres
    folded = lids > 0.5
    assert all((folded & (to_eye[:, k] < LID_REACH_MM / 1000)).sum() >= 10 for k in (0, 1)), "each upper lid"
    assert (to_eye[lids > 0].min(1) < LID_REACH_MM / 1000).all(), "nothing beyond the eyes"
    assert np.allclose(folded_lids(rest + blink, rest + blink, triangles), 0.0), "shut eyes hide no lid"


LID_REACH_MM = 30.0
"""The lids lie within this distance of the eyeball's centre."""


def test_eye_openings_cover_each_eye_and_a_lash_margin():
    """Inside both eye outlines is hidden, and a margin of `EYE_MARGIN` of the eye's width (the lashes, the liner);
    the lids beyond it stay seen."""
    from avatar_engine.build.texture_project import EYE_CONTOURS, EYE_MARGIN, eye_openings

    landmarks = np.zeros((478, 2))
    for contour, cx in zip(EYE_CONTOURS, (40.0, 80.0)):
        t = np.linspace(0, 2 * np.pi, len(contour), endpoint=False)
        landmarks[list(contour)] = np.stack([cx + 12 * np.cos(t), 50 + 5 * np.sin(t)], 1)
    hidden = eye_openings(landmarks, (120, 100))
    yy, xx = np.mgrid[0:100, 0:120] + 0.5
    for cx in (40.0, 80.0):
        inside = ((xx - cx) / 11) ** 2 + ((yy - 50) / 4.5) ** 2 < 1
        assert hidden[inside].all()
    margin = EYE_MARGIN * 24
    beyond = np.minimum(*(np.hypot(np.maximum(np.abs(xx - cx) - 12, 0), np.maximum(np.abs(yy - 50) - 5, 0))
                          for cx in (40.0, 80.0)))
    assert not hidden[beyond > margin + 1.5].any() and hidden[beyond < margin - 0.5].any()


def test_the_level_counts_skin_seen_at_a_slant():
    """A key on the far side of the head lights best the skin the photo shows at a slant (weights 0.3-0.5): the
    brightest-lit tenth counts it, so the skin comes out as light as when that skin is seen squarely. Skin seen
    only at a graze (under `LEVEL_MIN_WEIGHT`) does not count."""
    rng = np.random.default_rng(2)
    n = rng.normal(size=(4000, 3))
    n[:, 2] = np.abs(n[:, 2])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    coeffs = np.zeros((9, 3))
    coeffs[0], coeffs[3] = (0.5, 0.35, 0.25), (0.35, 0.245, 0.175)  # lit from +x
    slanted = n[:, 0] > 0.6  # the brightest-lit skin, turned away from the camera
    square = delight.albedo_scale(coeffs, n, np.ones(len(n)))
    at_slant = delight.albedo_scale(coeffs, n, np.where(slanted, 0.4, 1.0))
    grazed = delight.albedo_scale(coeffs, n, np.where(slanted, 0.2, 1.0))
    assert 0.2 < delight.LEVEL_MIN_WEIGHT < 0.4  # the weights below lie either side of it
    assert np.allclose(at_slant, square, rtol=1e-6)
    # without the slanted skin the brightest tenth is dimmer, read as a darker skin
    assert (grazed @ delight.LUMA) < 0.9 * (square @ delight.LUMA)
