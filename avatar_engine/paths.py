"""Output paths the user names: checked before any work starts, so that a bad one costs no build and leaves nothing.

Writers still write to a temporary name and rename it into place; these checks make the rename the only step
that can fail, and say why in one line when a path cannot be written (a missing folder, a file where a folder
should be, a folder where the file should go, a read-only or virtual file system such as /proc).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from avatar_engine.errors import InputError


def _probe(folder: Path, what: str) -> None:
    """Create and remove a file in `folder`: the one test that also holds for root and for /proc or /sys."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".avatar-probe-")
    except OSError as exc:
        raise InputError(f"cannot write {what} in {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(name)


def output_file(path: str | Path, suffixes: tuple[str, ...], what: str = "output") -> Path:
    """`path` if a file of one of `suffixes` can be written there; else InputError naming the cause."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise InputError(f"{what} {out} must end in {' or '.join(suffixes)}")
    if out.is_dir():
        raise InputError(f"{what} {out} is a folder; name a file")
    if not out.parent.exists():
        raise InputError(f"{what} folder {out.parent} does not exist")
    if not out.parent.is_dir():
        raise InputError(f"{what} folder {out.parent} is not a folder")
    _probe(out.parent, what)
    return out


def output_folder(path: str | Path, what: str = "output folder") -> Path:
    """`path` if it is a writable folder, or can be made one inside an existing folder; else InputError."""
    out = Path(path)
    if str(path) == "":
        raise InputError(f"{what} is empty; name a folder")
    if out.exists():
        if not out.is_dir():
            raise InputError(f"{what} {out} is a file, not a folder")
        _probe(out, what)
        return out
    if not out.parent.is_dir():
        raise InputError(f"{what} {out} cannot be made: {out.parent} is not an existing folder")
    _probe(out.parent, what)
    return out
