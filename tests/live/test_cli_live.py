"""`avatar live` from the command line: runs on files, records, writes stats, fails cleanly, stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from avatar_engine.cli import main

pytest.importorskip("mediapipe", reason="avatar live tracks with MediaPipe")


def frames_in(path) -> int:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    next(reader)
    return sum(1 for _ in reader)


@pytest.mark.parametrize("argv, message", [
    (["--window", "--headless"], "exclude each other"),
    (["--size", "12x12"], "outside 16..8192"),
    (["--vmc", "host:99999"], "HOST:PORT"),
    (["--record", "out.avi"], "must end in .mp4"),
    (["--stats", "/no/such/folder/s.json"], "does not exist"),
    (["--source", "/no/such/clip.mp4"], "not a camera index"),
    (["--source", "ifacialmocap:0"], "port must be in"),
    (["--max-frames", "0"], "at least 1"),
    (["--samples", "3"], "must be 0, 1, 2, 4 or 8"),
    (["--max-seconds", "nan"], "positive number of seconds"),
    (["--record", "taken.mp4"], "is a folder"),
    (["--stats", "/proc/s.json"], "cannot write --stats"),
    (["--source", "ifacialmocap", "--phone", "1.2.3.4:99999"], "without a port"),
    (["--source", "junk"], "no readable image"),
    (["--vmc", "me.glb"], "that is a file, not HOST:PORT"),  # --vmc given no value took the avatar after it
    (["--record", "out.mp4", "--size", "321x240"], "must be even"),
    (["--source", "clip.mp4", "--record", "clip.mp4"], "would be overwritten"),
    (["--record", ""], "--record needs a file name"),  # an unset shell variable: nothing would be recorded
    (["--stats", " "], "--stats needs a file name"),
    (["--source", "2147483648"], "camera 2147483648 does not exist"),  # past a C int: OpenCV raised a traceback
    (["--source", "\u00b2"], "not a camera index"),  # a digit to str.isdigit(), not to int(): a traceback
    (["--source", "ifacialmocap:\u00b2"], "port must be in"),
    (["--vmc", "host:\u00b2"], "HOST:PORT"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.mp4").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "0001.png").write_bytes(b"not a png")
    (tmp_path / "clip.mp4").write_bytes(b"a video")
    assert main(["live", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_tracker_that_cannot_start_gives_its_own_error(capsys, tmp_path, monkeypatch, clip):
    """A failure while the tracker starts (a damaged model, say) is the message, not a thread-join error."""
    from avatar_engine.errors import ModelError
    from avatar_engine.live import api

    def broken(self):
        raise ModelError("face_landmarker.task is damaged (test)")

    monkeypatch.setattr(api.LiveAvatar, "_new_tracker", broken)
    assert main(["live", "--source", str(clip["folder"]), "--size", "96x64", "--samples", "0"]) == 3
    err = capsys.readouterr().err.strip()
    assert err == "avatar live: error: face_landmarker.task is damaged (test)"


def test_live_on_a_folder_records_and_writes_stats(clip, tmp_path, capsys):
    import socket

    out, stats = tmp_path / "live.mp4", tmp_path / "stats.json"
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a VMC receiver that takes the frames unread
    receiver.bind(("127.0.0.1", 0))
    try:
        code = main(["live", "--source", str(clip["folder"]), "--record", str(out), "--stats", str(stats),
                     "--size", "96x64", "--samples", "0", "--lossless",
                     "--vmc", f"127.0.0.1:{receiver.getsockname()[1]}"])
    finally:
        receiver.close()
    assert code == 0
    assert frames_in(out) == len(clip["jaw"])
    data = json.loads(stats.read_text())
    assert data["counts"]["rendered"] == len(clip["jaw"]) and data["vmc"]["sent"] == len(clip["jaw"])
    assert {"p50", "p95"} <= set(data["latency_ms"]) and "track" in data["stage_ms"]
    assert "live:" in capsys.readouterr().out


def test_a_recording_that_fails_mid_run_is_one_line_and_the_stats_still_come(clip, tmp_path, capsys, monkeypatch):
    """The encoder dying (a full disk) was a traceback and no stats: now one line, exit 1, no mp4, the stats written
    with the failure in them."""
    from avatar_engine.errors import OutputError
    from avatar_engine.render import output

    real_write = output.VideoWriter.write

    def fails_at_the_third(self, rgba):
        if self.frames == 2:
            self._broken = True
            raise OutputError(f"the video {self.path} could not be written: the encoder stopped (test)")
        real_write(self, rgba)

    monkeypatch.setattr(output.VideoWriter, "write", fails_at_the_third)
    out, stats = tmp_path / "full.mp4", tmp_path / "stats.json"
    code = main(["live", "--source", str(clip["folder"]), "--record", str(out), "--stats", str(stats),
                 "--size", "96x64", "--samples", "0", "--lossless"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.splitlines() == [f"avatar live: error: the video {out} could not be written: the encoder stopped (test)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]
    data = json.loads(stats.read_text())
    assert "encoder stopped" in data["failed"] and data["counts"]["rendered"] >= 2


def test_storage_errors_are_one_line_not_a_traceback(capsys, monkeypatch):
    import errno

    from avatar_engine import cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/mnt/small/stats.json")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["template"].set_defaults(run=full)
    assert main(["template", "-o", "x.glb"]) == 1
    assert capsys.readouterr().err.strip() == "avatar template: error: No space left on device: /mnt/small/stats.json"

    def bug(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    parser._subparsers._group_actions[0].choices["template"].set_defaults(run=bug)
    with pytest.raises(OSError):  # not the storage's fault: a bug keeps its traceback
        main(["template", "-o", "x.glb"])


def test_serial_flag_reaches_the_pipeline(clip, tmp_path, monkeypatch):
    from avatar_engine.live import pipeline as pipeline_module

    seen = []
    real_init = pipeline_module.LivePipeline.__init__

    def spy(self, source, live, outputs=(), options=None, stats=None):
        seen.append(options.overlap)
        real_init(self, source, live, outputs, options, stats)

    monkeypatch.setattr(pipeline_module.LivePipeline, "__init__", spy)
    for flags in ([], ["--serial"]):
        assert main(["live", "--source", str(clip["folder"]), "--size", "96x64", "--samples", "0",
                     "--max-frames", "3", *flags]) == 0
    assert seen == [True, False]


def test_no_settle_flag_reaches_the_animator(clip, monkeypatch):
    from avatar_engine.live import api

    seen = []
    real_init = api.LiveAvatar.__init__

    def spy(self, avatar=None, options=None, ctx=None):
        seen.append(options.animator.settle_rest)
        real_init(self, avatar, options, ctx)

    monkeypatch.setattr(api.LiveAvatar, "__init__", spy)
    for flags in ([], ["--no-settle"]):
        assert main(["live", "--source", str(clip["folder"]), "--size", "96x64", "--samples", "0",
                     "--max-frames", "3", *flags]) == 0
    assert seen == [True, False]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_finalises_the_recording(clip, tmp_path, stop):
    out = tmp_path / "interrupted.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "avatar_engine.cli", "live", "--source", str(clip["mp4"]),
                             "--record", str(out), "--size", "96x64", "--samples", "0", "--realtime", "--loop"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # Ctrl-C as a terminal's foreground job gets it: a suite run as a background job
                            # (`bash .ci/run &`) hands its children SIGINT ignored, which the CLI honours (nohup)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(".interrupted*")):
        time.sleep(0.2)  # the recording has started once its temporary file exists
    time.sleep(1.5)
    proc.send_signal(stop)  # SIGTERM: `timeout`, `docker stop`; it left the recording under its temporary name
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + stop, stderr[-2000:]  # the shell's convention: a script sees it was stopped
    assert "interrupted, outputs finalised" in stdout
    assert frames_in(out) > 5
    assert not list(tmp_path.glob(".interrupted*")), "no temporary file left behind"


@pytest.mark.parametrize("earlier", [False, True])
def test_a_second_signal_that_cost_the_recording_says_so(clip, tmp_path, capsys, monkeypatch, earlier):
    # a second Ctrl-C while the recording was being finished dropped it (a complete file or none), and the only
    # word was "interrupted"; an earlier take under the same name is kept, and is not this run's
    from avatar_engine.live import pipeline, session

    def interrupted_twice(settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_SIGNALLED", [signal.SIGINT])  # the first, taken by the loop as its stop

    out = tmp_path / "take.mp4"
    if earlier:
        out.write_bytes(b"an earlier take")
        old = time.time() - 60
        os.utime(out, (old, old))
    monkeypatch.setattr(session, "run_live", interrupted_twice)
    assert main(["live", "--source", str(clip["folder"]), "--record", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"the recording {out} was not finished" in err and "interrupted" in err


def test_one_signal_before_the_loop_starts_says_nothing_of_the_recording(clip, tmp_path, capsys, monkeypatch):
    """Sweep: Ctrl-C 0.8 s in (the tracker still loading) printed 'the recording ... was not finished (a second
    signal stopped it ...)' though one signal was sent and no recording had begun."""
    from avatar_engine.live import pipeline, session

    def interrupted_at_start(settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_SIGNALLED", [])
    monkeypatch.setattr(session, "run_live", interrupted_at_start)
    assert main(["live", "--source", str(clip["folder"]), "--record", str(tmp_path / "take.mp4")]) == 130
    err = capsys.readouterr().err
    assert "was not finished" not in err and "interrupted" in err
