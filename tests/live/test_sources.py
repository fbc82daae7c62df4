"""Frame sources: folders, video files, cameras that do not exist, corrupt frames."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from avatar_engine.errors import AvatarError, InputError
from avatar_engine.live.sources import FOLDER_FPS, CameraSource, FolderSource, VideoFileSource, open_source


def test_folder_reads_in_name_order_and_skips_corrupt_images(clip, tmp_path):
    folder = tmp_path / "frames"
    shutil.copytree(clip["folder"], folder)
    (folder / "0003.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored: not an image")
    with open_source(folder) as source:
        assert isinstance(source, FolderSource)
        frames = []
        while (f := source.read()) is not None:
            frames.append(f)
    assert [f.index for f in frames] == [i for i in range(len(clip["jaw"])) if i != 3]
    assert source.corrupt == 1
    assert frames[0].rgb.shape == (192, 192, 3) and frames[0].rgb.dtype == np.uint8
    assert frames[4].index == 5 and frames[4].t_media_ns == int(5 * 1e9 / FOLDER_FPS), "media time keeps its place"
    assert all(b.t_capture_ns >= a.t_capture_ns for a, b in zip(frames, frames[1:]))


def test_video_file_frames_and_rewind(clip):
    with open_source(clip["mp4"]) as source:
        assert isinstance(source, VideoFileSource) and source.fps == pytest.approx(30.0)
        first = source.read()
        n = 1
        while source.read() is not None:
            n += 1
        assert n == len(clip["jaw"])
        assert source.rewind()
        again = source.read()
        assert again.index == 0 and again.t_media_ns == 0
    assert np.abs(first.rgb.astype(int) - again.rgb.astype(int)).mean() < 1.0


def test_corrupt_video_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 2000)
    with pytest.raises(InputError, match="cannot decode video"):
        open_source(bad)


def test_empty_folder_and_missing_path_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="holds no images"):
        open_source(tmp_path)
    with pytest.raises(InputError, match="not a camera index, a video file or a folder"):
        open_source(tmp_path / "missing.mp4")


def test_missing_camera_names_the_cameras_that_exist():
    with pytest.raises(AvatarError, match=r"camera 97 cannot be opened.*(cameras found|no cameras)"):
        CameraSource(97)


def test_a_camera_index_that_does_not_exist_is_bad_input_and_odd_digits_are_no_index(monkeypatch):
    """Linux names its cameras /dev/videoN: an index with none is the user's mistake (exit 2), not a busy camera
    (it said "busy or not a capture device", exit 4). '²' passes str.isdigit() but not int(): a traceback."""
    import platform

    from avatar_engine.live import sources

    monkeypatch.setattr(sources, "list_cameras", lambda: ["/dev/video0"])
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    with pytest.raises(InputError, match=r"camera 7 does not exist \(cameras found: /dev/video0\)"):
        CameraSource(7)
    with pytest.raises(InputError, match="not a camera index, a video file or a folder"):
        open_source("\u00b2")


def test_folder_frames_in_number_order_any_depth_and_upright(clip, tmp_path):
    # ffmpeg's %d.png numbering (no zero padding), a 16-bit PNG and a JPEG whose EXIF says turn it
    from PIL import Image

    src = sorted(clip["folder"].iterdir())[:12]
    folder = tmp_path / "unpadded"
    folder.mkdir()
    for i, path in enumerate(src, start=1):
        shutil.copy(path, folder / f"{i}.png")
    grey16 = (np.asarray(Image.open(src[1]).convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "2.png")  # frame 2 as a 16-bit greyscale PNG
    with FolderSource(folder) as source:
        assert [p.name for p in source.files][:4] == ["1.png", "2.png", "3.png", "4.png"]
        frames = [source.read() for _ in src]
    assert source.corrupt == 0 and all(f is not None for f in frames)
    for f, path in zip(frames, src):
        expected = np.asarray(Image.open(path).convert("RGB"), np.int32)
        if f.index == 1:
            expected = np.repeat(np.asarray(Image.open(path).convert("L"), np.int32)[..., None], 3, axis=2)
        assert np.abs(f.rgb.astype(np.int32) - expected).mean() < 2.0, f"frame {f.index} is not {path.name}"

    exif_folder = tmp_path / "exif"
    exif_folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise
    Image.fromarray(np.zeros((40, 80, 3), np.uint8)).save(exif_folder / "a.jpg", exif=exif)
    with FolderSource(exif_folder) as source:
        assert source.read().rgb.shape == (80, 40, 3)


def test_a_still_image_as_a_video_rewinds_by_reopening(clip, tmp_path):
    still = tmp_path / "still.png"
    shutil.copy(sorted(clip["folder"].iterdir())[0], still)
    with VideoFileSource(still) as source:
        first = source.read()
        assert source.read() is None  # OpenCV reads an image as a one-frame video
        assert source.rewind()
        again = source.read()
    assert again is not None and again.index == 0 and np.array_equal(first.rgb, again.rgb)


def test_media_times_follow_the_files_timestamps_else_the_frame_rate(clip):
    with VideoFileSource(clip["mp4"]) as source:
        source._last_ns = -1
        varying = [source._media_ns(i, ms) for i, ms in enumerate([0.0, 100.0, 200.0, 233.3])]  # 10 fps, then 30
        assert varying == [0, 100_000_000, 200_000_000, 233_300_000]
        source._last_ns = -1
        unstamped = [source._media_ns(i, 0.0) for i in range(3)]  # a raw stream: every timestamp 0
        assert unstamped == [0, int(1e9 / source.fps), int(2e9 / source.fps)]


def test_a_video_damaged_halfway_says_how_far_it_decoded(tmp_path, capfd):
    """A file whose second half is damaged ended the run early, exit 0, with only FFmpeg's decoder lines (dozens) on
    the terminal. Now: no FFmpeg lines, and the source says it was cut short (the live loop warns with it)."""
    good, rng = _noise_video(tmp_path)
    data = bytearray(good.read_bytes())
    n = len(data)
    data[n // 3: n - 2000] = rng.integers(0, 255, n - 2000 - n // 3, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    source = VideoFileSource(damaged)
    read = 0
    while source.read() is not None:
        read += 1
    assert read < 60 and source.cut_short is not None
    decoded, duration = source.cut_short
    assert duration == pytest.approx(3.0, abs=0.05) and decoded == pytest.approx(read / 30, abs=0.05)
    assert "h264" not in capfd.readouterr().err
    whole = VideoFileSource(good)
    while whole.read() is not None:
        pass
    assert whole.cut_short is None, "a file read to its end is not cut short"


def test_damaged_frames_in_the_middle_are_skipped_and_counted(tmp_path):
    """One damaged stretch ended the whole run there ("the rest of the file is damaged": 84 of a clip's 159 frames,
    and `--loop` never played the rest); the decoder goes on after it, as FFmpeg does."""
    good, rng = _noise_video(tmp_path)
    data = bytearray(good.read_bytes())
    n = len(data)
    data[n // 3: n // 2] = rng.integers(0, 255, n // 2 - n // 3, dtype=np.uint8).tobytes()
    damaged = tmp_path / "middle.mp4"
    damaged.write_bytes(bytes(data))
    source = VideoFileSource(damaged)
    indices = []
    while (frame := source.read()) is not None:
        indices.append(frame.index)
    assert indices[-1] == 89 and len(indices) >= 60, "the frames after the damage are read"
    assert source.corrupt >= 1 and source.cut_short is None


def _noise_video(tmp_path):
    """A 3 s, 30 fps H.264 clip of noise (every frame different), and the generator that made it."""
    from avatar_engine.render.output import VideoWriter

    good = tmp_path / "good.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(good, 30.0, (96, 64)) as video:
        for _ in range(90):
            video.write(rng.integers(0, 255, (64, 96, 4), dtype=np.uint8))
    return good, rng


def test_a_folder_lists_files_only_and_an_empty_source_is_refused(clip, tmp_path):
    """A FIFO named a002.png blocked the run for ever; `--source ""` (an unset variable) played the current folder."""
    import os

    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(sorted(clip["folder"].iterdir())[0], folder / "a001.png")
    os.mkfifo(folder / "a002.png")
    (folder / "a003.png").mkdir()
    source = FolderSource(folder)
    assert [p.name for p in source.files] == ["a001.png"]
    with pytest.raises(InputError, match="--source is empty"):
        open_source("")


def test_a_clip_cut_without_re_encoding_is_not_damaged(tmp_path):
    """`ffmpeg -ss 3 -c copy` keeps the frames before the cut and hides them with an edit list: OpenCV's frame count
    says 10 s for a clip that plays 7, and the loop warned that the rest of the file was damaged."""
    import subprocess

    import imageio_ffmpeg

    from avatar_engine.render.output import VideoWriter

    long = tmp_path / "long.mp4"
    rng = np.random.default_rng(1)
    with VideoWriter(long, 30.0, (96, 64)) as video:
        for _ in range(300):
            video.write(rng.integers(0, 255, (64, 96, 4), dtype=np.uint8))
    cut = tmp_path / "cut.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-ss", "3", "-i", str(long), "-c", "copy",
                    str(cut)], check=True)
    source = VideoFileSource(cut)
    read = 0
    while source.read() is not None:
        read += 1
    assert read < 260, "the cut hides frames (else this test tests nothing)"
    assert source.cut_short is None


def test_a_variable_rate_video_with_a_pause_is_not_damaged(tmp_path):
    """A .webm whose frames pause for 2 s: its frame count is its duration times its nominal rate (127 for 21
    frames), so counting frames called it damaged. Its last frame reaches (about) its end: not cut short."""
    import subprocess

    import imageio_ffmpeg
    from PIL import Image

    lines = []
    for k in range(20):
        Image.fromarray(np.full((64, 96, 3), 10 * k, np.uint8)).save(tmp_path / f"{k:03d}.png")
        lines += [f"file '{tmp_path / f'{k:03d}.png'}'", f"duration {2.1 if k == 9 else 0.1}"]
    listing = tmp_path / "list.txt"  # 10 frames at 10 fps, a 2 s pause, 10 more
    listing.write_text("\n".join(lines + [f"file '{tmp_path / '019.png'}'"]) + "\n")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([ffmpeg, "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-fps_mode", "vfr",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(tmp_path / "pause.mp4")], check=True)
    subprocess.run([ffmpeg, "-v", "error", "-i", str(tmp_path / "pause.mp4"), "-c:v", "libvpx-vp9",
                    str(tmp_path / "pause.webm")], check=True)
    source = VideoFileSource(tmp_path / "pause.webm")
    assert source._cap.get(source._cv2.CAP_PROP_FRAME_COUNT) > 60, "the container's count is an estimate"
    read = 0
    while source.read() is not None:
        read += 1
    assert 19 <= read <= 22
    assert source.cut_short is None


def test_a_folder_that_cannot_be_listed_is_bad_input(tmp_path, monkeypatch):
    """A folder without read permission (as a user, not root) was a PermissionError: exit 1 with its raw text."""
    from pathlib import Path

    def refused(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refused)
    with pytest.raises(InputError, match="cannot list it \\(permission denied\\)"):
        FolderSource(tmp_path)
