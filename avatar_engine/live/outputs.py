"""Where live frames go: an mp4 recording, a virtual camera, a VMC receiver. (The window is in window.py.)

An output gets `start(size, fps)` once, `write(frame)` per rendered frame and `close()` at the end (also after
Ctrl-C, so a recording is always finalised and playable). `needs_pixels` says whether it reads the image.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from dataclasses import dataclass

import numpy as np

from avatar_engine.errors import BackendError
from avatar_engine.paths import output_file
from avatar_engine.solve.frames import SolvedFrame

VIRTUAL_CAMERA_HINT = {
    "linux": "load the v4l2loopback kernel module: sudo modprobe v4l2loopback devices=1 exclusive_caps=1",
    "win32": "install OBS Studio (its virtual camera) or the Unity Capture driver",
    "darwin": "install OBS Studio and start its virtual camera once",
}


@dataclass(frozen=True)
class LiveFrame:
    """One frame of the live loop as outputs and API users see it."""

    solved: SolvedFrame
    """Weights, head angles and gaze after filtering."""
    rgba: np.ndarray | None
    """rgba : (h, w, 4) uint8 rendered image, top row first; None when nothing needed pixels."""
    index: int
    """Source frame index (-1 for frames rendered while no new frame came)."""
    t_capture_ns: int | None
    """Capture timestamp of the source frame (None for idle frames)."""
    tracked: bool
    """A face was tracked in this frame and animated (False also for a frame the animator refused: scores or a
    pose that are not numbers, a matrix that is no rotation, a face mostly beyond the image's edge)."""
    state: str
    """The animator's state: tracking, calibrating, holding, easing, idle."""
    t_ns: int | None = None
    """Media time of this frame, ns: the source frame's, or for a frame rendered while none came, the last one's
    advanced by the wall clock (None: unknown)."""


class Output:
    needs_pixels = True

    def start(self, size: tuple[int, int], fps: float) -> None:
        pass

    def write(self, frame: LiveFrame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


MAX_REPEAT_S = 10.0
"""A gap in media time longer than this is not filled with copies of one frame (a source that jumped)."""
CATCH_UP_S = 0.25
"""Recording a source that runs in real time (a camera, a phone, a file played at its pace), at most this much
video is filled with copies of one frame. A machine whose encoder could not keep up fell further behind with every
frame (each write's copies took longer than the time they covered: 3 fps); past this the video drops the time
instead (it runs short of real time) and a warning says so once. A file read as fast as the loop goes keeps every
gap its own timestamps have (up to `MAX_REPEAT_S`): there the loop waits for the encoder, never the reverse."""
LIVE_RECORD_FPS = 30.0
"""The rate a recording of a live source (camera, phone) is made at, at most: a phone's 60 Hz doubled the encoder's
work for frames the loop seldom renders that fast on a laptop CPU."""

ENCODER_QUEUE = 4
"""Frames waiting for the encoder's thread at most; when it is that far behind, the loop waits for it."""

log = logging.getLogger("avatar_engine.live")


class RecordOutput(Output):
    """The rendered frames to an mp4 (`avatar_engine.render.output.VideoWriter`: complete file or none), each placed
    at its media time: a frame is written as many times as the video's rate needs to reach it, or not at all when
    the one before already covers its slot. A camera's dropped frames or the idle frames rendered while no face
    came then keep their real duration; written once each, a 3 s realtime run that dropped frames played in 0.9 s.

    The frames go to the encoder on a thread of their own: handing FFmpeg a 1280x720 frame through its pipe blocks
    until it has taken all of it, ~30 ms, which on the loop's thread held a camera-paced run to 8-16 fps with the
    cores half idle."""

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None, max_fps: float | None = None,
                 realtime: bool = False) -> None:
        """fps : the video's rate (None: the source's, at most `max_fps`); realtime : the frames come at the
        source's pace (`CATCH_UP_S` applies). InputError at once for a path no mp4 can be written to (an API user
        heard of a missing folder or another extension only from FFmpeg, after the whole run)."""
        path = output_file(path, (".mp4",), "recording")
        self.path, self.fps, self.max_fps, self.realtime, self._writer = path, fps, max_fps, realtime, None
        self.frames = 0
        """Frames in the video so far (copies included)."""
        self.skipped = 0
        """Rendered frames not written: the slot they fall in was taken."""
        self.dropped_s = 0.0
        """Seconds of real time the video left out because the encoder could not keep up (`CATCH_UP_S`)."""
        self._t0: int | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        """What stopped the encoder's thread (an `OutputError`): raised to the loop at its next write or close."""

    def start(self, size: tuple[int, int], fps: float) -> None:
        from avatar_engine.render.output import VideoWriter

        self.fps = self.fps or (min(fps, self.max_fps) if self.max_fps else fps)
        self._writer = VideoWriter(self.path, self.fps, size, speed="live")
        self._queue = queue.Queue(ENCODER_QUEUE)
        self._thread = threading.Thread(target=self._encode, name="live-record", daemon=True)
        self._thread.start()

    def _encode(self) -> None:
        """The encoder's thread: each queued (rgba, copies) written; None ends it. After a failure it only drains."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._failure is not None:
                continue
            rgba, copies = item
            try:
                for _ in range(copies):
                    self._writer.write(rgba)
            except BaseException as exc:
                self._failure = exc

    def write(self, frame: LiveFrame) -> None:
        copies = 1
        if frame.t_ns is not None:
            if self._t0 is None:
                self._t0 = frame.t_ns
            due = int(round((frame.t_ns - self._t0) * 1e-9 * self.fps)) + 1  # frames the video holds with this one
            most = max(1, int(CATCH_UP_S * self.fps))
            if self.frames and abs(due - self.frames) > MAX_REPEAT_S * self.fps:
                # the source's clock jumped (idle frames before a camera's or phone's first one): carry on from
                # here. Capping the copies instead wrote hundreds of copies of every later frame: 3 fps, 12 s late.
                due = self._restart_at(frame.t_ns, self.frames + 1)
            elif self.realtime and self.frames and due - self.frames > most:
                if not self.dropped_s:
                    log.warning(f"the recording {self.path} cannot keep up with real time on this machine: its video "
                                "leaves time out (fewer outputs, a smaller --size or --serial help)")
                self.dropped_s += (due - self.frames - most) / self.fps
                due = self._restart_at(frame.t_ns, self.frames + most)
            copies = due - self.frames if self.frames else 1
        if self._failure is not None:
            raise self._failure
        if copies <= 0:
            self.skipped += 1
            return
        self._queue.put((frame.rgba, copies))  # the loop's frames are fresh arrays: nothing reuses this one
        self.frames += copies

    def _restart_at(self, t_ns: int, due: int) -> int:
        """Count the video's time from this frame on, as frame `due` (its last): the time before is left out."""
        self._t0 = t_ns - int(round((due - 1) * 1e9 / self.fps))
        return due

    def close(self) -> None:
        if self._writer is None:
            return
        writer = self._writer
        try:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()  # the frames still queued are written first
            if self._failure is not None:
                raise self._failure
        except BaseException:
            writer.abort()
            raise
        finally:
            self._writer = None
        if self.frames:
            writer.close()
        else:
            writer.abort()  # an empty mp4 is not a recording


class VmcOutput(Output):
    """Weights and head/neck/eye bones to a VMC receiver (`live.vmc`)."""

    needs_pixels = False

    def __init__(self, host: str, port: int, neck_share: float = 0.4,
                 bone_offsets: dict[str, tuple[float, float, float]] | None = None) -> None:
        """bone_offsets : joint -> its rest position relative to its parent (glTF axes, metres), sent with each bone
        (`Skeleton.local_offsets`); without them receivers that apply bone positions collapse the bones."""
        from avatar_engine.live.vmc import VmcSender

        self.sender = VmcSender(host, port, neck_share, bone_offsets)

    def write(self, frame: LiveFrame) -> None:
        self.sender.send(frame.solved)

    def close(self) -> None:
        self.sender.close()


class VirtualCameraOutput(Output):
    """Frames to a virtual webcam through `pyvirtualcam` (the optional `vcam` extra)."""

    def __init__(self, device: str | None = None) -> None:
        self.device, self._cam = device, None
        try:
            import pyvirtualcam
        except ImportError:
            raise BackendError("the virtual camera needs pyvirtualcam: pip install 'avatar-engine[vcam]'") from None
        self._module = pyvirtualcam

    def start(self, size: tuple[int, int], fps: float) -> None:
        try:
            self._cam = self._module.Camera(width=size[0], height=size[1], fps=fps, device=self.device)
        except Exception as exc:  # pyvirtualcam raises RuntimeError/ValueError per backend
            hint = VIRTUAL_CAMERA_HINT.get(sys.platform, "install a virtual camera driver")
            raise BackendError(f"no virtual camera device to send to ({exc}); {hint}") from None

    def write(self, frame: LiveFrame) -> None:
        rgba = frame.rgba
        rgb = (rgba[..., :3].astype(np.uint16) * rgba[..., 3:] // 255).astype(np.uint8)
        self._cam.send(np.ascontiguousarray(rgb))

    def close(self) -> None:
        if self._cam is not None:
            self._cam.close()
            self._cam = None
