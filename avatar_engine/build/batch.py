"""Many photos, one builder: a folder of avatars with one report each and a summary, for teams building heads in bulk.

The models load once. A photo the builder refuses (no face, several faces, turned away, unreadable) is skipped and
named in the summary; a systemic fault (a missing or damaged model, no OpenGL) stops the batch, since every later
photo would fail the same way. Each file is written atomically: an interrupted batch leaves whole files only.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from avatar_engine.errors import InputError
from avatar_engine.paths import write_text_atomic

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""What a folder given as input contributes: its files with these suffixes (any case), not its subfolders."""
SUMMARY_NAME = "build_summary.json"


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


def batch_photos(paths: list[str]) -> list[Path]:
    """The photo files `paths` name (files as given, folders expanded to their photos, sorted; a file named twice,
    however spelt, counts once), checked before any model loads: InputError for a missing path, a folder with no
    photos, or two photos whose avatars would share a name (`<stem>.glb`, any case, or the summary's)."""
    photos: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not found:
                raise InputError(f"folder {path} holds no photos ({', '.join(PHOTO_SUFFIXES)})")
            photos += found
        elif path.is_file():
            photos.append(path)
        else:
            raise InputError(f"photo {path} does not exist")
    unique = list({photo.resolve(): photo for photo in reversed(photos)}.values())[::-1]  # first spelling kept
    stems: dict[str, Path] = {}
    for photo in unique:
        if photo.stem.lower() == Path(SUMMARY_NAME).stem:
            raise InputError(f"photo {photo}: its report would overwrite the batch's {SUMMARY_NAME}; rename it")
        other = stems.setdefault(photo.stem.lower(), photo)
        if other != photo:
            raise InputError(f"photos {other} and {photo} would both be written as {photo.stem}.glb; rename one")
    return unique


def build_batch(photos: list[Path], out_dir: Path, options=None,
                on_item: Callable[[BatchItem], None] | None = None) -> list[BatchItem]:
    """Build every photo into `out_dir` (`<stem>.glb` and its report `<stem>.json`, with the render check), then
    write `build_summary.json` there. `on_item` is called after each photo (progress)."""
    items: list[BatchItem] = []
    finished = False
    try:
        _build_each(photos, out_dir, options, items, on_item)
        finished = True
    finally:  # a fault that stops the batch midway still leaves the record of what was built
        if finished or items:
            summary = {"built": sum(i.error is None for i in items), "refused": sum(i.error is not None for i in items),
                       "unfinished": len(photos) - len(items), "photos": [asdict(i) for i in items]}
            write_text_atomic(out_dir / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
    return items


def _build_each(photos: list[Path], out_dir: Path, options, items: list[BatchItem],
                on_item: Callable[[BatchItem], None] | None) -> None:
    """Build the photos in turn, appending each one's `BatchItem` to `items` as it is done."""
    from avatar_engine.build.pipeline import Builder
    from avatar_engine.io import write_glb

    with Builder(options) as builder:
        for photo in photos:
            t0 = time.perf_counter()
            try:
                result = builder.build(photo)
            except InputError as exc:
                item = BatchItem(str(photo), error=str(exc))
            else:
                builder.check_render(result)
                avatar, report = out_dir / f"{photo.stem}.glb", out_dir / f"{photo.stem}.json"
                with result.report.stage("write"):
                    write_glb(result.avatar, avatar)
                result.report.write(report)
                item = BatchItem(str(photo), str(avatar), str(report), round(time.perf_counter() - t0, 3),
                                 round(float(result.report.fit["reprojection_error"]), 4), result.report.hair_iou,
                                 tuple(result.report.warnings))
            items.append(item)
            if on_item is not None:
                on_item(item)
