"""Stage 6, report: what the builder did, how long each stage took and how well it fitted, as JSON."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Iterator

import avatar_engine
from avatar_engine.paths import json_text, write_text_atomic


GENERATOR_NAME = "avatar-engine"
"""How every report's `generator` starts: a batch tells this builder's outputs from others' by it."""

@dataclass
class BuildReport:
    """Filled in stage by stage; `write` saves it atomically as JSON."""

    photo: str
    size: tuple[int, int] = (0, 0)
    stages_s: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds per stage, in the order they started. Stages may overlap (the builder makes the texture
    while it fits the hair and rigs), so they can add up to more than `total_s`."""
    fit: dict[str, float] = field(default_factory=dict)
    """Landmark reprojection error: the avatar's 468 landmark points (the correspondence on the mesh, posed with the
    photo's expression, through the photo's fitted camera) against MediaPipe's raw points on the photo, as a fraction
    of the photo's inter-ocular distance, mean and max; focal length, head yaw."""
    expression: dict[str, float] = field(default_factory=dict)
    """The photo's expression that was neutralised: ARKit weights above 0.05."""
    render_check: dict[str, float | bool] | None = None
    """MediaPipe on a render of the avatar in the photo's pose against MediaPipe on the photo: mean and max distance
    over the 478 landmarks, fraction of the photo's inter-ocular distance (`avatar_engine.build.render_check`);
    None when the check did not run (it runs when a report file is written)."""
    texture: dict[str, object] | None = None
    """The skin texture: the person's mean skin albedo (sRGB), where the white balance came from ("eye whites" or
    "skin prior"), `face_light` and `key_facing` (how evenly and from where the photo lights the face: see
    `build.texture.TextureResult`), the iris colour, and the coverage of the layout (seen, mirrored, filled); None
    when the texture stage did not run."""
    hair_iou: float | None = None
    """Hair silhouette IoU against the photo's hair region; None when the hair stage did not run or headwear hid
    the hair (the style is then a guess, and a warning says so)."""
    hair: dict[str, float | int | list[int]] | None = None
    """The fitted hair style (`HairStyle`: length, volume, fringe, parting, baldness in metres or 0-1, sheets, sRGB
    albedo colour); None when the hair stage did not run."""
    warnings: list[str] = field(default_factory=list)
    options: dict[str, object] = field(default_factory=dict)
    """What the build was asked for: the face chosen, texture size, which networks and tracker ran, on which backend
    (two reports of one photo that differ are then explained)."""
    generator: str = f"{GENERATOR_NAME} {avatar_engine.__version__}"
    _first_start: float | None = field(default=None, repr=False)
    _last_end: float | None = field(default=None, repr=False)

    def begin(self, name: str) -> float:
        """Start timing stage `name` (listed from now on); returns the start time for `end`."""
        self.stages_s[name] = 0.0
        start = time.perf_counter()
        if self._first_start is None:
            self._first_start = start
        return start

    def end(self, name: str, start: float, finish: float | None = None) -> None:
        """Stage `name` ran from `start` (from `begin`) until `finish` (default: now)."""
        finish = time.perf_counter() if finish is None else finish
        self.stages_s[name] = round(finish - start, 4)
        self._last_end = finish if self._last_end is None else max(self._last_end, finish)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = self.begin(name)
        try:
            yield
        finally:
            self.end(name, start)

    @property
    def total_s(self) -> float:
        """Wall-clock seconds from the first stage's start to the last one's end."""
        if self._first_start is None or self._last_end is None:
            return 0.0
        return round(self._last_end - self._first_start, 4)

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["total_s"] = self.total_s
        return json_text(data)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write to `path` through a temporary file, so a failure never leaves a partial report."""
        write_text_atomic(path, self.to_json() + "\n")
