"""Output paths the user names: checked before any work starts, so that a bad one costs no build and leaves nothing.

Writers write to a temporary name beside the file and rename it into place (`atomic_path`, `write_bytes_atomic`,
`write_text_atomic`), so a failure never leaves a partial file; the checks make that rename the only step that can
fail, and say why in one line when a path cannot be written (a missing folder, a file where a folder should be, a
folder where the file should go, a read-only or virtual file system such as /proc).
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from avatar_engine.errors import InputError


STORAGE_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "EROFS", "EACCES",
                                                              "EPERM") if hasattr(errno, name))
"""An OSError with one of these is the machine's storage refusing a write (full, read-only, no permission), not a
bug: one line naming the file, exit 1, instead of a traceback."""
NAME_MAX = 255
"""Longest file name, in bytes, on the file systems users write to (ext4, APFS, NTFS)."""


def _probe(folder: Path, what: str) -> None:
    """Create and remove a file in `folder`: the one test that also holds for root and for /proc or /sys."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".avatar-probe-")
    except OSError as exc:
        raise InputError(f"cannot write {what} in {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(name)


def name_fits(path: str | Path, what: str) -> Path:
    """`path` as a Path, unless it is empty or one of its names is longer than a file system allows (`NAME_MAX`
    bytes): then InputError. Path("") is the current folder (an unset shell variable built every photo there), and
    Python's Path.is_file() and is_dir() raise ENAMETOOLONG rather than answer False."""
    if str(path) == "":
        raise InputError(f"{what} is empty; name a file")
    out = Path(path)
    for name in out.parts:
        if len(os.fsencode(name)) > NAME_MAX:
            raise InputError(f"{what}: the name {name[:24]}... is {len(os.fsencode(name))} bytes long, more than the "
                             f"{NAME_MAX} a file name may have")
    return out


def output_file(path: str | Path, suffixes: tuple[str, ...], what: str = "output") -> Path:
    """`path` if a file of one of `suffixes` can be written there; else InputError naming the cause."""
    out = name_fits(path, what)
    if out.is_dir():  # before the suffix: "existdir must end in .glb" hid what was wrong
        raise InputError(f"{what} {out} is a folder; name a file ending in {' or '.join(suffixes)}")
    if out.suffix.lower() not in suffixes:
        if out.name.lower() in suffixes:  # ".png": a suffix alone, which Python reads as a hidden file's name
            raise InputError(f"{what} {out} has no name before its {out.name}")
        raise InputError(f"{what} {out} must end in {' or '.join(suffixes)}")
    if not out.parent.exists():
        raise InputError(f"{what} folder {out.parent} does not exist")
    if not out.parent.is_dir():
        raise InputError(f"{what} folder {out.parent} is not a folder")
    _probe(out.parent, what)
    return out


def output_folder(path: str | Path, what: str = "output folder", parents: bool = False) -> Path:
    """`path` if it is a writable folder, or can be made one inside an existing folder (with `parents`, inside
    folders still to be made as well, as `mkdir -p` does); else InputError."""
    if str(path) == "":
        raise InputError(f"{what} is empty; name a folder")
    out = name_fits(path, what)
    if out.exists():
        if not out.is_dir():
            raise InputError(f"{what} {out} is a file, not a folder")
        _probe(out, what)
        return out
    base = out.parent
    while parents and not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise InputError(f"{what} {out} cannot be made: {base} is not an existing folder")
    _probe(base, what)
    return out


def temporary_beside(path: str | Path) -> Path:
    """A fresh hidden name in `path`'s folder that keeps its suffix (writers that go by the suffix, such as PIL,
    numpy's savez or an encoder, still write the right format), unique per call."""
    path = Path(path)
    tag = f".{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}"
    # the stem is cut so the name fits where `path` fits (255 bytes): a valid long name failed with ENAMETOOLONG
    room = NAME_MAX - len(tag.encode()) - 1
    # as bytes, the way the file system counts: a name that is not UTF-8 (q\xff.glb) raised UnicodeEncodeError after
    # the whole build; cut mid-character the stem is still a name Linux takes
    stem = os.fsdecode(os.fsencode(path.stem)[:max(room, 1)])
    return path.with_name(f".{stem}{tag}")


def remove_temporaries(folder: Path, pids: list[int]) -> None:
    """Delete the `temporary_beside` files that the processes `pids` (ended, mid-write) left in `folder` and below."""
    for pid in pids:
        for stray in folder.rglob(f".*.{pid}-*.tmp*"):
            stray.unlink(missing_ok=True)


def replaceable(path: str | Path) -> Path:
    """`path`, unless a rename over it would replace something that is not a file: as root, a rename over /dev/null
    replaced the device with the avatar."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise InputError(f"{path} is not a regular file (a folder, device or pipe): it cannot be written over")
    return path


@contextmanager
def errors_named(tmp: Path, path: Path) -> Iterator[None]:
    """An OSError inside about `tmp` (or about no file: a full disk found at close) is re-raised about `path`: the
    user knows the file by its name, not by its temporary's."""
    try:
        yield
    except OSError as exc:
        if exc.errno is not None and exc.filename in (None, str(tmp)):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary name beside `path` to write to; when the block ends normally it is renamed over `path`,
    when it raises it is removed: `path` is either left as it was or replaced whole."""
    path = replaceable(path)
    tmp = temporary_beside(path)
    try:
        with errors_named(tmp, path):
            yield tmp
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def replace_together(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each written temporary over its file, in turn; if one rename fails, the files already renamed are
    removed again, so the set is there whole or not at all (a new file's old version is not brought back)."""
    for _, path in pairs:
        replaceable(path)
    done: list[Path] = []
    try:
        for tmp, path in pairs:
            with errors_named(tmp, path):
                os.replace(tmp, path)
            done.append(path)
    except BaseException:
        for path in done:
            path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """`data` to `path` through `atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """`text` (UTF-8) to `path` through `atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def json_text(data, indent: int = 2) -> str:
    """`data` as standard JSON, every NaN or infinity written as null: Python's json writes NaN, which strict
    readers (JavaScript's JSON.parse, most other languages) refuse."""
    return json.dumps(_finite(data), indent=indent, allow_nan=False)


def write_json_atomic(path: str | Path, data, indent: int = 2) -> None:
    """`json_text(data)` and a newline to `path` through `atomic_path`."""
    write_text_atomic(path, json_text(data, indent) + "\n")


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
