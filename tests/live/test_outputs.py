"""Outputs: the virtual camera's failure messages, and a recording with no frames leaves no file."""

from __future__ import annotations

import dataclasses
import sys
import types

import numpy as np
import pytest

from avatar_engine.errors import BackendError
from avatar_engine.live.outputs import LiveFrame, RecordOutput, VirtualCameraOutput
from avatar_engine.solve.frames import SolvedFrame


def frame(rgba=None) -> LiveFrame:
    return LiveFrame(SolvedFrame.neutral(), rgba, 0, None, True, "tracking")


def test_virtual_camera_without_pyvirtualcam_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(BackendError, match=r"pip install 'avatar-engine\[vcam\]'"):
        VirtualCameraOutput()


def test_virtual_camera_without_a_device_says_which_driver(monkeypatch):
    fake = types.ModuleType("pyvirtualcam")

    class Camera:
        def __init__(self, **kw):
            raise RuntimeError("'v4l2loopback' backend: No v4l2 loopback device found at /dev/video[0-99]")

    fake.Camera = Camera
    monkeypatch.setitem(sys.modules, "pyvirtualcam", fake)
    out = VirtualCameraOutput()
    with pytest.raises(BackendError, match="no virtual camera device") as err:
        out.start((64, 48), 30.0)
    if sys.platform == "linux":
        assert "v4l2loopback" in str(err.value) and "modprobe" in str(err.value)


def test_virtual_camera_sends_rgb_frames(monkeypatch):
    fake = types.ModuleType("pyvirtualcam")
    sent = []

    class Camera:
        def __init__(self, width, height, fps, device=None):
            self.size = (width, height)

        def send(self, rgb):
            sent.append(rgb)

        def close(self):
            sent.append("closed")

    fake.Camera = Camera
    monkeypatch.setitem(sys.modules, "pyvirtualcam", fake)
    out = VirtualCameraOutput()
    out.start((4, 2), 30.0)
    rgba = np.full((2, 4, 4), 200, np.uint8)
    rgba[..., 3] = 0  # transparent: composited on black
    out.write(frame(rgba))
    out.close()
    assert sent[0].shape == (2, 4, 3) and sent[0].max() == 0 and sent[-1] == "closed"


def test_recording_without_frames_leaves_no_file(tmp_path):
    out = RecordOutput(tmp_path / "empty.mp4")
    out.start((32, 32), 30.0)
    out.close()
    assert list(tmp_path.iterdir()) == []


def test_a_recording_cut_off_mid_frame_leaves_no_broken_file(tmp_path):
    """Ctrl-C (or any error) inside the encoder's write: no mp4 that will not play, no temporary file."""
    from avatar_engine.render.output import VideoWriter

    out = tmp_path / "cut.mp4"
    writer = VideoWriter(out, 30.0, (64, 48))
    writer.write(np.zeros((48, 64, 4), np.uint8))

    class Interrupted:  # the interrupt lands inside the encoder's pipe write
        def __init__(self, generator):
            self.generator = generator

        def send(self, _frame):
            raise KeyboardInterrupt

        def close(self):
            self.generator.close()

    writer._writer = Interrupted(writer._writer)
    with pytest.raises(KeyboardInterrupt):
        writer.write(np.zeros((48, 64, 4), np.uint8))
    writer.close()
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_recording_keeps_each_frame_at_its_media_time(tmp_path):
    # a 30 fps recording fed frames at 0, 1/30, then a 0.2 s gap (frames dropped or idle), then two in one slot
    import imageio_ffmpeg

    out = RecordOutput(tmp_path / "timed.mp4")
    out.start((16, 16), 30.0)
    period = 1e9 / 30
    times = [0, period, 7 * period, 7.4 * period, 8 * period]
    for k, t in enumerate(times):
        rgba = np.full((16, 16, 4), 255, np.uint8)
        rgba[..., :3] = 40 * k
        out.write(dataclasses.replace(frame(rgba), t_ns=int(t)))
    out.close()
    assert (out.frames, out.skipped) == (9, 1)  # frames 0, 1, 2-7 (the third six times), 8; 7.4 shares slot 7
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "timed.mp4"))
    next(reader)
    levels = [int(np.frombuffer(f, np.uint8).mean().round(-1)) for f in reader]
    assert levels == [0, 40, 80, 80, 80, 80, 80, 80, 160], levels


def test_a_video_writer_is_whole_or_absent(tmp_path, capfd):
    from avatar_engine.render.output import VideoWriter

    empty = tmp_path / "empty.mp4"
    with VideoWriter(empty, 30.0, (32, 32)):
        pass
    assert not empty.exists() and not list(tmp_path.iterdir()), "no frame: no file (it left a broken 261-byte mp4)"
    # ffmpeg starts with the first frame: a run that fails before it (no GL, Ctrl-C in the build) printed four
    # lines of ffmpeg's complaints about an empty video above its own one-line error
    assert capfd.readouterr().err == ""

    twice = tmp_path / "twice.mp4"
    writer = VideoWriter(twice, 30.0, (32, 32))
    writer.write(np.zeros((32, 32, 4), np.uint8))
    writer.close()
    writer.close()  # raised FileNotFoundError on the temporary it had renamed
    assert twice.stat().st_size > 0

    wrong = VideoWriter(tmp_path / "wrong.mp4", 30.0, (64, 64))
    with pytest.raises(ValueError, match="a 64x64 video takes"):
        wrong.write(np.zeros((32, 32, 4), np.uint8))
    wrong.abort()


def _encoder_process(writer):
    """The FFmpeg process behind a started VideoWriter (imageio-ffmpeg keeps it in its generator's frame)."""
    return writer._writer.gi_frame.f_locals["p"]


def test_an_encoder_that_dies_mid_run_is_one_error_and_no_file(tmp_path, capfd):
    """ffmpeg killed (or out of disk) while frames still come: one OutputError line quoting why, no file left."""
    from avatar_engine.errors import OutputError
    from avatar_engine.render.output import VideoWriter

    out = tmp_path / "killed.mp4"
    writer = VideoWriter(out, 30.0, (64, 48))
    writer.write(np.zeros((48, 64, 4), np.uint8))
    process = _encoder_process(writer)
    process.kill()
    process.wait(timeout=10)
    with pytest.raises(OutputError, match=r"killed\.mp4 could not be written: the encoder stopped") as caught:
        for _ in range(200):  # the pipe's buffer takes a few frames before the write fails
            writer.write(np.full((48, 64, 4), 128, np.uint8))
    assert "\n" not in str(caught.value)
    writer.close()
    assert list(tmp_path.iterdir()) == [], "neither the video nor its temporary file"
    assert "ffmpeg" not in capfd.readouterr().err.lower(), "FFmpeg's own lines stay in its log"


def test_an_encoder_error_names_the_users_file_not_a_temporary(tmp_path):
    """`avatar demo` writes its film to a temporary it renames with the poster and the avatar: an encoder that died
    was reported about `.film.1234-ab12cd34.tmp.mp4`, a name the user never gave and that no longer exists."""
    from avatar_engine.errors import OutputError
    from avatar_engine.paths import temporary_beside
    from avatar_engine.render.output import VideoWriter

    film = tmp_path / "film.mp4"
    writer = VideoWriter(temporary_beside(film), 30.0, (64, 48), name=film)
    writer.write(np.zeros((48, 64, 4), np.uint8))
    process = _encoder_process(writer)
    process.kill()
    process.wait(timeout=10)
    with pytest.raises(OutputError) as caught:
        for _ in range(200):
            writer.write(np.full((48, 64, 4), 128, np.uint8))
    writer.close()
    assert str(caught.value).startswith(f"the video {film} could not be written")


def test_a_video_the_encoder_could_not_finish_is_refused(tmp_path):
    """ffmpeg gone before writing the file's index (the disk filled while finishing): the run ended 'wrote x.mp4'
    over a file no player opens. Now: OutputError, and nothing under the name."""
    from avatar_engine.errors import OutputError
    from avatar_engine.render.output import VideoWriter, mp4_complete

    out = tmp_path / "unfinished.mp4"
    writer = VideoWriter(out, 30.0, (64, 48))
    for k in range(40):
        writer.write(np.full((48, 64, 4), 5 * k, np.uint8))
    process = _encoder_process(writer)
    process.kill()
    process.wait(timeout=10)
    partial = writer._tmp
    assert partial.exists() and not mp4_complete(partial)
    with pytest.raises(OutputError, match=r"unfinished\.mp4 could not be finished"):
        writer.close()
    assert list(tmp_path.iterdir()) == []

    whole = tmp_path / "whole.mp4"
    with VideoWriter(whole, 30.0, (64, 48)) as video:
        video.write(np.zeros((48, 64, 4), np.uint8))
    assert mp4_complete(whole)
    data = whole.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    assert not mp4_complete(tmp_path / "cut.mp4")


def test_a_recording_carries_on_across_a_jump_in_the_sources_clock(tmp_path):
    """Idle frames at media time 0 s, then a phone's (or camera's) frames stamped by the monotonic clock, hours on:
    every later frame was written 300 times (the cap on copies), and a phone run recorded at 3 fps."""
    out = RecordOutput(tmp_path / "jump.mp4")
    out.start((16, 16), 30.0)
    period = 1e9 / 30
    hours = 5e13
    for t in (0, period, hours, hours + period, hours + 2 * period):
        out.write(dataclasses.replace(frame(np.full((16, 16, 4), 255, np.uint8)), t_ns=int(t)))
    out.close()
    assert out.frames == 5


def test_a_recording_that_falls_behind_leaves_time_out_instead_of_spiralling(tmp_path, caplog):
    """Each frame 0.5 s after the last at 30 fps: 15 copies a write, which a slow machine's encoder took longer to
    write than the time they covered. At most CATCH_UP_S of copies now, the rest of the time left out, one warning."""
    from avatar_engine.live.outputs import CATCH_UP_S

    out = RecordOutput(tmp_path / "behind.mp4", realtime=True)
    out.start((16, 16), 30.0)
    for k in range(4):
        out.write(dataclasses.replace(frame(np.full((16, 16, 4), 255, np.uint8)), t_ns=int(k * 0.5e9)))
    out.close()
    most = int(CATCH_UP_S * 30)
    assert out.frames == 1 + 3 * most
    assert out.dropped_s == pytest.approx(3 * (15 - most) / 30)
    assert sum("cannot keep up" in r.message for r in caplog.records) == 1

    # a file read as fast as the loop goes: its own gaps are its timing, kept whole, and no warning
    caplog.clear()
    offline = RecordOutput(tmp_path / "gaps.mp4")
    offline.start((16, 16), 30.0)
    for k in range(4):
        offline.write(dataclasses.replace(frame(np.full((16, 16, 4), 255, np.uint8)), t_ns=int(k * 0.5e9)))
    offline.close()
    assert offline.frames == 1 + 3 * 15 and offline.dropped_s == 0
    assert not any("cannot keep up" in r.message for r in caplog.records)


def test_a_live_sources_recording_is_made_at_most_at_the_live_rate(tmp_path):
    from avatar_engine.live.outputs import LIVE_RECORD_FPS

    out = RecordOutput(tmp_path / "phone.mp4", max_fps=LIVE_RECORD_FPS)
    out.start((16, 16), 60.0)  # a phone app's rate
    assert out.fps == LIVE_RECORD_FPS
    out.close()


def test_a_video_composites_transparent_frames_on_black_and_passes_opaque_ones(tmp_path):
    import imageio_ffmpeg

    from avatar_engine.render.output import VideoWriter

    half = np.full((32, 32, 4), 200, np.uint8)
    half[..., 3] = 255
    half[:, :16, 3] = 0  # left half transparent: black in the video
    opaque = np.full((32, 32, 4), 90, np.uint8)
    opaque[..., 3] = 255
    with VideoWriter(tmp_path / "alpha.mp4", 30.0, (32, 32)) as video:
        video.write(half)
        video.write(opaque)
        video.write(opaque[..., :3])  # RGB frames too
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "alpha.mp4"))
    next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(32, 32, 3) for f in reader]
    assert len(frames) == 3
    assert frames[0][:, :12].mean() < 20 and abs(frames[0][:, 20:].mean() - 200) < 8
    assert abs(frames[1].mean() - 90) < 4 and abs(frames[2].mean() - 90) < 4
