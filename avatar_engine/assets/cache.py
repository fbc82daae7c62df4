"""The model cache on disk: where it is, hashing, and atomic verified writes.

Nothing here knows about particular models; `registry` does.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Callable

from avatar_engine.errors import ModelError
from avatar_engine.paths import atomic_path

CACHE_ENV = "AVATAR_ENGINE_CACHE"
"""Environment variable naming the model cache folder itself (the models lie directly in it)."""

_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """`$AVATAR_ENGINE_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/avatar-engine/models`; read at each call."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "avatar-engine" / "models"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, f: BinaryIO):
        self._f = f
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self._f.write(data)


def store_verified(dest: Path, sha256: str, write: Callable[[BinaryIO], None], *, origin: str) -> Path:
    """Write a file through `write(f)` into a temporary file beside `dest`, check its hash, then rename it.

    `dest` either appears complete and verified or not at all: on any failure (including a hash mismatch,
    raised as a one-line `ModelError` naming the file, the expected and the actual hash) the temporary
    file is deleted. `origin` says where the bytes came from, for the error message.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        with open(tmp, "xb") as f:
            writer = _HashingWriter(f)
            write(writer)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        actual = writer.digest.hexdigest()
        if actual != sha256:
            raise ModelError(
                f"{dest.name} from {origin}: sha256 mismatch, expected {sha256}, got {actual}; "
                "the download was deleted"
            )
        os.chmod(tmp, 0o644)
    return dest
