"""VMC over OSC, received on loopback: addresses, order, types and values."""

from __future__ import annotations

import logging
import socket
import threading

import numpy as np
import pytest

from avatar_engine.errors import InputError
from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.live.vmc import DEFAULT_PORT, NECK_ON_CHEST, VmcSender, parse_target, unity_quaternion
from avatar_engine.records import euler_rotation
from avatar_engine.solve.frames import SolvedFrame
from avatar_engine.solve.pose import head_bones

pytest.importorskip("pythonosc", reason="VMC output needs python-osc (pip install 'avatar-engine[live]')")
from pythonosc.dispatcher import Dispatcher  # noqa: E402
from pythonosc.osc_server import BlockingOSCUDPServer  # noqa: E402

FLOAT_TOL = 1e-6
"""OSC floats are 32-bit."""


@pytest.fixture
def receiver():
    """A VMC receiver on an ephemeral loopback port; yields (port, messages list)."""
    messages = []
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda address, *args: messages.append((address, args)))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], messages
    server.shutdown()
    server.server_close()


def solved_frame() -> SolvedFrame:
    weights = np.linspace(0.0, 1.0, 52).astype(np.float32)
    return SolvedFrame(weights, np.array([20.0, -10.0, 5.0], np.float32), np.array([[8, 2], [6, 2]], np.float32), 0)


def wait_for(messages, n, timeout=3.0):
    import time

    end = time.monotonic() + timeout
    while len(messages) < n and time.monotonic() < end:
        time.sleep(0.01)


def test_one_frame_arrives_with_the_vmc_addresses_types_and_values(receiver):
    port, messages = receiver
    frame = solved_frame()
    with VmcSender("127.0.0.1", port) as sender:
        assert sender.send(frame)
    wait_for(messages, 60)
    addresses = [a for a, _ in messages]
    vals = [(args[0], args[1]) for a, args in messages if a == "/VMC/Ext/Blend/Val"]
    # perfect-sync avatars' clips (hinzka's convention) are ARKit's names with a capital first letter; UniVRM
    # matches clip names case-sensitively, so eyeBlinkLeft moved nothing on them
    assert [n for n, _ in vals] == [n[0].upper() + n[1:] for n in ARKIT_NAMES], "the 52 ARKit shapes, in ARKit order"
    assert {"EyeBlinkLeft", "JawOpen", "MouthSmileRight", "TongueOut"} <= {n for n, _ in vals}
    assert all(isinstance(n, str) and isinstance(v, float) for n, v in vals)
    assert np.allclose([v for _, v in vals], frame.weights, atol=FLOAT_TOL)
    assert addresses.index("/VMC/Ext/Blend/Apply") > max(i for i, a in enumerate(addresses) if a == "/VMC/Ext/Blend/Val")
    assert messages[addresses.index("/VMC/Ext/Blend/Apply")][1] == ()
    root = messages[addresses.index("/VMC/Ext/Root/Pos")][1]
    assert root[0] == "root" and len(root) == 8 and all(isinstance(v, float) for v in root[1:])
    bones = {args[0]: args[1:] for a, args in messages if a == "/VMC/Ext/Bone/Pos"}
    assert {"Head", "Neck"} <= set(bones)
    expected = head_bones(frame.angles, 0.4)
    for bone, joint in (("Neck", "neck"), ("Head", "head")):
        assert len(bones[bone]) == 7 and all(isinstance(v, float) for v in bones[bone])
        q = np.array(bones[bone][3:])
        assert abs(np.linalg.norm(q) - 1.0) < 1e-5
        assert np.allclose(q, unity_quaternion(expected[joint]), atol=1e-5)
    assert ("/VMC/Ext/OK", (1,)) in messages


def test_unity_quaternion_mirrors_x():
    # a yaw toward the avatar's left (+X in glTF) is a negative rotation about Unity's +Y
    x, y, z, w = unity_quaternion(euler_rotation(30, 0, 0))
    assert np.allclose((x, y, z, w), (0.0, -np.sin(np.radians(15)), 0.0, np.cos(np.radians(15))), atol=1e-6)
    x, y, z, w = unity_quaternion(euler_rotation(0, 20, 0))  # pitch about X is unchanged by mirroring X
    assert np.allclose((x, y, z, w), (np.sin(np.radians(10)), 0.0, 0.0, np.cos(np.radians(10))), atol=1e-6)


def test_unreachable_target_warns_once_and_keeps_going(caplog):
    import time

    with caplog.at_level(logging.WARNING, logger="avatar_engine.live.vmc"):
        with VmcSender("no-such-host.invalid", 39539) as sender:
            t0 = time.monotonic()
            results = [sender.send(solved_frame()) for _ in range(5)]
            sending_s = time.monotonic() - t0
            deadline = time.monotonic() + 10
            while sender.lookups_failed == 0 and time.monotonic() < deadline:  # looked up on its own thread
                time.sleep(0.02)
            results += [sender.send(solved_frame()) for _ in range(5)]
    assert results == [False] * 10
    assert sender.failed == 10, "every frame not sent is counted (the count was of warnings: 1)"
    assert sending_s < 0.05, "the lookup never holds up a frame"
    assert len([r for r in caplog.records if "VMC" in r.getMessage()]) == 1


def test_a_receiver_that_is_not_running_is_said_once_and_the_frames_counted_failed(caplog):
    """Sweep: frames to a closed port went out in silence and were counted sent (60 of 60). Connected, the socket
    hears the port unreachable; a receiver started later gets the frames after the retry."""
    import time

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # a port nothing listens on
    with caplog.at_level(logging.WARNING, logger="avatar_engine.live.vmc"):
        with VmcSender("127.0.0.1", port) as sender:
            for _ in range(20):
                sender.send(solved_frame())
                time.sleep(0.005)
            assert sender.failed >= 10 and sender.sent <= 2, (sender.sent, sender.failed)
            late = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the receiver starts
            late.bind(("127.0.0.1", port))
            late.settimeout(5.0)
            try:
                time.sleep(2.1)  # RETRY_S
                assert sender.send(solved_frame())
                assert late.recv(65536).startswith(b"#bundle")
            finally:
                late.close()
    said = [r.getMessage() for r in caplog.records if "VMC" in r.getMessage()]
    assert len(said) == 1 and f"nothing is listening for VMC at 127.0.0.1:{port}" in said[0]


def test_a_socket_that_failed_is_made_again_on_the_retry(monkeypatch):
    """Review: connected, the socket keeps the route and source address it was made with; after a network change
    every send failed (ENETUNREACH) for the rest of the run. A failed socket is closed and the retry makes a new one."""
    import errno

    from avatar_engine.live import vmc

    made = []

    class Socket:
        def __init__(self, family, kind):
            made.append(self)
            self.closed = False

        def setsockopt(self, *args):
            pass

        def connect(self, where):
            pass

        def send(self, data):
            if len(made) == 1:  # the first socket's route is gone
                raise OSError(errno.ENETUNREACH, "Network is unreachable")
            return len(data)

        def close(self):
            self.closed = True

    monkeypatch.setattr(vmc.socket, "socket", Socket)
    sender = VmcSender("127.0.0.1", 39539)
    assert not sender.send(solved_frame()) and made[0].closed
    sender._retry_at = 0.0  # the retry's time has come
    assert sender.send(solved_frame()) and len(made) == 2
    sender.close()


@pytest.mark.parametrize("text, expected", [("127.0.0.1:39539", ("127.0.0.1", 39539)), ("studio", ("studio", DEFAULT_PORT)),
                                            ("studio.local.:9", ("studio.local.", 9)), ("my_pc:9", ("my_pc", 9)),
                                            (":40000", ("127.0.0.1", 40000)), ("[::1]:40000", ("::1", 40000)),
                                            ("[fe80::2]", ("fe80::2", DEFAULT_PORT)), ("::1", ("::1", DEFAULT_PORT))])
def test_parse_target(text, expected):
    assert parse_target(text) == expected


def test_a_frame_reaches_an_ipv6_receiver():
    """`--vmc [::1]:PORT`: the frames go out over IPv6 (an IPv4 socket could not reach it: nothing was sent)."""
    import socket

    try:
        listener = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        listener.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback on this machine ({exc})")
    listener.settimeout(3.0)
    with listener, VmcSender(*parse_target(f"[::1]:{listener.getsockname()[1]}")) as sender:
        assert sender.send(solved_frame())
        assert b"/VMC/Ext/Blend/Apply" in listener.recv(65536)


def test_a_name_with_an_ipv6_address_is_sent_to_over_ipv4(monkeypatch):
    """'localhost' resolves to ::1 first on many systems; VMC receivers on Unity's UdpClient listen on IPv4 only."""
    import socket

    answers = [(socket.AF_INET6, socket.SOCK_DGRAM, 17, "", ("::1", 9, 0, 0)),
               (socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", 9))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    with VmcSender("somehost", 9) as sender:
        sender._look_up()
        assert sender._address == (socket.AF_INET, ("127.0.0.1", 9))


@pytest.mark.parametrize("text", ["host:0", "host:70000", "host:port", "[::1", "[::1]x", "[::1]:port", "a:b:c",
                                  "studio-pc:39539:1", "[localhost]:9"])
def test_parse_target_rejects_bad_ports(text):
    with pytest.raises(InputError):
        parse_target(text)


@pytest.mark.parametrize("text", ["", " ", " 39539", "a..b:39539", ".", "host name:9", "999.1.1.1:9", "1.2.3.4.5:9",
                                  "1.2.3:9", "x" * 300 + ":9", "a" * 64 + ".example.com", "tab\there:9"])
def test_parse_target_refuses_hosts_that_cannot_exist(text):
    # each went on to a run that sent nothing, said only "cannot resolve" and exited 0 ('a..b' raised a traceback per
    # frame; 300 characters were "File name too long"); '' (an unset shell variable) became 127.0.0.1 unsaid
    with pytest.raises(InputError, match="VMC target|--vmc needs a target") as caught:
        parse_target(text)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 240, "one line, a long name shortened"


def test_a_name_the_resolver_refuses_warns_once_and_is_retried_slowly(caplog):
    # IDNA refuses 'a..b' with a UnicodeError, not an OSError: the lookup thread died each frame, a traceback each
    # time, a new thread the next frame, and nothing was ever said or counted
    import time

    with caplog.at_level(logging.WARNING, logger="avatar_engine.live.vmc"):
        with VmcSender("a..b", 39539) as sender:
            deadline = time.monotonic() + 5
            while sender.lookups_failed == 0 and time.monotonic() < deadline:
                sender.send(solved_frame())
                time.sleep(0.01)
            for _ in range(20):
                assert not sender.send(solved_frame())
            time.sleep(0.3)  # a lookup started by any of those frames would have failed by now
            assert sender.lookups_failed == 1 and sender.warned, "one failed lookup, then RETRY_S before the next"
    assert len([r for r in caplog.records if "VMC" in r.getMessage()]) == 1


def test_a_broadcast_target_is_sent_to():
    # without SO_BROADCAST every frame to 255.255.255.255 failed with "Permission denied"
    with VmcSender("255.255.255.255", 39539) as sender:
        assert sender.send(solved_frame()), "sent to the broadcast address"


def test_parse_target_refuses_a_file(tmp_path):
    avatar = tmp_path / "me.bin"
    avatar.write_bytes(b"x")
    for text in ("me.glb", str(avatar)):
        with pytest.raises(InputError, match="that is a file"):
            parse_target(text)


def test_a_live_session_sends_the_avatars_bone_positions(template):
    # Bone/Pos carries each bone's rest position under its parent: zeros collapsed the neck and head onto the root in
    # receivers that apply positions
    pytest.importorskip("pythonosc")
    import threading

    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer

    from avatar_engine.live.session import LiveSettings, run_live

    bones = {}
    dispatcher = Dispatcher()
    dispatcher.map("/VMC/Ext/Bone/Pos", lambda address, name, *values: bones.setdefault(name, values))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a free port for the phone listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        run_live(LiveSettings(avatar=template, source=f"ifacialmocap:{port}",
                              vmc=("127.0.0.1", server.server_address[1]), max_seconds=0.5))
    finally:
        server.shutdown()
        server.server_close()
    offsets = dict(zip(template.skeleton.names, template.skeleton.local_offsets()))
    x, y, z = offsets["head"]
    assert bones["Head"][:3] == pytest.approx((-x, y, z), abs=1e-6)  # Unity's x is glTF's -x
    assert abs(bones["Head"][1]) > 0.01, "the head sits above the neck"
    # the neck is our root, at the origin: at (0, 0, 0) receivers that apply positions sank the head into the chest
    x, y, z = NECK_ON_CHEST
    assert bones["Neck"][:3] == pytest.approx((-x, y, z), abs=1e-6)
    assert 0.1 < bones["Neck"][1] < 0.25, "a neck's height above the upper chest"
