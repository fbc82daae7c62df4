"""Writing what the renderer makes: PNG stills and mp4 video, both written to a temporary name then renamed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_engine.paths import atomic_path, temporary_beside


def write_png(rgba: np.ndarray, path: str | os.PathLike[str]) -> None:
    """rgba : (h, w, 4) uint8; written atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(rgba).save(tmp, format="PNG")


class VideoWriter:
    """H.264 mp4 through imageio-ffmpeg; the file appears under its name only once it is complete."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self._tmp = temporary_beside(self.path)
        self._fps = fps
        self._writer = None  # ffmpeg starts with the first frame: a run that fails before it prints nothing of it
        self._broken = False
        self._done = False
        self.size = tuple(size)
        self.frames = 0

    def write(self, rgba: np.ndarray) -> None:
        """rgba : (h, w, 4) or (h, w, 3) uint8, composited on black where transparent; ValueError for another size
        (the encoder took it and made a corrupt video)."""
        if rgba.ndim != 3 or rgba.shape[:2] != (self.size[1], self.size[0]) or rgba.shape[2] not in (3, 4):
            raise ValueError(f"a {self.size[0]}x{self.size[1]} video takes ({self.size[1]}, {self.size[0]}, 3 or 4) "
                             f"frames, got {rgba.shape}")
        rgb = rgba[..., :3] if rgba.shape[-1] == 3 else (rgba[..., :3].astype(np.uint16) * rgba[..., 3:] // 255)
        if self._done:
            raise ValueError(f"the video {self.path} is closed")
        if self._writer is None:
            import imageio_ffmpeg

            self._writer = imageio_ffmpeg.write_frames(str(self._tmp), self.size, fps=self._fps, codec="libx264",
                                                       quality=8, pix_fmt_out="yuv420p", macro_block_size=2)
            self._writer.send(None)
        try:
            self._writer.send(np.ascontiguousarray(rgb.astype(np.uint8)))
        except BaseException:
            self._broken = True  # the encoder was cut off mid-frame: what it wrote cannot be finalised
            raise
        self.frames += 1

    def close(self) -> None:
        """Finalise the file and give it its name; a writer cut off mid-frame, or given no frame, leaves no file
        (never a broken one). Closing again does nothing."""
        if self._done:
            return
        if self._broken or not self.frames:
            self.abort()
            return
        self._done = True
        self._writer.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.abort() if exc_type else self.close()
