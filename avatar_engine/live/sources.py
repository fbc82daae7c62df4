"""Frame sources through OpenCV: a webcam index, a video file or a folder of images.

    with open_source("clip.mp4") as source:
        frame = source.read()      # CapturedFrame, or None at the end of a file

Every frame is stamped on the monotonic clock the moment it is read (`t_capture_ns`, for latency) and
carries its media time (`t_media_ns`, for the tracker and the filters: a file read faster than real time
still animates at its own pace). `cv2` is imported when a source opens, never at import time.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_engine.errors import BackendError, InputError
from avatar_engine.native_log import native_stderr_silenced
from avatar_engine.perception.opencv import import_cv2

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FOLDER_FPS = 30.0
"""Media rate given to a folder of frames (images carry no time)."""
CAMERA_RETRY_S = 1.0
"""A camera that stops delivering is reopened this often."""


@dataclass(frozen=True)
class CapturedFrame:
    rgb: np.ndarray
    """rgb : (h, w, 3) uint8."""
    index: int
    """Position in the source (frames read so far, corrupt ones included)."""
    t_capture_ns: int
    """`time.monotonic_ns()` when the frame was read."""
    t_media_ns: int
    """Media time: the frame's place in the file, or the capture time for a camera (strictly increasing)."""


def _cv2():
    return import_cv2("video sources")


def list_cameras() -> list[str]:
    """Video capture devices this machine has (Linux: /dev/video*; elsewhere indices 0-3 that open)."""
    if platform.system() == "Linux":
        return sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))
    cv2 = _cv2()
    found = []
    for i in range(4):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append(str(i))
        cap.release()
    return found


class _Source:
    fps: float = FOLDER_FPS
    live: bool = False
    """A live source (camera, network) never ends and cannot be paced or looped."""

    def __init__(self) -> None:
        self._count = 0
        self.corrupt = 0
        self.cut_short: tuple[float, float] | None = None
        """(seconds decoded, the file's duration) when a video stopped decoding well before its end."""

    def read(self) -> CapturedFrame | None:
        raise NotImplementedError

    def rewind(self) -> bool:
        """Start again from the first frame (for --loop); False where that is impossible."""
        return False

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _checked(image, cv2) -> np.ndarray | None:
    """BGR(A)/grey OpenCV image -> (h, w, 3) uint8 RGB, or None for an empty or corrupt frame."""
    if image is None or not isinstance(image, np.ndarray) or image.size == 0 or image.dtype != np.uint8:
        return None
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)


FFMPEG_QUIET = "-8"
"""FFmpeg's AV_LOG_QUIET: its decoder's complaints about a damaged video (dozens of lines) stay unprinted; the live
loop's own warning says how far the file decoded (`cut_short`)."""
BAD_READS_MAX = 30
"""Failed reads in a row, short of the container's end (`CUT_SHORT`), taken as damaged frames to skip; more end
the file there (a file cut off mid-way fails every read)."""
CUT_SHORT = (0.9, 1.0)
"""(share, seconds): a video whose frames stop decoding a second short of nine tenths of its duration ended early
(damaged), not at its end. By time, not by frame count: a variable-rate .webm's count is its duration times its
nominal rate, and one with a pause in it read 21 of its "127" frames, to its end; the margin, because such a
container's duration is an estimate too (5.1 s for 4.1 s of frames)."""


def playback_duration(path: Path) -> float | None:
    """The video's duration as FFmpeg plays it (edit lists honoured), seconds; None when it cannot say."""
    try:
        import imageio_ffmpeg

        frames = imageio_ffmpeg.read_frames(str(path))
        try:
            duration = float(next(frames).get("duration") or 0.0)
        finally:
            frames.close()
    except Exception:  # noqa: BLE001 - a file FFmpeg cannot read here keeps OpenCV's estimate
        return None
    return duration if np.isfinite(duration) and duration > 0 else None


class VideoFileSource(_Source):
    """A video file, decoded frame by frame; media time from its frame rate."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"video file not found: {self.path}")
        if not os.access(self.path, os.R_OK):  # OpenCV says only that it cannot open it
            raise InputError(f"cannot read video {self.path}: permission denied")
        self._cv2 = _cv2()
        # FFmpeg's own lines about a file it cannot parse, or a damaged stretch, are for us to put in one line.
        # OpenCV sets FFmpeg's (process-wide) log level from this when it first opens a file; set here, on the
        # caller's thread, once: changed later from the tracker's thread (a --loop reopening) it raced getenv
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET)
        if not self._open():
            raise InputError(f"cannot decode video {self.path}: not a video OpenCV can read")
        fps = self._cap.get(self._cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1.0 <= fps <= 1000.0 else 30.0
        """The file's average rate (pacing, recordings); each frame's own time comes from its timestamp."""

    def _open(self) -> bool:
        """Open the file at its first frame (held for `read`); False when it gives none."""
        with native_stderr_silenced():  # its line about a file it cannot parse: the caller says it
            self._cap = self._cv2.VideoCapture(str(self.path))
            ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or _checked(first, self._cv2) is None:
            self._cap.release()
            return False
        self._pending = (first, self._cap.get(self._cv2.CAP_PROP_POS_MSEC))
        self._count, self._last_ns = 0, -1  # index and media time are positions in the file
        self._bad_reads = 0
        """Reads failed in a row before the container's end (`BAD_READS_MAX`)."""
        count, fps = self._cap.get(self._cv2.CAP_PROP_FRAME_COUNT), self._cap.get(self._cv2.CAP_PROP_FPS)
        known = np.isfinite(count) and count > 0 and np.isfinite(fps) and fps > 0
        self._duration_s = float(count / fps) if known else 0.0
        """The container's duration (0: unknown)."""
        return True

    def _media_ns(self, index: int, msec: float) -> int:
        """The frame's time in the file: its timestamp where the container gives increasing ones (a phone's
        variable-rate video: frame k is not at k / average fps), else its index at the average rate; strictly
        increasing either way."""
        stamped = int(round(msec * 1e6)) if np.isfinite(msec) and msec >= 0 else -1
        t = stamped if stamped > self._last_ns else max(int(index * 1e9 / self.fps), self._last_ns + 1)
        self._last_ns = t
        return t

    def read(self) -> CapturedFrame | None:
        while True:
            if self._pending is not None:
                (image, msec), self._pending = self._pending, None
            else:
                ok, image = self._cap.read()
                if not ok:
                    reached = max(self._last_ns, 0) * 1e-9 + 1.0 / self.fps  # the last frame's end
                    share, margin = CUT_SHORT
                    short = reached < share * self._duration_s - margin
                    if short and self._bad_reads < BAD_READS_MAX:
                        # one damaged frame, not the file's end: the decoder goes on after it (a corrupt MJPEG frame
                        # ended the run at 84 of 159 frames, "the rest of the file is damaged")
                        self._bad_reads += 1
                        self._count += 1
                        self.corrupt += 1
                        continue
                    if short:  # a damaged file, not its end: say so
                        # OpenCV counts the frames an edit list hides (a clip cut with `ffmpeg -ss 3 -c copy` plays
                        # 7 s of its 10 s of frames); FFmpeg's own duration honours it. Asked only here (0.17 s)
                        duration = playback_duration(self.path) or self._duration_s
                        if reached < share * duration - margin:
                            self.cut_short = (round(reached, 2), round(duration, 2))
                    return None
                msec = self._cap.get(self._cv2.CAP_PROP_POS_MSEC)
                self._bad_reads = 0
            index = self._count
            self._count += 1
            rgb = _checked(image, self._cv2)
            if rgb is None:
                self.corrupt += 1
                continue
            return CapturedFrame(rgb, index, time.monotonic_ns(), self._media_ns(index, msec))

    def rewind(self) -> bool:
        # reopened rather than seeked: a seek in a raw stream (.h264, .mjpeg) or a still image reports success and
        # moves nowhere, and --loop then spun for ever on an empty read
        self._cap.release()
        return self._open()

    def close(self) -> None:
        self._cap.release()


def natural_key(path: Path) -> list:
    """Sort key for frame files: numbers by value, so 2.png comes before 10.png (ffmpeg's %d output)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name.lower())]


class FolderSource(_Source):
    """A folder of images read in name order at FOLDER_FPS; unreadable images are skipped and counted."""

    def __init__(self, path: str | os.PathLike[str], fps: float = FOLDER_FPS) -> None:
        super().__init__()
        self.path = Path(path)
        try:
            # files only: a FIFO named a.png blocked the read for ever, a folder named b.png counted as corrupt
            self.files = sorted((p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                                key=natural_key)
        except OSError as exc:
            raise InputError(f"folder {self.path}: cannot list it ({(exc.strerror or str(exc)).lower()})") from None
        if not self.files:
            raise InputError(f"folder {self.path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self._cv2 = _cv2()
        self.fps = fps
        self._next = 0
        # a folder whose every image is unreadable is bad input, not an empty run: find one that decodes
        if self._decode_next() is None:
            raise InputError(f"folder {self.path} holds no readable image ({len(self.files)} files, none decodes)")
        self.rewind()
        self.corrupt = 0  # counted again as the run reads them

    def _decode_next(self) -> CapturedFrame | None:
        while self._next < len(self.files):
            path = self.files[self._next]
            self._next += 1
            index = self._count
            self._count += 1
            # IMREAD_COLOR: upright by the file's EXIF orientation, 16-bit scaled to 8, grey and alpha dropped to BGR
            rgb = _checked(self._cv2.imread(str(path), self._cv2.IMREAD_COLOR), self._cv2)
            if rgb is None:
                self.corrupt += 1
                continue
            return CapturedFrame(rgb, index, time.monotonic_ns(), int(index * 1e9 / self.fps))
        return None

    def read(self) -> CapturedFrame | None:
        return self._decode_next()

    def rewind(self) -> bool:
        self._next = self._count = 0
        return True


class CameraSource(_Source):
    """A webcam by index. A camera that stops delivering (unplugged) is reopened every CAMERA_RETRY_S;
    `read` blocks until a frame comes or `timeout_s` passes (then it returns None and the loop idles)."""

    live = True

    def __init__(self, index: int, size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.index = index
        self.size = size
        self._cv2 = _cv2()
        self._cap = self._open()
        if self._cap is None:
            cameras = list_cameras()
            where = ", ".join(cameras) if cameras else "none"
            if cameras and platform.system() == "Linux" and f"/dev/video{index}" not in cameras:
                raise InputError(f"camera {index} does not exist (cameras found: {where})")
            if cameras:
                raise BackendError(f"camera {index} cannot be opened (busy or not a capture device); "
                                   f"cameras found: {where}")
            raise InputError(f"camera {index} cannot be opened: this machine has no cameras (found: {where}); "
                             "pass a video file or a folder of frames as --source")
        fps = self._cap.get(self._cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1.0 <= fps <= 240.0 else 30.0
        self._last_t = 0
        self._retry_at = 0.0
        self.reconnects = 0

    def _open(self):
        backend = self._cv2.CAP_V4L2 if platform.system() == "Linux" else self._cv2.CAP_ANY
        cap = self._cv2.VideoCapture(self.index, backend)
        if not cap.isOpened():
            cap.release()
            return None
        if self.size:
            # compressed first: most USB webcams give 1280x720 at 30 fps only as MJPG (raw YUYV at that size is
            # 5-10 fps over USB 2); a camera without it keeps its own format
            cap.set(self._cv2.CAP_PROP_FOURCC, self._cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(self._cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(self._cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        cap.set(self._cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a queue of old ones
        return cap

    @property
    def connected(self) -> bool:
        return self._cap is not None

    def read(self, timeout_s: float = 0.5) -> CapturedFrame | None:
        """The next frame, or None if none came within timeout_s (camera gone: it is being reopened)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._cap is None:
                if time.monotonic() >= self._retry_at:
                    self._retry_at = time.monotonic() + CAMERA_RETRY_S
                    self._cap = self._open()
                    self.reconnects += self._cap is not None
                if self._cap is None:
                    time.sleep(0.05)
                    continue
            ok, image = self._cap.read()
            t = time.monotonic_ns()
            index = self._count
            self._count += 1
            if not ok:  # unplugged or stalled: drop the handle and retry
                self._cap.release()
                self._cap = None
                continue
            rgb = _checked(image, self._cv2)
            if rgb is None:
                self.corrupt += 1
                continue
            t = max(t, self._last_t + 1)
            self._last_t = t
            return CapturedFrame(rgb, index, t, t)
        return None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_source(spec: str | int, camera_size: tuple[int, int] | None = None) -> _Source:
    """'0' (camera index), a video file or a folder of images. InputError naming the cause otherwise."""
    text = str(spec)
    if not text.strip():  # an unset shell variable: Path("") is the current folder, which was played as frames
        raise InputError("--source is empty: give a camera index, a video file or a folder of images")
    if text.isascii() and text.isdigit():  # not '²', which int() refuses
        if int(text) >= 1 << 31:  # OpenCV takes a C int: it raised OverflowError
            cameras = list_cameras()
            raise InputError(f"camera {text} does not exist (cameras found: {', '.join(cameras) or 'none'})")
        return CameraSource(int(text), camera_size)
    path = Path(text).expanduser()
    if path.is_dir():
        return FolderSource(path)
    if path.is_file():
        return VideoFileSource(path)
    raise InputError(f"source {text!r} is not a camera index, a video file or a folder of images")
