"""iFacialMocap's UDP text format: parsing both versions, and a loopback stream."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.live.ifacialmocap import IFacialMocapSource, parse_packet
from avatar_engine.solve.pose import head_angles

V1 = "mouthSmile_R-40|eyeBlink_L-100|jawOpen-25|browInnerUp-0|=head#-10.5,20.0,3.0,0.01,-0.3,-0.15|rightEye#1.4,-0.2,0|leftEye#1.5,-0.3,0|"
V2 = "trackingStatus&1|mouthSmile_R&40|eyeBlink_L&100|jawOpen&25|=head#-10.5,20.0,3.0,0.01,-0.3,-0.15|"


@pytest.mark.parametrize("packet", [V1, V2])
def test_parse_both_versions(packet):
    scores, angles, tracking = parse_packet(packet)
    assert tracking
    assert scores[ARKIT_INDEX["mouthSmileRight"]] == pytest.approx(0.4)
    assert scores[ARKIT_INDEX["eyeBlinkLeft"]] == pytest.approx(1.0)
    assert scores[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.25)
    assert np.allclose(angles, (-20.0, -10.5, -3.0))


@pytest.mark.parametrize("packet", ["", "garbage", "jawOpen-abc|", "=head#1,2,x|jawOpen-3|",
                                    # sweep: cut inside the head, read as a head turned back to the front
                                    V1[:V1.index("=head#") + 16], "jawOpen-40|=head#12|",
                                    "jawOpen-1_0|", "jawOpen-\uff15\uff10|",  # float() took '1_0' as 10
                                    V1.replace("rightEye#1.4,-0.2,0", "rightEye#1.4")])
def test_corrupt_packets_are_rejected(packet):
    assert parse_packet(packet) is None


def test_a_datagram_without_the_head_keeps_the_last_head_pose():
    """Sweep: a datagram cut just before '=head#' parsed with the head at (0, 0, 0): a one-frame snap to the front."""
    assert parse_packet("jawOpen-40|eyeBlink_L-10|")[1] is None
    with IFacialMocapSource(port=0, host="127.0.0.1") as source, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.sendto(V1.encode(), ("127.0.0.1", source.port))
        turned = source.read_landmarks(1.0)
        phone.sendto(V1[:V1.index("=head#")].encode(), ("127.0.0.1", source.port))
        cut = source.read_landmarks(1.0)
    assert np.allclose(cut.rotation, turned.rotation) and not np.allclose(cut.rotation, np.eye(3))


def test_tracking_lost_flag():
    assert parse_packet("trackingStatus&0|jawOpen&25|")[2] is False


def test_loopback_stream_becomes_landmark_frames():
    with IFacialMocapSource(port=0, host="127.0.0.1") as source, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.sendto(b"not|a|packet", ("127.0.0.1", source.port))
        assert source.read_landmarks(1.0) is None and source.corrupt == 1
        phone.sendto(V1.encode(), ("127.0.0.1", source.port))
        frame = source.read_landmarks(1.0)
        assert frame is not None and frame.points is None
        assert frame.scores[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.25)
        assert np.allclose(head_angles(frame.rotation), (-20.0, -10.5, -3.0), atol=1e-3)
        phone.sendto(V2.replace("jawOpen&25", "jawOpen&50").encode(), ("127.0.0.1", source.port))
        phone.sendto(V2.replace("jawOpen&25", "jawOpen&75").encode(), ("127.0.0.1", source.port))
        import time

        time.sleep(0.05)
        newest = source.read_landmarks(1.0)
        assert newest.scores[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.75), "older datagrams are dropped"
        assert newest.t_ns > frame.t_ns
        assert source.read_landmarks(0.05) is None


def test_phone_to_vmc_through_the_pipeline():
    """iFacialMocap in, the same animator and outputs, VMC out: a phone's jawOpen reaches the receiver."""
    pytest.importorskip("pythonosc")
    import threading
    import time

    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer

    from avatar_engine.live import AnimatorOptions, LiveAvatar, LiveOptions, LivePipeline, PipelineOptions, VmcOutput
    from avatar_engine.solve.tuning import ARKIT_TUNING

    received = []
    dispatcher = Dispatcher()
    dispatcher.map("/VMC/Ext/Blend/Val", lambda address, name, value: received.append((name, value)))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    live = LiveAvatar(options=LiveOptions(render=False, animator=AnimatorOptions(tuning=ARKIT_TUNING,
                                                                                 auto_calibrate=False)))
    with IFacialMocapSource(port=0, host="127.0.0.1") as source, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        pipeline = LivePipeline(source, live, [VmcOutput("127.0.0.1", server.server_address[1])],
                                PipelineOptions(max_seconds=1.5))
        stop = threading.Event()

        def stream():
            while not stop.is_set():
                phone.sendto(V2.replace("jawOpen&25", "jawOpen&60").encode(), ("127.0.0.1", source.port))
                time.sleep(1 / 30)

        threading.Thread(target=stream, daemon=True).start()
        summary = pipeline.run()
        stop.set()
    server.shutdown()
    server.server_close()
    jaw = [v for n, v in received if n == "JawOpen"]  # the clip name perfect-sync avatars give jawOpen
    assert summary["counts"]["tracked"] > 10 and len(jaw) > 10
    assert jaw[-1] == pytest.approx(0.6, abs=0.02), "ARKit scores are weights already: no MediaPipe curves"


def test_a_second_listener_on_the_port_is_refused_not_silently_fed():
    from avatar_engine.errors import BackendError

    with IFacialMocapSource(0, host="127.0.0.1") as first:
        with pytest.raises(BackendError, match="cannot listen for iFacialMocap"):
            IFacialMocapSource(first.port, host="127.0.0.1")


def test_a_phone_name_that_does_not_resolve_is_bad_input():
    from avatar_engine.errors import InputError

    with pytest.raises(InputError, match="no such host"):
        IFacialMocapSource(0, host="127.0.0.1", phone="no-such-phone.invalid")


def test_a_video_named_like_the_phone_source_is_a_video(tmp_path, monkeypatch):
    from avatar_engine.live.session import is_phone_source

    monkeypatch.chdir(tmp_path)
    assert is_phone_source("ifacialmocap") and is_phone_source("ifacialmocap:50003")
    assert not is_phone_source("ifacialmocap_take1.mp4")


def test_a_packet_with_nan_or_inf_is_corrupt():
    assert parse_packet("jawOpen-10|eyeBlink_L-0|=head#nan,1,0,0,0,0|") is None
    assert parse_packet("jawOpen-inf|eyeBlink_L-0|") is None


def test_a_head_angle_no_phone_reports_is_corrupt():
    """1e39 degrees overflowed float32 into NaN and printed numpy warnings; the packet counted as good."""
    assert parse_packet("jawOpen-50|=head#1e39,5,0,0,0,0|") is None
    assert parse_packet("jawOpen-50|=head#0,-361,0,0,0,0|") is None
    assert parse_packet("jawOpen-50|=head#-80,170,-30,0,0,0|") is not None  # turned far, still a head


def test_a_silent_phone_is_said_once(monkeypatch, caplog):
    """No datagram at all for a while (the app sending to another address or port): one warning naming the port,
    not a silently idle avatar; a phone heard from, then quiet, is a face lost, not a setup problem."""
    import logging

    import avatar_engine.live.ifacialmocap as ifm

    monkeypatch.setattr(ifm, "SILENT_WARN_S", 0.05)
    with caplog.at_level(logging.WARNING, logger="avatar_engine.live.ifacialmocap"):
        with IFacialMocapSource(port=0, host="127.0.0.1") as source:
            for _ in range(4):
                assert source.read_landmarks(0.03) is None
            said = [r.getMessage() for r in caplog.records]
            assert len(said) == 1 and f"port {source.port}" in said[0]
        caplog.clear()
        with IFacialMocapSource(port=0, host="127.0.0.1") as source, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
            phone.sendto(V2.encode(), ("127.0.0.1", source.port))
            assert source.read_landmarks(1.0) is not None
            for _ in range(4):
                assert source.read_landmarks(0.03) is None
            assert not caplog.records


def test_the_phone_is_asked_again_until_it_streams(monkeypatch, caplog):
    """The handshake was sent once: an app opened after `avatar live` started, or one lost datagram, left the avatar
    idle for good, and the warning told a user who had passed --phone to pass --phone."""
    import logging

    import avatar_engine.live.ifacialmocap as ifm

    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        phone.bind(("127.0.0.1", ifm.DEFAULT_PORT))  # where the app listens for the handshake
    except OSError as exc:
        phone.close()
        pytest.skip(f"UDP port {ifm.DEFAULT_PORT} is taken on this machine ({exc})")
    monkeypatch.setattr(ifm, "HANDSHAKE_RETRY_S", 0.05)
    monkeypatch.setattr(ifm, "SILENT_WARN_S", 0.05)
    phone.settimeout(1.0)
    with phone, caplog.at_level(logging.WARNING, logger="avatar_engine.live.ifacialmocap"), \
            IFacialMocapSource(port=0, host="127.0.0.1", phone="127.0.0.1") as source:
        assert phone.recv(4096) == ifm.HANDSHAKE
        for _ in range(4):
            assert source.read_landmarks(0.06) is None
        asked = 0
        phone.settimeout(0.2)
        try:
            while True:
                assert phone.recv(4096) == ifm.HANDSHAKE
                asked += 1
        except socket.timeout:
            pass
        assert asked >= 2, "asked again while the phone was silent"
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 1 and "from the phone 127.0.0.1" in said[0] and "--phone" not in said[0]
        phone.sendto(V2.encode(), ("127.0.0.1", source.port))
        assert source.read_landmarks(1.0) is not None
        for _ in range(3):
            source.read_landmarks(0.06)
        with pytest.raises(socket.timeout):
            phone.recv(4096)  # heard from: no more asking


@pytest.mark.parametrize("source", ["ifacialmocap:50000", "ifacialmocap:0"])
def test_phone_with_another_port_is_refused(source):
    """After its handshake the app sends to port 49983 whichever port asked: with --phone, another listening port
    heard nothing, and the silence warning then told the user to pass --phone."""
    from avatar_engine.errors import InputError
    from avatar_engine.live.session import LiveSettings

    with pytest.raises(InputError, match="sends to port 49983"):
        LiveSettings(avatar=None, source=source, phone="10.0.0.2").check()
    LiveSettings(avatar=None, source="ifacialmocap:49983", phone="10.0.0.2").check()
    LiveSettings(avatar=None, source="ifacialmocap", phone="10.0.0.2").check()
