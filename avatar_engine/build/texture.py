"""Stage 3, texture (after Saito et al. 2017): the person's skin albedo as a complete UV texture, and iris colour.

photo -> per-texel samples with visibility and view-angle weights (`texture_project`), none where hair may lie in
another colour than the cheeks' (`hair_region.not_skin_mask`) -> the photo's lighting as order-2 SH fitted on the
fitted geometry and divided out (`delight`) -> mirror across the face's symmetry plane and a seamless fill in the
person's tone (`texture_fill`). Pure function: no I/O beyond the shipped tables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from avatar_engine.build import delight, jpeg_chroma
from avatar_engine.build.glasses import GlassesRead, detect_glasses, eye_white_lift, glasses_region
from avatar_engine.build.hair_region import (CHIN, FOREHEAD, NOT_FACE_SKIN, not_skin_mask, polygon_mask)
from avatar_engine.build.hair_region import dilate as dilate_mask
from avatar_engine.build.records import GLASSES_CHOICES, FitResult, PhotoView
from avatar_engine.build.texture_fill import (MeshSmoother, dilate, fill_base, mirror_points, mirror_samples,
                                             resize_nearest)
from avatar_engine.build.texture_project import (TexelMap, bilinear, box_blur, eye_openings, mouth_opening,
                                                 point_in_polygon, project_texels, texel_map)
from avatar_engine.build.texture_stubble import GRAIN_RELATIVE_MAX, beard_darkening, stubble_grain
from avatar_engine.build.texture_stubble import stubble_tone as read_stubble
from avatar_engine.errors import InputError
from avatar_engine.head.arkit import EYE_BLINKS
from avatar_engine.head.eyes import SCLERA_RGB
from avatar_engine.head.geometry import triangle_areas
from avatar_engine.head.model import HeadModel
from avatar_engine.head.occlusion import model_occlusion

IRIS_DIAMETER_RANGE = (0.0100, 0.0135)
"""Human iris diameters (metres): a misread ring never makes a cartoon eye."""
REFERENCE_TONE_SMOOTHNESS = 20.0
"""Mesh-Laplacian weight of the tone that outliers are judged against: smooth enough to ignore brows and lips."""
SHADED_FACE = 0.35
"""`face_light` below this warns that the skin tone is uncertain (hard light from the far side)."""
BACKLIT_FACING, DIRECTIONAL = -0.1, 0.15
"""The fitted light's main direction at a cosine below the first with the seen face's mean normal, for a light at
least the second directional (`delight.key_facing`), warns that the skin tone is uncertain: the skin the photo
shows is not the light's best-lit, and the stage, which reads the light's level there, makes it too dark. On
build_texture's renders a hard key on the far side gives -0.60 / -0.68 (Delta E 28 / 21 to the studio rebuild), the
studio key with the head turned 30 degrees away -0.14 / -0.27 (Delta E 5.2 / 4.1 to the truth, 8% too dark); every
key on the seen side is at 0.06 or above."""
SAID_LIFT = 1.4
"""An exposure lift from the eye whites (`delight.exposure_lift`) of at least this (half a stop) is reported."""
EYE_NORMAL = np.array([0.0, 0.0, 1.0])
"""Mean normal of the visible eye whites in model space (the face looks toward +Z)."""
SKIN_BALANCE = 0.6
"""Without usable eye whites, the photo's cheeks are drawn this far (log, display values) toward the default skin's
colour before decoding (`delight.skin_balance`): a cast the photo cannot reveal is undone 60%, where it was made."""
ALBEDO_PRIOR = delight.UNBALANCED_PRIOR_WEIGHT
"""...and the decoded skin colour is drawn this far toward the default skin's (`delight.albedo_scale`)."""
REFERENCE_TOLERANCE = 1e-2
"""The same for the reference tone the outlier tests read (their thresholds are 0.18-0.45 in log)."""
BROW_TEXEL = 0.05
"""Texels where the default skin's brow mask exceeds this are its painted brow (`_brow_strength`)."""
BROW_OUTLINES = NOT_FACE_SKIN[3:]
"""MediaPipe's outlines of the two brows."""
BROW_PAINTED = 0.3
"""...and the texels where the default skin's brow is at least this strong may hold the person's brow too."""
BROW_FLOOR = 0.15
"""A texel on the brows' outline darker than this share of the skin tone there is not brow (a glasses rim: 0.06
on grace_hopper.jpg; brows read 0.18-0.34 at their darkest twentieth on synthetic people)."""
RIM_ON_BROWS = 0.03
"""With glasses left out, brows of which more than this share reads as a rim (`BROW_FLOOR`) are not the person's to
keep: the frame lies across them (grace_hopper.jpg 8.2%, the astronaut with --glasses on 0.2%)."""
BROW_CEILING = 0.9
"""...and one lighter than this share is not brow either (`build_skin_texture`)."""
BROW_CHROMA = 0.2
"""...and one whose red / green or blue / green departs from the brows' median by more than this (log)."""
BROW_MARGIN = 0.015
"""The brow outlines are widened by this fraction of the face height (stray hairs, the landmarks' error)."""
EDGE_FEATHER = 10
"""Texels (at 1024) over which the photo's skin fades into the fill where the photo stops showing it (`_complete`)."""
FEATHER_TEXELS = 2
"""The brows' edge, where plain skin's detail starts to fade, is spread by a box mean of this radius (at 1024,
scaled with the size): a ramp about five texels across."""
LIP_SHARE = 0.5
"""Texels the default skin paints at least this much as lip (`synth.albedo.lip_weight`) are the lips..."""
LIP_SEEN_MIN = 150
"""...whose own colour is read when the photo shows at least this many of them well (at 1024; scales with area)..."""
LIP_TONE_MAX = 3.0
"""...within this many log units of the default lips' per channel (a red lipstick's green is about 2.5 below)."""
LIP_FREE = 0.05
"""Lip share under which a texel is no lip (the bare skin `texture_stubble` compares the beard zone with)."""
STUBBLE_GRAIN_M = 0.0012
"""Feature size (m) of the grain stubble is filled in with: about two texels at 1024, what a photo of a face a few
hundred pixels wide resolves (`synth.albedo.NOISE_CELLS_M`)."""
STUBBLE_GRAIN_SEED = 7
"""Seed of that noise (any: it is the same for every build, a function of the template's surface)."""
FOLD_FADE = 0.7
"""Where the photo's expression folds the skin fully (`expression_folds`), detail on plain skin is held to this
much less than `TextureOptions.detail_log`: the shade and sheen of a smile's nasolabial and cheek folds, a squint's
lines."""
FOLD_COMPRESSION = 0.2
"""A skin area shrunk by this fraction by the photo's expression counts as fully folded (`expression_folds`)."""
LID_FOLD = (0.25, 0.6)
"""`folded_lids`: the photo's lid skin seen shrunk by the first fraction of its closed area is read as usual, by the
second or more not at all (on the head model a blink stretches the upper lid's triangles up to 3.7 times)."""
TONE_TOLERANCE = 1e-3
"""Conjugate-gradient stop for the smooth tone fields: largest residual, log-albedo units (0.1%; texture within 1 of 255 of a tight solve)."""


@dataclass(frozen=True)
class TextureOptions:
    """How the skin texture is made."""

    size: int = 1024
    """Texture width and height (at least 1024)."""
    cos_range: tuple[float, float] = (0.2, 0.55)
    """View-angle weight ramps from 0 to 1 over this range of cos(normal, view): grazing texels are smeared."""
    mirror_trust: float = 0.8
    """Weight of the mirrored side relative to a directly seen texel (it carries the other side's shading error)."""
    outlier_log: float = 1.0
    """Texels darker than the smooth skin tone by more than exp(this) fade out (hair, lip gap); brighter ones
    only beyond twice this (highlights are mostly compressed, see `highlight_log`). At 0.45 (before session 48) a
    mole's core was rejected and filled with the skin's tone while its fainter edge stayed: a hollow ring, 2-3 of
    14-15 marks in `benchmarks/build_skin_marks.py`, none at 1.0."""
    strict_outlier_log: float = 0.45
    """`outlier_log` where a pair of glasses may sit (`build.glasses.glasses_region`), found or not: thin metal
    frames mostly go unfound (2 of 21), and there the stricter test keeps their rims off the skin. Also off plain
    skin (the lips): at 1.0 the line where the lips meet, the photo's shade, came out a dark line in their
    texture."""
    chroma_log: float = 0.18
    """Plain-skin texels whose colour (log ratios between channels) departs from the tone by more than this fade."""
    reject_margin: int = 3
    """Texels around a dark rejected one (hair, lip gap) that are distrusted too, at 1024 (scales with size)."""
    highlight_log: float = 0.12
    """Brightening above the smooth tone is compressed to at most exp(this): highlights are not albedo."""
    highlight_chroma_log: float = 0.3
    """...and a texel this far (log) above the tone takes the tone's colour, not the light's: a white shine on a lip
    kept at the compressed brightness reads as a grey-blue spot on the pink."""
    detail_log: float = 0.45
    """On plain skin, departures from the smooth tone times the default skin's structure (moles, spots, wrinkles,
    and also creases the key light shades and stray shadows) are compressed to at most exp(this) either way. At
    0.15 (before session 48) a mole kept a median 0.31 of its contrast (`benchmarks/build_skin_marks.py`)."""
    strict_detail_log: float = 0.15
    """`detail_log` where a pair of glasses may sit, found or not (as `strict_outlier_log`): an unfound frame's rims
    are detail too. Applied everywhere, 0.45 / 1.0 drew unfound frames' ghosts onto the skin (`build_glasses.py`:
    line error 0.395 -> 0.467) and darkened the skin round bare eyes (Delta E p95 9.0 -> 9.95)."""
    tone_smoothness: float = 4.0
    """Mesh-Laplacian weight of the tone field that fills the unseen head: higher = more uniform."""
    hair_colors_out: bool = True
    """With landmarks, photo pixels where hair may lie that show another colour than the cheeks'
    (`hair_region.not_skin_mask`) are not sampled: hair lighter than the skin passes the outlier tests once the
    light fit has taken it for the best-lit skin, and pales the whole face."""
    glasses: str = "auto"
    """With landmarks, the part of the face a pair of glasses may cover is not sampled: "auto" where the photo's
    glasses are found (`glasses.detect_glasses`), "on" always, "off" never. Its skin is completed from the tone
    around it, as unseen skin is."""

    def __post_init__(self) -> None:
        if self.glasses not in GLASSES_CHOICES:
            raise InputError(f"glasses must be one of {', '.join(GLASSES_CHOICES)}, got {self.glasses!r}")


@dataclass(frozen=True)
class TextureResult:
    """The skin texture and what the stage found on the way."""

    texture: np.ndarray
    """texture : (size, size, 4) uint8 sRGB skin albedo for `Material.texture`."""
    confidence: np.ndarray
    """confidence : (size, size) float32 in [0, 1]: how much of each texel comes from the photo (incl. mirrored)."""
    seen: np.ndarray
    """seen : (size, size) float32 in [0, 1]: weight of the direct (unmirrored) photo sample per texel."""
    skin_rgb: tuple[int, int, int]
    """Mean albedo of the seen face skin, texture (sRGB) units."""
    lighting: np.ndarray
    """lighting : (9, 3) float64 SH irradiance of the photo (in albedo units), per RGB channel."""
    white_balance_from_sclera: bool
    """True when the eye whites set the light's colour, False when it was assumed neutral."""
    iris_rgb: tuple[int, int, int] | None
    """Iris albedo in texture units from the iris landmarks, for `iris_texture`; None without landmarks."""
    iris_diameter: float | None
    """Iris diameter in metres from the iris landmarks and the fitted depth (clamped to the human range);
    `iris_half_angle` turns it into `iris_texture`'s parameter. None without landmarks."""
    coverage: dict[str, float]
    """Fractions of the skin layout's texels: 'seen' (> 0.5 direct), 'mirrored', 'filled'."""
    face_light: float
    """Median light on the seen face over the best-lit skin the photo shows (about 0.6-0.9 when evenly lit)."""
    key_facing: float
    """Cosine between the fitted light's main direction and the seen face's mean normal (`delight.key_facing`)."""
    warnings: tuple[str, ...] = ()
    """What may make the texture less true (for the build report)."""
    exposure_lift: float = 1.0
    """How much brighter the photo's light was read than it is (`delight.exposure_lift`; 1: as it is)."""
    glasses: GlassesRead | None = None
    """What the glasses test read (None without landmarks or with `TextureOptions.glasses` "off"), and whether their
    region was left out (`masked`)."""


def _check_inputs(photo: np.ndarray, positions: np.ndarray, uvs: np.ndarray, triangles: np.ndarray,
                  normals: np.ndarray, view: PhotoView, mask: np.ndarray | None, size: int) -> None:
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise InputError(f"texture needs an (h, w, 3) uint8 RGB photo, got {photo.shape} {photo.dtype}")
    if (photo.shape[1], photo.shape[0]) != tuple(view.size):
        raise InputError(f"photo is {photo.shape[1]}x{photo.shape[0]} but the PhotoView is {view.size[0]}x{view.size[1]}")
    n = len(positions)
    for name, arr, width in (("positions", positions, 3), ("normals", normals, 3), ("uvs", uvs, 2)):
        if arr.shape != (n, width):
            raise InputError(f"skin {name} must be ({n}, {width}), got {arr.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.max() >= n:
        raise InputError(f"skin triangles must be (m, 3) indices below {n}")
    if mask is not None and mask.shape[:2] != photo.shape[:2]:
        raise InputError(f"mask is {mask.shape[1]}x{mask.shape[0]}, the photo is {photo.shape[1]}x{photo.shape[0]}")
    if size < 1024:
        raise InputError(f"texture size must be at least 1024, got {size}")


def build_skin_texture(photo: np.ndarray, positions: np.ndarray, uvs: np.ndarray, triangles: np.ndarray,
                       normals: np.ndarray, view: PhotoView, mask: np.ndarray | None = None,
                       landmarks_px: np.ndarray | None = None, occlusion: np.ndarray | None = None,
                       folds: np.ndarray | None = None, lids: np.ndarray | None = None,
                       eyes: np.ndarray | None = None, options: TextureOptions | None = None) -> TextureResult:
    """The skin albedo of the person in `photo`.

    photo : (h, w, 3) uint8 RGB; positions, normals : (n, 3) posed skin vertices in model space (as in the photo);
    uvs : (n, 2); triangles : (m, 3); view : the photo's camera; mask : (h, w) optional, 1 on face skin (the
    segmenter's), 0 on hair and background; landmarks_px : (478, 2) optional MediaPipe landmarks in pixels, for
    white balance from the eye whites, the iris colour, the parted lips' opening and the hair where it may lie (both
    not sampled); occlusion : (n,) optional baked ambient visibility of the vertices (`head.occlusion`): the share
    of the light the renderer will take from creases and sockets is divided out of the photo's
    (`delight.occlusion_visibility`), else the photo's own shadow there is baked in and darkened again;
    folds : (n,) optional `expression_folds` of the photo's expression; lids : (n,) optional `folded_lids`, the
    share of each vertex's skin the photo sees folded into the lid's crease (left to the completion); eyes : (2, 3)
    optional, the eyeballs' centres in model space, where glasses found or said to be worn are placed
    (`glasses.glasses_region`; without them the glasses are read but not left out).
    """
    opts = options or TextureOptions()
    positions = np.asarray(positions, np.float64)
    normals = np.asarray(normals, np.float64)
    triangles = np.asarray(triangles, np.int64)
    _check_inputs(photo, positions, np.asarray(uvs), triangles, normals, view, mask, opts.size)
    tmap = texel_map(uvs, triangles, opts.size)
    # the teeth and the dark mouth between parted lips are not skin: lip texels that land there are left to the
    # completion, which carries the lip colour in from the lip around them
    opening = (mouth_opening(landmarks_px, view.size) | eye_openings(landmarks_px, view.size)
               if landmarks_px is not None else None)
    # hair over the forehead and temples, headwear and background in another colour than the cheeks': not sampled
    if landmarks_px is not None and opts.hair_colors_out:
        hair = not_skin_mask(photo, landmarks_px)
        mask = ~hair if mask is None else (np.asarray(mask) > 0.5) & ~hair
    # the frames, the lenses' tint and reflections and the bridge are not skin: the region they may cover is not sampled
    glasses, frames = None, None
    if landmarks_px is not None and opts.glasses != "off":
        glasses = detect_glasses(photo, landmarks_px)
        if (glasses.found or opts.glasses == "on") and eyes is not None:
            glasses = replace(glasses, masked=True)
            # left out exactly, not as part of the skin mask, which is eroded: the brows between the region and the
            # hair would erode away with it (the default skin's painted brows then showed in their place)
            frames = glasses_region(eyes, view, landmarks_px)
            opening = frames if opening is None else opening | frames
    proj = project_texels(view, positions, normals, triangles, tmap, mask, opts.cos_range, hidden=opening)
    if np.count_nonzero(proj.weight > 0.5) < 500:
        raise InputError("the fitted head covers too little of the photo to texture it (face not visible?)")
    # the eye whites say how strong a cast is, not how it was made: a lamp's and a filter's readings are weighed
    cast = delight.cast_balance(photo, landmarks_px) if landmarks_px is not None else None
    gains = None if cast is None else cast[0]
    skin_gains = (delight.skin_balance(photo, landmarks_px, SKIN_BALANCE)
                  if gains is None and landmarks_px is not None else None)
    # only the part of the photo the texels and the eyes sample is made linear: all of a 2048-pixel photo took
    # 0.6 s, for a face that may cover a tenth of it
    seen_ids = np.flatnonzero(proj.weight > 0)
    x0, y0, x1, y1 = _sampled_box(proj.xy[seen_ids], landmarks_px, photo.shape[:2])
    part = np.asarray(photo)[y0:y1, x0:x1]
    lift = eye_white_lift(photo, landmarks_px, glasses) if landmarks_px is not None else None

    def to_linear(display: np.ndarray) -> np.ndarray:
        """The photo's display values (crop) -> linear, white-balanced and lifted as the eye whites say."""
        balanced = display * gains if gains is not None else display * skin_gains if skin_gains is not None \
            else display
        out = delight.display_to_linear(balanced / 255.0)
        if cast is not None and cast[2] > 0.01:
            _, linear_gains, lamp = cast
            as_lamp = delight.display_to_linear(display / 255.0) * linear_gains
            out = np.exp((1 - lamp) * np.log(np.maximum(out, 1e-9)) + lamp * np.log(np.maximum(as_lamp, 1e-9)))
        if lift is not None:  # an underexposed photo: its light level read from the eye whites, not the skin's own
            out = out * lift[0]
        return out.astype(np.float32)

    linear = to_linear(part)
    # the photo's side of the head (`seen_ids`): every per-texel test below runs on these texels only (about a fifth)
    colors = bilinear(linear, proj.xy[seen_ids] - (x0, y0))
    if occlusion is not None:
        ao = tmap.interpolate(np.asarray(occlusion, np.float64)[:, None], triangles, seen_ids)[:, 0]
        visibility = np.maximum(delight.occlusion_visibility(ao), delight.VISIBILITY_FLOOR)
        colors = (colors / visibility[:, None]).astype(np.float32)
    n_tex = tmap.interpolate(normals, triangles, seen_ids)
    n_tex /= np.maximum(np.linalg.norm(n_tex, axis=1, keepdims=True), 1e-9)
    base_all = _browless_albedo(tmap)
    base = base0 = base_all[seen_ids]
    # the lips are read against the default skin's lips until their own colour is known (`_lip_tone`)
    lips_all = _lip_strength(tmap)
    lips = lips_all[seen_ids]
    lip_tone = np.zeros(3)
    # so is a man's stubble, against the default skin's bare jaw (`texture_stubble`)
    stubble_all = _stubble_strength(tmap)
    stubble = stubble_all[seen_ids]
    on_left = _on_left(tmap)[seen_ids]  # the beard is read per side of the face
    stubble_tone = np.zeros(3)
    # the person's own brows are albedo: not shadow or hair to reject, nor detail to fade, nor skin to fit the light
    # on. They may be on MediaPipe's brow outlines in the photo, or where the default skin paints its brows (the fit
    # puts the template's brow ridge on the person's)
    on_brows = _brow_strength(tmap)[seen_ids] > BROW_PAINTED
    if landmarks_px is not None:
        on_brows |= _photo_brows(landmarks_px, view.size, proj.xy[seen_ids])
    brows = on_brows
    # where glasses may sit, found or not, detail is held as before moles were kept (`TextureOptions.strict_detail_log`)
    near_eyes = np.zeros(len(seen_ids), bool)
    if landmarks_px is not None and eyes is not None:
        region = frames if frames is not None else glasses_region(eyes, view, landmarks_px)
        near_eyes = _at_photo(region, proj.xy[seen_ids])
    weight0 = proj.weight[seen_ids].astype(np.float64)
    if lids is not None:  # folded lid skin: the photo shows a sliver of it, a blink spreads that over the eye
        weight0 = weight0 * (1 - np.clip(tmap.interpolate(np.asarray(lids, np.float64)[:, None], triangles,
                                                            seen_ids)[:, 0], 0, 1))
    weight = weight0

    area = _texel_area(positions, uvs, triangles, tmap)[seen_ids]
    smoother = MeshSmoother(positions, triangles, tmap)
    reference = None
    # two rounds: fit the light, find what is not skin (hair, highlights) against the smooth tone, refit without it;
    # a third where stubble was found
    for round_ in range(3):
        if round_ == 2 and not stubble_tone.any():
            break
        good = (weight > 0.05) & ~brows
        pattern = base / np.average(base[good], axis=0, weights=weight[good])
        coeffs = delight.fit_shading(colors[good], n_tex[good], weight[good], pattern[good], area=area[good])
        rho = delight.albedo_scale(coeffs, n_tex[good], weight[good],
                                   0.0 if gains is not None else ALBEDO_PRIOR, area=area[good])
        shading = np.maximum(delight.sh_basis(n_tex) @ coeffs, 1e-4)
        albedo = np.clip(delight.without_sheen(rho * colors / shading), 1e-4, 1.0)
        log_ratio = np.log(albedo / np.maximum(base, 1e-4))
        sure = weight > 0.5 if np.count_nonzero(weight > 0.5) > 50 else weight > 0
        # highlights would lift the tone and make plain skin look like an outlier: cap them before smoothing
        cap = np.percentile(log_ratio[sure], 75, axis=0) + 0.1
        v_data, v_weight = smoother.to_vertices(np.minimum(log_ratio, cap), weight, seen_ids)
        reference = smoother.solve(v_data, v_weight, REFERENCE_TONE_SMOOTHNESS, np.median(log_ratio[sure], axis=0),
                                   tolerance=REFERENCE_TOLERANCE, start=reference)
        tone = smoother.to_texels(reference, seen_ids)
        plain = (base0 / np.median(base0[sure], axis=0)).min(1) > 0.6
        shade = np.exp(log_ratio - tone) @ delight.LUMA  # luminance over the smooth tone
        brows = _own_brows(on_brows, albedo, shade, tmap, seen_ids, opts)
        weight = weight0 * np.where(brows, 1.0, _skin_likelihood(log_ratio - tone, plain, weight0, tmap, seen_ids,
                                                                 opts, near_eyes))
        # where the fitted light is near zero the division only amplifies noise
        lit = (shading / rho) @ delight.LUMA
        weight = weight * np.clip((lit / np.percentile(lit[good], 90) - 0.02) / 0.08, 0, 1)
        if round_ == 0:
            # the person's lips against the default skin's: read against those, paler lips were compressed as a
            # highlight toward the default lips' colour and darker ones rejected as shadow, and unseen lips (a smile
            # showing the teeth) filled with the default lips' colour (`benchmarks/build_lips.py`)
            lip_tone = _lip_tone(log_ratio - tone, lips, weight0, opts.size)
            # the stubble darkens a zone as wide as the smooth tone's reach: read against the bare default skin it
            # went into the tone and came out faint where the photo shows it, and the jaw's sides and the
            # underside of the chin, which it does not show, were filled clean-shaven (`benchmarks/build_stubble.py`)
            skin_beside = plain & ~brows & (lips < LIP_FREE)
            beard = beard_darkening(log_ratio, stubble, skin_beside, weight, on_left, opts.size)
            stubble_tone = read_stubble(beard)
            base = base0 * _own_colours(lips, lip_tone, stubble, stubble_tone)
        elif round_ == 1 and stubble_tone.any():
            # the first round's light took part of the zone's darkening for light from above: what the second
            # still reads, against the zone darkened by what was taken, is added for a third (the margin is taken
            # off the sum again, so a bare jaw's shade read just past it stays faint)
            still = beard_darkening(log_ratio, stubble, skin_beside, weight, on_left, opts.size)
            stubble_tone = read_stubble(stubble_tone + (0.0 if still is None else still))
            base = base0 * _own_colours(lips, lip_tone, stubble, stubble_tone)
    if frames is not None and on_brows.any():
        # a frame's rim across the brows (browline frames): what is left of them between the rims reads as patches
        # of skin, rim and brow; the default skin's brows are drawn instead
        if np.mean(shade[on_brows] < BROW_FLOOR) > RIM_ON_BROWS:
            weight = np.where(on_brows, 0.0, weight)
            brows = np.zeros_like(brows)
    # how lit the face the photo shows is, against the best-lit skin it shows (1: evenly lit)
    facing = weight0 > 0.5
    face_light = float(np.median(lit[facing]) / max(np.percentile(lit[weight0 > 0.05], 90), 1e-9))
    # specular highlights are added light, not albedo: compress what stands above the smooth tone
    excess = np.maximum(log_ratio - tone, 0).mean(1, keepdims=True)
    albedo = albedo * np.exp(opts.highlight_log * np.tanh(excess / opts.highlight_log) - excess)
    albedo = _tone_chroma(albedo, base * np.exp(tone), np.clip(excess / opts.highlight_chroma_log, 0.0, 1.0))
    # on plain skin, what the photo adds to the default skin's structure is mostly not albedo at this scale:
    # creases shaded by the key light, glasses frames and their shadows, blur; keep it, but faint
    off = np.log(np.maximum(albedo, 1e-6) / np.maximum(base, 1e-4)) - tone
    limit = np.where(near_eyes, opts.strict_detail_log, opts.detail_log)[:, None]
    if folds is not None:  # where the photo's expression folds the skin, its detail is the fold's shade and sheen
        fold = np.clip(tmap.interpolate(np.asarray(folds, np.float64)[:, None], triangles, seen_ids), 0, 1)
        limit = limit * (1 - FOLD_FADE * fold)
    faint = limit * np.tanh(off / limit)
    # the brows keep their detail, and the skin beside them fades in over a few texels, so that the per-pixel brow
    # test does not cut stair-stepped edges between kept and faded detail (a pale flake at a brow's end where a
    # strand crossed it); a thin brow keeps all of its own
    feather = max(1, FEATHER_TEXELS * opts.size // 1024)
    kept = np.maximum(brows, _local_mean(brows.astype(np.float64), tmap, seen_ids, feather))
    fade = np.where(plain, 1.0 - kept, 0.0)
    albedo = albedo * np.exp((faint - off) * fade[:, None])
    own = _own_colours(lips_all, lip_tone, stubble_all, stubble_tone)
    fill = _base_albedo(tmap) * own
    if stubble_tone.any():
        # stubble filled in as a smooth darkening reads as a shadow on the jaw: it gets the grain the photo shows
        grain = stubble_grain(np.log(np.maximum(albedo, 1e-6) / np.maximum(base, 1e-4)) - tone, stubble,
                              skin_beside, weight)
        relative = min(grain / -float(stubble_tone @ delight.LUMA), GRAIN_RELATIVE_MAX)
        fill = fill * np.exp((stubble_all * _stubble_noise(tmap) * relative)[:, None] * stubble_tone)
    final, total = _complete(albedo, weight, seen_ids, base_all * own, tmap, smoother, opts, start=reference,
                             fill=fill)

    texture = _padded_texture(final, tmap)
    face = (weight > 0.5 if np.count_nonzero(weight > 0.5) > 50 else weight > 0) & ~brows
    skin = delight.albedo_to_texture(np.average(albedo[face], axis=0, weights=weight[face]))
    iris, diameter = None, None
    if landmarks_px is not None:
        diameter = iris_diameter(landmarks_px, view, positions)
        at_part = np.asarray(landmarks_px, np.float64) - (x0, y0)
        # a JPEG's irises read greyer: their colour is solved through its colour blur (`_irises_unmixed`)
        unmixed = _irises_unmixed(part, at_part)
        iris = iris_albedo(linear if unmixed is None else to_linear(unmixed), at_part,
                           rho / np.maximum(delight.sh_basis(EYE_NORMAL[None])[0] @ coeffs, 1e-4))
    lighting = coeffs / rho
    warnings = []
    wanted = None if lift is None else delight.wanted_lift(lift[1])
    if wanted is not None and wanted > delight.MAX_LIFT:
        warnings.append(f"texture: the photo is too dark to correct fully (eye whites at level {lift[1]:.0f} of "
                        f"about {delight.EXPOSED_EYE_WHITES:.0f} ask for "
                        f"{np.log2(wanted):.1f} EV; at most {np.log2(delight.MAX_LIFT):.0f} "
                        "EV is taken, as darker whites are mostly noise): the skin will come out darker than it "
                        "is; a brighter photo gives a truer texture")
    elif lift is not None and lift[0] >= SAID_LIFT:
        warnings.append(f"texture: the photo is underexposed (eye whites at level {lift[1]:.0f} of about "
                        f"{delight.EXPOSED_EYE_WHITES:.0f}): the skin's tone is read {np.log2(lift[0]):.1f} EV "
                        "brighter, as the eye whites say; a brighter photo gives a truer texture")
    if lift is None and glasses is not None and glasses.found and landmarks_px is not None:
        through = delight.exposure_lift(photo, landmarks_px)
        if through is not None and through[0] >= SAID_LIFT:
            warnings.append(f"texture: the eye whites, seen through glasses, read {np.log2(through[0]):.1f} EV "
                            "underexposed; lenses darken them, so the photo's light is taken as it is (the skin may "
                            "come out dark: a well-lit photo gives a truer texture)")
    if landmarks_px is not None and gains is None:
        warnings.append("texture: no usable eye whites (closed or small eyes, glasses, or JPEG colour bleeding skin "
                        "tone into them): white balance assumed neutral; a larger photo of open eyes corrects it")
    if glasses is not None and glasses.masked:
        warnings.append("texture: " + ("glasses found" if glasses.found else "glasses said to be worn") +
                        ": the skin their frames and lenses may cover is filled in from the skin around it (a photo "
                        "without glasses gives the person's own)")
    if face_light < SHADED_FACE:
        warnings.append(f"texture: the face is mostly in shade ({face_light:.2f} of the best-lit skin): "
                        "skin tone uncertain; a more evenly lit photo gives a truer texture")
    facing, directional = delight.key_facing(coeffs, n_tex, weight)
    if facing < BACKLIT_FACING and directional > DIRECTIONAL:
        warnings.append("texture: the main light is on the far side of the head, so the face the photo shows is not "
                        "its best-lit skin: skin tone uncertain (it tends to come out too dark); a photo lit from the "
                        "front gives a truer texture")
    n = len(tmap.texels)
    seen_count = int(np.count_nonzero(weight > 0.5))
    return TextureResult(
        texture=texture, confidence=tmap.image(np.clip(total, 0, 1)[:, None])[..., 0],
        seen=tmap.image(weight[:, None], subset=seen_ids)[..., 0], skin_rgb=tuple(int(c) for c in skin),
        lighting=lighting, white_balance_from_sclera=gains is not None, iris_rgb=iris, iris_diameter=diameter,
        face_light=face_light, key_facing=facing, warnings=tuple(warnings),
        exposure_lift=1.0 if lift is None else lift[0], glasses=glasses,
        coverage={"seen": seen_count / n, "mirrored": float(np.count_nonzero(total > 0.5)) / n - seen_count / n,
                  "filled": float(np.mean(total <= 0.5))})


def _texel_area(positions: np.ndarray, uvs: np.ndarray, triangles: np.ndarray, tmap) -> np.ndarray:
    """(t,) surface each covered texel stands for, relative (mean 1): the skin's UV layout gives the face more
    texels a millimetre than the rest of the head (`head/skin_layout.py`), and the light is fitted to skin, not
    to texels."""
    per_face = triangle_areas(positions, triangles) / np.maximum(triangle_areas(uvs, triangles), 1e-12)
    area = per_face[tmap.face]
    return area / max(float(area.mean()), 1e-12)


def _tone_chroma(albedo: np.ndarray, tone: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """albedo (t, 3) with its colour (rgb over luminance) moved `amount` (t, 1) of the way, in log, to `tone`'s
    (t, 3): luminance kept."""
    luma = lambda c: np.maximum(c @ delight.LUMA, 1e-9)[:, None]  # noqa: E731
    ratio = (tone / luma(tone)) / np.maximum(albedo / luma(albedo), 1e-9)
    moved = albedo * ratio ** amount
    return moved * (luma(albedo) / luma(moved))


def prepare_layout(uvs: np.ndarray, triangles: np.ndarray, size: int = 1024) -> None:
    """Build and cache what depends on the UV layout alone (texel map, default skin with and without its brows,
    mirror points), so that the first photo does not pay for it. uvs : (n, 2); triangles : (m, 3) of the skin
    part."""
    tmap = texel_map(uvs, triangles, size)
    _browless_albedo(tmap)
    mirror_points(tmap)


def texture_from_fit(photo: np.ndarray, fit: FitResult, mask: np.ndarray | None = None,
                     model: HeadModel | None = None, options: TextureOptions | None = None) -> TextureResult:
    """`build_skin_texture` for the reconstruction stage's answer: the skin part of the posed head, its normals,
    the photo's camera, MediaPipe's landmarks (white balance, iris) and the fitted rest head's baked occlusion."""
    model = model or HeadModel.default()
    vs, ts = model.part_slices("skin")
    normals = model.normals(fit.posed_positions)[vs]
    occlusion = model_occlusion(model, fit.neutral_positions)[vs]
    triangles = model.triangles[ts] - vs.start
    folds = expression_folds(fit.neutral_positions[vs], fit.posed_positions[vs], triangles)
    blink = model.expression_offsets[EYE_BLINKS].sum(0)
    lids = folded_lids(fit.posed_positions[vs], fit.neutral_positions[vs] + blink[vs], triangles)
    eyes = eye_centres(model, fit.posed_positions)
    return build_skin_texture(photo, fit.posed_positions[vs], model.uvs[vs], triangles, normals, fit.view,
                              mask=mask, landmarks_px=fit.landmarks_px, occlusion=occlusion, folds=folds,
                              lids=lids, eyes=eyes, options=options)


def eye_centres(model: HeadModel, positions: np.ndarray) -> np.ndarray:
    """(2, 3) the eyeballs' centres (right, left) in `positions` (the model's vertices, posed or not): the
    texture stage's `eyes`, where a pair of glasses may sit."""
    return np.array([positions[model.part_slices(name)[0]].mean(0) for name in ("eye_R", "eye_L")])


def expression_folds(rest: np.ndarray, posed: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(n,) in [0, 1] per vertex: how far the photo's expression shrinks the skin around it (rest, posed : (n, 3);
    triangles : (m, 3)), 1 from `FOLD_COMPRESSION` on. Shrunk skin folds, and the fold's shade is not albedo."""
    return np.clip(_shrinkage(rest, posed, triangles) / FOLD_COMPRESSION, 0, 1)


def folded_lids(posed: np.ndarray, blinked: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(n,) in [0, 1] per vertex: how much of the skin round it the photo sees folded away that a blink spreads
    out (posed : (n, 3) as in the photo; blinked : (n, 3) the rest face with both eyes shut): 0 up to `LID_FOLD[0]`
    shrinkage of the closed lid's area, 1 from `LID_FOLD[1]`. The open eye's upper lid lies in its crease, a
    sliver of lashes, liner and shade in the photo: read as albedo, a blink smeared it across the eye."""
    lo, hi = LID_FOLD
    return np.clip((_shrinkage(blinked, posed, triangles) - lo) / (hi - lo), 0, 1)


def _shrinkage(before: np.ndarray, after: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(n,) per vertex: 1 - the area of its triangles after over before (before, after : (n, 3)), weighted by
    their area before."""
    before_area = triangle_areas(before, triangles)
    ratio = triangle_areas(after, triangles) / np.maximum(before_area, 1e-12)
    corners = np.asarray(triangles).ravel()
    total = np.bincount(corners, np.repeat(ratio * before_area, 3), minlength=len(before))
    weight = np.bincount(corners, np.repeat(before_area, 3), minlength=len(before))
    return 1 - total / np.maximum(weight, 1e-12)


def _skin_likelihood(off: np.ndarray, plain: np.ndarray, weight: np.ndarray, tmap: TexelMap, ids: np.ndarray,
                     opts: TextureOptions, near_eyes: np.ndarray) -> np.ndarray:
    """(s,) in [0, 1]: how much each texel of `ids` (s,) looks like the person's skin.

    off : (s, 3) log albedo over the smooth tone; plain : (s,) the default skin is plain skin there (not lips, brows);
    weight : (s,) the photo's confidence before this test; near_eyes : (s,) bool where glasses may sit (their
    stricter `strict_outlier_log`, as off plain skin)
    """
    # each test removes at most half of the seen skin: a light the SH cannot follow (a hard side key) makes
    # whole regions look "off", and rejecting them all would leave nothing to fit
    seen = weight > 0.5 if np.count_nonzero(weight > 0.5) > 50 else weight > 0

    strict = near_eyes | ~plain
    floor = np.where(strict, opts.strict_outlier_log, opts.outlier_log)

    def limit(values: np.ndarray, floor: float | np.ndarray) -> float | np.ndarray:
        return np.maximum(floor, float(np.percentile(values[seen], 50)))

    darker = np.maximum(-off, 0).max(1)
    brighter = np.where(plain, off.max(1), 0)
    chroma = np.where(plain, np.abs(off - off.mean(1, keepdims=True)).max(1), 0)
    # darker than the tone: hair, stubble shadow, the gap between the lips
    d = limit(darker, floor)
    dark = np.exp(-np.maximum(darker - d, 0) ** 2 / (0.5 * d) ** 2)
    # brighter only counts on plain skin (a blurred brow in the photo reads brighter than the sharp base brow)
    b = limit(brighter, 2 * floor)
    bright = np.exp(-np.maximum(brighter - b, 0) ** 2 / (0.5 * b) ** 2)
    # a colour skin does not take (glasses frames, a hat, background)
    c = limit(chroma, opts.chroma_log)
    hue = np.exp(-np.maximum(chroma - c, 0) ** 2 / (0.5 * c) ** 2)
    # stray strands are thinner than the texels that see them: widen each dark rejection by a few texels
    margin = max(1, opts.reject_margin * opts.size // 1024)
    reject = _spread(dark < 0.1, tmap, ids, margin)
    return dark * bright * hue * np.clip(1.0 - 1.5 * reject, 0, 1)


def _local_mean(values: np.ndarray, tmap: TexelMap, ids: np.ndarray, radius: int) -> np.ndarray:
    """(s,) mean of `values` (s,) over the texels of `ids` (s,) in the (2 radius + 1)^2 UV box around each: texels
    outside `ids` (unseen, the gutters between islands) do not count; seen texels of a neighbouring island do."""
    return _spread(values, tmap, ids, radius) / np.maximum(_spread(np.ones(len(ids)), tmap, ids, radius), 1e-9)


def _spread(flags: np.ndarray, tmap: TexelMap, ids: np.ndarray, radius: int) -> np.ndarray:
    """(s,) fraction of flagged texels in the (2 radius + 1)^2 UV box around each texel of `ids` (s,); flags (s,)
    bool. Only the bounding box of `ids` is filtered, not the whole layout."""
    rows, cols = tmap.texels[ids] // tmap.size, tmap.texels[ids] % tmap.size
    r0, c0 = rows.min(), cols.min()
    grid = np.zeros((rows.max() - r0 + 1, cols.max() - c0 + 1))
    grid[rows - r0, cols - c0] = flags
    return box_blur(grid, radius)[rows - r0, cols - c0]


def _complete(albedo: np.ndarray, weight: np.ndarray, ids: np.ndarray, base: np.ndarray, tmap: TexelMap,
              smoother: MeshSmoother, opts: TextureOptions, start: np.ndarray | None = None,
              fill: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mirror, then fill: (t, 3) albedo of every covered texel, and (t,) how much of it the photo gave.

    albedo : (s, 3), weight : (s,) for the seen texels `ids` (s,); base : (t, 3) the default skin's albedo the
    tone is read against; fill : (t, 3) what the tone multiplies where the photo gives nothing (default: base)."""
    n = len(tmap.texels)
    seen_weight = np.zeros(n)
    seen_weight[ids] = weight
    # the other side of the face, trusted a little less than what is seen: a weight-normalised bilinear sample
    # of the seen albedo at each texel's mirror point (no seen texel, no sample)
    weight_img = tmap.image(weight[:, None], subset=ids)
    w_there = mirror_samples(weight_img, tmap)[:, 0]
    mirrored_ids = np.flatnonzero(w_there > 1e-6)
    w_mirror = np.zeros(n)
    w_mirror[mirrored_ids] = opts.mirror_trust * w_there[mirrored_ids] * (1 - seen_weight[mirrored_ids])
    mirrored = mirror_samples(tmap.image(albedo * weight[:, None], subset=ids), tmap, mirrored_ids)
    mirrored /= w_there[mirrored_ids, None]
    total = seen_weight + w_mirror
    known = np.flatnonzero(total > 0)
    combined = np.zeros((n, 3))
    combined[ids] = weight[:, None] * albedo
    combined[mirrored_ids] += w_mirror[mirrored_ids, None] * mirrored
    combined[known] /= total[known, None]
    # the default skin's structure times a smooth tone field solved on the mesh, blended in where the photo is not
    log_ratio = np.log(np.maximum(combined[known], 1e-4) / np.maximum(base[known], 1e-4))
    v_data, v_weight = smoother.to_vertices(log_ratio, total[known], known)
    t_known = total[known]
    sure = t_known > 0.5 if np.count_nonzero(t_known > 0.5) > 50 else t_known > 0
    prior = np.average(log_ratio[sure], axis=0, weights=t_known[sure])
    tone = smoother.to_texels(smoother.solve(v_data, v_weight, opts.tone_smoothness, prior,
                                             tolerance=TONE_TOLERANCE, start=start).astype(np.float32))
    filled = (base if fill is None else fill) * np.exp(tone)
    alpha = np.clip(total, 0.0, 1.0)
    # the photo fades out over EDGE_FEATHER texels where it stops (a mask's edge: glasses, a cap's brim, hair), not
    # at one texel: its light and detail met the smooth fill there in a hard line
    radius = max(1, int(round(EDGE_FEATHER * tmap.size / 1024)))
    ramp = np.clip(2.0 * _spread(alpha, tmap, np.arange(n), radius) - 1.0, 0.0, 1.0)
    alpha = np.minimum(alpha, ramp)[known][:, None]
    filled[known] = alpha * combined[known] + (1 - alpha) * filled[known]
    return filled, total


def _template_surface(tmap: TexelMap) -> tuple[np.ndarray, float, float]:
    """The template head at rest on the layout: (t, 3) its surface point at each covered texel, and its eyes' height
    and depth (what the synthetic painter's brow, lip and beard zones are functions of)."""
    model = HeadModel.default()
    vs, ts = model.part_slices("skin")
    rest = tmap.interpolate(model.positions[vs].astype(np.float64), model.triangles[ts] - vs.start)
    eye = model.joint_rest[model.joint_names.index("eye_L")]
    return rest, float(eye[1]), float(eye[2])


def _on_left(tmap: TexelMap) -> np.ndarray:
    """(t,) bool: the covered texels on the template's left side (+x), cached per layout (the rest surface itself is
    not: 58 MB at 2048)."""
    if tmap.key not in _LEFT:
        left = _template_surface(tmap)[0][:, 0] > 0
        left.setflags(write=False)
        _LEFT[tmap.key] = left
    return _LEFT[tmap.key]


_LEFT: dict[tuple, np.ndarray] = {}


def _brow_strength(tmap: TexelMap) -> np.ndarray:
    """(t,) float32 in [0, 1]: how much of a brow the default skin paints at each covered texel (the same
    `synth.albedo.brow_mask` of the template's rest surface that `scripts/make_skin_texture.py` paints with),
    cached per layout."""
    if tmap.key not in _BROWS:
        from avatar_engine.synth.albedo import brow_mask

        strength = brow_mask(*_template_surface(tmap)).astype(np.float32)
        strength.setflags(write=False)
        _BROWS[tmap.key] = strength
    return _BROWS[tmap.key]


_BROWS: dict[tuple, np.ndarray] = {}


def _lip_strength(tmap: TexelMap) -> np.ndarray:
    """(t,) float32 in [0, 1]: how much of a lip the default skin paints at each covered texel (the
    `synth.albedo.lip_weight` synthetic people's lips are painted by), cached per layout."""
    if tmap.key not in _LIPS:
        from avatar_engine.synth.albedo import lip_weight, srgb_to_linear

        base = srgb_to_linear(resize_nearest(fill_base(), tmap.size).reshape(-1, 3)[tmap.texels] * 255.0)
        strength = lip_weight(base, *_template_surface(tmap)).astype(np.float32)
        strength.setflags(write=False)
        _LIPS[tmap.key] = strength
    return _LIPS[tmap.key]


_LIPS: dict[tuple, np.ndarray] = {}


def _lip_tone(off: np.ndarray, lips: np.ndarray, weight: np.ndarray, size: int) -> np.ndarray:
    """(3,) log linear colour of the person's lips over the default skin's lips, beyond the skin's own tone: the
    median of `off` ((s, 3) log albedo over the default skin times the smooth tone) over the lip texels (`lips` (s,)
    lip share over `LIP_SHARE`) the photo shows well (`weight` (s,) over 0.5); zeros when it shows fewer than
    `LIP_SEEN_MIN` (scaled to `size`). The median passes over the crease where the lips meet and a highlight."""
    sure = (lips > LIP_SHARE) & (weight > 0.5)
    if np.count_nonzero(sure) < LIP_SEEN_MIN * (size / 1024) ** 2:
        return np.zeros(3)
    return np.clip(np.median(off[sure], axis=0), -LIP_TONE_MAX, LIP_TONE_MAX)


def _own_colours(lips: np.ndarray, lip_tone: np.ndarray, stubble: np.ndarray, stubble_tone: np.ndarray
                 ) -> np.ndarray:
    """(k, 3) what the default skin is multiplied by to be read as this person's: their lips' colour (`lip_tone`
    (3,) log) where the default skin paints lips (`lips` (k,) share) and their stubble's (`stubble_tone`) over the
    beard zone (`stubble` (k,) share)."""
    return np.exp(lips[:, None] * lip_tone + stubble[:, None] * stubble_tone)


def _stubble_strength(tmap: TexelMap) -> np.ndarray:
    """(t,) float32 in [0, 1]: where a beard grows at each covered texel (`synth.albedo.stubble_weight`, the zone
    synthetic people's stubble is painted on, less the lips), cached per layout."""
    if tmap.key not in _STUBBLE:
        from avatar_engine.synth.albedo import stubble_weight

        strength = (stubble_weight(*_template_surface(tmap)) * (1 - _lip_strength(tmap))).astype(np.float32)
        strength.setflags(write=False)
        _STUBBLE[tmap.key] = strength
    return _STUBBLE[tmap.key]


_STUBBLE: dict[tuple, np.ndarray] = {}


def _stubble_noise(tmap: TexelMap) -> np.ndarray:
    """(t,) float32 fine noise of zero mean and unit spread over the template's rest surface (`solid_noise`, features
    `STUBBLE_GRAIN_M` wide), cached per layout: the grain stubble is filled in with."""
    if tmap.key not in _STUBBLE_NOISE:
        from avatar_engine.synth.albedo import solid_noise

        noise = solid_noise(_template_surface(tmap)[0], STUBBLE_GRAIN_M, STUBBLE_GRAIN_SEED)
        noise = ((noise - noise.mean()) / max(float(noise.std()), 1e-6)).astype(np.float32)
        noise.setflags(write=False)
        _STUBBLE_NOISE[tmap.key] = noise
    return _STUBBLE_NOISE[tmap.key]


_STUBBLE_NOISE: dict[tuple, np.ndarray] = {}


def _browless_albedo(tmap: TexelMap) -> np.ndarray:
    """(t, 3) float32 the default skin's albedo with its painted brows filled in from the skin around them, cached
    per layout: the reference the photo's skin is read against, so that the person's own brows, wherever the photo
    shows them, are not rejected as shadow on plain skin and the painted ones are not imposed where the photo shows
    skin."""
    if tmap.key not in _BROWLESS:
        base = _base_albedo(tmap)
        painted = _brow_strength(tmap) > BROW_TEXEL
        size = tmap.size
        if size > 1024:  # the default skin is painted at 1024: above, each of its texels is a block the mask must cover
            everywhere = np.arange(len(tmap.texels))
            painted = _spread(painted, tmap, everywhere, size // 1024 - 1) > 0
        image = tmap.image(base)
        keep = np.zeros(size * size, bool)
        keep[tmap.texels[~painted]] = True
        filled = dilate(image, keep.reshape(size, size), smooth=True).reshape(-1, 3)[tmap.texels]
        browless = np.where(painted[:, None], filled, base).astype(np.float32)
        browless.setflags(write=False)
        _BROWLESS[tmap.key] = browless
    return _BROWLESS[tmap.key]


_BROWLESS: dict[tuple, np.ndarray] = {}


def _own_brows(on_brows: np.ndarray, albedo: np.ndarray, shade: np.ndarray, tmap: TexelMap, ids: np.ndarray,
               opts: TextureOptions) -> np.ndarray:
    """(s,) bool: the texels of `ids` (s,) where brows may be (`on_brows`) that hold the person's brow.

    albedo : (s, 3) as read; shade : (s,) its luminance over the smooth skin tone there. A brow is darker than the
    skin (`BROW_CEILING`: a lighter colour is skin, or hair falling over the brow's end), not far darker
    (`BROW_FLOOR`: a glasses frame's rim, judged as elsewhere with the texels beside it) and one colour
    (`BROW_CHROMA` from the brows' median)."""
    rim = on_brows & (shade < BROW_FLOOR)
    beside_rim = _spread(rim, tmap, ids, max(1, 2 * opts.reject_margin * opts.size // 1024)) > 0
    brows = on_brows & (shade < BROW_CEILING) & ~beside_rim
    if brows.any():
        chroma = np.log(np.maximum(albedo[:, [0, 2]], 1e-6) / np.maximum(albedo[:, 1:2], 1e-6))
        brows &= np.abs(chroma - np.median(chroma[brows], axis=0)).max(1) < BROW_CHROMA
    return brows


def _at_photo(mask: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(s,) bool: `mask` (h, w) at the photo positions xy (s, 2) (pixel centres at half-integers)."""
    h, w = mask.shape
    x = np.clip(np.round(xy[:, 0] - 0.5).astype(np.int64), 0, w - 1)
    y = np.clip(np.round(xy[:, 1] - 0.5).astype(np.int64), 0, h - 1)
    return mask[y, x]


def _photo_brows(landmarks_px: np.ndarray, size: tuple[int, int], xy: np.ndarray) -> np.ndarray:
    """(s,) bool: the texels whose photo position xy (s, 2) lies on the person's brows (MediaPipe's brow outlines,
    widened by `BROW_MARGIN` of the face height)."""
    lm = np.asarray(landmarks_px, np.float64)
    w, h = size
    brows = np.zeros((h, w), bool)
    for outline in BROW_OUTLINES:
        brows |= polygon_mask((w, h), lm[list(outline)])
    margin = max(1, int(round(BROW_MARGIN * float(lm[CHIN, 1] - lm[FOREHEAD, 1]))))
    return _at_photo(dilate_mask(brows, margin), xy)


def _base_albedo(tmap: TexelMap) -> np.ndarray:
    """(t, 3) float32 linear albedo of the default skin (no scalp paint) at each covered texel, cached per layout."""
    if tmap.key not in _BASES:
        base = delight.texture_to_albedo(resize_nearest(fill_base(), tmap.size) * 255.0).reshape(-1, 3)[tmap.texels]
        base = base.astype(np.float32)
        base.setflags(write=False)
        _BASES[tmap.key] = base
    return _BASES[tmap.key]


_BASES: dict[tuple, np.ndarray] = {}


def _padded_texture(albedo: np.ndarray, tmap: TexelMap) -> np.ndarray:
    """(t, 3) linear albedo of the covered texels -> (size, size, 4) uint8 texture, the gutters between UV islands
    padded smoothly from the islands (mipmaps and bilinear filtering never pull in black)."""
    size = tmap.size
    covered = np.zeros(size * size, bool)
    covered[tmap.texels] = True
    image = dilate(tmap.image(albedo), covered.reshape(size, size), smooth=True)
    rgb = delight.albedo_to_texture(image)
    return np.dstack([rgb, np.full((size, size), 255, np.uint8)])


IRIS_UNMIX_MARGIN = 3
"""Pixels of skin round each eye opening that its colour solve (`_irises_unmixed`) takes in."""
IRIS_INNER = 0.45
"""Within this fraction of the iris radius lie the pupil and the collarette (`_iris_ring` reads from 0.45 to 0.85):
solved as one part with the ring, `build_iris.py --jpeg 85` read median 5.54, 90th percentile 12.51; apart, 5.22 and
12.30 (19 subjects nearer, 4 further). Splitting off the rim beyond 0.85 too was far worse (7.98 on 16)."""
IRIS_CATCHLIGHT = 2.0
"""Iris pixels this many times the iris's median lightness are its catchlight, solved apart. On a dark iris that
takes in its lighter fibres and the lit rim at the limbus too, whose chromaticity is not the ring's: a floor of 128
on the lightness, which kept them with the iris, took `build_iris.py --jpeg 85` from median 5.54 to 5.97."""
SAMPLE_MARGIN = 2
"""Pixels kept round what the texels and the eyes sample (`_sampled_box`): bilinear reads one beyond a point."""


def _sampled_box(xy: np.ndarray, landmarks_px: np.ndarray | None, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) the photo's pixels that sampling at `xy` (t, 2) and round the landmarks (478, 2) reads, in
    a photo of `size` (h, w): the box of both, widened by `SAMPLE_MARGIN`, within the photo. Sampling clamps at the
    photo's border, and a box that stops short of it stops short of every sample too: the same values either way."""
    h, w = size
    points = np.asarray(xy, np.float64).reshape(-1, 2)
    if landmarks_px is not None:
        points = np.concatenate([points, np.asarray(landmarks_px, np.float64)[:, :2]])
    if not len(points):
        return 0, 0, w, h
    lo = np.floor(points.min(0)).astype(int) - SAMPLE_MARGIN
    hi = np.ceil(points.max(0)).astype(int) + SAMPLE_MARGIN
    x0, y0 = (int(np.clip(v, 0, max(n - 2, 0))) for v, n in zip(lo, (w, h)))
    x1, y1 = (int(np.clip(v, min(start + 2, n), n)) for v, start, n in zip(hi, (x0, y0), (w, h)))
    return x0, y0, x1, y1


def iris_albedo(linear: np.ndarray, landmarks_px: np.ndarray, gain: np.ndarray) -> tuple[int, int, int]:
    """Iris colour in texture units, read two ways whose errors are largely independent, and their geometric mean:
    - the median of each iris ring between pupil and limbus, times `gain` (3,), which turns photo light into albedo
      at the eyes (the face's fitted light);
    - the same ring against the eye whites beside it (`delight.sclera_color`), times the eye white's own albedo: both
      lie on the eyeball under one light, so neither the light nor its colour enters.
    On 48 synthetic people with random iris colours (seeds 7000-7023, 7100-7123) the first alone was Delta E 6.9
    (median) / 8.0 (mean) from the truth, the second 5.5 / 7.6, their mean 4.2 / 5.8; on benchmarks/build_iris.py's
    seeds 7000-7047 the first alone 5.3 / 8.0, the mean 3.8 / 6.1. Without usable eye whites (glasses, closed eyes)
    the first alone. linear : (h, w, 3) photo, linear; landmarks_px : (478, 2)."""
    ring = _iris_ring(linear, landmarks_px)
    if ring is None:
        return (84, 110, 140)
    lit = ring * gain
    whites = _eye_whites(linear, landmarks_px)
    if whites is not None:
        beside = ring / np.maximum(delight.display_to_linear(whites / 255.0), 1e-4) \
            * delight.texture_to_albedo(np.array(SCLERA_RGB, np.float64))
        lit = np.sqrt(np.maximum(lit, 1e-6) * np.maximum(beside, 1e-6))
    return tuple(int(c) for c in delight.albedo_to_texture(lit))


def _irises_unmixed(rgb: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """The photo (crop, display 0-255) with each iris's colour solved through a JPEG's colour blur
    (`jpeg_chroma.part_chromaticities`: the iris's ring, its pupil and collarette, its catchlight, the eye white and
    the skin round the eye as the parts), or None when no eye's colour was subsampled."""
    h, w = rgb.shape[:2]
    out, changed = np.asarray(rgb, np.float64).copy(), False
    for contour, iris_points in zip(delight.EYE_CONTOURS, delight.IRISES):
        poly = landmarks_px[list(contour)]
        centre = landmarks_px[iris_points[0]]
        radius = float(np.linalg.norm(landmarks_px[list(iris_points[1:])] - centre, axis=1).mean())
        m = IRIS_UNMIX_MARGIN
        x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - m, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + m + 1, [w, h])
        if x1 - x0 < 8 or y1 - y0 < 8 or radius < 1.0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
        opening = point_in_polygon(xx.ravel(), yy.ravel(), poly).reshape(xx.shape)
        r = np.hypot(xx - centre[0], yy - centre[1]) / radius
        disc = opening & (r < 1.0)
        patch = out[y0:y1, x0:x1]
        luma = patch @ delight.LUMA
        ring = disc & (r > IRIS_INNER)  # the iris's own lightness, not the pupil's
        if not ring.any():
            continue
        catchlight = disc & (luma > IRIS_CATCHLIGHT * np.median(luma[ring]))
        iris = disc & ~catchlight
        if np.count_nonzero(iris) < 4:
            continue
        # the ring the iris is read from apart from the pupil and the collarette round it, whose chromaticity differs
        ring_part, inner = iris & (r >= IRIS_INNER), iris & (r < IRIS_INNER)
        k = jpeg_chroma.part_chromaticities(patch, [ring_part, inner, catchlight, opening & ~disc, ~opening])
        if k is None:
            continue
        restored = jpeg_chroma.with_chromaticity(patch, ring_part, k[0])
        out[y0:y1, x0:x1] = np.clip(jpeg_chroma.with_chromaticity(restored, inner, k[1]), 0, 255)
        changed = True
    return out if changed else None


def _eye_whites(linear: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """`delight.sclera_color` of the linear photo, display 0-255 (3,), or None: only the eyes' box is re-encoded
    (a whole 2048-pixel photo would take ~0.5 s)."""
    h, w = linear.shape[:2]
    eyes = np.asarray(landmarks_px, np.float64)[[i for contour in delight.EYE_CONTOURS for i in contour]]
    x0, y0 = np.maximum(np.floor(eyes.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(eyes.max(0)).astype(int) + 2, [w, h])
    if x1 <= x0 or y1 <= y0:
        return None
    crop = delight.linear_to_display(linear[y0:y1, x0:x1]) * 255.0
    return delight.sclera_color(crop, np.asarray(landmarks_px, np.float64) - [x0, y0])


def _iris_ring(linear: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """Median linear colour (3,) of both iris rings between pupil and limbus (not lashes, pupil or catchlight)."""
    h, w = linear.shape[:2]
    samples = []
    for ring in delight.IRISES:
        centre = landmarks_px[ring[0]]
        radius = np.linalg.norm(landmarks_px[list(ring[1:])] - centre, axis=1).mean()
        if radius < 1.0:
            continue
        x0, y0 = np.maximum(np.floor(centre - radius).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(centre + radius).astype(int), [w - 1, h - 1])
        if x1 < x0 or y1 < y0:  # the iris lies beyond the photo's edge
            continue
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1] + 0.5
        r = np.hypot(xx - centre[0], yy - centre[1]) / radius
        pix = linear[y0:y1 + 1, x0:x1 + 1][(r > 0.45) & (r < 0.85)]
        if len(pix):
            luma = pix @ delight.LUMA
            lo, hi = np.percentile(luma, [20, 80])  # not lashes or pupil, not the catchlight
            samples.append(pix[(luma >= lo) & (luma <= hi)])
    if not samples or not sum(len(s) for s in samples):
        return None
    return np.median(np.concatenate(samples), axis=0)


def iris_diameter(landmarks_px: np.ndarray, view: PhotoView, positions: np.ndarray) -> float:
    """Iris diameter in metres: each iris ring's radius in pixels, at the depth of the fitted lids around it.

    landmarks_px : (478, 2); positions : (n, 3) posed skin vertices in model space
    """
    xy, depth = view.project(positions), view.depth(positions)
    sizes = []
    for ring in delight.IRISES:
        centre = landmarks_px[ring[0]]
        a, b, c, d = landmarks_px[list(ring[1:])]
        # the larger of the two diameters across the ring: a turned head foreshortens only one of them
        radius = max(np.linalg.norm(a - c), np.linalg.norm(b - d)) / 2
        near = np.linalg.norm(xy - centre, axis=1) < 2.5 * radius
        if radius > 0.5 and np.count_nonzero(near) >= 3:
            sizes.append(2 * radius * np.median(depth[near]) / view.focal_px)
    if not sizes:
        return float(np.mean(IRIS_DIAMETER_RANGE))
    return float(np.clip(np.mean(sizes), *IRIS_DIAMETER_RANGE))


def iris_half_angle(diameter: float, eye_radius: float) -> float:
    """`iris_texture`'s angular iris radius (radians) for an iris `diameter` on an eyeball of `eye_radius` (m)."""
    return float(np.arcsin(np.clip(diameter / 2 / eye_radius, 0.1, 0.95)))
