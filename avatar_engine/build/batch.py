"""Many photos, one builder: a folder of avatars with one report each and a summary, for teams building heads in bulk.

The models load once. A photo the builder refuses (no face, several faces, turned away, unreadable) is skipped and
named in the summary; so is one that hits a bug (named as failed, with the fault). A systemic fault (a missing or
damaged model, no OpenGL, or `FAULTS_IN_A_ROW` failures in a row) stops the batch, since every later photo would fail
the same way. Each file is written atomically: an interrupted batch leaves whole files only.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from avatar_engine.build.report import GENERATOR_NAME
from avatar_engine.errors import AvatarError, InputError
from avatar_engine.paths import STORAGE_ERRNOS, name_fits, write_json_atomic

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".apng", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".avif",
                  ".avifs", ".gif", ".jp2", ".j2k", ".jpx", ".jpf", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".qoi")
"""What a folder given as input contributes: its files with these suffixes (any case), not its subfolders. The
suffixes PIL gives the formats a single build reads (`image.PHOTO_FORMATS`): a folder's GIF was skipped unsaid,
though `avatar build photo.gif` built it."""
SUMMARY_NAME = "build_summary.json"
EARLIER_DIR = "earlier"
"""Where a rebuilt batch moves a refused photo's avatar and report from an earlier run into the same folder."""
FAULTS_IN_A_ROW = 3
"""A batch stops when this many photos in a row fail with an unexpected fault: then something systemic (the machine,
an installation) is wrong and every later photo would fail the same way. A fault in one photo (a bug its face
triggers) no longer stops the photos after it."""


class BatchFault(AvatarError):
    """`FAULTS_IN_A_ROW` photos in a row failed with an unexpected fault (one line, exit code 1)."""


@dataclass(frozen=True)
class BatchItem:
    """What became of one photo."""

    photo: str
    avatar: str | None = None
    """The .glb written, or None when the photo was refused."""
    report: str | None = None
    seconds: float | None = None
    reprojection_error: float | None = None
    """Landmark reprojection error, a fraction of the inter-ocular distance."""
    hair_iou: float | None = None
    warnings: tuple[str, ...] = ()
    error: str | None = None
    """Why the builder refused the photo (one line), or None."""
    fault: str | None = None
    """An unexpected fault (a bug) that stopped this photo's build, as its type and message, or None. The batch
    goes on to the next photo unless `FAULTS_IN_A_ROW` photos in a row fault."""
    set_aside: tuple[str, ...] = ()
    """A refused photo's avatar and report from an earlier batch into the same folder, moved into `EARLIER_DIR`
    (where they are now): they were built from what the photo was then, and beside this summary they would pass for
    its avatar now."""


def _photos_in(folder: Path) -> list[Path]:
    """The photo files in `folder` (not its subfolders), sorted. OSError where it cannot be read."""
    # hidden files are not photos: macOS's ._name.jpg beside each photo on a shared drive was refused
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith("."))


def unsearched_subfolders(paths: list[str]) -> list[Path]:
    """The subfolders (not hidden) of the folders `paths` names that hold photos of their own: a batch builds a
    folder's own photos only, and skipped theirs without a word."""
    found = []
    for text in paths:
        path = Path(text)
        if not path.is_dir():
            continue
        try:
            subs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            found += [sub for sub in subs if _photos_in(sub)]
        except OSError:  # unreadable: batch_photos says so for the folder itself; a subfolder's is not ours to judge
            continue
    return found


def batch_photos(paths: list[str]) -> list[Path]:
    """The photo files `paths` name (files as given, folders expanded to their photos, sorted; a file named twice,
    however spelt, counts once), checked before any model loads: InputError for a missing path, a folder with no
    photos, or two photos whose avatars would share a name (`<stem>.glb`, any case, or the summary's)."""
    photos: list[Path] = []
    for text in paths:
        path = name_fits(text, "photo")
        if path.is_dir():
            try:
                found = _photos_in(path)
            except OSError as exc:
                raise InputError(f"folder {path}: cannot read it ({exc.strerror.lower()})") from None
            if not found:
                raise InputError(f"folder {path} holds no photos ({', '.join(PHOTO_SUFFIXES)})")
            photos += found
        elif path.is_file():
            photos.append(path)
        elif path.exists():
            raise InputError(f"photo {path} is not a regular file (a device, pipe or socket)")
        else:
            raise InputError(f"photo {path} does not exist")
    first: dict[Path, Path] = {}
    for photo in photos:  # in the order given, each file where it is first named, as first spelt
        first.setdefault(photo.resolve(), photo)
    unique = list(first.values())
    stems: dict[str, Path] = {}
    for photo in unique:
        if photo.stem.lower() == Path(SUMMARY_NAME).stem:
            raise InputError(f"photo {photo}: its report would overwrite the batch's {SUMMARY_NAME}; rename it")
        other = stems.setdefault(photo.stem.lower(), photo)
        if other != photo:
            raise InputError(f"photos {other} and {photo} would both be written as {photo.stem}.glb; rename one")
    return unique


def check_outputs(photos: list[Path], out_dir: Path) -> None:
    """InputError, before any photo is built, when a file the batch would write into `out_dir` (an avatar, a report,
    the summary) is taken by a folder, or is one of the photos (a photo named p.json or p.glb became its own
    report or avatar)."""
    names = [SUMMARY_NAME] + [f"{photo.stem}{suffix}" for photo in photos for suffix in (".glb", ".json")]
    inputs = {_file_id(photo): photo for photo in photos}
    for name in names:
        target = out_dir / name
        if target.is_dir():
            raise InputError(f"output {target} is a folder; the batch writes a file there: move it")
        photo = inputs.get(_file_id(target)) if target.exists() else None
        if photo is not None:
            raise InputError(f"output {target} is the photo {photo} itself: the batch would write over it; "
                             "choose another -o folder")


def _file_id(path: Path) -> tuple[int, int]:
    """(device, inode): the same file under any name, link or spelling."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def build_batch(photos: list[Path], out_dir: Path, options=None,
                on_item: Callable[[BatchItem], None] | None = None, jobs: int = 1) -> list[BatchItem]:
    """Build every photo into `out_dir` (`<stem>.glb` and its report `<stem>.json`, with the render check), then
    write `build_summary.json` there. `on_item` is called after each photo, in the photos' order (progress).
    `jobs` > 1 builds in that many worker processes, each with its own builder (models loaded once per worker,
    about 0.6 GB each): more photos an hour where cores outnumber what one build keeps busy."""
    if jobs < 1:
        raise InputError(f"jobs must be 1 or more, got {jobs}")
    items: list[BatchItem] = []
    late: list[BatchItem] = []  # photos the workers finished after a stop: their files are written
    finished = False
    try:
        if jobs == 1 or len(photos) < 2:
            results = _built_in_turn(photos, out_dir, options)
        else:
            from avatar_engine.workers import map_in_workers

            results = map_in_workers(_worker_build, [(photo, out_dir) for photo in photos], jobs, _worker_start,
                                     (options,), late, outputs=out_dir)
        in_a_row = 0
        for item in results:
            items.append(item)
            if on_item is not None:
                on_item(item)
            in_a_row = in_a_row + 1 if item.fault is not None else 0
            if in_a_row >= FAULTS_IN_A_ROW:
                raise BatchFault(f"{in_a_row} photos in a row failed with an unexpected fault, the last: {item.fault}")
        finished = True
    finally:  # a fault that stops the batch midway still leaves the record of what was built
        items.extend(late)
        for item in late if on_item is not None else ():  # written after the stop: said too (no 'wrote' line was)
            try:
                on_item(item)
            except Exception:  # stopping: the summary below still lists it
                pass
        # a batch stopped before its first photo still replaces an earlier run's summary, which described photos
        # this run may not have built (game-team review); a folder this run made is left empty, to be removed
        if finished or items or (out_dir / SUMMARY_NAME).exists():
            done = {i.photo for i in items}
            summary = {"built": sum(i.error is None and i.fault is None for i in items),
                       "refused": sum(i.error is not None for i in items),
                       "failed": sum(i.fault is not None for i in items),
                       "unfinished": len(photos) - len(items), "photos": [asdict(i) for i in items],
                       "unfinished_photos": [str(p) for p in photos if str(p) not in done]}
            write_json_atomic(out_dir / SUMMARY_NAME, summary)
    return items


def _build_one(builder, photo: Path, out_dir: Path) -> BatchItem:
    """One photo through `builder`: its avatar and report written, or why it was refused."""
    from avatar_engine.io import write_glb

    t0 = time.perf_counter()
    try:
        result = builder.build(photo)
        builder.check_render(result)
        avatar, report = out_dir / f"{photo.stem}.glb", out_dir / f"{photo.stem}.json"
        with result.report.stage("write"):
            write_glb(result.avatar, avatar)
        result.report.write(report)
    except InputError as exc:
        return BatchItem(str(photo), error=str(exc), set_aside=_set_aside_earlier_outputs(photo, out_dir))
    except AvatarError:  # a missing model, no GL, no backend: every photo would fail so; the batch stops, as it says
        raise
    except Exception as exc:  # a bug this photo triggers: its traceback for the report, and on to the next photo
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:  # a full disk is no bug and fails every later
            raise                                                      # photo alike: stop
        traceback.print_exc()
        return BatchItem(str(photo), fault=f"{type(exc).__name__}: {exc}".splitlines()[0])
    return BatchItem(str(photo), str(avatar), str(report), round(time.perf_counter() - t0, 3),
                     round(float(result.report.fit["reprojection_error"]), 4), result.report.hair_iou,
                     tuple(result.report.warnings))


def _set_aside_earlier_outputs(photo: Path, out_dir: Path) -> tuple[str, ...]:
    """Move `<stem>.glb` and `<stem>.json` from out_dir into out_dir/`EARLIER_DIR` when they are this builder's from a
    photo of this name (the report says so), under the first of `<stem>`, `<stem>.2`, `<stem>.3`... that names
    neither file there: what an earlier refusal set aside stays (a rerun after a good build and a second refusal
    overwrote the first avatar set aside). Files of any other origin, and what cannot be moved, stay. Only for
    refusals: a fault may be the machine's (the batch stops after `FAULTS_IN_A_ROW`), and nothing says the photo
    changed. Returns the paths they have now."""
    report, avatar, aside = out_dir / f"{photo.stem}.json", out_dir / f"{photo.stem}.glb", out_dir / EARLIER_DIR
    try:
        earlier = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return ()
    if not (isinstance(earlier, dict) and str(earlier.get("generator", "")).startswith(GENERATOR_NAME)
            and Path(str(earlier.get("photo", ""))).name == photo.name):
        return ()
    moved = []
    stem = _free_stem(aside, photo.stem)
    for path in (avatar, report):  # the report last: a stop in between leaves what still names the avatar
        if not path.exists():
            continue
        target = aside / f"{stem}{path.suffix}"
        try:
            aside.mkdir(exist_ok=True)
            path.replace(target)
        except OSError:  # another user's file, one open elsewhere: it stays, the batch goes on
            continue
        moved.append(str(target))
    return tuple(moved)


def _free_stem(folder: Path, stem: str) -> str:
    """The first of stem, stem.2, stem.3... with neither a .glb nor a .json of that name in folder."""
    k = 1
    while True:
        name = stem if k == 1 else f"{stem}.{k}"
        if not (folder / f"{name}.glb").exists() and not (folder / f"{name}.json").exists():
            return name
        k += 1


def _built_in_turn(photos: list[Path], out_dir: Path, options) -> Iterator[BatchItem]:
    """The photos through one builder in this process, in turn."""
    from avatar_engine.build.pipeline import Builder

    with Builder(options) as builder:
        for photo in photos:
            yield _build_one(builder, photo, out_dir)


_WORKER_BUILDER = None
"""A worker process's builder, made once by `_worker_start`."""


def _worker_start(options) -> None:
    from avatar_engine.build.pipeline import Builder
    from avatar_engine.workers import close_at_exit

    global _WORKER_BUILDER
    _WORKER_BUILDER = Builder(options)
    close_at_exit(_WORKER_BUILDER.close)  # a MediaPipe graph left to the garbage collector can hang the exit


def _worker_build(task: tuple[Path, Path]) -> BatchItem:
    return _build_one(_WORKER_BUILDER, *task)
