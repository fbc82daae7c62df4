"""Loading a user's photo: orientation, pixel formats, huge files, and one clear InputError for each bad file."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from avatar_engine.build.image import MAX_SIDE, MIN_SIDE, as_rgb, load_photo
from avatar_engine.errors import InputError

EXIF_ORIENTATION = 0x0112
ROTATE_90_CW = 6
"""EXIF orientation 6: the stored pixels must be turned 90 degrees clockwise to stand upright."""
HUGE_PEAK_MB = 150
"""Loading a 12000x12000 JPEG raises the process's peak memory by less than this (full size would be 432 MB)."""


def _marked(w: int = 120, h: int = 80) -> np.ndarray:
    """A grey image with a red block in its top-left corner, to see where the corner ends up."""
    a = np.full((h, w, 3), 128, np.uint8)
    a[:20, :30] = (255, 0, 0)
    return a


def test_exif_rotation_is_respected(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CW
    Image.fromarray(_marked()).save(path, exif=exif, quality=95)
    rgb = load_photo(path)
    assert rgb.shape == (120, 80, 3)  # stored 120 wide, 80 tall; shown 80 wide, 120 tall
    # turned clockwise: the stored top-left corner is now top-right
    assert rgb[5, -5, 0] > 200 and rgb[5, -5, 1] < 60
    assert rgb[5, 5, 0] < 160


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P", "LA", "CMYK"])
def test_pixel_formats_become_rgb_uint8(tmp_path, mode):
    base = Image.fromarray(_marked())
    if mode == "I;16":
        image = Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 257).astype(np.uint16))
        assert image.mode == "I;16"
    elif mode == "P":
        image = base.convert("P", palette=Image.Palette.ADAPTIVE)
    else:
        image = base.convert(mode)
    path = tmp_path / ("photo.tiff" if mode == "CMYK" else "photo.png")
    image.save(path)
    rgb = load_photo(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (80, 120, 3)
    assert abs(int(rgb[40, 60].mean()) - 128) <= 3  # grey stays grey; 16-bit is scaled, not clipped


def test_transparent_pixels_become_white(tmp_path):
    rgba = np.zeros((80, 120, 4), np.uint8)
    rgba[..., 3] = 0
    path = tmp_path / "clear.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert (load_photo(path) == 255).all()


def test_large_images_are_downscaled(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(_marked(4000, 3000)).save(path, quality=80)
    rgb = load_photo(path)
    assert max(rgb.shape[:2]) <= MAX_SIDE and rgb.shape[1] / rgb.shape[0] == pytest.approx(4 / 3, rel=0.01)


def test_huge_jpeg_loads_without_full_size_memory(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("L", (12000, 12000), 90).save(path, quality=70)
    code = ("import resource, sys; from avatar_engine.build.image import load_photo; "
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; rgb = load_photo(sys.argv[1]); "
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; print(rgb.shape[0], rgb.shape[1], "
            "(after - before) // 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    h, w, peak_mb = map(int, out.stdout.split())
    assert max(h, w) <= MAX_SIDE and h == w
    assert peak_mb < HUGE_PEAK_MB


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "empty"),
    (b"this is a text file, not a photo\n", "not an image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40, "not an image"),
])
def test_bad_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "photo.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_photo(path)
    assert "photo.jpg" in str(info.value) and "\n" not in str(info.value)


def test_truncated_jpeg_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(_marked(400, 300)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_photo(path)


def test_tiny_image_is_refused(tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(_marked(MIN_SIDE - 1, MIN_SIDE + 10)).save(path)
    with pytest.raises(InputError, match="too small"):
        load_photo(path)


def test_arrays_are_accepted_in_common_forms():
    grey = np.full((80, 120), 0.5, np.float32)
    assert as_rgb(grey).shape == (80, 120, 3) and as_rgb(grey)[0, 0, 0] == 128
    sixteen = np.full((80, 120, 3), 65535, np.uint16)
    assert (as_rgb(sixteen) == 255).all()
    with pytest.raises(InputError, match="expected an image array"):
        as_rgb(np.zeros((5,)))


@pytest.mark.parametrize("thing, named", [(None, "NoneType$"), (b"\x89PNG", r"bytes \(the file's bytes\? pass its "
                                                                            r"path"), ("me.jpg", "str$")])
def test_what_is_no_image_is_named_by_its_type(thing, named):
    # review: None, bytes and file objects all read "got shape ()"
    with pytest.raises(InputError, match=rf"expected a photo's path, an image array or a PIL image, got {named}"):
        as_rgb(thing)


def test_another_librarys_array_is_taken():
    # review: a torch tensor (anything numpy converts) was refused by the type check above
    class Tensorish:
        def __array__(self, dtype=None, copy=None):
            return np.full((80, 120, 3), 200, np.uint8)

    assert as_rgb(Tensorish()).shape == (80, 120, 3)


def test_a_malformed_exif_tag_elsewhere_still_turns_the_photo_upright(tmp_path):
    # Orientation 6 next to ImageWidth stored as text ("Canon"), as a camera or editor may write it: PIL's
    # exif_transpose rewrote the block and crashed on that tag; only the orientation is read now
    import struct

    def entry(tag, kind, count, value):
        return struct.pack("<HHI", tag, kind, count) + value

    values_at = 8 + 2 + 2 * 12 + 4
    ifd = (struct.pack("<H", 2) + entry(0x0106, 2, 6, struct.pack("<I", values_at))
           + entry(EXIF_ORIENTATION, 3, 1, struct.pack("<HH", ROTATE_90_CW, 0)) + struct.pack("<I", 0))
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + b"Canon\x00"
    path = tmp_path / "odd_exif.jpg"
    Image.fromarray(_marked()).save(path, exif=b"Exif\x00\x00" + tiff, quality=95)
    rgb = load_photo(path)
    assert rgb.shape == (120, 80, 3)
    assert rgb[5, -5, 0] > 200 and rgb[5, -5, 1] < 60  # the red corner turned clockwise, as a good EXIF does


def test_wide_formats_keep_their_brightness_through_downscaling(tmp_path):
    # a 16-bit greyscale PNG big enough to be reduced (Image.reduce has no 16-bit mode), and float TIFFs in [0, 1]
    # small and large (the scale is judged before a Lanczos resize, whose overshoot once passed 255)
    grey = np.tile(np.linspace(0, 1, 256)[None], (64, 1))
    cases = {
        "grey16.png": Image.fromarray(np.kron(grey, np.ones((8, 20))).__mul__(65535).astype(np.uint16)),  # 512x5120
        "float.tif": Image.fromarray((grey * 0.8).astype(np.float32), "F"),
        "float_big.tif": Image.fromarray(np.kron(grey * 0.8, np.ones((4, 12))).astype(np.float32), "F"),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
        rgb = load_photo(tmp_path / name)
        expected = 255 * (0.8 if name.startswith("float") else 1.0) / 2
        assert abs(rgb.mean() - expected) < 4, f"{name}: mean {rgb.mean():.1f}, expected about {expected:.0f}"


def test_a_very_elongated_photo_is_refused_naming_its_size(tmp_path):
    path = tmp_path / "strip.png"
    Image.fromarray(np.full((100, 4000, 3), 128, np.uint8)).save(path)
    with pytest.raises(InputError, match=r"4000x100 is too elongated.*shorter \(need at least 64\)"):
        load_photo(path)


def _display_p3_like_profile() -> bytes:
    """A minimal ICC v2 RGB display profile: Display P3's primaries (D50-adapted), gamma 2.2 curves."""
    import struct

    def s15(v):
        return struct.pack(">i", int(round(v * 65536)))

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    text = b"Display P3 (test)\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    curve = b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", int(2.2 * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
            (b"gXYZ", xyz(0.2919, 0.6922, 0.0419)), (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + b"\0" * 12
              + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48)
    return header + table + body


def test_a_wide_gamut_photo_is_converted_to_srgb(tmp_path):
    # the same numbers mean a more saturated colour in Display P3: as sRGB, red rises and blue falls; grey stays grey
    a = np.zeros((80, 80, 3), np.uint8)
    a[:40] = (180, 120, 100)
    a[40:] = (128, 128, 128)
    path = tmp_path / "p3.png"
    Image.fromarray(a).save(path, icc_profile=_display_p3_like_profile())
    rgb = load_photo(path).astype(int)
    skin, grey = rgb[:40].reshape(-1, 3).mean(0), rgb[40:].reshape(-1, 3).mean(0)
    assert skin[0] >= 188 and skin[2] <= 97, skin  # (180, 120, 100) in P3 is about (192, 117, 96) in sRGB
    assert np.ptp(grey) <= 2 and abs(grey.mean() - 128) < 6, grey
    Image.fromarray(a).save(tmp_path / "plain.png")
    assert np.array_equal(load_photo(tmp_path / "plain.png"), a), "no profile: the values are sRGB as they are"


def test_only_photo_formats_are_decoded(tmp_path):
    path = tmp_path / "page.jpg"  # PostScript named .jpg: PIL would hand it to Ghostscript
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n")
    with pytest.raises(InputError, match="not an image in a format the builder reads"):
        load_photo(path)


def test_an_icon_or_a_device_is_named_for_what_it_is(tmp_path):
    """An .ico was read as a TGA (no signature: PIL's reader takes almost anything) and refused as '32x50144 is too
    small'; /dev/zero was 'no such file'."""
    from PIL import Image as PILImage

    icon = tmp_path / "me.ico"
    PILImage.fromarray(_marked()).resize((64, 64)).save(icon, format="ICO")
    with pytest.raises(InputError, match="not an image in a format the builder reads"):
        load_photo(icon)
    with pytest.raises(InputError, match="not a regular file"):
        load_photo("/dev/zero")
    with pytest.raises(InputError, match="a folder, not a photo"):
        load_photo(tmp_path)
    targa = tmp_path / "me.tga"  # named as one, a TGA is still read
    PILImage.fromarray(_marked()).save(targa, format="TGA")
    assert load_photo(targa).shape[:2] == _marked().shape[:2]


def test_arrays_and_pil_images_mean_what_they_say():
    # a PIL image's mode decides its numbers (palette indices read as grey; CMYK's K read as alpha: all white); a
    # 0-255 float array was clipped to white and refused as "no face"
    from PIL import Image as PILImage

    base = _marked()
    for mode in ("P", "CMYK"):
        image = PILImage.fromarray(base).convert(mode) if mode == "CMYK" else \
            PILImage.fromarray(base).convert("P", palette=PILImage.Palette.ADAPTIVE)
        assert np.abs(as_rgb(image).astype(int) - base).mean() < 6, mode
    with pytest.raises(InputError, match="must be in \\[0, 1\\].*divide it by 255"):
        as_rgb(base.astype(np.float32))
    with pytest.raises(InputError, match="too elongated"):
        as_rgb(np.zeros((64, 8000, 3), np.uint8))


def test_the_stored_size_is_the_upright_unshrunk_one(tmp_path):
    """What the builder's warning about a scaled-down photo quotes: the file's own size, turned as its EXIF says."""
    from avatar_engine.build.image import stored_size

    big = tmp_path / "big.jpg"
    Image.fromarray(_marked(3000, 2200)).save(big, quality=80)
    assert stored_size(big) == (3000, 2200) and max(load_photo(big).shape) == MAX_SIDE
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.fromarray(_marked(120, 80)).save(turned, exif=exif)
    assert stored_size(turned) == (80, 120) == load_photo(turned).shape[1::-1]
    assert stored_size(tmp_path / "missing.jpg") is None


def test_an_arrays_given_size_is_its_own_upright_one():
    """The builder's scaled-down warning for the Python API: an array or PIL image larger than MAX_SIDE was shrunk
    without a word, and the report's pixel figures were at the shrunk size."""
    import io

    from avatar_engine.build.image import given_size

    array = np.zeros((2200, 3000, 3), np.uint8)
    assert given_size(array) == (3000, 2200) and max(as_rgb(array).shape) == MAX_SIDE
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    stored = io.BytesIO()
    Image.fromarray(_marked(120, 80)).save(stored, format="JPEG", exif=exif)
    turned = Image.open(stored)
    assert given_size(turned) == (80, 120) == as_rgb(turned).shape[1::-1]
    assert given_size([1, 2, 3]) is None


def test_a_jpeg_past_pils_pixel_limit_is_read_at_a_draft_and_others_are_refused(tmp_path, monkeypatch):
    """A 200-megapixel phone JPEG (16320x12240) was refused as too large, though a JPEG decodes at 1/8 of its size
    (draft) in little memory. Here PIL's limits are shrunk to the test's photo: a JPEG up to JPEG_MAX_PIXELS reads, any
    other format past MAX_PIXELS does not; and PIL's own limit is put back."""
    from avatar_engine.build import image as image_module

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # PIL refuses past twice this: 3000
    monkeypatch.setattr(image_module, "MAX_PIXELS", 3000)
    monkeypatch.setattr(image_module, "JPEG_MAX_PIXELS", 20000)
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8))  # 12,288 pixels
    photo.save(tmp_path / "big.jpg", quality=90)
    photo.save(tmp_path / "big.png")
    assert load_photo(tmp_path / "big.jpg").shape == (96, 128, 3)
    assert Image.MAX_IMAGE_PIXELS == 1500
    with pytest.raises(InputError, match="too large"):
        load_photo(tmp_path / "big.png")
    monkeypatch.setattr(image_module, "JPEG_MAX_PIXELS", 10000)
    with pytest.raises(InputError, match="too large"):
        load_photo(tmp_path / "big.jpg")
