"""The whole builder: `avatar build PHOTO -o me.glb --report me.json` on Grace Hopper, the Python API, bad input."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar_engine.cli import main

REPROJECTION_MAX = 0.03
"""The report's mean landmark reprojection error on the sample photo, fraction of the inter-ocular distance."""
EYE_SPHERE_TOLERANCE_M = 0.0003
"""Seen from its eye bone, the eyeball's vertices (cornea bulge aside) lie at one radius, within this (median)."""
RENDER_AGREEMENT_MAX = 0.04
"""MediaPipe's landmarks on a render of the avatar in the photo's pose stay within this fraction of the photo's
inter-ocular distance of the photo's own (mean over 478; issue 3's target; measured 0.013 on this photo)."""
CROWN_KEPT = 0.8
"""The built skull's height above the eyes, over the eyes' spacing, is at least this fraction of the average head's
(the landmarks cannot see the crown: a cap once flattened it to 0.65)."""
STAGES = ("load", "perception", "fit", "texture", "hair", "rig", "materials", "check", "write")


@pytest.fixture(scope="module")
def built(tmp_path_factory, grace_hopper_path):
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    folder = tmp_path_factory.mktemp("build")
    glb, report = folder / "me.glb", folder / "me.json"
    assert main(["build", str(grace_hopper_path), "-o", str(glb), "--report", str(report)]) == 0
    return glb, json.loads(report.read_text())


def test_a_built_avatar_passes_the_khronos_validator(built, gltf_validate):
    issues = gltf_validate(built[0])["issues"]
    assert issues["numErrors"] == 0, [m for m in issues["messages"] if m["severity"] == 0][:5]
    assert issues["numWarnings"] == 0, [m for m in issues["messages"] if m["severity"] == 1][:5]


def test_build_writes_an_avatar_and_a_report(built):
    from avatar_engine.io import read_glb

    glb, report = built
    avatar = read_glb(glb)
    assert {"neck", "head", "jaw", "eye_L", "eye_R"} <= set(avatar.skeleton.names)
    assert any(p.morph_positions.any() for p in avatar.parts)
    assert tuple(report["stages_s"]) == STAGES and all(v >= 0 for v in report["stages_s"].values())
    assert report["fit"]["reprojection_error"] < REPROJECTION_MAX
    check = report["render_check"]
    assert check["found"] and check["mean"] < RENDER_AGREEMENT_MAX and check["mean"] <= check["max"]
    assert report["size"] == [512, 600] and isinstance(report["warnings"], list)
    # the report names the hair style the avatar's hair was grown from
    from dataclasses import fields

    from avatar_engine.head.hair import HairStyle

    hair = report["hair"]
    assert set(hair) == {f.name for f in fields(HairStyle)} and len(hair["color"]) == 3
    assert (hair["baldness"] < 0.98) == any(p.name == "hair" for p in avatar.parts)
    # grace_hopper wears a cap: the report says her hair is a guess, and measures no IoU it did not fit
    assert any(w.startswith("hair: headwear hides the head") for w in report["warnings"])
    assert report["hair_iou"] is None
    # her glasses and squint leave no usable eye whites: the texture stage says so, and the report carries it
    assert report["texture"]["white_balance"] == "skin prior"
    assert any(w.startswith("texture: no usable eye whites") for w in report["warnings"])
    assert len(report["texture"]["skin_rgb"]) == 3 and 0 < report["texture"]["coverage"]["seen"] < 1
    # and her glasses are found: the skin under their frames is left out of the texture, and the report says so
    assert report["texture"]["glasses"]["found"] and report["texture"]["glasses"]["left_out"]
    assert report["options"]["glasses"] == "auto"
    assert any(w.startswith("texture: glasses found") for w in report["warnings"])
    # what the build was asked for, so two reports of one photo that differ are explained
    assert report["options"]["texture_size"] == 1024 and report["options"]["landmarker"] == "mediapipe"
    assert not any("no colour" in w for w in report["warnings"])


def test_a_greyscale_photo_is_flagged():
    from avatar_engine.build.pipeline import is_greyscale

    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 256, (64, 64, 1), dtype=np.uint8), 3, axis=2)
    jpeg_like = np.clip(grey.astype(int) + rng.integers(-1, 2, grey.shape), 0, 255).astype(np.uint8)  # channels 2 apart
    assert is_greyscale(grey) and is_greyscale(jpeg_like)
    tinted = grey.copy()
    tinted[..., 0] = np.clip(tinted[..., 0].astype(int) + 12, 0, 255)
    assert not is_greyscale(tinted)


def test_built_skeleton_sits_on_the_built_head(built):
    from avatar_engine.io import read_glb

    avatar = read_glb(built[0])
    skeleton = avatar.skeleton
    assert np.allclose(skeleton.rest_positions[skeleton.index("neck")], 0, atol=1e-6)
    for eye in ("eye_L", "eye_R"):
        radii = np.linalg.norm(avatar.part(eye).positions - skeleton.rest_positions[skeleton.index(eye)], axis=1)
        assert np.median(np.abs(radii - np.median(radii))) < EYE_SPHERE_TOLERANCE_M
    assert skeleton.rest_positions[skeleton.index("eye_L")][0] > 0  # the avatar's own left is +X


def test_built_skull_keeps_its_crown(built, template):
    """The skull behind the hairline is unseen by the landmarks: a learnt prior's guess there (a lowered crown under
    grace_hopper's cap) must not flatten the head."""
    from avatar_engine.io import read_glb

    def crown_over_eyes(avatar) -> float:
        joints = avatar.skeleton.rest_positions
        left, right = joints[avatar.skeleton.index("eye_L")], joints[avatar.skeleton.index("eye_R")]
        top = avatar.part("skin").positions[:, 1].max()
        return float((top - left[1]) / np.linalg.norm(left - right))

    assert crown_over_eyes(read_glb(built[0])) >= CROWN_KEPT * crown_over_eyes(template)


def test_python_api_is_lazy_and_callable():
    code = ("import sys, avatar_engine; assert callable(avatar_engine.build); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mediapipe', 'moderngl')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_python_api_builds_from_an_array(grace_hopper):
    import avatar_engine

    avatar = avatar_engine.build(grace_hopper)
    assert avatar.part("skin").positions.shape[1] == 3 and len(avatar.skeleton.names) == 5


def _two_faces(grace_hopper: np.ndarray) -> np.ndarray:
    pair = np.full((600, 1024, 3), 120, np.uint8)
    pair[:, :512] = grace_hopper
    pair[:, 512:] = grace_hopper[:, ::-1]
    return pair


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file"), ("empty", "empty"), ("text", "not an image"),
    ("blank", "no face found"), ("pair", "2 faces found"),
])
def test_bad_photos_exit_2_without_output(tmp_path, capsys, grace_hopper, kind, message):
    pytest.importorskip("mediapipe")
    photo = tmp_path / ("photo.png" if kind in ("blank", "pair") else "photo.jpg")
    if kind == "empty":
        photo.write_bytes(b"")
    elif kind == "text":
        photo.write_text("not a photo\n")
    elif kind == "blank":
        Image.new("RGB", (400, 400), (128, 128, 128)).save(photo)
    elif kind == "pair":
        Image.fromarray(_two_faces(grace_hopper)).save(photo)
    out, report = tmp_path / "me.glb", tmp_path / "me.json"
    assert main(["build", str(photo), "-o", str(out), "--report", str(report)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ([photo.name] if kind != "missing" else [])


@pytest.mark.parametrize("args, message", [
    (["--face", "zero"], "--face 'zero'"), (["--face", "0"], "must be 1 or more"),
    (["-o", "me.obj"], "must end in .glb"), (["--report", "me.txt"], "must end in .json"),
])
def test_bad_build_arguments(tmp_path, capsys, grace_hopper_path, args, message):
    argv = ["build", str(grace_hopper_path), "-o", str(tmp_path / "me.glb"), *args]
    argv = [a if not a.startswith("me.") else str(tmp_path / a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_one_photo_named_twice_builds_one_avatar_into_a_glb(tmp_path, capsys, grace_hopper_path):
    assert main(["build", str(grace_hopper_path), str(grace_hopper_path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "the photos named are one file" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_build_never_writes_over_its_own_photo(tmp_path, capsys, grace_hopper_path):
    """A photo saved as me.glb, built with -o me.glb: the avatar replaced the only copy of the photo."""
    photo = tmp_path / "me.glb"
    photo.write_bytes(grace_hopper_path.read_bytes())
    assert main(["build", str(photo), "-o", str(photo)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is the photo itself" in err and len(err.splitlines()) == 1
    assert photo.read_bytes() == grace_hopper_path.read_bytes()


def test_choosing_a_face_builds_from_a_group_photo(tmp_path, grace_hopper):
    photo = tmp_path / "pair.png"
    Image.fromarray(_two_faces(grace_hopper)).save(photo)
    out = tmp_path / "me.glb"
    assert main(["build", str(photo), "-o", str(out), "--face", "2"]) == 0
    assert out.stat().st_size > 0


def test_cli_error_has_no_traceback_even_after_mediapipe_loads(tmp_path):
    photo = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), (90, 90, 90)).save(photo)
    proc = subprocess.run([sys.executable, "-m", "avatar_engine.cli", "build", str(photo), "-o",
                           str(tmp_path / "me.glb")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _stand_in_command(out, body: str, before: str = "") -> subprocess.Popen:
    """`avatar template -o out` through the real entry point, its work replaced by `body` (the lines of a function
    of `args`, indented four spaces); `before` runs first. Prints what `body` prints, stdout piped."""
    script = (f"import signal, sys, time\n{before}"
              "from avatar_engine import cli\n"
              "from avatar_engine.paths import atomic_path\n"
              f"def stand_in(args):\n{body}"
              "cli.cmd_template = stand_in\n"
              "sys.argv = ['avatar', 'template', '-o', sys.argv[1]]\n"
              "cli.entry()\n")
    return subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_sigterm_while_the_avatar_is_written_leaves_nothing(tmp_path):
    """SIGTERM (`timeout`, `kill`) ended the process at once: the avatar stayed under its hidden temporary name.
    Now it stops like Ctrl-C: clean-up runs, one line, exit 143, nothing left beside the photo."""
    import signal

    (tmp_path / "me.png").write_bytes(b"")
    # written through the same atomic path slowly, so the signal lands mid-write
    proc = _stand_in_command(tmp_path / "out.glb", "    with atomic_path(args.output) as tmp:\n"
                                                   "        tmp.write_bytes(b'glTF')\n"
                                                   "        print('writing', flush=True)\n"
                                                   "        time.sleep(30)\n"
                                                   "    return 0\n")
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip() == "avatar template: terminated"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.png"]


def test_nohup_still_outlives_its_terminal(tmp_path):
    """`nohup avatar build ...`: SIGHUP is ignored before the command starts; the command's own handler replaced
    that, and closing the terminal stopped the batch."""
    import signal

    proc = _stand_in_command(tmp_path / "out.glb", "    print('working', flush=True)\n"
                                                   "    time.sleep(1.5)\n"
                                                   "    return 0\n",
                             before="signal.signal(signal.SIGHUP, signal.SIG_IGN)\n")
    assert proc.stdout.readline().strip() == "working"
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_a_report_that_cannot_be_written_takes_its_avatar_with_it(tmp_path, capsys, grace_hopper_path, monkeypatch):
    """The report's disk full (or the file immutable): exit 1 and no avatar left, as if the build never ran."""
    import errno

    from avatar_engine.build import report as report_module

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_module.BuildReport, "write", full)
    out, report = tmp_path / "me.glb", tmp_path / "me.json"
    assert main(["build", str(grace_hopper_path), "-o", str(out), "--report", str(report)]) == 1
    assert capsys.readouterr().err.strip().endswith(f"No space left on device: {report}")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_texture_stage_fails_the_build_and_the_builder_recovers(grace_hopper, monkeypatch):
    """The texture is made on the builder's worker thread beside the hair and rig stages: its error reaches the
    caller, and the next photo builds normally."""
    pytest.importorskip("mediapipe")
    from avatar_engine.build import pipeline

    with pipeline.Builder() as builder:
        def broken(*args):
            raise RuntimeError("texture stage broke")

        monkeypatch.setattr(builder, "_materials", broken)
        with pytest.raises(RuntimeError, match="texture stage broke"):
            builder.build(grace_hopper)
        monkeypatch.undo()
        result = builder.build(grace_hopper)
    assert result.avatar.materials["skin"].texture is not None
    assert result.report.total_s < sum(result.report.stages_s.values())  # the texture overlapped hair and rig


def test_a_builder_that_fails_to_open_closes_what_it_opened(monkeypatch):
    """A damaged optional model fails the Builder's construction; the MediaPipe graph it had already opened is
    closed then, not left to the garbage collector (which can hang the interpreter's exit inside MediaPipe)."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    from avatar_engine.build.pipeline import BuildOptions, Builder
    from avatar_engine.errors import ModelError
    from avatar_engine.nets import texture_net
    from avatar_engine.perception import landmarker

    closed = []
    real_close = landmarker.FaceLandmarker.close

    def close(self):
        closed.append(self._task is not None)  # a flag, not the landmarker: nothing here keeps it alive
        real_close(self)

    def damaged(*args, **kwargs):
        raise ModelError("texture_refine.onnx: damaged")

    monkeypatch.setattr(landmarker.FaceLandmarker, "close", close)
    monkeypatch.setattr(texture_net.TextureNet, "open", staticmethod(damaged))
    with pytest.raises(ModelError, match="damaged") as info:
        Builder(BuildOptions(hair=False, texture_net=True))
    assert closed == [True]  # while the traceback (`info`) still holds the half-made Builder
    del info
    gc.collect()  # the half-made Builder goes now, while the patches stand, not in the fixture's teardown


def test_an_unclosed_builder_leaves_no_traceback_at_exit():
    """A script that built with a Builder and ended without close() (or `with`) printed two tracebacks at shutdown:
    MediaPipe's finalisers of the landmarker and the hair stage's segmenter, run on a half torn-down interpreter."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    script = ("import sys\n"
              "from avatar_engine.build import Builder\n"
              "builder = Builder()\n"
              "builder.build(sys.argv[1])\n"
              "print('built')\n")
    astronaut = Path(__file__).resolve().parents[2] / "assets" / "photos" / "astronaut.png"
    proc = subprocess.run([sys.executable, "-W", "ignore::ResourceWarning", "-c", script, str(astronaut)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and proc.stdout.strip() == "built", proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-1500:]


def test_a_builder_closes_everything_when_one_part_fails_to_close():
    """Review: a landmarker whose close raised left the segmenter and the GL context open, and the exit hook had
    already let the Builder go. The first failure is raised once all are closed; a second close does nothing."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    from avatar_engine.build.pipeline import BuildOptions, Builder

    closed = []

    class Part:
        def close(self):
            closed.append("segmenter")

    builder = Builder(BuildOptions(hair=False))
    real_close = builder._landmarker.close

    def failing_close():
        real_close()
        raise RuntimeError("landmarker: close failed")

    builder._landmarker.close = failing_close
    builder._segmenter = Part()
    with pytest.raises(RuntimeError, match="close failed"):
        builder.close()
    assert closed == ["segmenter"]
    builder.close()
    assert closed == ["segmenter"]


def test_auto_keeps_the_small_networks_on_the_cpu():
    # a GPU saves the reconstruction and texture networks under 3 ms a photo; its start-up costs seconds
    from avatar_engine.build.pipeline import BuildOptions
    from avatar_engine.errors import InputError

    assert BuildOptions().small_networks == ("onnxruntime", "cpu")  # the CPU even with an onnxruntime-gpu build
    assert BuildOptions(backend="torch").small_networks == ("torch", "auto")
    with pytest.raises(InputError, match="unknown inference backend"):
        BuildOptions(backend="cuda")


def test_a_bald_build_is_never_silent(gl_context, monkeypatch):
    """A photo whose hair region comes out empty (the astronaut under heavy noise did, and one cut above the brows)
    builds bald, and says so: no hair IoU of 1.0 (no hair drawn against none found) read as a fit that worked
    (review). The region is emptied here so the test does not hang on what noise the region survives."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")
    from dataclasses import replace
    from pathlib import Path

    import avatar_engine.build.hair_fit as hair_fit
    from avatar_engine.build.image import load_photo
    from avatar_engine.build.pipeline import Builder, BuildOptions

    found = hair_fit.hair_region
    monkeypatch.setattr(hair_fit, "hair_region", lambda *a, **k: replace(
        found(*a, **k), mask=np.zeros_like(found(*a, **k).mask)))
    photo = load_photo(Path(__file__).resolve().parents[2] / "assets" / "photos" / "astronaut.png")
    with Builder(BuildOptions(texture=False)) as builder:
        report = builder.build(photo).report
    assert report.hair["baldness"] >= 0.98 and report.hair_iou is None
    assert any(w.startswith("hair: too little found to grow (0 hair pixels)") for w in report.warnings), \
        report.warnings


def test_an_overexposed_photo_is_reported(landmarker):
    """A face clipped to white says nothing of the skin's tone or the hair's colour: said, not built in silence
    (the astronaut brightened came out pale with black hair and no warning; review)."""
    from pathlib import Path

    from avatar_engine.build.image import load_photo
    from avatar_engine.build.perception import perceive
    from avatar_engine.build.pipeline import photo_warnings

    photo = load_photo(Path(__file__).resolve().parents[2] / "assets" / "photos" / "astronaut.png")
    bright = np.clip(photo.astype(float) * 1.8, 0, 255).astype(np.uint8)  # 68% of the face clipped
    assert not any("exposed" in w for w in photo_warnings(photo, perceive(photo, landmarker)))
    assert any(w.startswith("the photo is overexposed") for w in photo_warnings(bright, perceive(bright, landmarker)))


def test_build_to_file_checks_its_outputs_before_building(tmp_path, grace_hopper_path, monkeypatch):
    """The report named as the avatar replaced it (a 2.8 KB JSON under x.glb); a missing folder failed only after
    the whole build. Both are refused first."""
    from avatar_engine.build import pipeline
    from avatar_engine.errors import InputError
    from avatar_engine.io import AvatarFileError

    def no_build(*args, **kwargs):
        raise AssertionError("built before its outputs were checked")

    monkeypatch.setattr(pipeline.Builder, "build", no_build)
    with pytest.raises(InputError, match="report .*x.glb must end in .json"):
        pipeline.build_to_file(grace_hopper_path, tmp_path / "x.glb", tmp_path / "x.glb")
    with pytest.raises(InputError, match="does not exist"):
        pipeline.build_to_file(grace_hopper_path, tmp_path / "missing" / "x.glb")
    assert issubclass(AvatarFileError, InputError), "read_glb's errors are caught as the API's input errors"


def test_two_builds_on_two_threads_finish(grace_hopper_path):
    """Each build limits BLAS to one thread through threadpoolctl; a new controller per build walked the loaded
    libraries under the dynamic loader's lock while the other thread loaded PIL's AVIF plugin holding the GIL: a
    deadlock in 3 runs of 6 that only SIGKILL ended. In a process of its own, under a timeout."""
    script = ("import sys, threading\n"
              "import avatar_engine\n"
              "threads = [threading.Thread(target=avatar_engine.build, args=(p,)) for p in sys.argv[1:]]\n"
              "[t.start() for t in threads]\n"
              "[t.join() for t in threads]\n"
              "print('finished')\n")
    astronaut = Path(__file__).resolve().parents[2] / "assets" / "photos" / "astronaut.png"
    proc = subprocess.run([sys.executable, "-c", script, str(astronaut), str(grace_hopper_path)],
                          capture_output=True, text=True, timeout=180)
    assert proc.stdout.strip() == "finished", proc.stderr[-2000:]


def test_a_small_face_in_a_large_photo_is_read_at_the_photos_resolution(grace_hopper_path, tmp_path):
    """A 6000x4000 photo of a person at a distance: the builder's 2048-pixel copy left the face under 80 pixels and
    the photo was refused as "too small; use a larger photo". The face is read again from a window at the file's
    resolution (and so from an array's)."""
    from PIL import Image

    from avatar_engine.build.closer import CLOSE_FACE_PX
    from avatar_engine.build.pipeline import Builder, BuildOptions

    grace = Image.open(grace_hopper_path).convert("RGB")  # her face is about 240 pixels tall
    canvas = Image.new("RGB", (5400, 3600), (90, 120, 160))
    canvas.paste(grace.resize((grace.width * 3 // 5, grace.height * 3 // 5), Image.Resampling.LANCZOS), (3100, 1500))
    path = tmp_path / "far.jpg"
    canvas.save(path, quality=92)  # the face 145 pixels tall here, 55 in the 2048-pixel copy
    with Builder(BuildOptions(texture=False, hair=False)) as builder:
        from_file = builder.build(path).report
        from_array = builder.build(np.asarray(canvas)).report
    for report in (from_file, from_array):
        assert any(w.startswith("the face is small in the 5400x3600 photo") for w in report.warnings), report.warnings
        assert max(report.size) < CLOSE_FACE_PX * 4 and report.fit["inter_ocular_px"] > 40
        assert report.fit["reprojection_error"] < REPROJECTION_MAX


def test_a_face_the_builder_takes_is_found_however_small_the_loaded_copy_makes_it(grace_hopper_path, tmp_path):
    """An 8000x5400 photo (a 43-megapixel camera) with the face 108 pixels tall: 28 in the 2048-pixel copy the
    faces are looked for in, and the search, held to the 80 pixels the builder takes in the file, stopped before
    windows small enough to show it: "no face found"."""
    from PIL import Image

    from avatar_engine.build.pipeline import Builder, BuildOptions

    grace = Image.open(grace_hopper_path).convert("RGB")
    canvas = Image.new("RGB", (8000, 5400), (90, 120, 160))
    canvas.paste(grace.resize((grace.width * 9 // 20, grace.height * 9 // 20), Image.Resampling.LANCZOS), (5200, 900))
    path = tmp_path / "farther.jpg"
    canvas.save(path, quality=90)
    with Builder(BuildOptions(texture=False, hair=False)) as builder:
        report = builder.build(path).report
    assert any(w.startswith("the face is small in the 8000x5400 photo") for w in report.warnings), report.warnings
    assert report.fit["reprojection_error"] < REPROJECTION_MAX


def test_the_build_api_is_importable_from_the_package_and_names_bad_options():
    # review: `from avatar_engine.build import Builder` was an ImportError; a dict of options failed on
    # "'dict' object has no attribute 'small_networks'"
    from avatar_engine.build import Builder, BuildOptions, BuildResult, build_to_file
    from avatar_engine.build import pipeline

    assert (Builder, BuildOptions, BuildResult, build_to_file) == (
        pipeline.Builder, pipeline.BuildOptions, pipeline.BuildResult, pipeline.build_to_file)
    with pytest.raises(TypeError, match=r"options must be a BuildOptions \(e.g. BuildOptions\(texture=False\)\), "
                                        r"got dict"):
        Builder({"texture": False})


def test_a_backend_asked_for_and_not_used_is_said(grace_hopper_path):
    """`avatar build --backend tensorrt` with MediaPipe's landmarker and no network on ran nothing on TensorRT (not
    even installed) and its report recorded "backend": "tensorrt" without a word (review)."""
    from avatar_engine.build.pipeline import Builder, BuildOptions
    from avatar_engine.build.fit import FitOptions

    with Builder(BuildOptions(backend="onnxruntime", texture=False, hair=False)) as builder:
        report = builder.build(grace_hopper_path).report
    assert any(w.startswith("--backend onnxruntime was not used: MediaPipe's own landmarker ran") for w in
               report.warnings), report.warnings
    for used in (BuildOptions(backend="onnxruntime", texture=False, hair=False, fit=FitOptions(recon="prior")),
                 BuildOptions(texture=False, hair=False)):
        with Builder(used) as builder:
            assert builder.unused_backend is None


def test_face_n_says_when_only_one_face_was_found(grace_hopper_path):
    """`--face 1` on a photo of two people, one too small to be found, built the other without a word (review)."""
    from avatar_engine.build.pipeline import Builder, BuildOptions

    with Builder(BuildOptions(face=1, texture=False, hair=False)) as builder:
        report = builder.build(grace_hopper_path).report
    assert any(w.startswith("--face 1: only one face was found in the photo, and it was built") for w in
               report.warnings), report.warnings
