"""Loading a photo: any file PIL reads -> (h, w, 3) uint8 RGB, upright, at most `max_side` pixels on a side.

Everything that can go wrong with a user's file becomes one `InputError` naming the file and the cause.
Huge images are shrunk while decoding (JPEG draft mode, `Image.reduce`), so a 12000x12000 photo never needs its
full-size pixels in memory.
"""

from __future__ import annotations

import functools
import io
import os
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from avatar_engine.errors import InputError
from avatar_engine.native_log import native_stderr_silenced
from avatar_engine.paths import name_fits

MAX_SIDE = 2048
"""Photos are downscaled to at most this many pixels on the longer side (landmarks need far fewer)."""
MIN_SIDE = 64
"""Smaller images cannot hold a face worth fitting."""
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS
"""Refuse images whose header claims more pixels than this (decompression bombs), before decoding; PIL's own
limit (it raises DecompressionBombError beyond twice MAX_IMAGE_PIXELS, about 179 million pixels)."""
JPEG_MAX_PIXELS = 4 * MAX_PIXELS
"""...and a JPEG, which decodes at 1/2, 1/4 or 1/8 of its size (draft), beyond this (about 716 million): a
200-megapixel phone photo (16320x12240) was refused as too large, and reads at a 2040-pixel draft; only a small face's
window is decoded in full (`closer.closer_look`: about 0.6 GB for that photo)."""
_PIL_LIMIT_LOCK = threading.Lock()
"""PIL's pixel limit is one global: raised for a JPEG's open, under this lock, then put back."""


def _open_image(path: Path, formats):
    """Image.open, with PIL's pixel limit raised to JPEG_MAX_PIXELS for a JPEG (its first bytes say so)."""
    with path.open("rb") as f:
        jpeg = f.read(3) == b"\xff\xd8\xff"
    if not jpeg:
        return Image.open(path, formats=formats)
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = JPEG_MAX_PIXELS // 2  # PIL refuses beyond twice its limit
        try:
            return Image.open(path, formats=formats)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


LUMA = np.array([0.2126, 0.7152, 0.0722])
"""Rec. 709 luminance of linear RGB."""


def linear_rgb(rgb: np.ndarray) -> np.ndarray:
    """rgb : (..., 3) uint8 sRGB -> (..., 3) float32 linear light."""
    c = np.asarray(rgb, np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


WIDE_MODES = ("I;16", "I;16B", "I;16L", "I", "F")
"""Single-channel modes of more than 8 bits: 16-bit greyscale, 32-bit integer and float images."""
ORIENTATION_TAG = 0x0112
ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}
"""EXIF orientation -> the transpose that makes the image upright."""


PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF", "AVIF", "JPEG2000", "PPM", "TGA", "QOI")
"""Formats a photo is decoded from. Not every format PIL opens: an EPS file named .jpg went to Ghostscript."""


def _formats_for(path: Path) -> tuple[str, ...]:
    """`PHOTO_FORMATS`, less TGA unless the file is named .tga: TGA has no signature, so PIL's reader takes almost
    any file for one (an .ico photo was read as a 32 x 50144 TGA and refused as too small)."""
    if path.suffix.lower() == ".tga":
        return PHOTO_FORMATS
    return tuple(f for f in PHOTO_FORMATS if f != "TGA")


@functools.lru_cache(maxsize=1)
def _srgb_profile():
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")


def to_srgb(image: Image.Image, icc: bytes) -> Image.Image | None:
    """An RGB or CMYK image with its embedded colour profile `icc` -> RGB in sRGB (a phone's Display P3 photo read as
    sRGB has its skin too saturated); None when the profile cannot be used (the pixels are then taken as sRGB)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(source) or "").lower():
            return None  # already sRGB: a round trip through the CMS would only add rounding
        return ImageCms.profileToProfile(image, source, _srgb_profile(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def full_scale(image: Image.Image) -> float | None:
    """The value that means white in a wide-mode image, judged on the decoded pixels before any resampling (a
    Lanczos overshoot must not change it): 65535 for 16-bit modes; for float images 1 when no finite value
    exceeds it, else 255 or 65535 by their maximum; for 32-bit integers 255 or 65535 likewise. None for 8-bit modes."""
    if image.mode not in WIDE_MODES:
        return None
    if image.mode.startswith("I;16"):
        return 65535.0
    values = np.asarray(image)
    finite = values[np.isfinite(values)] if image.mode == "F" else values
    top = float(finite.max()) if finite.size else 0.0
    if image.mode == "F" and top <= 1.0:
        return 1.0
    return 255.0 if top <= 255.0 else 65535.0


def upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says. Unlike `ImageOps.exif_transpose` this only reads the tag: that
    one rewrites the whole EXIF block, and a malformed tag elsewhere in it (a number stored as text) crashed it. An
    orientation that cannot be read leaves the image as it is."""
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - PIL raises many kinds on malformed EXIF; the pixels are still good
        return image
    transpose = ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(transpose) if transpose is not None else image


def quarter_turned(image: Image.Image) -> bool:
    """Whether `upright` turns the image a quarter (its EXIF orientation 5-8): width and height trade places."""
    try:
        return image.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001 - as `upright`: a malformed tag leaves the image as it is
        return False


def eight_bit(image: Image.Image, top: float | None = None) -> Image.Image:
    """A wide-mode image (16-bit, 32-bit integer, float) as 8-bit greyscale ("L"), `top` (default: `full_scale`)
    mapped to 255; any other image as it is. PIL's own convert clips those values instead of scaling them."""
    if image.mode not in WIDE_MODES:
        return image
    values = np.asarray(image, np.float64)
    top = full_scale(image) if top is None else top
    return Image.fromarray(np.clip(np.nan_to_num(values) / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def _to_rgb(image: Image.Image, top: float | None = None) -> Image.Image:
    """Any mode (L, LA, P, RGBA, I;16, I, F, CMYK...) -> RGB, compositing transparency over white. top : for a wide
    mode, the value that means white (`full_scale` of the decoded image; judged here when None)."""
    image = eight_bit(image, top)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_photo(path: str | os.PathLike[str], max_side: int = MAX_SIDE,
               box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Read a photo file; respects EXIF orientation. `box` (x0, y0, x1, y1: pixels of the upright photo at its stored
    size) reads only that part, at as much of the file's resolution as `max_side` allows.

    returns : (h, w, 3) uint8 RGB with max(h, w) <= max_side
    raises : InputError for a missing, empty, corrupt, non-image, too small or absurdly large file
    """
    path = name_fits(path, "photo")
    if not path.is_file():
        raise InputError(f"photo {path}: " + ("a folder, not a photo" if path.is_dir() else
                                               "not a regular file (a device, pipe or socket)" if path.exists()
                                               else "no such file"))
    if path.stat().st_size == 0:
        raise InputError(f"photo {path}: the file is empty")
    try:
        with warnings.catch_warnings():
            # between PIL's warning and error limits (89-179 Mpx, e.g. 12000x12000) we load, shrinking while decoding
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # damaged EXIF: its tags are skipped
            # libtiff prints its own complaints about a damaged file (naming a "tempfile.tif") besides the error
            with native_stderr_silenced(), _open_image(path, _formats_for(path)) as image:
                w, h = image.size
                limit = JPEG_MAX_PIXELS if image.format == "JPEG" else MAX_PIXELS
                if w * h > limit:
                    raise InputError(f"photo {path}: {w}x{h} is too large (more than {limit:,} pixels)")
                if min(w, h) < MIN_SIDE:
                    raise InputError(f"photo {path}: {w}x{h} is too small (need at least {MIN_SIDE} pixels on each "
                                     "side)")
                # JPEG can decode at 1/2, 1/4 or 1/8 size directly: the full image is never in memory
                scale = 1.0 if box is None else min(1.0, max_side / max(box[2] - box[0], box[3] - box[1], 1))
                image.draft("RGB", (max_side, max_side) if box is None else (int(w * scale), int(h * scale)))
                image.load()
                top = full_scale(image)
                if box is None:
                    image = upright(_shrink(image, max_side))
                else:
                    upright_w = h if quarter_turned(image) else w  # the box is in the upright photo's pixels
                    image = upright(image)
                    k = image.size[0] / upright_w  # what the draft decoded: 1, 1/2, 1/4 or 1/8
                    image = _shrink(image.crop(tuple(int(round(c * k)) for c in box)), max_side)
                icc = image.info.get("icc_profile")
                if icc and image.mode in ("RGB", "CMYK"):
                    image = to_srgb(image, icc) or image
                rgb = np.asarray(_to_rgb(image, top), np.uint8)
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(f"photo {path}: the image is too large (more than {MAX_PIXELS:,} pixels; "
                         f"{JPEG_MAX_PIXELS:,} for a JPEG)") from None
    except UnidentifiedImageError:
        raise InputError(f"photo {path}: not an image in a format the builder reads "
                         f"({', '.join(f for f in PHOTO_FORMATS if f != 'DIB')})") from None
    except PermissionError as exc:
        raise InputError(f"photo {path}: cannot read it ({exc.strerror.lower()})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"photo {path}: the image is corrupt or truncated ({exc})") from None
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise InputError(f"photo {path}: {w}x{h} is too elongated: at most {max_side} pixels on its longer side, it "
                         f"is {min(rgb.shape[:2])} on the shorter (need at least {MIN_SIDE})")
    return np.ascontiguousarray(rgb)


def given_size(image) -> tuple[int, int] | None:
    """(w, h) of an in-memory image (a PIL image as `as_rgb` turns it upright, or an array) before any shrinking;
    None if it has no such size."""
    if isinstance(image, Image.Image):
        w, h = image.size
        return (h, w) if quarter_turned(image) else (w, h)
    shape = getattr(image, "shape", ())
    return (int(shape[1]), int(shape[0])) if len(shape) >= 2 else None


def stored_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(w, h) of the photo file as `load_photo` turns it upright, before any shrinking; None if it cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _open_image(Path(path), None) as image:
                w, h = image.size
                turned = quarter_turned(image)
    except Exception:  # noqa: BLE001 - load_photo has already said what is wrong with a file that fails here
        return None
    return (h, w) if turned else (w, h)


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """Integer `reduce` (box filter, cheap on memory) then an exact Lanczos resize to `max_side`."""
    longest = max(image.size)
    if longest <= max_side:
        return image
    factor = longest // max_side
    if factor >= 2 and image.mode.startswith("I;16"):
        image = image.convert("I")  # Image.reduce has no 16-bit mode; 32-bit integers keep every value
    if factor >= 2 and image.mode not in ("P", "1"):
        image = image.reduce(factor)
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS if image.mode not in ("P", "1") else Image.NEAREST)
    return image


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An in-memory image (for the Python API) -> (h, w, 3) uint8 RGB; InputError if it is not an image array.

    image : (h, w), (h, w, 3) or (h, w, 4); uint8, uint16 or float in [0, 1]; or a PIL image (any mode, turned by
    its EXIF orientation, as a file would be)
    """
    if isinstance(image, Image.Image):  # its mode decides what the numbers mean (palette indices, CMYK)
        image = np.asarray(_to_rgb(upright(image)), np.uint8)
    if image is None or isinstance(image, (str, bytes, bytearray, memoryview)) or hasattr(image, "read"):
        # None, bytes, a file object all read "got shape ()"; arrays of other libraries (torch) convert below
        raise InputError(f"expected a photo's path, an image array or a PIL image, got {type(image).__name__}"
                         + (" (the file's bytes? pass its path, or PIL.Image.open(io.BytesIO(data)))"
                            if isinstance(image, (bytes, bytearray, memoryview)) else ""))
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.size == 0:
        raise InputError(f"expected an image array (h, w), (h, w, 3) or (h, w, 4), got shape {a.shape}")
    if a.dtype == np.uint16:
        a = (a.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif a.dtype.kind == "f":
        top = float(np.nanmax(a)) if a.size and np.isfinite(a).any() else 0.0
        if top > 1.0 + 1e-6:  # clipped to 1, a 0-255 float image became white and "no face" was all it said
            raise InputError(f"a float image must be in [0, 1], this one reaches {top:g}; divide it by 255 (or pass "
                             "it as uint8)")
        a = (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InputError(f"expected a uint8, uint16 or float image array, got {a.dtype}")
    if a.shape[2] == 4:
        alpha = a[..., 3:].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    h, w = a.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(f"image {w}x{h} is too small (need at least {MIN_SIDE} pixels a side)")
    if max(a.shape[:2]) > MAX_SIDE:
        a = load_array_shrunk(a)
        if min(a.shape[:2]) < MIN_SIDE:
            raise InputError(f"image {w}x{h} is too elongated: at most {MAX_SIDE} pixels on its longer side, it is "
                             f"{min(a.shape[:2])} on the shorter (need at least {MIN_SIDE})")
    return np.ascontiguousarray(a)


def load_array_shrunk(rgb: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """(h, w, 3) uint8 -> the same image with its longer side at most `max_side`."""
    return np.asarray(_shrink(Image.fromarray(rgb), max_side), np.uint8)
