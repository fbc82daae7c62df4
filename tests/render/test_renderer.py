"""The renderer: GPU morphing and skinning match the CPU reference, golden images, RGBA output, file reload."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.head.rig import pose_part
from avatar_engine.records import Expression, euler_rotation
from avatar_engine.render.camera import Camera
from avatar_engine.render.renderer import STUDIO_BACKDROP, Lighting, RenderOptions, Renderer

GOLDEN = Path(__file__).parent / "golden"
SIZE = (96, 96)
CAMERA = Camera(distance=0.6)
GOLDEN_MEAN_TOLERANCE = 2.0
"""Mean absolute difference (0-255 levels) allowed against a golden image: llvmpipe versions round differently."""
GOLDEN_PIXEL_TOLERANCE = 48
"""A pixel differing by more than this (any channel) counts as changed."""
GOLDEN_CHANGED_FRACTION = 0.01
"""Fraction of changed pixels allowed (edges of the silhouette may flip)."""
EXPRESSIONS = {
    "neutral": Expression(),
    "jaw_open": Expression.from_names({"jawOpen": 1.0}),
    "smile_wink": Expression.from_names({"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "eyeBlinkLeft": 1.0}),
    "head_turn": Expression(rotations={"neck": euler_rotation(12, 4), "head": euler_rotation(18, 6)}),
}


QUALITY = {"": {"samples": 4, "shading": "pixel"}, "_fast": {"samples": 0, "shading": "vertex"}}
"""The two presets `RenderOptions` resolves to: a GPU's (MSAA, per-pixel light) and a software rasteriser's."""


@pytest.fixture(scope="module")
def renderers(gl_context, template):
    made = {quality: Renderer(gl_context, RenderOptions(size=SIZE, background=STUDIO_BACKDROP, **options))
            for quality, options in QUALITY.items()}
    for r in made.values():
        r.load(template)
    yield made
    for r in made.values():
        r.release()


@pytest.fixture(scope="module")
def renderer(renderers):
    return renderers[""]


def draw(renderer, expression: Expression, camera: Camera = CAMERA) -> np.ndarray:
    renderer.render(expression, camera)
    return renderer.read().astype(np.int16)


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(diff.mean()), float((diff.max(-1) > GOLDEN_PIXEL_TOLERANCE).mean())


@pytest.mark.parametrize("quality", sorted(QUALITY))
@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_golden_image(ctx, renderers, name, quality):
    image = draw(renderers[quality], EXPRESSIONS[name]).astype(np.uint8)
    path = GOLDEN / f"{name}{quality}.png"
    if os.environ.get("AVATAR_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        Image.fromarray(image).save(path)
    golden = np.asarray(Image.open(path))
    mean, changed = compare(image, golden)
    assert mean <= GOLDEN_MEAN_TOLERANCE and changed <= GOLDEN_CHANGED_FRACTION, (
        f"{name}: mean diff {mean:.2f}, {changed * 100:.2f}% pixels changed; "
        "if the change is intended, rerun with AVATAR_UPDATE_GOLDEN=1 and look at the images")


def test_expressions_change_the_image(ctx, renderer):
    neutral = draw(renderer, EXPRESSIONS["neutral"])
    for name in ("jaw_open", "smile_wink", "head_turn"):
        assert compare(draw(renderer, EXPRESSIONS[name]), neutral)[1] > 0.005, f"{name} must visibly differ"


def test_a_new_camera_or_model_matrix_moves_the_view(ctx, renderer):
    """The renderer reuses a repeated camera's matrices: a changed camera or model matrix must still show."""
    neutral = EXPRESSIONS["neutral"]
    front = draw(renderer, neutral)
    turned = draw(renderer, neutral, dataclasses.replace(CAMERA, yaw_deg=30.0))
    assert compare(turned, front)[1] > 0.05
    assert compare(draw(renderer, neutral), front) == (0.0, 0.0)
    as_array = dataclasses.replace(CAMERA, target=np.asarray(CAMERA.target))  # numpy fields compare by value too
    assert compare(draw(renderer, neutral, as_array), front) == (0.0, 0.0)
    assert compare(draw(renderer, neutral, as_array), front) == (0.0, 0.0)
    shifted = np.eye(4, dtype=np.float32)
    shifted[0, 3] = 0.02
    renderer.render(neutral, CAMERA, model=shifted)
    assert compare(renderer.read().astype(np.int16), front)[1] > 0.05


def test_gpu_deformation_matches_cpu_reference(ctx, template):
    """Bake the CPU-posed mesh into a static avatar: its render must equal the GPU-deformed one."""
    expression = Expression(
        weights=Expression.from_names({"jawOpen": 0.7, "mouthSmileLeft": 0.8, "browInnerUp": 1.0}).weights,
        rotations={"neck": euler_rotation(10, 5), "head": euler_rotation(15, -5, 3), "jaw": euler_rotation(0, 8),
                   "eye_L": euler_rotation(20, 0), "eye_R": euler_rotation(20, 0)})
    baked_parts = []
    for part in template.parts:
        positions, normals = pose_part(part, template.skeleton, expression)
        zeros = np.zeros_like(part.morph_positions)
        tangents = None if part.tangents is None else np.concatenate([pose_tangents(part, template, expression),
                                                                        part.tangents[:, 3:]], 1)
        baked_parts.append(dataclasses.replace(part, positions=positions, normals=normals, morph_positions=zeros,
                                               morph_normals=zeros, tangents=tangents))
    baked = dataclasses.replace(template, parts=tuple(baked_parts))

    def without_teeth(avatar):
        return dataclasses.replace(avatar, parts=tuple(p for p in avatar.parts
                                                       if avatar.materials[p.material].kind != "teeth"))

    def teeth(avatar):
        return dataclasses.replace(avatar, parts=tuple(p for p in avatar.parts
                                                       if avatar.materials[p.material].kind == "teeth"))

    with Renderer(ctx, RenderOptions(size=(128, 128))) as r:
        r.load(template)
        gpu = draw(r, expression)
        r.load(baked)
        cpu = draw(r, Expression())
        # the teeth are shaded in their rest frame (the seams between teeth, how far a surface faces the mouth's
        # opening), which a baked copy has lost: where they show, the two are not compared by colour; their shape
        # is compared by silhouette, drawn alone
        r.load(without_teeth(template))
        gpu_bare = draw(r, expression)
        r.load(without_teeth(baked))
        cpu_bare = draw(r, Expression())
        r.load(teeth(template))
        gpu_teeth = draw(r, expression)[..., 3] > 0
        r.load(teeth(baked))
        cpu_teeth = draw(r, Expression())[..., 3] > 0
    iou = (gpu_teeth & cpu_teeth).sum() / (gpu_teeth | cpu_teeth).sum()
    assert iou > 0.97, f"the teeth's silhouettes differ: IoU {iou:.3f}"
    teeth_shown = (np.abs(gpu - gpu_bare).max(-1) > 0) | (np.abs(cpu - cpu_bare).max(-1) > 0)
    mean, changed = compare(gpu[~teeth_shown], cpu[~teeth_shown])
    assert mean < 0.5 and changed < 0.002, f"GPU vs CPU deformation: mean {mean:.3f}, changed {changed:.4f}"


def pose_tangents(part, template, expression) -> np.ndarray:
    from avatar_engine.head.rig import joint_matrices

    mats = joint_matrices(template.skeleton, expression.rotations)
    skin = np.einsum("nk,nkij->nij", part.weights, mats[part.joints.astype(np.int64)])
    t = np.einsum("nij,nj->ni", skin[:, :3, :3], part.tangents[:, :3])
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def test_transparent_background_for_compositing(ctx, template):
    with Renderer(ctx, RenderOptions(size=(64, 64), background=None, samples=4)) as r:
        r.load(template)
        image = draw(r, Expression())
    assert (image[0, :, 3] == 0).all() and (image[:, 0, 3] == 0).all(), "corners and borders are transparent"
    assert image[32, 32, 3] == 255, "the face is opaque"
    edge = (image[..., 3] > 0) & (image[..., 3] < 255)
    assert edge.any(), "MSAA leaves partially covered pixels on the silhouette"


def test_glb_round_trip_renders_the_same(ctx, renderer, template, tmp_path):
    from avatar_engine.io import read_glb, write_glb

    write_glb(template, tmp_path / "head.glb")
    reloaded = read_glb(tmp_path / "head.glb")
    expression = EXPRESSIONS["smile_wink"]
    before = draw(renderer, expression)
    with Renderer(ctx, RenderOptions(size=SIZE, background=STUDIO_BACKDROP, **QUALITY[""])) as r:
        r.load(reloaded)
        after = draw(r, expression)
    mean, changed = compare(before, after)
    assert mean < 0.2 and changed == 0.0, f"reloaded avatar renders differently: mean {mean:.3f}"


def test_render_before_load_is_refused(ctx):
    with Renderer(ctx, RenderOptions(size=(32, 32))) as r, pytest.raises(RuntimeError, match="no avatar loaded"):
        r.render(Expression(), CAMERA)


def test_a_photo_view_renders_like_the_camera_it_was_made_from(ctx, template):
    from avatar_engine.build.records import PhotoView

    camera = Camera(distance=0.6, yaw_deg=15)
    w, h = SIZE
    view = PhotoView(SIZE, camera.view().astype(np.float64), (h / 2) / np.tan(np.radians(camera.fov_y_deg) / 2))
    with Renderer(ctx, RenderOptions(size=SIZE)) as r:
        r.load(template)
        mean, changed = compare(draw(r, Expression(), camera), draw(r, Expression(), view))
        assert mean <= SAME_VIEW_MEAN_TOLERANCE and changed == 0.0


SAME_VIEW_MEAN_TOLERANCE = 0.01
"""Mean difference (0-255 levels) between one view given as a Camera and as a PhotoView: the matrices differ in
the last float bits, which can move a nearest-filtered texel lookup across a texel edge here and there."""


MORPH_PATH_TOLERANCE = 1
"""Largest channel difference (0-255) between the GPU and numpy morph blends: both sum in float32."""


def test_morphs_blended_on_cpu_or_gpu_render_the_same(ctx, template):
    expression = Expression(weights=np.linspace(0.0, 1.0, 52, dtype=np.float32))
    images = []
    for morphs in ("gpu", "cpu"):
        with Renderer(ctx, RenderOptions(size=SIZE, morphs=morphs)) as r:
            r.load(template)
            images.append(draw(r, expression))
    assert np.abs(images[0] - images[1]).max() <= MORPH_PATH_TOLERANCE
    assert compare(images[0], draw_neutral(ctx, template))[1] > 0.01, "the expression must show"


def draw_neutral(ctx, template) -> np.ndarray:
    with Renderer(ctx, RenderOptions(size=SIZE)) as r:
        r.load(template)
        return draw(r, Expression())


HIDDEN_BACK_CHANGED_FRACTION = 0.002
"""Pixels (of the avatar's frame) allowed to differ by more than GOLDEN_PIXEL_TOLERANCE when the hair lying on the
scalp skips its back faces: only the sliver between the skull and the innermost sheet can change."""


@pytest.mark.parametrize("yaw, pitch", [(0, 0), (50, 0), (180, 0), (0, -40), (20, 45)])
def test_skipping_the_hidden_backs_of_hair_is_invisible(ctx, template, yaw, pitch):
    """Part.back_hidden lets the renderer cull half the scalp hair; no view may show the difference."""
    assert template.part("hair").back_hidden > 0
    both_sides = dataclasses.replace(template, parts=tuple(dataclasses.replace(p, back_hidden=0)
                                                           for p in template.parts))
    camera = Camera(yaw_deg=yaw, pitch_deg=pitch)
    images = []
    for avatar in (template, both_sides):
        with Renderer(ctx, RenderOptions(size=(256, 256), samples=4, shading="pixel")) as r:
            r.load(avatar)
            images.append(draw(r, Expression(), camera))
    assert compare(images[0], images[1])[1] <= HIDDEN_BACK_CHANGED_FRACTION


def _turned_about_view_axis(degrees: float, target: np.ndarray) -> np.ndarray:
    """(4, 4) model matrix turning the avatar about the camera's axis (+Z through `target`)."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    turn = np.eye(4, dtype=np.float32)
    turn[:2, :2] = [[c, -s], [s, c]]
    to, back = np.eye(4, dtype=np.float32), np.eye(4, dtype=np.float32)
    to[:3, 3], back[:3, 3] = -target, target
    return back @ turn @ to


EYE_TURN_TOLERANCE = 0.5
"""Mean absolute difference (0-255) over the eyes allowed between a head turned with its lights and the upright
head's image turned the same way. A quarter turn of a square image maps pixel centres onto pixel centres, so the
two agree to rounding (0.002 measured); world-fixed lid shadows differ by 1.8."""


def test_the_eye_sockets_shade_with_the_head_not_the_world(ctx, template):
    """The lids shade the eyeball's top and corners in the head's frame: lie the head on its side together with
    every light, and the eyes must look like the upright eyes' image turned on its side (in world terms the
    shadow would stay at the top and fall across the eye)."""
    target = np.array([0.0, 0.137, 0.112], np.float32)  # between the eyes
    camera = Camera(target=tuple(target), distance=0.35, pitch_deg=0.0, fov_y_deg=14.0)
    upright_light = Lighting(sky=(0.3, 0.3, 0.3), ground=(0.3, 0.3, 0.3))  # ambient the same from every side
    turned_light = dataclasses.replace(upright_light, directions=tuple(
        tuple(float(v) for v in _turned_about_view_axis(90.0, np.zeros(3, np.float32))[:3, :3] @ d)
        for d in upright_light.directions))
    eyes = (slice(50, 78), slice(8, 120))  # rows, columns of the upright 128x128 image that hold both eyes
    images = []
    for lighting, degrees in ((upright_light, 0.0), (turned_light, 90.0)):
        with Renderer(ctx, RenderOptions(size=(128, 128), samples=0, shading="pixel", lighting=lighting)) as r:
            r.load(template)
            r.render(Expression(), camera, model=_turned_about_view_axis(degrees, target))
            images.append(r.read().astype(np.int16))
    upright, turned = images
    turned_back = np.rot90(turned, k=-1)  # +90 degrees about +Z turns the image counter-clockwise
    assert upright[eyes][..., 3].min() == 255, "the crop must hold only the face"
    diff = np.abs(turned_back[eyes][..., :3] - upright[eyes][..., :3]).mean()
    assert diff < EYE_TURN_TOLERANCE, f"eyes turned with the head differ by {diff:.2f} levels"


def test_starting_the_next_frame_early_draws_the_same_frame(ctx, template):
    """A live loop lays the next frame's backdrop while it waits for the tracker: the frame drawn on it is the one
    `render` alone draws, and before that draw the buffer holds the bare backdrop."""
    with Renderer(ctx, RenderOptions(size=SIZE, background=STUDIO_BACKDROP, samples=0)) as r:
        r.load(template)
        smile, jaw = EXPRESSIONS["smile_wink"], Expression.from_names({"jawOpen": 1.0})
        plain = [draw(r, e) for e in (smile, jaw)]
        draw(r, smile)
        r.start_next_frame()
        r.start_next_frame()  # twice is once
        bare = r.read()
        early = draw(r, jaw)
    assert np.array_equal(early, plain[1])
    row = bare[SIZE[1] // 2, :, :3].astype(int)  # one row of the backdrop: the vignette alone moves it
    assert np.abs(row[SIZE[0] // 2] - row[2]).max() < 25, "no head left in it"
    assert np.abs(bare.astype(int) - plain[1].astype(int)).max() > 40


def test_straight_alpha_undoes_premultiplied_edges_only():
    from avatar_engine.render.renderer import straight_alpha

    # premultiplied: empty, opaque, and partly covered pixels at the ends of the range (alpha 1 and 254) and between
    pixels = np.array([[0, 0, 0, 0], [200, 100, 50, 255], [1, 0, 0, 1], [127, 64, 0, 254], [60, 30, 0, 120]],
                      np.uint8)
    want = np.array([[0, 0, 0, 0], [200, 100, 50, 255], [255, 0, 0, 1], [128, 64, 0, 254], [128, 64, 0, 120]],
                    np.uint8)
    image = np.tile(pixels[None], (3, 1, 1))
    assert np.array_equal(straight_alpha(image.copy()), np.tile(want[None], (3, 1, 1)))
    strided = np.tile(pixels[None], (2, 2, 1))[:, ::2]  # not contiguous: the result is still right
    assert np.array_equal(straight_alpha(strided), np.tile(want[None], (2, 2, 1))[:, ::2])


def test_more_msaa_samples_than_the_driver_allows_is_one_clear_error(ctx):
    from avatar_engine.errors import InputError

    too_many = ctx.max_samples * 2  # llvmpipe allows 4: `--samples 8` crashed inside moderngl
    with pytest.raises(InputError, match=f"{too_many} MSAA samples: this GL driver .* allows at most {ctx.max_samples}"):
        Renderer(ctx, RenderOptions(size=(32, 32), samples=too_many))


def test_bad_values_are_refused_where_they_enter(ctx, template):
    # each of these rendered a blank or broken frame without a word
    from avatar_engine.head.hair import HairStyle

    for bad in ({"near": 0.0}, {"distance": 0.0}, {"fov_y_deg": 0.0}, {"fov_y_deg": 180.0}):
        with pytest.raises(ValueError, match="camera"):
            Camera(**bad)
    with pytest.raises(ValueError, match="RenderOptions.morphs must be one of"):
        Renderer(ctx, RenderOptions(size=(16, 16), morphs="GPU"))
    with pytest.raises(ValueError, match="not a number in"):
        Expression.from_names({"jawOpen": float("nan")})
    with pytest.raises(ValueError, match="not a number in"):
        Expression.from_names({"jawOpen": 5.0})
    with pytest.raises(ValueError, match="length is nan"):
        HairStyle(length=float("nan")).clamped()


def test_a_nan_weight_does_not_blank_the_face(ctx, template):
    # one NaN through the dense morph product made every moving vertex NaN: the face vanished
    weights = np.zeros(52, np.float32)
    weights[ARKIT_INDEX["jawOpen"]] = np.nan
    with Renderer(ctx, RenderOptions(size=(96, 96), background=None)) as r:
        r.load(template)
        r.render(Expression(weights), Camera())
        with_nan = r.read()
        r.render(Expression(), Camera())
        neutral = r.read()
    assert np.array_equal(with_nan, neutral)


MIRROR_CHANGED_MAX = 0.05
"""Pixels of a mirrored render that may differ by over 40 levels from the plain one flipped. The lights are not
mirrored with the head, so its shading does differ (2.1% of the frame: the key light, the hair's shade along the
hairline); wound the wrong way, the back faces drawn, 25% does."""


def test_a_mirroring_model_matrix_keeps_faces_outward(ctx, template):
    # mirrored, the triangles' winding turns: the back faces were drawn and the inside of the mouth showed
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0]).astype(np.float32)
    with Renderer(ctx, RenderOptions(size=(96, 96), background=None)) as r:
        r.load(template)
        r.render(Expression(), Camera(yaw_deg=30))
        plain = r.read()
        r.render(Expression(), Camera(yaw_deg=-30), mirror)
        mirrored = r.read()
    difference = np.abs(mirrored[:, ::-1].astype(int) - plain).max(-1)
    assert (difference > 40).mean() < MIRROR_CHANGED_MAX, "the mirror image of the same view"


def test_black_hair_keeps_a_finite_highlight(template):
    from avatar_engine.render.renderer import STRAND_LUMA_FLOOR, strand_luma

    black = np.zeros((8, 8, 4), np.uint8)
    black[..., 3] = 255
    assert strand_luma(black) == STRAND_LUMA_FLOOR  # 0 divided the shader's highlight by zero


def test_a_released_renderer_says_so(ctx, template):
    r = Renderer(ctx, RenderOptions(size=(16, 16)))
    r.release()
    with pytest.raises(RuntimeError, match="released"):
        r.load(template)


TONGUE_OUT_LIGHT = 0.5
"""A tongue stuck out past the lips is lit at least this share as brightly as the skin round the mouth (mean
luminance; before, a third)."""


@pytest.mark.parametrize("shading", ["pixel", "vertex"])
def test_a_tongue_stuck_out_is_lit_like_the_face(ctx, template, shading):
    """Its occlusion and depth were those of the tongue at rest deep in the mouth: stuck out it was drawn nearly
    black. Now the shapes' depth decides (pixels of the tongue: where a green tongue differs)."""
    camera = Camera(distance=0.3, target=(0.0, 0.06, 0.12), fov_y_deg=18)
    out = Expression.from_names({"tongueOut": 1.0, "jawOpen": 0.5})
    green = dataclasses.replace(template, materials={**template.materials, "tongue": dataclasses.replace(
        template.materials["tongue"], base_color=(0.0, 1.0, 0.0, 1.0))})
    blue = dataclasses.replace(template, materials={**template.materials, "skin": dataclasses.replace(
        template.materials["skin"], base_color=(0.0, 0.0, 1.0, 1.0))})
    images = []
    for avatar in (template, green, blue):
        with Renderer(ctx, RenderOptions(size=(160, 128), shading=shading)) as renderer:
            renderer.load(avatar)
            renderer.render(out, camera)
            images.append(renderer.read()[..., :3].astype(float))
    luma = images[0] @ np.array([0.2126, 0.7152, 0.0722])
    tongue = np.abs(images[1] - images[0]).max(-1) > 40
    skin = np.abs(images[2] - images[0]).max(-1) > 40
    assert tongue.sum() > 300 and skin.sum() > 1000
    assert luma[tongue].mean() >= TONGUE_OUT_LIGHT * luma[skin].mean()


TONGUE_BLOTCH_LEVELS = 2.0
"""Seen through a wide-open mouth, the tongue's luminance departs from a smooth (quadratic) fall-off over its middle
by at most this standard deviation (0-255 levels; its baked occlusion drew faceted blotches at 4.7-5.5)."""


@pytest.mark.parametrize("shading", ["pixel", "vertex"])
def test_a_tongue_seen_through_an_open_mouth_is_one_smooth_surface(ctx, template, shading):
    """The tongue's occlusion, baked with the jaw barely open under the teeth and palate over a coarse mesh, drew a
    face-like pattern of dark blotches on it whenever the mouth opened wide (pixels of the tongue: where the render
    without it differs; its middle: those 12 pixels inside that region)."""
    from avatar_engine.build.texture_project import box_blur

    centre = template.part("tongue").positions.mean(axis=0)
    camera = Camera(distance=0.25, target=(float(centre[0]), float(centre[1]) - 0.01, float(centre[2]) + 0.04),
                    fov_y_deg=20)
    without = dataclasses.replace(template, parts=tuple(p for p in template.parts if p.name != "tongue"))
    images = []
    for avatar in (template, without):
        with Renderer(ctx, RenderOptions(size=(320, 320), shading=shading, background=STUDIO_BACKDROP)) as renderer:
            renderer.load(avatar)
            renderer.render(Expression.from_names({"jawOpen": 1.0}), camera)
            images.append(renderer.read()[..., :3].astype(float))
    tongue = np.abs(images[0] - images[1]).max(-1) > 8
    middle = tongue & (box_blur(tongue.astype(float), 12) > 0.999)
    assert middle.sum() > 1500
    luma = images[0] @ np.array([0.2126, 0.7152, 0.0722])
    y, x = np.nonzero(middle)
    trend = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], 1).astype(float)
    residual = luma[middle] - trend @ np.linalg.lstsq(trend, luma[middle], rcond=None)[0]
    assert residual.std() <= TONGUE_BLOTCH_LEVELS


LASH_SOFT_SHARE = 0.4
"""Share of the lashes' pixels that are partly covered without MSAA (alpha-tested, none were: jagged black specks
that sparkled as the head moved; blended, 0.71)."""


def test_lashes_have_soft_edges_without_msaa(ctx, template):
    only = dataclasses.replace(template, parts=tuple(p for p in template.parts
                                                     if template.materials[p.material].kind == "lash"))
    assert only.parts, "the template has lashes"
    with Renderer(ctx, RenderOptions(size=(640, 360), samples=0, background=None)) as renderer:
        renderer.load(only)
        renderer.render(Expression(), Camera(distance=0.75, target=(0.0, 0.10, 0.05)))
        alpha = renderer.read()[..., 3]
    covered = alpha[alpha > 0]
    assert covered.size > 50
    assert (covered < 255).mean() >= LASH_SOFT_SHARE


def test_a_camera_no_lens_can_have_is_refused_not_a_blank_frame():
    """far = inf gave a NaN projection and a NaN yaw a NaN view: both rendered an empty frame, silently."""
    for bad in ({"far": float("inf")}, {"yaw_deg": float("nan")}, {"pitch_deg": float("inf")},
                {"target": (0.0, float("nan"), 0.0)}, {"distance": 0.0}, {"near": 0.0}):
        with pytest.raises(ValueError, match="camera"):
            Camera(**bad)


def test_a_nan_joint_rotation_is_refused_not_a_blank_frame(renderer):
    from avatar_engine.errors import InputError

    with pytest.raises(InputError, match="head joint's rotation holds NaN"):
        renderer.render(Expression(np.zeros(52, np.float32), {"head": np.full((3, 3), np.nan)}), Camera())


CUTOFF = 0.0
ALPHA_CUTOFF_MIN_CHANGED = 0.005
"""Fraction of the frame that must change when the hair's alphaCutoff goes from 0.5 to 0: the cards' faint edges
(alpha under 0.5) draw (1.0% of this 192x192 view; ignoring the file's cutoff, nothing changed)."""


def test_the_hair_uses_its_materials_alpha_cutoff(ctx, template):
    """glTF's MASK materials carry their own alphaCutoff; a file's other cutoff drew exactly as 0.5."""
    hair = template.materials["hair"]
    assert hair.alpha_mode == "MASK" and hair.alpha_cutoff == 0.5
    loose = dataclasses.replace(template, materials={**template.materials,
                                                      "hair": dataclasses.replace(hair, alpha_cutoff=CUTOFF)})
    images = []
    for avatar in (template, loose):
        with Renderer(ctx, RenderOptions(size=(192, 192))) as r:
            r.load(avatar)
            images.append(draw(r, Expression(), Camera(yaw_deg=30)))
    changed = np.abs(images[0].astype(int) - images[1].astype(int)).max(-1) > 8
    assert changed.mean() >= ALPHA_CUTOFF_MIN_CHANGED


@pytest.mark.parametrize("args, message", [
    (("jawOpen", Camera()), r"the expression must be an avatar_engine.records.Expression .*got str"),
    ((None, Camera()), r"the expression must be an avatar_engine.records.Expression .*got NoneType"),
    ((Expression(np.zeros(51, np.float32)), Camera()), r"52 ARKit weights, got float32 of shape \(51,\)"),
    ((Expression(rotations={"head": np.eye(4)}), Camera()), r"the head joint's rotation must be a \(3, 3\) matrix"),
    ((Expression(rotations={"jaw": np.full((3, 3), np.nan)}), Camera()), "the jaw joint's rotation holds NaN"),
    ((Expression(), None), r"the camera must be .*a NoneType lacks view, projection, position, fov_y_deg"),
    ((Expression(), Camera(), np.eye(3)), r"the model matrix must be a finite \(4, 4\) matrix"),
])
def test_a_bad_frame_is_named_before_any_drawing(ctx, template, args, message):
    """Review: a name, a dict or None as the expression failed deep inside ("'str' object has no attribute
    'weights'"), 51 weights with numpy's broadcasting error; the renderer goes on afterwards."""
    from avatar_engine.errors import InputError

    with Renderer(ctx, RenderOptions(size=(32, 32))) as r:
        r.load(template)
        with pytest.raises(InputError, match=message):
            r.render(*args)
        r.render(Expression(), Camera())
        assert r.read().shape == (32, 32, 4)


def test_load_and_read_name_their_misuse(ctx, tmp_path):
    from avatar_engine.errors import InputError

    r = Renderer(ctx, RenderOptions(size=(32, 32)))
    with pytest.raises(InputError, match=r"Renderer.load takes an avatar_engine.records.Avatar \(avatar_engine.io."
                                         r"read_glb\(path\) reads one from a file\), got str"):
        r.load(str(tmp_path / "me.glb"))
    r.release()
    with pytest.raises(RuntimeError, match="this renderer was released"):
        r.read()


@pytest.mark.parametrize("options, message", [
    (dict(samples=3), r"samples must be 0 or 1 \(off\), or 2, 4, 8 MSAA samples, got 3"),
    (dict(samples=-1), "samples must be 0 or 1"),
    (dict(size=(640.0, 360.0)), r"size must be \(width, height\), two whole numbers of pixels above 0"),
    (dict(size=(0, 10)), "two whole numbers of pixels above 0"),
    (dict(size=1280), "two whole numbers of pixels above 0"),
    (dict(background="white"), r"background must be None \(transparent\) or two RGB colours"),
])
def test_render_options_no_frame_can_have_are_refused(ctx, options, message):
    """moderngl said "the number of samples is invalid" for 3, and a float size failed inside it; -1 samples
    were taken silently."""
    with pytest.raises(ValueError, match=message):
        Renderer(ctx, RenderOptions(**options))


def test_a_frame_larger_than_the_driver_draws_is_named(ctx):
    from avatar_engine.errors import InputError

    side = int(ctx.info["GL_MAX_RENDERBUFFER_SIZE"]) + 1
    with pytest.raises(InputError, match=rf"a {side}x16 frame is larger than this GL driver .* can draw"):
        Renderer(ctx, RenderOptions(size=(side, 16)))
