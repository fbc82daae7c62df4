"""The synthetic data generator: colouring does what its parameters say, scenes are reproducible, the hair mask
is the hair, and a generated set on disk holds the truth and what MediaPipe saw."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from avatar_engine.errors import InputError
from avatar_engine.head.hair import HAIR_PRESETS
from avatar_engine.synth.albedo import SkinLook, UVSurface, forehead, paint_albedo, random_look, srgb_to_linear
from avatar_engine.synth.dataset import SynthOptions, generate, load, scene_for
from avatar_engine.synth.scene import random_scene, render_scene

TONE_TOLERANCE = 0.03
"""Relative error allowed between the asked skin colour and the median of the painted forehead (linear RGB)."""
ZONE_DARKENING = 0.03
"""Least mean darkening (linear luminance, relative) freckles and stubble must bring to their zones."""


@pytest.fixture(scope="module")
def surface():
    return UVSurface.default()


def _cheeks(surface):
    p = surface.positions
    return (surface.covered & (np.abs(p[..., 0]) > 0.03) & (np.abs(p[..., 0]) < 0.05)
            & (np.abs(p[..., 1] - surface.eye_y + 0.035) < 0.01) & (p[..., 2] > surface.eye_z))


def _luminance(image, mask):
    return float((srgb_to_linear(image[..., :3])[mask] @ np.array([0.2126, 0.7152, 0.0722])).mean())


@pytest.mark.parametrize("skin", [(240, 200, 175), (150, 105, 80), (80, 52, 38)])
def test_skin_tone_is_the_asked_colour(surface, skin):
    image = paint_albedo(SkinLook(skin=skin, blush=0.35), surface)
    painted = np.median(srgb_to_linear(image[..., :3])[forehead(surface)], axis=0)
    asked = srgb_to_linear(skin)
    assert np.all(np.abs(painted / asked - 1) <= TONE_TOLERANCE), (painted, asked)


def test_freckles_and_stubble_darken_their_zones(surface):
    plain = paint_albedo(SkinLook(seed=4), surface)
    p = surface.positions
    chin = surface.covered & (np.abs(p[..., 0]) < 0.015) & (np.abs(p[..., 1] - surface.eye_y + 0.1) < 0.008)
    nose_cheek = _cheeks(surface) | (surface.covered & (np.abs(p[..., 0]) < 0.01)
                                     & (np.abs(p[..., 1] - surface.eye_y + 0.03) < 0.01))
    stubbled = paint_albedo(SkinLook(seed=4, stubble=1.0), surface)
    freckled = paint_albedo(SkinLook(seed=4, freckles=1.0), surface)
    assert _luminance(stubbled, chin) < _luminance(plain, chin) * (1 - ZONE_DARKENING)
    assert _luminance(freckled, nose_cheek) < _luminance(plain, nose_cheek) * (1 - ZONE_DARKENING)
    assert _luminance(freckled, forehead(surface)) == pytest.approx(_luminance(plain, forehead(surface)), rel=1e-3)


def test_scalp_takes_the_hair_colour_only_under_hair(surface):
    style = dataclasses.replace(HAIR_PRESETS["short"], color=(20, 60, 200))
    with_hair = paint_albedo(SkinLook(seed=1, hair=style), surface).astype(np.float32)
    bare = paint_albedo(SkinLook(seed=1), surface).astype(np.float32)
    p = surface.positions
    crown = surface.covered & (p[..., 1] > p[..., 1][surface.covered].max() - 0.02)
    assert (with_hair[crown, 2] - with_hair[crown, 0]).mean() > (bare[crown, 2] - bare[crown, 0]).mean() + 20
    np.testing.assert_array_equal(with_hair[_cheeks(surface)], bare[_cheeks(surface)])


def test_random_looks_span_light_to_dark_skin():
    rng = np.random.default_rng(0)
    lum = [float(np.dot(srgb_to_linear(random_look(rng).skin), [0.2126, 0.7152, 0.0722])) for _ in range(300)]
    assert min(lum) < 0.1 and max(lum) > 0.45, "very dark and very light skin both occur"


def test_scene_is_reproducible_and_its_hair_mask_is_the_hair(gl_context):
    def key(scene):
        return (scene.subject.identity, scene.subject.expression.weights.tolist(), scene.look, scene.hair,
                scene.lighting, scene.background_seed)

    assert key(scene_for(3, 7)) == key(scene_for(3, 7)) and key(scene_for(3, 8)) != key(scene_for(3, 7))
    rng = np.random.default_rng(11)
    scenes = [random_scene(rng) for _ in range(40)]
    haired = next(s for s in scenes if s.hair is not None and s.hair.length > 0.1)
    bald = next(s for s in scenes if s.hair is None)
    shot = render_scene(gl_context, haired, (160, 160))
    assert shot.image.shape == (160, 160, 3) and shot.hair_mask.mean() > 0.03
    hair_rgb = shot.image[shot.hair_mask].astype(np.float32).mean(0)
    skin_rgb = shot.image[~shot.hair_mask].astype(np.float32).mean(0)
    assert np.abs(hair_rgb - skin_rgb).max() > 5, "the mask picks pixels that look different"
    assert not render_scene(gl_context, bald, (160, 160)).hair_mask.any()


def test_generated_set_holds_truth_and_mediapipe(gl_context, tmp_path):
    out = tmp_path / "set"
    manifest = generate(out, SynthOptions(count=3, seed=5, size=192, shard=2), ctx=gl_context)
    assert manifest["shards"] == ["shard_00000.npz", "shard_00001.npz"]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    data = load(out)
    assert data["identity"].shape == (3, len(manifest["identity_names"])) and data["hair_mask"].shape == (3, 192, 192)
    assert data["detected"].all(), "MediaPipe finds every synthetic face"
    scene = scene_for(5, 2)
    np.testing.assert_allclose(data["expression"][2], scene.subject.expression.weights)
    assert data["pose_deg"][2, 0] == pytest.approx(scene.subject.yaw_deg)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    with pytest.raises(InputError, match="not empty"):
        generate(out, SynthOptions(count=1), ctx=gl_context)


    # made in two worker processes: the same set, sample for sample and image for image
    parallel = generate(tmp_path / "parallel", SynthOptions(count=3, seed=5, size=192, shard=2), jobs=2)
    assert parallel["shards"] == manifest["shards"]
    again = load(tmp_path / "parallel")
    assert set(again) == set(data)
    for key in data:
        np.testing.assert_array_equal(again[key], data[key], err_msg=key)
    for name in ("000000.png", "000002.png"):
        assert (tmp_path / "parallel" / "images" / name).read_bytes() == (out / "images" / name).read_bytes()


def test_a_stopped_run_leaves_the_shards_it_finished_as_a_set(gl_context, tmp_path, monkeypatch):
    """Ctrl-C in the third shard: the first two are a set of their own (its manifest says it was interrupted), the
    third's images are gone; stopped in the first shard, nothing is left. Before, the shards stayed without a
    manifest: no trainer could read them and a rerun into the folder was refused."""
    from avatar_engine.synth import dataset

    write_shard = dataset._write_shard
    stop_at = [2]

    def stop_at_third(out, options, first, *args, **kwargs):
        if first >= stop_at[0] * options.shard:
            (out / "images" / f"{first:06d}.png").write_bytes(b"half")  # a render that got as far as its image
            raise KeyboardInterrupt
        return write_shard(out, options, first, *args, **kwargs)

    monkeypatch.setattr(dataset, "_write_shard", stop_at_third)
    out = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        generate(out, SynthOptions(count=5, seed=5, size=128, shard=1), ctx=gl_context)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["interrupted"] and manifest["count"] == 2 and manifest["shards"] == ["shard_00000.npz",
                                                                                         "shard_00001.npz"]
    assert len(load(out)["identity"]) == 2
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["000000.png", "000001.png", "manifest.json",
                                                                      "shard_00000.npz", "shard_00001.npz"]
    early = tmp_path / "early"
    stop_at[0] = 0
    with pytest.raises(KeyboardInterrupt):
        generate(early, SynthOptions(count=5, seed=5, size=128, shard=3), ctx=gl_context)
    assert not early.exists()


def test_a_folder_another_run_is_writing_is_refused(tmp_path, monkeypatch):
    """Two runs started together into one new folder both passed the emptiness check and mixed their shards under
    one manifest: the first to claim the folder holds it, the other is refused, and the claim goes with the run."""
    from avatar_engine.synth import dataset

    out = tmp_path / "shared"
    with dataset.claimed_folder(out) as made:
        assert made
        with pytest.raises(InputError, match="not empty"):
            generate(out, SynthOptions(count=1))
        monkeypatch.setattr(dataset.Path, "iterdir", lambda self: iter(()))  # the check passed before the claim
        with pytest.raises(InputError, match="being written by another run"):
            with dataset.claimed_folder(out):
                pass
        monkeypatch.undo()
    assert not any(out.iterdir())


@pytest.mark.parametrize("kwargs, match", [({"count": 0}, "count"), ({"count": 2, "size": 64}, "size"),
                                           ({"count": 2, "shard": 0}, "shard"), ({"count": 10 ** 11}, "count")])
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        SynthOptions(**kwargs)


def test_load_refuses_a_folder_that_is_not_a_set(tmp_path):
    with pytest.raises(InputError, match="manifest"):
        load(tmp_path)


def _fake_set(folder, n=3, side=16, **change):
    """A hand-made set in `folder` (the keys `load` reads), with `change` applied to its arrays or manifest."""
    import json

    import numpy as np

    from avatar_engine.synth.dataset import GENERATOR

    folder.mkdir()
    arrays = {"hair_mask": np.zeros((n, side, side // 8), np.uint8), "landmarks": np.zeros((n, 478, 3), np.float32),
              "hair": np.zeros((n, 7), np.float32), "detected": np.ones(n, bool)}
    manifest = {"generator": GENERATOR, "size": side, "shards": ["shard_00000.npz"]}
    for key, value in change.items():
        (manifest if key in manifest else arrays)[key] = value
    np.savez(folder / "shard_00000.npz", **arrays)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_damaged_set_is_one_line_not_a_traceback(tmp_path):
    # each of these raised KeyError, IndexError or trained a network of NaN weights
    import numpy as np

    from avatar_engine.synth.dataset import load

    assert load(_fake_set(tmp_path / "good"))["hair_mask"].shape == (3, 16, 16)
    nan_hair = np.zeros((3, 7), np.float32)
    nan_hair[1, 2] = np.nan
    no_face = np.zeros((3, 478, 3), np.float32)
    no_face[2] = np.nan  # MediaPipe saw no face there: allowed where detected is False
    cases = {
        "manifest_list": ({"shards": None}, "lists no shards"),
        "twice": ({"shards": ["shard_00000.npz", "shard_00000.npz"]}, "lists a shard twice"),
        "size": ({"size": 32}, "not 32 x 32"),
        "rows": ({"hair": np.zeros((2, 7), np.float32)}, "different numbers of samples"),
        "nan": ({"hair": nan_hair}, "not numbers"),
        "no_mask": ({"hair_mask": None}, "lacks hair_mask"),
    }
    for name, (change, message) in cases.items():
        if change.get("hair_mask", 0) is None:
            folder = _fake_set(tmp_path / name)
            np.savez(folder / "shard_00000.npz", landmarks=np.zeros((3, 478, 3)), hair=np.zeros((3, 7)),
                     detected=np.ones(3, bool))
        else:
            folder = _fake_set(tmp_path / name, **change)
        with pytest.raises(InputError, match=message):
            load(folder)
    detected = np.array([True, True, False])
    assert len(load(_fake_set(tmp_path / "unseen", landmarks=no_face, detected=detected))["hair"]) == 3


def test_ctrl_c_stops_a_run_on_workers_promptly(tmp_path):
    """Ctrl-C reaches the whole process group: a worker interrupted inside the pool's queue kept its lock and the
    run hung for ever (two of two tries). Now the parent alone answers: exit 130, no worker left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "set"
    proc = subprocess.Popen([sys.executable, "-m", "avatar_engine.cli", "synth", "-o", str(out), "-n", "40",
                             "--size", "128", "--shard", "2", "--jobs", "2", "--no-images"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            # as a terminal's foreground job: a suite run as a background job (`bash .ci/run &`)
                            # hands its children SIGINT ignored, which the CLI honours (nohup)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        # the workers are up and working (a shard from each, the next under way) and the progress line is out:
        # waiting for six shards, as before, only spent half a minute more
        while len(list(out.glob("shard_*.npz"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read().decode()
    assert rc == 130, err[-500:]
    # the progress line ends before the stop's message (it read '20/60 samplesavatar synth: interrupted')
    assert err.rstrip().splitlines()[-1] == "avatar synth: interrupted", err[-500:]
    left = ["?"]
    for _ in range(50):  # multiprocessing's resource tracker notices its parent gone within a moment
        left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.1)
    assert not left, "processes left: " + subprocess.run(["ps", "-o", "pid,args", "-g", str(proc.pid)],
                                                         capture_output=True, text=True).stdout
    if out.exists():  # the shards the parent had received make a set; none received, nothing is left
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["interrupted"] and len(load(out)["identity"]) == manifest["count"] > 0


def test_the_cli_makes_the_sets_parent_folders(tmp_path):
    """README's `avatar synth -o data/train` in a fresh checkout, where data/ does not exist yet."""
    from avatar_engine.cli import main

    assert main(["synth", "-o", str(tmp_path / "data" / "train"), "-n", "1", "--size", "128", "--no-images"]) == 0
    assert json.loads((tmp_path / "data" / "train" / "manifest.json").read_text())["count"] == 1



def test_a_shard_in_a_worker_gives_itself_up_once_the_run_stops(tmp_path, monkeypatch):
    """Review: `avatar synth --jobs 2` stopped 330 s after Ctrl-C while its workers finished 100-sample shards."""
    import threading

    from avatar_engine import workers
    from avatar_engine.head.model import HeadModel
    from avatar_engine.synth.dataset import SynthOptions, _write_shard

    stop = threading.Event()
    stop.set()
    monkeypatch.setattr(workers, "_STOP", [stop])
    with pytest.raises(workers.Abandoned):
        _write_shard(tmp_path, SynthOptions(count=4, size=128, shard=4, images=False), 0, None, None,
                     HeadModel.default())
    assert not list(tmp_path.iterdir())
