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


@pytest.mark.parametrize("packet", ["", "garbage", "jawOpen-abc|", "=head#1,2,x|jawOpen-3|"])
def test_corrupt_packets_are_rejected(packet):
    assert parse_packet(packet) is None


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
