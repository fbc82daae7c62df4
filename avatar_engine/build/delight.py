"""Remove the photo's lighting: order-2 spherical-harmonic shading fitted on the fitted geometry, then divided out.

The photo's colour at a skin texel is modelled as albedo x shading(normal), shading = 9 SH coefficients per
channel. Albedo and light trade off (a redder face or a redder light), so the fit assumes the person's albedo
follows the default skin's pattern (lips, brows) times one unknown colour, and two conventions fix the rest:
- colour: the eye whites are white, so their colour in the photo sets the white balance, before anything else:
  as gains on display values (an editor's filter) or on linear light (a coloured lamp, seen through the tone
  curve's shoulder), whichever leaves the more plausible skin and keeps the whites' lit and shaded parts one colour
  (`cast_balance`); the balanced light is then taken as the studio's colour at the face's mean normal;
- level: the brightest-lit tenth of the face receives the irradiance the studio key gives (`REFERENCE_IRRADIANCE`),
  which holds whether the light comes from the front or the side; what the skin's sheen adds to every tone alike is
  then taken back off (`without_sheen`). Both constants come from `scripts/calibrate_delight.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_engine.build import jpeg_chroma
from avatar_engine.build.image import LUMA
from avatar_engine.build.texture_project import EYE_CONTOURS, point_in_polygon
from avatar_engine.head.geometry import sh_basis
from avatar_engine.head.occlusion import light_share

REFERENCE_IRRADIANCE = (1.157, 1.108, 1.113)
"""Per channel: luminance of the 90th-percentile shading over the visible face's area, in albedo units
(`scripts/calibrate_delight.py`: studio renders of the default skin at four tones recover their albedo; counted
by skin area, not texels, the constants hold for any UV layout: re-run after the face got its own island, they
moved by under 1%; re-run once the baked occlusion was divided out of the photo (`occlusion_visibility`), 1.2%;
re-run when the skin's grazing Fresnel was capped by its roughness, red 2.7%; re-run when the level took in the
skin seen at a slant (`LEVEL_MIN_WEIGHT`), under 1.3%)."""
LEVEL_MIN_WEIGHT = 0.3
"""Texels the photo shows with at least this weight (facing the camera within about 71 degrees) count for the
brightest-lit tenth; the light's colour is still read from the surer ones (over 0.5, about 68 degrees). A key on the
far side of the head lights best the skin the photo shows at a slant: counted from 0.5, such a photo's level was
read too low and the skin too dark (build_light, subject 3000 lit from its left: Delta E 5.17 -> 4.50 from
the studio rebuild; side keys and casts 20/21 -> 21/21 within 5; the studio photos nearer the truth, build_texture
L1 4.53 -> 4.23; the side keys' median worse, 2.23 -> 2.64)."""
SKIN_SPECULAR = (0.033, 0.0222, 0.0212)
"""Linear albedo per channel that the skin's sheen adds to the reading, the same whatever the tone (about skin's
Fresnel reflectance, 0.028, in the studio key's warm colour), taken off every texel (`without_sheen`;
`scripts/calibrate_delight.py`). Without it dark skin came out 11% too light and very dark skin 20%: build_texture,
studio light, Delta E of the mean albedo to the truth on dark skin 3.50 / 3.04 -> 0.91 / 0.34 (front, 15 degrees),
median over every case 3.76 -> 2.60; the texture tests' dark head 2.83 -> 0.30. Re-run when the renderer's skin
Fresnel was capped by its roughness at grazing views: red 0.027 -> 0.030, green and blue 0.024 -> 0.021; re-run
with `LEVEL_MIN_WEIGHT`: red 0.033, green 0.0222, blue 0.0212."""
SPECULAR_MAX_SHARE = 0.5
"""The sheen never takes more than this share of a channel: a matte photo of very dark skin keeps its level."""
SKIN_GAMUT = ((0.38, 0.85), (0.2, 0.75), (0.008, 0.7))
"""Mean skin albedo bounds (linear): green / red, blue / red, luminance; from very light to very dark skin."""
SKIN_DISPLAY = (215.0, 179.0, 159.0)
"""Display colour of the default skin's cheeks under the studio light (renders of the default head)."""
SKIN_CHROMA_PRIOR = (0.59, 0.42)
"""Green / red and blue / red of the default skin's mean linear albedo: the colour assumed most likely."""
UNBALANCED_PRIOR_WEIGHT = 0.6
"""Without usable eye whites, the skin colour is drawn this far (log) toward `SKIN_CHROMA_PRIOR`: a colour cast the
photo cannot reveal moves the result 40% as far, and a photo's warm cast does not turn the skin orange."""
SH_RIDGE = (0.0, 0.01, 0.05)
"""Ridge penalty per SH band (0, 1, 2) relative to the mean diagonal of the normal equations: one view sees only a hemisphere of normals."""
SCLERA_DISPLAY = (220.0, 219.0, 219.0)
"""Display colour of the eye whites' lit half under the studio light (calibrated on renders of the default head)."""
DECODE_CEILING = 0.92
"""Display values (squared) above this decode as this: near white the inverse curve is so steep that a 4% change
of a display value (a cast, a clipped channel) changes the light by 80% (renders' skin stays below it)."""
FIT_SAMPLES = 12000

# MediaPipe face-mesh iris rings (indices into the 478 landmarks; the eye outlines are texture_project.EYE_CONTOURS)
IRISES = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))
EYE_COLOUR_MARGIN = 4
"""Pixels around each eye's box read with it: the neighbourhood a JPEG mixed the whites' colour with
(`jpeg_chroma.unmixed_colours`)."""
SKIN_PATCHES = (50, 280, 205, 425, 151)
"""Cheek and forehead landmarks where plain skin is sampled to check the eye whites against."""
SCLERA_VS_SKIN = 0.85
"""Eye whites must have a red / blue ratio below this fraction of the skin's (renders of our head: 0.64-0.74
under studio, tinted and cast light; lid skin read as white: about 1)."""


def display_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Undo the renderer's display transform (gamma 2 after an ACES curve): (..., 3) uint8 or [0,1] -> linear."""
    y = np.asarray(rgb, np.float64)
    y = (y / 255.0 if np.asarray(rgb).dtype == np.uint8 else y) ** 2
    y = np.minimum(y, DECODE_CEILING)  # the curve flattens at white: clipped highlights carry no information
    # y = c (2.51 c + 0.03) / (c (2.43 c + 0.59) + 0.14)  ->  a c^2 + b c + k = 0
    a, b, k = 2.43 * y - 2.51, 0.59 * y - 0.03, 0.14 * y
    return (-b - np.sqrt(np.maximum(b * b - 4 * a * k, 0.0))) / (2 * a)


def linear_to_display(linear: np.ndarray) -> np.ndarray:
    """The renderer's display transform (shaders/lib/lighting.glsl to_display at exposure 1): linear -> [0, 1]."""
    c = np.maximum(np.asarray(linear, np.float64), 0.0)
    return np.sqrt(np.clip(c * (2.51 * c + 0.03) / (c * (2.43 * c + 0.59) + 0.14), 0.0, 1.0))


def albedo_to_texture(albedo: np.ndarray) -> np.ndarray:
    """Linear albedo (..., 3) -> uint8 texture values as the renderer decodes them (c * c)."""
    return np.clip(np.round(np.sqrt(np.clip(albedo, 0, 1)) * 255), 0, 255).astype(np.uint8)


def texture_to_albedo(texture: np.ndarray) -> np.ndarray:
    return (np.asarray(texture[..., :3], np.float64) / 255.0) ** 2


VISIBILITY_FLOOR = 0.25
"""Photo light is divided by no less than this visibility: deeper cavities (nostrils, mouth corners) would only
amplify noise, and the renderer keeps them dark anyway."""


def occlusion_visibility(ao: np.ndarray) -> np.ndarray:
    """The share of an open point's light (0-1) that the renderer gives skin with baked ambient visibility `ao`
    (`head.occlusion.light_share`). The texture stage divides it out of the photo: the renderer puts it back, so a
    crease or socket the photo shows dark is not darkened twice."""
    return light_share(ao)


def fit_shading(colors: np.ndarray, normals: np.ndarray, weights: np.ndarray, pattern: np.ndarray,
                iterations: int = 4, area: np.ndarray | None = None) -> np.ndarray:
    """Least-squares SH shading with the albedo pattern known up to a colour; robust to highlights and hair.

    colors : (t, 3) linear photo colour; normals : (t, 3); weights : (t,) confidence; pattern : (t, 3) relative
    albedo (the default skin's, mean 1 on the face); area : (t,) optional surface each sample stands for (texels
    of a denser UV island stand for less skin: with it the fit weighs the skin, not the layout)
    returns : (9, 3) coefficients of albedo colour x shading per channel
    """
    area = np.ones(len(colors)) if area is None else np.asarray(area, np.float64)
    if len(colors) > FIT_SAMPLES:  # a regular subsample: 9 x 3 unknowns need far fewer than every texel
        keep = np.linspace(0, len(colors) - 1, FIT_SAMPLES).astype(np.int64)
        colors, normals, weights, pattern, area = colors[keep], normals[keep], weights[keep], pattern[keep], area[keep]
    basis = sh_basis(normals)
    outer = (basis[:, :, None] * basis[:, None, :]).reshape(len(basis), 81)  # (t, 81): once, not per iteration
    ridge = np.array(SH_RIDGE)[[0, 1, 1, 1, 2, 2, 2, 2, 2]]
    coeffs = np.zeros((9, 3))
    robust = np.ones((len(colors), 3))
    for _ in range(iterations):
        # the three channels' normal equations at once (einsum: no BLAS threads to wake for 9 x 9 products)
        wp = (weights * area)[:, None] * robust * pattern  # (t, 3)
        lhs = np.einsum("tc,tk->ck", wp * pattern, outer).reshape(3, 9, 9)
        rhs = np.einsum("tc,ti->ci", wp * colors, basis)
        lhs += ridge[None, :, None] * np.eye(9)[None] * (np.trace(lhs, axis1=1, axis2=2) / 9)[:, None, None]
        coeffs = np.linalg.solve(lhs, rhs[..., None])[..., 0].T
        pred = np.maximum((basis @ coeffs) * pattern, 1e-6)
        # multiplicative residual: highlights and stray hair are far off in log space, skin detail is not
        r = np.abs(np.log(np.maximum(colors, 1e-6) / pred))
        scale = 1.4826 * np.median(r[weights > 0.5], axis=0) + 0.02 if np.any(weights > 0.5) else 0.1
        robust = 1.0 / np.maximum(1.0, r / (2.0 * scale))
    return coeffs


@dataclass(frozen=True)
class EyePixels:
    """Display colours inside both eye openings, outside the irises (`_eye_pixels`)."""

    colours: np.ndarray
    """colours : (n, 3) float, 0-255."""
    mixed: bool
    """Whether a JPEG mixed their colour with their neighbours' (`jpeg_chroma`): then the least saturated are not
    the cleanest whites but those most mixed with the lashes and irises."""

    def __len__(self) -> int:
        return len(self.colours)


def _eye_pixels(photo: np.ndarray, landmarks_px: np.ndarray) -> EyePixels:
    """The display colours inside both eye contours and outside the irises, catchlights (every channel clipped)
    left out: eye whites, with lid skin and lashes at the contours' edges."""
    h, w = photo.shape[:2]
    samples, mixed = [], []
    clipped = (photo >= 252).all(-1)
    for contour, iris in zip(EYE_CONTOURS, IRISES):
        poly = landmarks_px[list(contour)]
        centre = landmarks_px[iris[0]]
        radius = np.linalg.norm(landmarks_px[list(iris[1:])] - centre, axis=1).mean()
        x0, y0 = np.floor(poly.min(0)).astype(int)
        x1, y1 = np.ceil(poly.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1] + 0.5
        inside = point_in_polygon(xx.ravel(), yy.ravel(), poly)
        outside_iris = np.hypot(xx.ravel() - centre[0], yy.ravel() - centre[1]) > 1.15 * radius
        ok = inside & outside_iris & ~clipped[y0:y1 + 1, x0:x1 + 1].ravel()
        # a JPEG mixed the whites' colour with the lashes' and the iris's beside them: read with a margin, unmixed
        m = EYE_COLOUR_MARGIN
        bx0, by0, bx1, by1 = max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, w - 1), min(y1 + m, h - 1)
        colours, was_mixed = jpeg_chroma.unmixed_colours(photo[by0:by1 + 1, bx0:bx1 + 1])
        colours = colours[y0 - by0:y1 - by0 + 1, x0 - bx0:x1 - bx0 + 1]
        samples.append(colours.reshape(-1, 3)[ok])
        mixed.append(was_mixed)
    return EyePixels(np.concatenate(samples) if samples else np.zeros((0, 3)), any(mixed))


def _whitest(eyes: EyePixels) -> np.ndarray:
    """The bright, unsaturated part of eye pixels: the top quarter by luminance, then (unless a JPEG mixed their
    colour) its less saturated half. (n, 3)."""
    pix = eyes.colours
    luma = pix @ LUMA
    pix = pix[luma >= np.percentile(luma, 75)]
    if eyes.mixed:
        # build_texture --jpeg 85, the editor's warm cast on the frontal template: the less saturated half read
        # its whites (236, 216, 181) for the lossless (244, 219, 178), the skin Delta E 9.72 from the truth; the
        # whole quarter (and `sclera_shades` out of the choice) 3.08
        return pix
    saturation = (pix.max(1) - pix.min(1)) / np.maximum(pix.max(1), 1.0)
    return pix[saturation <= np.percentile(saturation, 50)]


def sclera_color(photo: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """Colour (0-255 display units) of the eye whites, or None when too few are seen.

    Inside the eye contours and outside the irises, the white is the bright, unsaturated part: lids and lashes
    are darker, lid skin is more saturated. Catchlights (every channel clipped) are left out; a white clipped in one
    channel by a strong cast still counts (it under-reads that channel a little rather than losing the white).
    photo : (h, w, 3) display values 0-255; landmarks_px : (478, 2)
    """
    return _sclera_of(_eye_pixels(photo, landmarks_px))


def _sclera_of(eyes: EyePixels) -> np.ndarray | None:
    """`sclera_color` of eye pixels from `_eye_pixels`."""
    return None if len(eyes) < 12 else np.median(_whitest(eyes), axis=0)


def sclera_shades(eyes: EyePixels) -> tuple[np.ndarray, np.ndarray] | None:
    """The eye whites at two light levels: the lit white and its shaded part (lids, the eyeball's curve), display
    colours (3,) each, or None when the eyes show too little of either. eyes : `_eye_pixels`.

    A filter's cast scales both alike in display values; a lamp's scales both alike in linear light, which the
    tone curve's shoulder turns into a weaker display cast on the lit white than on the shaded one
    (`cast_choice_from_colors`). Only pixels below the decode ceiling count: both must decode exactly.
    """
    if eyes.mixed:
        # the shaded whites lie along the lids, lashes and irises whose colour a JPEG mixed into theirs: on
        # build_texture --jpeg 85 they called the template's warm lamps an editor's cast (lamp 0.00-0.38, from 1.00)
        return None
    pix = eyes.colours[eyes.colours.max(1) <= 255.0 * np.sqrt(DECODE_CEILING)]
    if len(pix) < 12:
        return None
    lit = np.median(_whitest(eyes), axis=0)
    lo, hi = SCLERA_SHADE_BAND
    luma = pix @ LUMA
    band = pix[(luma >= lo * (lit @ LUMA)) & (luma <= hi * (lit @ LUMA))]
    # lid skin is far from the lit white's colour whichever way a cast was made; a shaded white is near it one way
    near_display = np.abs(_log_chroma(band) - _log_chroma(lit)).max(1)
    near_linear = np.abs(_log_chroma(display_to_linear(band / 255.0)) -
                         _log_chroma(display_to_linear(lit / 255.0))).max(1)
    shaded = band[np.minimum(near_display, near_linear) <= SCLERA_SHADE_CHROMA]
    return None if len(shaded) < SCLERA_SHADE_MIN_PIXELS else (lit, np.median(shaded, axis=0))


def _log_chroma(rgb: np.ndarray) -> np.ndarray:
    """log(green / red), log(blue / red): (..., 3) -> (..., 2)."""
    rgb = np.maximum(np.asarray(rgb, np.float64), 1e-9)
    return np.log(rgb[..., 1:] / rgb[..., :1])


def skin_color(photo: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """Median display colour (3,) of the cheeks and the forehead's centre, or None when none of them is in the photo.
    photo : (h, w, 3) display values 0-255; landmarks_px : (478, 2)."""
    h, w = photo.shape[:2]
    iod = np.linalg.norm(landmarks_px[IRISES[0][0]] - landmarks_px[IRISES[1][0]])
    r = max(2, int(round(0.08 * iod)))
    patches = []
    for x, y in np.round(landmarks_px[list(SKIN_PATCHES)]).astype(int):
        patch = photo[max(y - r, 0):min(y + r + 1, h), max(x - r, 0):min(x + r + 1, w)]
        patches.append(patch.reshape(-1, 3))
    pix = np.concatenate(patches)
    return np.median(pix, axis=0) if len(pix) else None


def _eye_white_and_skin(photo: np.ndarray, landmarks_px: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray | None, EyePixels] | None:
    """The eye whites' and the cheeks' display colours, and the eye pixels they were read from; None when the eyes
    give no usable white."""
    photo = np.asarray(photo, np.float64)
    eyes = _eye_pixels(photo, landmarks_px)
    sclera = _sclera_of(eyes)
    if sclera is None:
        return None
    # what the eye contour shows must be much less red than the skin beside it (any cast tints both alike):
    # squinting eyes or eyes behind tinted lenses show lid skin, which would turn the whole face grey
    skin = skin_color(photo, landmarks_px)
    if skin is not None and (sclera[0] / max(sclera[2], 1.0)) / (skin[0] / max(skin[2], 1.0)) > SCLERA_VS_SKIN:
        return None
    return sclera, skin, eyes


EXPOSED_EYE_WHITES = 213.0
"""Display luminance of usable eye whites in a well-exposed photo: on synthetic people of any skin tone 201-215
under studio light, 190-219 under hard side keys, 205-218 under tungsten; the astronaut's 218."""
LIFT_FROM, GREY_EYE_WHITES = 190.0, 165.0
"""Eye whites (display luminance) under the first say the photo may be underexposed, under the second that it is:
the lift grows from none to full between them, so a photo a little darker builds a skin a little lighter, not
another one (a switch at 165 left the astronaut at -1.2 EV dark-skinned and at -1.3 EV fair). The astronaut reads
182 at -1 EV, 135 at -1.5, 84 at -3; no synthetic person under a hard side key reads under 190."""
MAX_LIFT = 8.0
"""The most the exposure is lifted (3 EV): darker whites are mostly noise and rounding."""


def exposure_lift(photo: np.ndarray, landmarks_px: np.ndarray) -> tuple[float, float] | None:
    """(factor, eye-white level): how much brighter, in linear light, the photo is read than it is, and its eye
    whites' display level; None when the eye whites are unusable or bright enough (`LIFT_FROM`). Grey whites
    (`GREY_EYE_WHITES` and under) are lifted all the way to where a good exposure shows them
    (`EXPOSED_EYE_WHITES`), at most `MAX_LIFT`. The skin's light level is otherwise taken from its own brightest-lit
    tenth, which cannot tell a dim photo from a dark skin: the eye whites can (a dark skin's are as white as a fair
    one's)."""
    whites = eye_whites(photo, landmarks_px)
    level = None if whites is None else float(whites @ LUMA)
    if level is None or level >= LIFT_FROM:
        return None
    share = min((LIFT_FROM - level) / (LIFT_FROM - GREY_EYE_WHITES), 1.0)
    return float(min(wanted_lift(level), MAX_LIFT) ** share), level


def wanted_lift(level: float) -> float:
    """How much brighter, in linear light, eye whites at display `level` would have to be read to show as a good
    exposure's (`EXPOSED_EYE_WHITES`): `exposure_lift`'s factor before its `MAX_LIFT` cap."""
    seen, wanted = display_to_linear(np.array([level, EXPOSED_EYE_WHITES]) / 255.0)
    return float(wanted / max(seen, 1e-4))


def lifted(display: np.ndarray, factor: float) -> np.ndarray:
    """Display colours (..., 3) 0-255 as they would read with the light `factor` times brighter (`exposure_lift`)."""
    return linear_to_display(display_to_linear(np.asarray(display, np.float64) / 255.0) * factor) * 255.0


def eye_whites(photo: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """The eye whites' display colour (3,) 0-255 when the eyes show usable whites (`white_balance`'s test: open,
    and much less red than the skin beside them, not lid skin), else None."""
    seen = _eye_white_and_skin(photo, landmarks_px)
    return None if seen is None else seen[0]


def _display_gains(sclera: np.ndarray) -> np.ndarray | None:
    # green kept, as a camera's white-balance multipliers and an editor's red / blue casts keep it: keeping the
    # luminance instead left a cool cast's skin 10% too dark and still too blue (build_texture: relit within
    # Delta E 5, 24/32 -> 28/32; cool casts 5.1-6.0 -> 3.1-3.4)
    gains = np.asarray(SCLERA_DISPLAY) / np.maximum(sclera, 1.0)
    gains /= gains[1]
    return None if np.any(gains < 0.6) or np.any(gains > 1.6) else gains


def white_balance(photo: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """Per-channel display-space gains (3,) that make the eye whites look as they do under the studio light, with
    green kept (exposure is not the white balance's to change); None when the eyes give no usable white (closed, too
    small, implausibly coloured).

    photo : (h, w, 3) uint8; landmarks_px : (478, 2). The gains apply to display values, where a cast made by an
    image editor is exactly a per-channel factor. A coloured light scales linear radiance instead, and the whites
    sit on the tone curve's shoulder where display values compress, so such casts are under-corrected (about half):
    `cast_balance` weighs both readings.
    """
    seen = _eye_white_and_skin(photo, landmarks_px)
    return None if seen is None else _display_gains(seen[0])


CAST_CHOICE_SIGMA = 0.1
"""Spread (log chroma) of skin colours around `SKIN_CHROMA_PRIOR` when choosing how a cast was made."""
SCLERA_SHADE_SIGMA = 0.06
"""Spread (log chroma) of an eye white's shaded part against its lit part once a cast is undone the right way
(build_light's renders: 0.00-0.13; read the wrong way, 0.25-1.0 for a filter's cast and 0.13-0.2 for a lamp's)."""
SCLERA_SHADE_BAND = (0.6, 0.85)
"""Luminance of the eye white's shaded part, as fractions of the lit white's: darker is mostly lid and lashes,
brighter is too close to the lit white to tell the tone curve's bend."""
SCLERA_SHADE_CHROMA = 0.25
"""A shaded eye-white pixel is within this (log chroma, each ratio) of the lit white, in display or in linear values
(lid skin: 0.4 and more either way; a lamp's or a filter's cast read the other way: up to 0.2 on renders)."""
SCLERA_SHADE_MIN_PIXELS = 10
WEAK_CAST = (0.03, 0.06)
"""Display gains whose largest |log| is below the first are read as a filter's (the two readings agree, and a lamp's
gains, read off the tone curve's shoulder, would magnify the eye whites' noise); above the second, the evidence
decides."""


def cast_balance(photo: np.ndarray, landmarks_px: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The eye whites' white balance read both ways: display gains (3,) as `white_balance` gives them, linear-light
    gains (3,) (a coloured lamp scales radiance before the camera's tone curve; luminance kept), and how likely
    (0-1) the cast was a lamp's (`cast_choice_from_colors`). None when the eyes give no usable white."""
    seen = _eye_white_and_skin(photo, landmarks_px)
    if seen is None:
        return None
    sclera, skin, eyes = seen
    display = _display_gains(sclera)
    if display is None:
        return None
    linear = display_to_linear(np.asarray(SCLERA_DISPLAY) / 255.0) / np.maximum(display_to_linear(sclera / 255.0), 1e-6)
    linear /= linear @ LUMA
    if sclera.max() >= 255.0 * np.sqrt(DECODE_CEILING):
        # a white clipped by the cast decodes to the ceiling whatever its light was: the linear reading is void (a
        # green cast of 1.25 read that way made the skin pink and the irises red); the display reading only
        # under-corrects the clipped channel
        return display, linear, 0.0
    lamp = cast_choice_from_colors(skin, display, linear, sclera_shades(eyes))
    return display, linear, lamp


def cast_choice_from_colors(skin: np.ndarray | None, display_gains: np.ndarray, linear_gains: np.ndarray,
                            whites: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """How likely (0-1) a cast was made in linear light (a coloured lamp) rather than on display values (an
    editor's filter), given that both gains explain the eye whites. Two kinds of evidence, added as log-odds:
    - the cheeks (skin (3,), display 0-255) each would leave, against the skin-colour prior. A lamp's cast seen
      through a tone curve's shoulder barely moves the whites, so undone as a filter it leaves the skin tinted; a
      filter's cast undone as a lamp's overshoots. Either error leaves a skin colour far from any person's, unless
      the person's own colour lies as far from the prior the other way (a skin 0.2 below it in both ratios, a
      filter's warm cast read as a lamp's: build_light's subject_3000, lamp probability 0.88 from the skin alone);
    - the eye whites' lit and shaded parts (`sclera_shades`: display (3,) each), which are one colour: a filter
      keeps their display chroma equal, a lamp their linear chroma. A filter's cast read as a lamp's would leave
      the shaded white twice as blue as red.
    None for either: that evidence is missing; with neither, a filter's."""

    def distance(linear: np.ndarray) -> float:
        chroma = _log_chroma(linear) - np.log(SKIN_CHROMA_PRIOR)
        return float(chroma @ chroma)

    strength = np.abs(np.log(display_gains)).max()
    weak, strong = WEAK_CAST
    evident = float(np.clip((strength - weak) / (strong - weak), 0, 1))
    if evident == 0 or (skin is None and whites is None):
        return 0.0
    z = 0.0  # log-odds for a filter
    if skin is not None:
        as_filter = display_to_linear(np.clip(skin * display_gains, 0, 255) / 255.0)
        as_lamp = display_to_linear(skin / 255.0) * linear_gains
        z += (distance(as_lamp) - distance(as_filter)) / (2 * CAST_CHOICE_SIGMA ** 2)
    if whites is not None:
        lit, shaded = whites
        off_filter = _log_chroma(shaded) - _log_chroma(lit)
        off_lamp = _log_chroma(display_to_linear(shaded / 255.0)) - _log_chroma(display_to_linear(lit / 255.0))
        z += (off_lamp @ off_lamp - off_filter @ off_filter) / (2 * SCLERA_SHADE_SIGMA ** 2)
    return evident * float(1.0 / (1.0 + np.exp(np.clip(z, -50, 50))))


def skin_balance(photo: np.ndarray, landmarks_px: np.ndarray, weight: float) -> np.ndarray | None:
    """Display-space gains (3,) that draw the cheeks' colour `weight` of the way (in log) toward the default
    skin's under the studio light (`SKIN_DISPLAY`), luminance kept: a white balance for photos without usable eye
    whites. Applied where a cast is made (display values), before the steep decode near white. None: no skin seen.
    photo : (h, w, 3) uint8; landmarks_px : (478, 2)."""
    skin = skin_color(np.asarray(photo, np.float64), landmarks_px)
    if skin is None or weight <= 0:
        return None
    gains = (np.asarray(SKIN_DISPLAY) / np.maximum(skin, 1.0)) ** weight
    return gains / (gains @ LUMA)


def albedo_scale(coeffs: np.ndarray, normals: np.ndarray, weights: np.ndarray,
                 prior_weight: float = 0.0, area: np.ndarray | None = None) -> np.ndarray:
    """The person's mean skin colour rho (3,) linear, so that albedo = rho * colour / (basis @ coeffs).

    `basis @ coeffs` is rho x irradiance. The light is taken as the studio's colour at the face's mean normal
    (the photo is white-balanced first) and its level from `REFERENCE_IRRADIANCE` at the brightest-lit tenth.
    A face seen almost wholly in deep shade says little about either: the answer is kept inside `SKIN_GAMUT`.
    prior_weight : in [0, 1], how far the colour (green / red, blue / red, in log) is drawn toward `SKIN_CHROMA_PRIOR`:
    without a white reference the light's colour and the skin's cannot be told apart (`UNBALANCED_PRIOR_WEIGHT`).
    area : (t,) optional surface each texel stands for: the mean and the brightest tenth are of the skin's area.
    """
    area = np.ones(len(weights)) if area is None else np.asarray(area, np.float64)
    shading = np.maximum(sh_basis(normals) @ coeffs, 1e-6)  # (t, 3) = rho * irradiance
    good = weights > 0.5 if np.count_nonzero(weights > 0.5) > 50 else weights > 0
    chroma = np.average(shading[good], axis=0, weights=weights[good] * area[good])
    seen = weights > LEVEL_MIN_WEIGHT if np.count_nonzero(weights > LEVEL_MIN_WEIGHT) > 50 else good
    irradiance_luma = (shading[seen] / chroma) @ LUMA
    level = weighted_percentile(irradiance_luma, area[seen], 90)
    rho = chroma * level / np.asarray(REFERENCE_IRRADIANCE)
    (gr_lo, gr_hi), (br_lo, br_hi), (l_lo, l_hi) = SKIN_GAMUT
    chroma = np.maximum(rho[1:], 1e-9) / max(rho[0], 1e-9)
    chroma = chroma ** (1 - prior_weight) * np.asarray(SKIN_CHROMA_PRIOR) ** prior_weight
    g = np.clip(chroma[0], gr_lo, gr_hi) * rho[0]
    b = np.clip(chroma[1], br_lo, br_hi) * rho[0]
    clamped = np.array([rho[0], g, b])
    return clamped * np.clip(rho @ LUMA, l_lo, l_hi) / max(clamped @ LUMA, 1e-9)


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-th percentile (0-100) of values (n,) where each counts with its weight (n,) >= 0."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][min(np.searchsorted(cumulative, q / 100 * cumulative[-1]), len(values) - 1)])


def key_facing(coeffs: np.ndarray, normals: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Where the fitted light's main direction points against the face the photo shows: the cosine between the
    direction its first SH band peaks in (luminance) and the mean normal of the well-seen texels, and how
    directional the light is (that band's strength over the ambient band's; near 0 the direction means nothing).
    coeffs : (9, 3) from `fit_shading`; normals : (t, 3) unit; weights : (t,)."""
    c = np.asarray(coeffs) @ LUMA
    direction = np.array([c[3], c[1], c[2]])  # sh_basis orders band 1 as y, z, x
    length = float(np.linalg.norm(direction))
    good = weights > 0.5 if np.count_nonzero(weights > 0.5) > 50 else weights > 0
    mean = np.average(normals[good], axis=0, weights=weights[good])
    mean /= max(float(np.linalg.norm(mean)), 1e-9)
    return float(direction @ mean / max(length, 1e-9)), length / max(abs(float(c[0])), 1e-9)


def without_sheen(albedo: np.ndarray) -> np.ndarray:
    """Skin albedo (..., 3) read as photo light over fitted shading, less the sheen that light holds (`SKIN_SPECULAR`
    off every channel, never more than `SPECULAR_MAX_SHARE` of one). The sheen adds the same light to every tone: as
    a share of the reading it is large on dark skin. Taken off each texel, not off the level, so darker texels (brows,
    lips) lose the same amount as the cheeks and the light scale the iris is read with stays the photo's."""
    return np.maximum(albedo - np.asarray(SKIN_SPECULAR), (1 - SPECULAR_MAX_SHARE) * albedo)


def linear_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Linear sRGB (..., 3) -> CIELAB (..., 3), D65 white: for colour differences (Delta E 1976)."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = np.asarray(rgb, np.float64) @ m.T / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
