"""iFacialMocap's UDP stream (iPhone ARKit face tracking) as a landmark source: phone users drive the avatar
through the same solver and outputs as the webcam.

The app sends one text datagram per frame to port 49983: `name-value|...` (or `name&value|...` in its
version-2 format), with ARKit names shortened by `_L`/`_R` and values 0..100, then `=head#rx,ry,rz,x,y,z|`
(rotation degrees, position) and `rightEye#rx,ry,rz|leftEye#rx,ry,rz|`. Some apps stream only after a
handshake: pass `phone=HOST` to send it. Corrupt datagrams are skipped and counted, never fatal.

Assumed rotation conventions (as VSeeFace and VRCFaceTracking read them): head rx is pitch (positive looks
down), ry yaw (positive toward the subject's left), rz roll; the phone's front camera sees a mirror image
of what our avatar's camera would, so yaw and roll are negated and Left/Right kept (ARKit's are the user's own).
"""

from __future__ import annotations

import logging
import math
import re
import socket
import time

import numpy as np

from avatar_engine.errors import BackendError, InputError
from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.records import euler_rotation
from avatar_engine.solve.frames import LandmarkFrame

log = logging.getLogger(__name__)
DEFAULT_PORT = 49983
"""Where the app sends: after a handshake, always to this port of the machine that asked, whichever port asked."""
HANDSHAKE_RETRY_S = 2.0
"""With `phone`, the handshake is sent again this often until the first datagram comes."""
SILENT_WARN_S = 5.0
"""With no datagram from the phone this long after listening starts, say so once: the avatar only idles meanwhile,
and a phone sending to another address or port looks exactly like that."""
MAX_HEAD_DEG = 360.0
"""A head angle beyond this (degrees) is no pose a phone reports: the datagram is corrupt (1e39 overflowed the
solver's float32 into NaN)."""
HANDSHAKE = b"iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719|sendDataVersion=v2"
"""What receivers send to the phone's port to ask it to stream, in the version-2 (`name&value`) format."""


def _arkit_name(name: str) -> str | None:
    if name.endswith("_L"):
        name = name[:-2] + "Left"
    elif name.endswith("_R"):
        name = name[:-2] + "Right"
    return name if name in ARKIT_INDEX else None


NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
"""A number as the app writes it: Python's float() also took '1_0' (as 10) and full-width digits."""
POSE_NUMBERS = {"head": 6, "rightEye": 3, "leftEye": 3}
"""How many numbers each pose entry holds (rotation, and the head's position): fewer is a datagram cut short."""


def _number(text: str) -> float | None:
    return float(text) if NUMBER.fullmatch(text.strip()) else None


def parse_packet(text: str) -> tuple[np.ndarray, np.ndarray | None, bool] | None:
    """One datagram -> ((52,) scores in [0, 1], (3,) head yaw/pitch/roll degrees or None when it has no head entry,
    tracking flag); None if corrupt (a value that is no number, a pose entry cut short)."""
    scores = np.zeros(52, np.float32)
    angles = None
    seen = 0
    tracking = True
    for item in filter(None, (s.strip() for s in text.replace("=", "|").split("|"))):
        if "#" in item:
            key, _, values = item.partition("#")
            numbers = [_number(v) for v in values.split(",")]
            if None in numbers or len(numbers) < POSE_NUMBERS.get(key, 0):
                return None  # cut inside the head ('head#-5.0,25.0') read as a head turned back to the front
            if not all(math.isfinite(v) for v in numbers):  # "1e999" parses as inf: it crashed the solver
                return None
            if key == "head":
                rx, ry, rz = numbers[:3]
                if max(abs(rx), abs(ry), abs(rz)) > MAX_HEAD_DEG:
                    return None
                angles = np.array((-ry, rx, -rz), np.float32)
            continue
        sep = "&" if "&" in item else "-"
        name, _, value = item.rpartition(sep)
        number = _number(value)
        if number is None or not math.isfinite(number):
            return None
        if name == "trackingStatus":
            tracking = number > 0
            continue
        arkit = _arkit_name(name)
        if arkit is not None:
            scores[ARKIT_INDEX[arkit]] = np.clip(number / 100.0, 0.0, 1.0)
            seen += 1
    if seen == 0:
        return None
    return scores, angles, tracking


class IFacialMocapSource:
    """Listens on UDP for iFacialMocap datagrams; `read_landmarks` gives the newest as a `LandmarkFrame`."""

    live = True
    fps = 60.0

    def __init__(self, port: int = DEFAULT_PORT, host: str = "0.0.0.0", phone: str | None = None) -> None:
        # no SO_REUSEADDR: on UDP it let a second listener bind the same port and silently take the stream
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise BackendError(f"cannot listen for iFacialMocap on UDP {host}:{port}: {exc}") from None
        self.port = self._sock.getsockname()[1]
        self.corrupt = 0
        self.received = 0
        self._last_t = 0
        self._last_angles = np.zeros(3, np.float32)
        """The head's yaw, pitch, roll from the last datagram that had them."""
        self._started = time.monotonic()
        self._heard = False
        self._warned = False
        self._phone = phone
        self._asked_at = time.monotonic()
        if phone:
            try:
                self._sock.sendto(HANDSHAKE, (phone, DEFAULT_PORT))
            except socket.gaierror:
                self._sock.close()
                raise InputError(f"--phone {phone}: no such host name or address") from None
            except OSError as exc:
                self._sock.close()
                raise BackendError(f"cannot reach the phone {phone} to start iFacialMocap: {exc}") from None

    def read_landmarks(self, timeout_s: float = 0.5) -> LandmarkFrame | None:
        """The newest frame that arrived within timeout_s (older queued datagrams are dropped), or None."""
        self._sock.settimeout(timeout_s)
        try:
            data = self._sock.recv(65536)
        except (socket.timeout, OSError):
            now = time.monotonic()
            if self._phone and not self._heard and now - self._asked_at >= HANDSHAKE_RETRY_S:
                self._asked_at = now  # the app may have been opened after us, or the datagram lost: ask again
                try:
                    self._sock.sendto(HANDSHAKE, (self._phone, DEFAULT_PORT))
                except OSError:
                    pass
            if not self._heard and not self._warned and now - self._started >= SILENT_WARN_S:
                self._warned = True
                if self._phone:
                    log.warning(f"no iFacialMocap data from the phone {self._phone} after {SILENT_WARN_S:.0f} s: is "
                                "the app open and tracking a face, on this machine's network? Asking again every "
                                f"{HANDSHAKE_RETRY_S:.0f} s; the avatar idles until data comes")
                else:
                    log.warning(f"no iFacialMocap data on UDP port {self.port} after {SILENT_WARN_S:.0f} s: set the "
                                f"phone app's destination to this machine's address and port {self.port} (or pass "
                                "--phone ADDRESS); the avatar idles until data comes")
            return None
        self._heard = True
        self._sock.setblocking(False)
        try:  # drain: only the newest datagram matters
            while True:
                data = self._sock.recv(65536)
        except (BlockingIOError, OSError):
            pass
        parsed = parse_packet(data.decode("utf-8", errors="replace"))
        if parsed is None:
            self.corrupt += 1
            return None
        scores, angles, tracking = parsed
        if not tracking:
            return None
        if angles is None:  # no head entry (a datagram cut before it): the head stays where it was
            angles = self._last_angles
        self._last_angles = angles
        self.received += 1
        t = max(time.monotonic_ns(), self._last_t + 1)
        self._last_t = t
        return LandmarkFrame(scores, euler_rotation(*angles).astype(np.float64), t)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "IFacialMocapSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
