"""Writing what the renderer makes: PNG stills and mp4 video, both written to a temporary name then renamed."""

from __future__ import annotations

import os
import re
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_engine.errors import OutputError
from avatar_engine.native_log import native_stderr_to
from avatar_engine.paths import atomic_path, temporary_beside


def write_png(rgba: np.ndarray, path: str | os.PathLike[str]) -> None:
    """rgba : (h, w, 4) uint8; written atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(rgba).save(tmp, format="PNG")


X264_SETTINGS = {"offline": ("medium", "10"), "live": ("veryfast", "18")}
"""x264 preset and constant rate factor per use. "offline" is what imageio-ffmpeg's quality 8 gave (CRF 10).
"live": a 1280x720 avatar frame costs FFmpeg 25.6 ms of CPU at "offline" against 9.6 here, and 2.6 kB against 8.6
(`avatar live --record` on two cores: at 60 fps the offline encoder alone wanted 1.5 cores, fell behind, and the
recording's catch-up copies slowed the loop to 3 fps). CRF 18 is about what the eye cannot tell from the source."""


def mp4_complete(path: str | os.PathLike[str]) -> bool:
    """Whether the file is a whole MP4: top-level boxes that fill it exactly, with its `ftyp`, `mdat` and `moov`
    (the index FFmpeg writes last: a disk that filled up, or an encoder killed, while finishing leaves none)."""
    seen, size = set(), os.path.getsize(path)
    with open(path, "rb") as f:
        at = 0
        while at < size:
            f.seek(at)
            header = f.read(16)
            if len(header) < 8:
                return False
            length, kind = struct.unpack(">I4s", header[:8])
            if length == 1 and len(header) == 16:  # a 64-bit size follows the type
                length = struct.unpack(">Q", header[8:16])[0]
            elif length == 0:  # the box runs to the end of the file
                length = size - at
            if length < 8 or at + length > size:
                return False
            seen.add(kind)
            at += length
    return {b"ftyp", b"mdat", b"moov"} <= seen


def _opaque_rgba(rgba: np.ndarray) -> np.ndarray:
    """(h, w, 3 or 4) uint8 -> contiguous (h, w, 4) uint8 with alpha 255, composited on black where transparent.
    FFmpeg converts RGBA to the video's YUV itself (it drops alpha): an opaque frame, such as every frame with a
    backdrop, goes as it is; slicing and converting it in numpy took ~10 ms of a 1280x720 frame."""
    if rgba.shape[-1] == 4:
        alpha = rgba[..., 3]
        if alpha.min() == 255:
            return np.ascontiguousarray(rgba)
        out = np.empty_like(rgba)
        out[..., :3] = (rgba[..., :3].astype(np.uint16) * alpha[..., None] // 255).astype(np.uint8)
    else:
        out = np.empty(rgba.shape[:2] + (4,), np.uint8)
        out[..., :3] = rgba
    out[..., 3] = 255
    return out


def _last_line(log) -> str:
    """The last non-empty line FFmpeg wrote to its log (a file object), or ''."""
    try:
        log.seek(0)
        lines = [line.strip() for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except (OSError, ValueError):
        return ""
    # FFmpeg tags a line with its component ("[out#0/mp4 @ 0x55...] "): the words are the message
    return re.sub(r"^\[[^\]]*\]\s*", "", lines[-1])[:200] if lines else ""


class VideoWriter:
    """H.264 mp4 through imageio-ffmpeg; the file appears under its name only once it is complete.

    FFmpeg's own messages go to a private log, not the terminal: a failed recording is one `OutputError` line that
    quotes the last of them (no space left on the device, the encoder killed), and no file is left behind."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int],
                 speed: str = "offline", name: str | os.PathLike[str] | None = None) -> None:
        """speed : `X264_SETTINGS`' "offline" (medium preset, CRF 10: a film rendered ahead of time) or "live"
        (veryfast, CRF 18: a recording made while the loop runs, which has to keep up on the same cores).
        name : what errors call the file (default `path`): the user's name when `path` is a caller's temporary."""
        if speed not in X264_SETTINGS:
            raise ValueError(f"speed must be one of {', '.join(X264_SETTINGS)}, got {speed!r}")
        self._x264 = X264_SETTINGS[speed]
        self.path = Path(path)
        self.name = Path(name) if name is not None else self.path
        self._tmp = temporary_beside(self.path)
        self._fps = fps
        self._writer = None  # ffmpeg starts with the first frame: a run that fails before it prints nothing of it
        self._broken = False
        self._done = False
        self._log = None
        """FFmpeg's stderr (an anonymous temporary file), once it has started."""
        self.size = tuple(size)
        self.frames = 0

    def write(self, rgba: np.ndarray) -> None:
        """rgba : (h, w, 4) or (h, w, 3) uint8, composited on black where transparent; ValueError for another size
        (the encoder took it and made a corrupt video)."""
        if rgba.ndim != 3 or rgba.shape[:2] != (self.size[1], self.size[0]) or rgba.shape[2] not in (3, 4):
            raise ValueError(f"a {self.size[0]}x{self.size[1]} video takes ({self.size[1]}, {self.size[0]}, 3 or 4) "
                             f"frames, got {rgba.shape}")
        if self._done:
            raise ValueError(f"the video {self.name} is closed")
        frame = _opaque_rgba(rgba)
        if self._writer is None:
            import imageio_ffmpeg

            self._log = tempfile.TemporaryFile()
            preset, crf = self._x264
            self._writer = imageio_ffmpeg.write_frames(str(self._tmp), self.size, fps=self._fps, codec="libx264",
                                                       quality=None, output_params=["-preset", preset, "-crf", crf],
                                                       pix_fmt_in="rgba", pix_fmt_out="yuv420p", macro_block_size=2)
            with native_stderr_to(self._log):  # FFmpeg starts here and keeps this descriptor as its stderr
                self._writer.send(None)
        try:
            self._writer.send(frame)
        except Exception as exc:
            self._broken = True  # the encoder is gone: what it wrote cannot be finalised
            raise OutputError(f"the video {self.name} could not be written: the encoder stopped "
                              f"({self._cause(exc)})") from None
        except BaseException:
            self._broken = True  # cut off mid-frame (Ctrl-C): what was written cannot be finalised
            raise
        self.frames += 1

    def _cause(self, exc: BaseException | None = None) -> str:
        """Why the encoder failed, in a few words: FFmpeg's last message, else the error, plus the free space."""
        cause = _last_line(self._log) if self._log is not None else ""
        if not cause and exc is not None:
            cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        try:
            free = shutil.disk_usage(self.path.parent).free
            if free < 64 * 2**20:
                cause += f"; {free / 2**20:.1f} MB free on that disk"
        except OSError:
            pass
        return cause or "no message"

    def close(self) -> None:
        """Finalise the file and give it its name; a writer cut off mid-frame, or given no frame, leaves no file
        (never a broken one). Closing again does nothing."""
        if self._done:
            return
        if self._broken or not self.frames:
            self.abort()
            return
        self._done = True
        try:
            self._writer.close()
            if not mp4_complete(self._tmp):
                raise OutputError(f"the video {self.name} could not be finished ({self._cause()})")
            os.replace(self._tmp, self.path)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        finally:
            self._close_log()

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)
            self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.abort() if exc_type else self.close()
