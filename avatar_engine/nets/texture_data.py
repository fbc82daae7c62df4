"""Training and test sets for the texture network: synthetic people (`synth.scene`) through the builder's own
perception, fit and hand-made texture stage, stored in UV at NET_SIZE next to the true albedo.

    avatar synth --texture -o data/tex_30000 -n 300 --seed 30000

Each sample: the network's input in both modes (`uv_features`: refine and alone, they share all but the anchor
and the hand maps) and the true albedo pooled to NET_SIZE (linear). A photo MediaPipe or the fit refuses is
skipped and counted. Shards are written to a temporary name and renamed; the manifest last.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from avatar_engine.build import delight
from avatar_engine.errors import InputError
from avatar_engine.nets.texture_net import (CHANNELS, COVERAGE, FEATURE_SIZE, NET_SIZE, default_layout_id, pool,
                                            shrink, shrink_albedo, skin_inputs, skin_layout, uv_features)
from avatar_engine.paths import atomic_path, write_text_atomic
from avatar_engine.synth.dataset import (MAX_COUNT, checked_set, claimed_folder, concat_shards, keep_only,
                                         read_manifest, shard_name)

GENERATOR = "avatar-engine texture-data 1"
PHOTO_SIZE = 512


@dataclass(frozen=True)
class TextureDataOptions:
    count: int
    seed: int = 30000
    size: int = PHOTO_SIZE
    """Rendered photo width and height."""
    shard: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_COUNT:
            raise InputError(f"--count must be in 1..{MAX_COUNT:,}, got {self.count}")
        if not 256 <= self.size <= 1024:
            raise InputError(f"--size must be between 256 and 1024 pixels, got {self.size}")


def render_photo(ctx, scene, size: int, model) -> tuple[np.ndarray, np.ndarray]:
    """(size, size, 3) uint8 the scene's photo as `synth.scene.render_scene` draws it (MSAA, per-pixel light, its
    background), in one pass (the hair mask's second render is not needed here); and (1024, 1024, 4) uint8 the
    true skin texture it was drawn with."""
    from avatar_engine.build.synthetic import subject_view
    from avatar_engine.render.renderer import Renderer, RenderOptions
    from avatar_engine.synth.scene import background, scene_avatar

    view = subject_view(scene.subject, (size, size), model=model)
    avatar = scene_avatar(scene, model)
    with Renderer(ctx, RenderOptions(size=(size, size), samples=4, shading="pixel", lighting=scene.lighting)) as r:
        r.load(avatar)
        r.render(scene.subject.expression, view)
        rgba = r.read().astype(np.float32) / 255.0
    photo = rgba[..., :3] * rgba[..., 3:4] + background(scene, (size, size)) * (1 - rgba[..., 3:4])
    return np.clip(photo * 255 + 0.5, 0, 255).astype(np.uint8), avatar.materials["skin"].texture


class SceneBuilder:
    """Renders synthetic scenes and runs the builder's perception, fit and hand-made texture stage on them."""

    def __init__(self, size: int = PHOTO_SIZE) -> None:
        from avatar_engine.build.perception import MAX_FACES
        from avatar_engine.head.model import HeadModel
        from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
        from avatar_engine.render.context import headless_context

        self.size = size
        self.model = HeadModel.default()
        self.ctx = headless_context()
        self.landmarker = FaceLandmarker(FaceLandmarkerOptions(running_mode="image", num_faces=MAX_FACES))

    def run(self, seed: int, index: int) -> dict | None:
        """The scene `index` of `seed`: photo, fit, hand result and truth; None when the builder refuses the photo."""
        from avatar_engine.build.fit import fit_landmarks
        from avatar_engine.build.perception import perceive
        from avatar_engine.build.texture import texture_from_fit
        from avatar_engine.native_log import native_stderr_silenced
        from avatar_engine.synth.dataset import scene_for

        scene = scene_for(seed, index, self.model)
        photo, truth = render_photo(self.ctx, scene, self.size, self.model)
        try:
            with native_stderr_silenced():  # MediaPipe logs as its graph first runs: it would bury the progress
                seen = perceive(photo, self.landmarker)
            fit = fit_landmarks(seen, self.model)
            t0 = time.perf_counter()
            hand = texture_from_fit(photo, fit, model=self.model)
            hand_seconds = time.perf_counter() - t0
        except InputError:
            return None
        return {"scene": scene, "photo": photo, "fit": fit, "hand": hand, "hand_seconds": hand_seconds,
                "truth": truth}

    def close(self) -> None:
        self.landmarker.close()
        self.ctx.release()


def sample_arrays(run: dict, model) -> dict[str, np.ndarray]:
    """One stored sample: float16 inputs of both modes and the pooled true albedo."""
    positions, normals, uvs, triangles = skin_inputs(run["fit"], model)
    hand = run["hand"]
    refine = uv_features(run["photo"], positions, normals, uvs, triangles, run["fit"].view, hand.texture, hand.seen,
                         hand.confidence, "refine")
    layout = skin_layout(uvs, triangles)
    truth, _ = pool(delight.texture_to_albedo(run["truth"]), layout["covered"])
    truth = shrink_albedo(truth.transpose(2, 0, 1), layout["coverage"])
    return {"refine": refine.astype(np.float16), "truth": truth}


def generate(out: Path, options: TextureDataOptions, progress: Callable[[int, int], None] | None = None,
             jobs: int = 1) -> dict:
    """Make `options.count` scenes into `out` (a new or empty folder); returns the manifest. `jobs` > 1 makes the
    shards in that many worker processes (`avatar_engine.workers`): the same samples, sooner where cores are spare.
    A run that stops keeps the shards its manifest lists (marked `"complete": false`) and nothing else; having
    finished none, it leaves the folder as it found it (gone if it made it), as `avatar synth` does."""
    out = Path(out)
    with claimed_folder(out) as made:  # two runs into one folder mixed their shards under one manifest
        try:
            return _generate(out, options, progress, jobs)
        except BaseException:
            _drop_unlisted(out, made)
            raise


def _drop_unlisted(out: Path, made: bool) -> None:
    """After a stop: every file the manifest does not list removed (a shard a worker finished out of turn, a
    temporary); with no manifest yet, the folder as it was found (an interrupted run left an empty folder that the
    same command then refused as not empty)."""
    manifest = out / "manifest.json"
    listed = set(json.loads(manifest.read_text()).get("shards", [])) | {manifest.name} if manifest.is_file() else set()
    keep_only(out, listed, made)


def _generate(out: Path, options: TextureDataOptions, progress: Callable[[int, int], None] | None,
              jobs: int) -> dict:
    from avatar_engine.workers import map_in_workers

    starts = range(0, options.count, options.shard)
    shards, skipped, kept, start = [], [], 0, time.perf_counter()
    builder = None
    parallel = jobs > 1 and len(starts) > 1
    if parallel:
        results = map_in_workers(_worker_shard, starts, jobs, _open_worker, (out, options), outputs=out)
    else:
        from avatar_engine.native_log import native_stderr_silenced

        with native_stderr_silenced():  # MediaPipe's start-up lines would bury the progress
            builder = SceneBuilder(options.size)
        results = (_write_shard(builder, out, options, first, progress) for first in starts)
    try:
        for (name, refused), first in zip(results, starts):  # results first: zip runs the workers to their end
            skipped += refused
            kept += min(first + options.shard, options.count) - first - len(refused)
            if name is not None:
                shards.append(name)
            if progress and parallel:  # in turn, `_write_shard` reports each sample
                progress(min(first + options.shard, options.count), options.count)
            # the manifest after every shard: a long run stopped early leaves a usable (smaller) set
            manifest = {"generator": GENERATOR, "seed": options.seed, "count": options.count, "kept": kept,
                        "skipped": skipped, "photo_size": options.size, "net_size": NET_SIZE,
                        "skin_layout": default_layout_id(), "shards": shards,
                        "complete": first + options.shard >= options.count,
                        "seconds": round(time.perf_counter() - start, 1)}
            write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=1))
    finally:
        if builder is not None:
            builder.close()
    return manifest


def _write_shard(builder: SceneBuilder, out: Path, options: TextureDataOptions, first: int,
                 progress: Callable[[int, int], None] | None = None) -> tuple[str | None, list[int]]:
    """Make the shard starting at `first` and write it: (its file name, None when the builder refused every scene;
    the indices it refused)."""
    from avatar_engine.workers import Abandoned, stop_requested

    rows: dict[str, list] = {}
    refused = []
    for i in range(first, min(first + options.shard, options.count)):
        if stop_requested():  # in a worker, after Ctrl-C: a whole shard of builds held the stop
            raise Abandoned(f"shard from sample {first}")
        run = builder.run(options.seed, i)
        if run is None:
            refused.append(i)
            continue
        for key, value in {**sample_arrays(run, builder.model), "index": np.int32(i)}.items():
            rows.setdefault(key, []).append(value)
        if progress:
            progress(i + 1, options.count)
    if not rows:
        return None, refused
    name = shard_name(first, options)
    arrays = {key: np.stack(values) for key, values in rows.items()}
    with atomic_path(out / name) as p:
        np.savez_compressed(p, **arrays)
    return name, refused


_WORKER: dict = {}
"""A worker process's scene builder and task (`_open_worker`)."""


def _open_worker(out: Path, options: TextureDataOptions) -> None:
    from avatar_engine.native_log import native_stderr_silenced
    from avatar_engine.workers import close_at_exit

    with native_stderr_silenced():  # MediaPipe's start-up lines, once per worker, would bury the progress
        builder = SceneBuilder(options.size)
    close_at_exit(builder.close)
    _WORKER.update(builder=builder, out=out, options=options)


def _worker_shard(first: int) -> tuple[str | None, list[int]]:
    return _write_shard(_WORKER["builder"], _WORKER["out"], _WORKER["options"], first)


def load(folder: Path) -> dict[str, np.ndarray]:
    """Every shard of a texture set: refine (n, CHANNELS, NET_SIZE, NET_SIZE) float32, truth (n, 3, NET_SIZE,
    NET_SIZE) linear albedo, index (n,)."""
    folder = Path(folder)
    manifest = read_manifest(folder, "texture set")
    if manifest.get("generator") != GENERATOR or manifest.get("net_size") not in (NET_SIZE, FEATURE_SIZE):
        raise InputError(f"{folder} was made by {manifest.get('generator')!r} at {manifest.get('net_size')}, "
                         f"this reads {GENERATOR!r} at {NET_SIZE} or {FEATURE_SIZE}")
    if manifest.get("skin_layout") != default_layout_id():
        raise InputError(f"{folder} was made on another skin UV layout ({manifest.get('skin_layout')!r}, the head "
                         f"model's is {default_layout_id()!r}): make the set again with `avatar synth --texture`")
    data = concat_shards(folder / name for name in manifest["shards"])
    if not data:
        raise InputError(f"{folder} holds no samples")
    checked_set(data, folder, ("refine", "truth"))
    size = manifest["net_size"]
    if data["refine"].shape[1:] != (CHANNELS, size, size) or data["truth"].shape[1:] != (3, size, size):
        raise InputError(f"{folder}: its arrays have shapes no texture set has ({data['refine'].shape[1:]}, "
                         f"{data['truth'].shape[1:]}): make the set again")
    # sets stored at FEATURE_SIZE (the first format) shrink here exactly as `uv_features` shrinks at run time
    refine = data["refine"].astype(np.float32)
    data["truth"] = shrink_albedo(data["truth"], refine[0, COVERAGE])
    data["refine"] = shrink(refine)
    return data
