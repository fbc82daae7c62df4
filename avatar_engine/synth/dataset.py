"""A synthetic training set on disk: random scenes rendered, MediaPipe run on every render, labels kept.

    avatar synth -o data/synth -n 1000 [--seed 0] [--size 256] [--shard 100] [--no-images]

Layout of the output folder:
- `manifest.json`: generator, seed, size, sample count, shard files, the order of the identity columns;
- `shard_00000.npz` ...: per sample (first axis) the truth (`identity`, `expression`, `pose_deg` yaw/pitch/roll,
  `hair` present/length/volume/fringe/parting/baldness/layers, `hair_color`, `skin`, `iris`, `view` (4, 4),
  `focal_px`), what MediaPipe saw (`detected`, `landmarks` (478, 3) NaN when no face, `scores` (52,),
  `mp_pose` (4, 4)) and the hair's visible silhouette (`hair_mask`, bits packed along the rows);
- `images/000000.png` ...: the renders (unless --no-images).

Sample i is drawn from `numpy.random.default_rng([seed, i])`, so every sample is reproducible on its own and a
shard can be regenerated without the others. Files are written to a temporary name, then renamed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from avatar_engine.errors import InputError
from avatar_engine.head.model import HeadModel
from avatar_engine.paths import atomic_path, write_text_atomic
from avatar_engine.synth.scene import Scene, random_scene, render_scene

GENERATOR = "avatar-engine synth 1"
CLAIM = ".synth-running"
"""Made (exclusively) in the output folder while a run writes it: a second run into the folder is refused."""
MAX_COUNT = 10_000_000
"""More samples than a set needs (a million 256-pixel renders is about 100 GB of images): a count above it is a
typo, refused before any work."""
HAIR_FIELDS = ("present", "length", "volume", "fringe", "parting", "baldness", "layers")


@dataclass(frozen=True)
class SynthOptions:
    count: int
    seed: int = 0
    size: int = 256
    shard: int = 100
    images: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_COUNT:
            raise InputError(f"--count must be in 1..{MAX_COUNT:,}, got {self.count}")
        if not 128 <= self.size <= 1024:
            raise InputError(f"--size must be between 128 and 1024 pixels, got {self.size}")
        if self.shard < 1:
            raise InputError(f"--shard must be at least 1, got {self.shard}")


def scene_for(seed: int, index: int, model: HeadModel | None = None) -> Scene:
    """Sample `index` of the set made with `seed`."""
    return random_scene(np.random.default_rng([seed, index]), model)


def _labels(scene: Scene, model: HeadModel) -> dict[str, np.ndarray]:
    s, hair = scene.subject, scene.hair
    hair_row = [0.0] * len(HAIR_FIELDS) if hair is None else [
        1.0, hair.length, hair.volume, hair.fringe, hair.parting, hair.baldness, float(hair.layers)]
    return {
        "identity": np.array([s.identity[n] for n in model.identity_names], np.float32),
        "expression": np.asarray(s.expression.weights, np.float32),
        "pose_deg": np.array([s.yaw_deg, s.pitch_deg, s.roll_deg], np.float32),
        "hair": np.array(hair_row, np.float32),
        "hair_color": np.array(hair.color if hair is not None else (0, 0, 0), np.uint8),
        "skin": np.array(scene.look.skin, np.uint8), "iris": np.array(scene.iris, np.uint8),
    }


def generate(out: Path, options: SynthOptions, ctx=None, landmarker=None,
             progress: Callable[[int, int], None] | None = None, jobs: int = 1) -> dict:
    """Render `options.count` samples into `out` (created); returns the manifest. `jobs` > 1 makes the shards in
    that many worker processes (`avatar_engine.workers`): the same samples, sooner where there are cores to spare.

    A run that stops (Ctrl-C, a failure) leaves a usable set of the shards it finished, in order from the first,
    its manifest marked `"interrupted": true`, and nothing else; having finished none, it leaves the folder as it
    found it (gone if it made it). Two runs cannot share a folder: the first claims it (`CLAIM`)."""
    out = Path(out)
    with claimed_folder(out) as made:
        done: list[str] = []
        try:
            return _generate(out, options, ctx, landmarker, progress, jobs, done)
        except BaseException:
            _keep_finished(out, options, done, made)
            raise


@contextmanager
def claimed_folder(out: Path) -> Iterator[bool]:
    """`out`, a new or empty folder, made and held (`CLAIM`) while the body writes it; yields whether it was made.
    InputError when it is a file, not empty, or claimed by another run between the check and the claim."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"output folder {out} is not empty: choose a new one")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(out / CLAIM, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        raise InputError(f"output folder {out} is being written by another run: choose a new one") from None
    try:
        yield made
    finally:
        (out / CLAIM).unlink(missing_ok=True)


def _keep_finished(out: Path, options: SynthOptions, done: list[str], made: bool) -> None:
    """After a stop: the finished shards `done` (in order from the first) as a set with its manifest, every other
    file this run wrote removed (a shard a worker finished out of order, images past the kept samples)."""
    kept = min(len(done) * options.shard, options.count)
    images = out / "images"
    if kept and images.is_dir():
        for image in images.iterdir():
            if not (image.stem.isdigit() and int(image.stem) < kept and image.suffix == ".png"):
                image.unlink(missing_ok=True)
    keep_only(out, {*done, "images"} if kept else set(), made)
    if kept:
        _write_manifest(out, replace(options, count=kept), done, HeadModel.default(), interrupted=True)


def keep_only(out: Path, names: set[str], made: bool) -> None:
    """After a stop: every entry of `out` but `names` (and the run's claim) removed; with nothing to keep, a folder
    the run made goes too, and one it found is left empty, as it was."""
    for path in out.iterdir():
        if path.name == CLAIM or path.name in names:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if not names and made:
        shutil.rmtree(out, ignore_errors=True)


def _write_manifest(out: Path, options: SynthOptions, shards: list[str], model: HeadModel,
                    interrupted: bool = False) -> dict:
    manifest = {"generator": GENERATOR, "seed": options.seed, "count": options.count, "size": options.size,
                "shards": shards, "images": options.images, "identity_names": list(model.identity_names),
                "hair_fields": list(HAIR_FIELDS), **({"interrupted": True} if interrupted else {})}
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


def _generate(out: Path, options: SynthOptions, ctx, landmarker, progress, jobs: int, done: list[str]) -> dict:
    from avatar_engine.perception.landmarker import FaceLandmarker
    from avatar_engine.render.context import headless_context
    from avatar_engine.workers import map_in_workers

    if options.images:
        (out / "images").mkdir(exist_ok=True)
    model = HeadModel.default()
    starts = range(0, options.count, options.shard)
    if jobs > 1 and len(starts) > 1:
        late: list[str] = []  # shards the workers finished after a stop: kept when they follow on from `done`
        names = map_in_workers(_worker_shard, starts, jobs, _open_worker, (out, options), late=late, outputs=out)
        try:
            for name, first in zip(names, starts):  # the workers' results first: zip then runs them to their end
                done.append(name)
                if progress:
                    progress(min(first + options.shard, options.count), options.count)
        finally:
            names.close()  # its workers stopped and `late` filled, now rather than when it is collected
            for name in late:
                if len(done) >= len(starts) or name != shard_name(starts[len(done)], options):
                    break  # the set keeps shards in order from the first
                done.append(name)
    else:
        ctx = ctx or headless_context()
        own_landmarker = landmarker is None
        if own_landmarker:
            from avatar_engine.native_log import native_stderr_silenced

            with native_stderr_silenced():  # MediaPipe's start-up lines would bury the progress
                landmarker = FaceLandmarker()
        try:
            for first in starts:
                done.append(_write_shard(out, options, first, ctx, landmarker, model, progress))
        finally:
            if own_landmarker:
                landmarker.close()
    return _write_manifest(out, options, done, model)


def _write_shard(out: Path, options: SynthOptions, first: int, ctx, landmarker, model: HeadModel,
                 progress: Callable[[int, int], None] | None = None) -> str:
    """Render the samples of the shard starting at `first`, write it (and their images); returns its file name."""
    from PIL import Image

    from avatar_engine.native_log import native_stderr_silenced
    from avatar_engine.workers import Abandoned, stop_requested

    size = (options.size, options.size)
    rows: dict[str, list] = {}
    for i in range(first, min(first + options.shard, options.count)):
        if stop_requested():  # in a worker, after Ctrl-C: a whole shard (minutes) held the stop
            raise Abandoned(f"shard from sample {first}")
        scene = scene_for(options.seed, i, model)
        rendered = render_scene(ctx, scene, size, model)
        with native_stderr_silenced():  # MediaPipe logs as its graph first runs
            faces = landmarker.detect(rendered.image)
        seen = {"detected": np.bool_(bool(faces)),
                "landmarks": faces[0].points if faces else np.full((478, 3), np.nan, np.float32),
                "scores": faces[0].scores if faces else np.zeros(52, np.float32),
                "mp_pose": faces[0].pose if faces else np.full((4, 4), np.nan, np.float32)}
        sample = {**_labels(scene, model), **seen, "view": rendered.view.view.astype(np.float32),
                  "focal_px": np.float32(rendered.view.focal_px),
                  "hair_mask": np.packbits(rendered.hair_mask, axis=-1)}
        for key, value in sample.items():
            rows.setdefault(key, []).append(value)
        if options.images:
            with atomic_path(out / "images" / f"{i:06d}.png") as p:
                Image.fromarray(rendered.image).save(p, format="PNG")
        if progress:
            progress(i + 1, options.count)
    name = shard_name(first, options)
    arrays = {key: np.stack(values) for key, values in rows.items()}
    with atomic_path(out / name) as p:
        np.savez_compressed(p, **arrays)
    return name


def shard_name(first: int, options) -> str:
    """The file of the shard starting at sample `first` (a synthetic or texture set's options)."""
    return f"shard_{first // options.shard:05d}.npz"


_WORKER: dict = {}
"""A worker process's renderer, landmarker and task (`_open_worker`)."""


def _open_worker(out: Path, options: SynthOptions) -> None:
    from avatar_engine.native_log import native_stderr_silenced
    from avatar_engine.perception.landmarker import FaceLandmarker
    from avatar_engine.render.context import headless_context
    from avatar_engine.workers import close_at_exit

    with native_stderr_silenced():  # MediaPipe's start-up lines, once per worker, would bury the progress
        landmarker = FaceLandmarker()
    close_at_exit(landmarker.close)
    _WORKER.update(out=out, options=options, ctx=headless_context(), landmarker=landmarker,
                   model=HeadModel.default())


def _worker_shard(first: int) -> str:
    w = _WORKER
    return _write_shard(w["out"], w["options"], first, w["ctx"], w["landmarker"], w["model"])


def read_shard(path: Path) -> dict[str, np.ndarray]:
    """Every array of one .npz shard; InputError naming the file when it is missing, damaged or not ours."""
    try:
        with np.load(path, allow_pickle=False) as shard:
            return {key: shard[key] for key in shard.files}
    except Exception as exc:  # a missing, truncated or foreign file: numpy, zipfile and pickle raise their own
        raise InputError(f"{path} is not a readable shard of this set ({type(exc).__name__}): make the set "
                         "again") from None


def concat_shards(paths) -> dict[str, np.ndarray]:
    """The shards at `paths` (`read_shard`) concatenated key by key; {} when there are none."""
    parts: dict[str, list] = {}
    for path in paths:
        for key, value in read_shard(path).items():
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(values) for key, values in parts.items()}


def checked_set(data: dict[str, np.ndarray], folder: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """`data` if it has every `required` key, one row per sample in each array and only finite numbers; InputError
    naming the folder otherwise (a damaged set raised KeyError or IndexError deep in training, and NaN in it trained
    into a network of NaN weights)."""
    missing = [k for k in required if k not in data]
    if missing:
        raise InputError(f"{folder} lacks {', '.join(missing)} in its shards: make the set again")
    rows = {k: len(v) for k, v in data.items() if np.ndim(v)}
    if len(set(rows.values())) > 1:
        raise InputError(f"{folder}: its arrays hold different numbers of samples ({rows}): make the set again")
    # what MediaPipe saw is NaN where it saw no face (`detected` False): only the other rows must be numbers
    seen = np.asarray(data["detected"], bool) if "detected" in data else slice(None)
    bad = [k for k, v in data.items() if np.asarray(v).dtype.kind == "f" and np.ndim(v)
           and not np.isfinite(np.asarray(v)[seen]).all()]
    if bad:
        raise InputError(f"{folder}: {', '.join(bad)} hold values that are not numbers: make the set again")
    return data


def read_manifest(folder: Path, what: str) -> dict:
    """The set's manifest.json as a dict with a list of shard names; InputError naming the problem otherwise."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder} is not a {what}: no readable manifest.json ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list) \
            or not all(isinstance(n, str) and "/" not in n and "\\" not in n for n in manifest["shards"]):
        raise InputError(f"{folder} is not a {what}: its manifest.json lists no shards")
    if len(set(manifest["shards"])) != len(manifest["shards"]):  # its samples would train twice
        raise InputError(f"{folder}: its manifest.json lists a shard twice: make the set again")
    return manifest


def load(folder: Path) -> dict[str, np.ndarray]:
    """Every shard of a generated set concatenated: key -> (count, ...) array (`hair_mask` unpacked to bool)."""
    folder = Path(folder)
    manifest = read_manifest(folder, "synthetic set")
    if manifest.get("generator") != GENERATOR:
        raise InputError(f"{folder} was made by {manifest.get('generator')!r}, this reads {GENERATOR!r}")
    if type(manifest.get("size")) is not int or manifest["size"] < 1:
        raise InputError(f"{folder}: its manifest.json gives no image size: make the set again")
    data = checked_set(concat_shards(folder / name for name in manifest["shards"]), folder,
                       ("hair_mask", "landmarks", "hair", "detected"))
    if data["hair_mask"].ndim != 3 or data["landmarks"].ndim != 3 or data["landmarks"].shape[1] != 478 \
            or data["hair"].ndim != 2 or data["hair"].shape[1] < 4:
        raise InputError(f"{folder}: its arrays have shapes no synthetic set has: make the set again")
    size = manifest["size"]
    if data["hair_mask"].shape[1:] != (size, -(-size // 8)):  # a size that lies unpacks the masks wrong, silently
        raise InputError(f"{folder}: its hair masks are not {size} x {size} as its manifest.json says: make the set "
                         "again")
    data["hair_mask"] = np.unpackbits(data["hair_mask"], axis=-1, count=size).astype(bool)
    return data


def load_with_images(folder: Path) -> tuple[dict[str, np.ndarray], dict]:
    """`load` and the set's manifest, for a set whose photos were kept (`images/NNNNNN.png`); InputError if not."""
    data = load(folder)
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    if not manifest["images"]:
        raise InputError(f"{folder} has no images: make the set without --no-images")
    return data, manifest
