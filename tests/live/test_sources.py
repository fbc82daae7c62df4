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
