"""The `avatar` command: parses arguments, calls the API, maps expected failures to one line and an exit code."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path


from avatar_engine.build.records import GLASSES_CHOICES
from avatar_engine.errors import AvatarError, InputError, require_modules
from avatar_engine.head.arkit import ARKIT_INDEX
from avatar_engine.paths import (STORAGE_ERRNOS, errors_named, name_fits, output_file, output_folder,
                                 replace_together, replaceable, temporary_beside)

DRIVEN_JOINTS = ("neck", "head", "jaw", "eye_L", "eye_R")
"""The joints `render` and `live` turn: an avatar file must have them (the avatar file's skeleton, issue 2)."""
FOV_RANGE = (5.0, 120.0)
"""Vertical field of view a render may ask for, degrees: a long lens to a wide one."""
SAMPLE_COUNTS = (0, 1, 2, 4, 8)
"""MSAA sample counts a render may ask for (0 and 1: no multisampling); the GL driver may allow fewer (llvmpipe: 4),
which the renderer refuses in one line."""


def _cut(text: str, most: int = 60) -> str:
    """A user's text as an error quotes it: at most `most` characters (a 100,000-character item filled the line)."""
    return text if len(text) <= most else text[:most] + "..."


def parse_expression(text: str) -> dict[str, float]:
    """'jawOpen=1,mouthSmileLeft=0.5' -> {'jawOpen': 1.0, 'mouthSmileLeft': 0.5}; InputError on bad input."""
    weights: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"expression item {_cut(item)!r} must look like name=weight")
        name = name.strip()
        if name not in ARKIT_INDEX:
            raise InputError(f"unknown expression name {_cut(name)!r}; expected an ARKit blend-shape name such as "
                             "jawOpen")
        if name in weights:
            raise InputError(f"expression name {name} is given twice")
        try:
            w = float(value)
        except ValueError:
            raise InputError(f"expression weight {_cut(value)!r} for {name} is not a number") from None
        if not 0.0 <= w <= 1.0:
            raise InputError(f"expression weight {name}={w:g} is outside [0, 1]")
        weights[name] = w
    return weights


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"size {text!r} must look like 1280x720") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise InputError(f"size {w}x{h} is outside 16..8192 pixels")
    return w, h


def _load_avatar(path: str):
    from avatar_engine.io import AvatarFileError, read_glb

    name_fits(path, "avatar")  # "" was read as the current folder
    try:
        avatar = read_glb(path)
    except AvatarFileError as exc:
        raise InputError(str(exc)) from None
    from avatar_engine.render.renderer import MAX_JOINTS

    names = avatar.skeleton.names
    missing = [j for j in DRIVEN_JOINTS if j not in names]
    if missing:
        raise InputError(f"{path}: its skeleton has no joint {', '.join(missing)} (it has "
                         f"{', '.join(map(repr, names))}); avatar-engine animates joints named "
                         f"{', '.join(DRIVEN_JOINTS)}")
    if len(names) > MAX_JOINTS:
        raise InputError(f"{path}: its skeleton has {len(names)} joints; the renderer takes up to {MAX_JOINTS}")
    return avatar


def cmd_doctor(args: argparse.Namespace) -> int:
    from avatar_engine.doctor import format_report, run_checks

    checks = run_checks()
    print(format_report(checks))
    return 0 if all(c.ok for c in checks if c.required) else 1


def cmd_template(args: argparse.Namespace) -> int:
    from avatar_engine.head.hair import HAIR_PRESETS, HairStyle
    from avatar_engine.head.template import default_materials, template_avatar
    from avatar_engine.io import write_glb

    out = output_file(args.output, (".glb",))
    if args.bald and (args.hair or args.wave is not None):
        raise InputError("--bald leaves the hair out: it excludes --hair and --wave")
    if args.hair == "bald" and args.wave is not None:  # as --bald: no hair to curl (the wave was dropped silently)
        raise InputError("--hair bald grows no hair: --wave has nothing to curl")
    style = HAIR_PRESETS[args.hair] if args.hair else HairStyle()
    if args.wave is not None:
        if not 0.0 <= args.wave <= 1.0:
            raise InputError(f"--wave {args.wave} must be between 0 (straight) and 1 (curly)")
        style = replace(style, wave=args.wave)
    if args.bald:  # a bare scalp, not the default style's hair colour painted where its hair would grow
        avatar = template_avatar(hair=None, materials=default_materials(bare_scalp=True))
    elif style != HairStyle():  # the shipped skin has the default style's scalp painted: paint this style's
        avatar = template_avatar(hair=style, materials=_scalp_painted(style))
    else:
        avatar = template_avatar(hair=style)
    write_glb(avatar, out)
    print(f"wrote {out}: {avatar.triangle_count} triangles, 52 ARKit targets, joints {', '.join(avatar.skeleton.names)}")
    return 0


def _scalp_painted(style) -> dict:
    """The default head's materials with a bare skin painted in `style`'s colour under `style`'s hairline, as the
    builder paints a built head's (`build.scalp.paint_scalp`)."""
    from avatar_engine.build.scalp import bare_head_painted
    from avatar_engine.head.model import HeadModel

    model = HeadModel.default()
    return bare_head_painted(model, model.neutral_positions(), model.skeleton(), style)


def _still_options(size: tuple[int, int], background: str, samples: int):
    from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions

    if background not in ("transparent", "studio"):
        raise InputError(f"background {background!r} must be transparent or studio")
    # stills and offline video: the high-quality preset (per-pixel light) whatever the GL driver
    return RenderOptions(size=size, samples=samples, shading="pixel",
                         background=None if background == "transparent" else STUDIO_BACKDROP)


def cmd_render(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from avatar_engine.demo import posed_framed_camera
    from avatar_engine.records import Expression, euler_rotation
    from avatar_engine.render.camera import Camera
    from avatar_engine.render.context import headless_context
    from avatar_engine.render.output import write_png
    from avatar_engine.render.renderer import Renderer

    weights = parse_expression(",".join(args.expression))  # a second --expression replaced the first
    size = parse_size(args.size)
    out = output_file(args.output, (".png",))
    if args.avatar and out.exists() and Path(args.avatar).exists() and out.samefile(args.avatar):
        raise InputError(f"-o {out} is the avatar itself: the render would write over it; choose another")
    for label, value, limit in (("yaw", args.yaw, 90), ("pitch", args.pitch, 60), ("view-yaw", args.view_yaw, 180),
                                ("view-pitch", args.view_pitch, 85)):
        if not -limit <= value <= limit:
            raise InputError(f"--{label} {value:g} is outside [-{limit}, {limit}] degrees")
    if not FOV_RANGE[0] <= args.fov <= FOV_RANGE[1]:
        raise InputError(f"--fov {args.fov:g} is outside [{FOV_RANGE[0]:g}, {FOV_RANGE[1]:g}] degrees")
    if args.samples not in SAMPLE_COUNTS:
        raise InputError(f"--samples {args.samples} must be one of {', '.join(map(str, SAMPLE_COUNTS))}")
    options = _still_options(size, args.background, args.samples)  # before any GL: a bad argument is still bad input
    avatar = _load_avatar(args.avatar)
    rotations = {"neck": euler_rotation(0.4 * args.yaw, 0.4 * args.pitch),
                 "head": euler_rotation(0.6 * args.yaw, 0.6 * args.pitch)}
    # framed to the posed head as this view sees it, at the default field of view, then --fov zooms from there: a
    # fixed aim cut a built head's hair off at the top, or left a small head in the lower half
    try:
        framed = posed_framed_camera(avatar, rotations, Camera(yaw_deg=args.view_yaw, pitch_deg=args.view_pitch),
                                     size[0] / size[1])
    except ValueError as exc:
        raise InputError(f"avatar {args.avatar}: {exc}") from None
    camera = replace(framed, fov_y_deg=args.fov)
    with Renderer(headless_context(), options) as renderer:
        renderer.load(avatar)
        renderer.render(Expression.from_names(weights, **rotations), camera)
        write_png(renderer.read(), out)
    print(f"wrote {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from contextlib import closing

    from avatar_engine import demo
    from avatar_engine.io import write_glb
    from avatar_engine.render.output import VideoWriter, write_png
    from avatar_engine.render.pool import render_sequence

    out = output_file(args.output, (".mp4",))
    glb, poster_path = out.with_suffix(".glb"), out.with_suffix(".png")
    output_file(glb, (".glb",), "demo avatar")
    output_file(poster_path, (".png",), "demo poster")
    size = parse_size(args.size)
    if size[0] % 2 or size[1] % 2:
        raise InputError(f"--size {size[0]}x{size[1]}: a video's width and height must be even")
    if not 1 <= args.fps <= 120:
        raise InputError(f"--fps {args.fps} is outside 1..120")
    if args.photo == "":
        raise InputError("--photo is empty: name a photo, or leave it out for the astronaut")
    if args.template and (args.photo is not None or args.face is not None):
        raise InputError(f"{'--photo' if args.photo is not None else '--face'} and --template exclude each other "
                         "(--template renders the default head)")
    face = parse_face(args.face)
    if args.template:
        from avatar_engine.head.template import template_avatar

        avatar, source = template_avatar(), "the default head"
    else:
        from avatar_engine.build.pipeline import Builder, BuildOptions

        photo = name_fits(args.photo, "demo photo") if args.photo is not None else demo.DEMO_PHOTO
        if not photo.is_file():
            hint = "; run: python scripts/fetch_astronaut.py" if args.photo is None else ""
            what = "is a folder, not a photo" if photo.is_dir() else "does not exist"
            raise InputError(f"demo photo {photo} {what}{hint}")
        for written in (out, glb, poster_path):  # my.png with -o my.mp4 would become the poster
            if written.exists() and written.samefile(photo):
                raise InputError(f"the demo would write {written} over its own photo; choose another -o")
        with Builder(BuildOptions(face=face)) as builder:
            avatar, source = builder.build(photo).avatar, str(photo)
    frames = demo.frame_count(args.fps)
    poster_at = int(round(demo.TURNTABLE_S * args.fps)) + int(1.4 * args.fps)  # the smile
    poster = None
    shots = demo.shots(args.fps, camera=demo.framed_camera(avatar))
    # all three to temporary names, then renamed together: a run that fails or is interrupted leaves the three as
    # they were (the film was renamed into place first, and a full disk at the avatar then removed the old set)
    pairs = [(temporary_beside(path), path) for path in (out, poster_path, glb)]
    try:
        # closing: a failed write stops the render workers now, not when the generator is collected
        with errors_named(*pairs[0]), VideoWriter(pairs[0][0], args.fps, size, name=out) as video, \
                closing(render_sequence(avatar, _still_options(size, "studio", 4), shots)) as rendered:
            for i, frame in enumerate(rendered):
                video.write(frame)
                if i == poster_at or poster is None:
                    poster = frame
        with errors_named(*pairs[1]):  # a full disk is said about the file the user named, not its temporary
            write_png(poster, pairs[1][0])
        with errors_named(*pairs[2]):
            write_glb(avatar, pairs[2][0])
        replace_together(pairs)
    finally:
        for tmp, _ in pairs:
            tmp.unlink(missing_ok=True)
    print(f"wrote {out} ({frames} frames at {args.fps} fps, {size[0]}x{size[1]}: turntable then performance of "
          f"{source}), {glb} and {poster_path}")
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from avatar_engine.live.session import LiveSettings, run_live
    from avatar_engine.live.vmc import parse_target

    if args.window and args.headless:
        raise InputError("--window and --headless exclude each other")
    for flag, value, suffix in (("--record", args.record, ".mp4"), ("--stats", args.stats, ".json")):
        if value is not None and not value.strip():  # an unset shell variable: said, not silently nothing written
            raise InputError(f"{flag} needs a file name (a {suffix} file), got an empty one")
    settings = LiveSettings(
        avatar=_load_avatar(args.avatar) if args.avatar else None, source=args.source, window=args.window,
        record=Path(args.record) if args.record else None, virtual_camera=args.virtual_camera,
        vmc=parse_target(args.vmc) if args.vmc is not None else None, stats=Path(args.stats) if args.stats else None,
        mirror=args.mirror, settle_rest=not args.no_settle, size=parse_size(args.size), samples=args.samples,
        realtime=args.realtime, loop=args.loop, lossless=args.lossless, max_frames=args.max_frames,
        max_seconds=args.max_seconds, phone=args.phone, serial=args.serial, landmarker=args.landmarker, backend=args.backend,
        turn_profile=args.turn_profile)
    started = time.time()
    try:
        summary = run_live(settings)
    except KeyboardInterrupt:  # a second signal while the outputs were being finished: say what it cost
        from avatar_engine.live.pipeline import stopped_by_signal

        record = settings.record
        if record is not None and stopped_by_signal() and (not record.exists() or record.stat().st_mtime < started):
            # (one signal while the loop started up stopped it before any recording began: nothing was cut short)
            print(f"avatar live: the recording {record} was not finished (a second signal stopped it; one stops "
                  "the run and keeps it)", file=sys.stderr)
        raise
    lat = summary["latency_ms"]
    print(f"live: {summary['counts'].get('rendered', 0)} frames in {summary['seconds']} s ({summary['fps']} fps), "
          f"latency p50 {lat.get('p50', 'n/a')} ms p95 {lat.get('p95', 'n/a')} ms"
          + ("; interrupted, outputs finalised" if summary.get("interrupted") else "")
          + (f"; wrote {settings.record}" if settings.record and summary['counts'].get('rendered') else ""))
    # stopped by a signal: the shell's convention (128 + its number) tells a script the run did not end on its own
    return 128 + int(summary["stop_signal"]) if summary.get("stop_signal") else 0


def _set_aside_note(item) -> str:
    """What a refused photo's line adds when its avatar and report from an earlier run were moved aside."""
    if not item.set_aside:
        return ""
    stem = Path(item.photo).stem
    names = " and ".join(stem + Path(p).suffix for p in item.set_aside)
    now = " and ".join(Path(p).name for p in item.set_aside)
    renamed = f" (as {now}: earlier ones of that name are there)" if Path(item.set_aside[0]).stem != stem else ""
    return f"; its {names} from an earlier run moved to {Path(item.set_aside[0]).parent}{renamed}"


def _build_batch(args: argparse.Namespace, options, photos: list[Path]) -> int:
    """`avatar build` with several photos or a folder: one avatar and report per photo in the -o folder."""
    from avatar_engine.build.batch import SUMMARY_NAME, build_batch, check_outputs

    if args.report is not None:
        raise InputError("--report names one file; a batch writes each photo's report beside its avatar "
                         "(<photo name>.json)")
    out = Path(args.output)
    if out.suffix.lower() in (".glb", ".json") and not out.is_dir():
        raise InputError(f"-o {out}: with several photos -o names a folder (each photo's avatar is written there "
                         "as <photo name>.glb)")
    out_dir = output_folder(out, "output folder (-o, with several photos)")
    check_outputs(photos, out_dir)
    made = not out_dir.exists()
    out_dir.mkdir(exist_ok=True)

    def progress(item) -> None:
        if item.error is not None:
            said = f"photo {item.photo}: "  # the loader's errors name the photo already
            error = item.error[len(said):] if item.error.startswith(said) else item.error
            print(f"refused {item.photo}: {error}" + _set_aside_note(item), file=sys.stderr)
            return
        if item.fault is not None:
            print(f"failed {item.photo}: unexpected fault {item.fault} (a bug: please report it with the photo)",
                  file=sys.stderr)
            return
        print(f"wrote {item.avatar}: fit error {item.reprojection_error:.3f} of the inter-ocular distance, "
              f"built in {item.seconds:.1f} s", flush=True)
        for warning in item.warnings:
            print(f"warning: {Path(item.photo).name}: {warning}", file=sys.stderr)

    try:
        items = build_batch(photos, out_dir, options, progress, jobs=args.jobs)
    except BaseException:
        if made and not any(out_dir.iterdir()):  # failed before writing anything (a model that would not open)
            out_dir.rmdir()
        raise
    refused = sum(item.error is not None for item in items)
    failed = sum(item.fault is not None for item in items)
    print(f"built {len(items) - refused - failed} of {len(items)} photos into {out_dir}"
          + (f" ({refused} refused)" if refused else "") + (f" ({failed} failed)" if failed else "")
          + f"; summary {out_dir / SUMMARY_NAME}")
    return 1 if failed else 2 if refused else 0


def parse_face(text: str | None):
    """--face: None, 'largest' or a positive face number."""
    if text is None or text == "largest":
        return text
    try:
        number = int(text)
    except ValueError:
        raise InputError(f"--face {text!r} must be 'largest' or a face number (1 = leftmost)") from None
    if number < 1:
        raise InputError(f"--face {number} must be 1 or more (1 = leftmost)")
    return number


def cmd_build(args: argparse.Namespace) -> int:
    from avatar_engine.build.fit import FitOptions
    from avatar_engine.build.pipeline import BuildOptions, build_to_file

    fit_options = FitOptions() if args.recon is None else FitOptions(recon=args.recon)
    net = {"texture_net": args.texture_net == "on"} if args.texture_net else {}
    options = BuildOptions(face=parse_face(args.face), fit=fit_options, landmarker=args.landmarker,
                           backend=args.backend, texture_size=args.texture_size, glasses=args.glasses, **net)
    if args.jobs < 1:
        raise InputError(f"--jobs {args.jobs} must be 1 or more")
    photo = args.photo[0]
    folder = any(name_fits(p, "photo").is_dir() for p in args.photo)
    if len(args.photo) > 1 or folder:
        from avatar_engine.build.batch import batch_photos, unsearched_subfolders

        photos = batch_photos(args.photo)
        if folder or len(photos) > 1:
            skipped = unsearched_subfolders(args.photo)
            if skipped:
                names = ", ".join(str(p) for p in skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3
                                                                  else "")
                print(f"note: the photos in subfolders are not built ({names}); name those folders too",
                      file=sys.stderr)
            return _build_batch(args, options, photos)
        photo = photos[0]  # one file, named more than once: a single build
        if Path(args.output).suffix.lower() != ".glb":
            raise InputError(f"-o {args.output}: the photos named are one file ({photo}), so one avatar is built; "
                             f"-o names its .glb file")
    out = output_file(args.output, (".glb",))
    report = output_file(args.report, (".json",), "report") if args.report is not None else None
    for written, flag in ((out, "-o"), (report, "--report")):  # a photo named x.glb would be lost under its avatar
        if written is not None and written.exists() and Path(photo).exists() and written.samefile(photo):
            raise InputError(f"{flag} {written} is the photo itself: the build would write over it; choose another")
    result = build_to_file(photo, out, report, options)
    fit = result.report.fit
    print(f"wrote {out}: fit error {fit['reprojection_error']:.3f} of the inter-ocular distance, "
          f"built in {result.report.total_s:.1f} s"
          + (f", report {report}" if report else ""))
    for warning in result.report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_engines(args: argparse.Namespace) -> int:
    from avatar_engine.infer import commands

    if args.max_batch < 1:
        raise InputError(f"--max-batch must be >= 1, got {args.max_batch}")
    # what the action writes must be writable; what it reads must exist
    writes = {"convert": ("--onnx-dir",), "build": ("--engines-dir",), "list": ()}[args.action]
    if args.action == "convert" and args.onnx_dir is None:
        from avatar_engine.infer.mediapipe_onnx import default_onnx_dir

        if default_onnx_dir().parent.is_dir():  # an existing cache must be writable (a fresh one is made by fetching)
            output_folder(default_onnx_dir(), "model cache folder")
    for flag, folder in (("--onnx-dir", args.onnx_dir), ("--engines-dir", args.engines_dir)):
        if folder is None:
            continue
        if not folder:  # an unset shell variable: it quietly meant the default folder
            raise InputError(f"{flag} is empty; name a folder or leave the option out")
        if flag in writes:
            output_folder(folder, flag)
        elif not Path(folder).is_dir():
            raise InputError(f"{flag} {folder} is not an existing folder")
    onnx_dir = Path(args.onnx_dir) if args.onnx_dir is not None else None
    if args.action == "convert":
        lines = commands.convert(onnx_dir)
    elif args.action == "build":
        lines = commands.build(onnx_dir, Path(args.engines_dir) if args.engines_dir else None,
                               fp16=not args.fp32, max_batch=args.max_batch)
    else:
        lines = commands.status(onnx_dir, Path(args.engines_dir) if args.engines_dir else None)
    print("\n".join(lines))
    return 0


class _SampleProgress:
    """'\r12/40 samples' on stderr, its line ended on leaving the `with` when the run stops first: the stop's one-line message
    was glued to it ('20/60 samplesavatar synth: interrupted')."""

    def __init__(self) -> None:
        self.open_line = False

    def __call__(self, done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            print(f"\r{done}/{total} samples", end="\n" if done == total else "", file=sys.stderr, flush=True)
            self.open_line = done != total

    def __enter__(self) -> "_SampleProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.open_line:
            print(file=sys.stderr, flush=True)
            self.open_line = False


def cmd_synth(args: argparse.Namespace) -> int:
    from avatar_engine.synth.dataset import SynthOptions, generate

    if args.texture and args.no_images:  # ignored before, unsaid
        raise InputError("--no-images applies to render sets; a texture set (--texture) keeps no renders anyway")
    output_folder(args.output, "-o", parents=True)  # -o data/train in a fresh checkout makes data/ too
    # the sizes each kind of set takes are its options' to say (128-1024 renders, 256-1024 texture sets)
    for flag, value, least in (("--count", args.count, 1), ("--seed", args.seed, 0), ("--shard", args.shard, 1),
                               ("--jobs", args.jobs, 1)):
        if value < least:
            raise InputError(f"{flag} must be at least {least}, got {value}")
    if args.seed >= 2 ** 63:  # written into the manifest, then refused by `avatar train`
        raise InputError(f"--seed {args.seed} must be in 0..2^63-1")
    cores = os.cpu_count() or 1
    if args.jobs > 2 * cores:  # each worker holds a renderer and MediaPipe: 16 on 2 cores took 4.6 GB more
        raise InputError(f"--jobs {args.jobs} is more than twice this machine's {cores} cores")
    if args.texture:
        return cmd_synth_texture(args)
    options = SynthOptions(count=args.count, seed=args.seed, size=256 if args.size is None else args.size,
                           shard=args.shard,
                           images=not args.no_images)
    with _SampleProgress() as progress, _saying_what_was_kept(Path(args.output)):
        manifest = generate(Path(args.output), options, progress=progress, jobs=args.jobs)
    print(f"wrote {args.output}: {manifest['count']} samples in {len(manifest['shards'])} shards")
    return 0


@contextmanager
def _saying_what_was_kept(out: Path):
    """An interrupted synth keeps the shards it finished under a manifest marked so; it said only "terminated", and
    a rerun into the folder was then refused as not empty."""
    try:
        yield
    except KeyboardInterrupt:
        try:
            manifest = json.loads((out / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = None
        # render sets mark an interrupted manifest so; texture sets say complete: false and count what they kept
        if isinstance(manifest, dict) and (manifest.get("interrupted") or manifest.get("complete") is False):
            kept = manifest.get("kept", manifest.get("count", 0))
            print(f"avatar synth: {kept} samples kept in {out} (its manifest says interrupted; a set is made in a "
                  "new or empty folder)", file=sys.stderr)
        raise


def cmd_synth_texture(args: argparse.Namespace) -> int:
    from avatar_engine.nets.texture_data import PHOTO_SIZE, TextureDataOptions, generate

    size = PHOTO_SIZE if args.size is None else args.size  # texture sets render at PHOTO_SIZE unless told
    options = TextureDataOptions(count=args.count, seed=args.seed, size=size, shard=args.shard)
    with _SampleProgress() as progress, _saying_what_was_kept(Path(args.output)):
        manifest = generate(Path(args.output), options, progress=progress, jobs=args.jobs)
    print(f"wrote {args.output}: {manifest['kept']} samples ({len(manifest['skipped'])} refused by the builder)")
    return 0


def cmd_train_texture(args: argparse.Namespace) -> int:
    from avatar_engine.nets.texture_net import MODEL_DIR
    from avatar_engine.nets.train_texture import TrainOptions, run

    output = Path(args.output) if args.output is not None else MODEL_DIR / f"texture_{args.mode}.onnx"
    _check_train(args, output)
    epochs = TrainOptions.epochs if args.epochs is None else args.epochs
    options = TrainOptions(seed=args.seed, epochs=epochs, mode=args.mode,
                           learning_rate=args.learning_rate or TrainOptions.learning_rate)
    command = "avatar " + " ".join(sys.argv[1:]) if args.record_command else None
    card = run([Path(d) for d in args.data], output, options, command,
               log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"wrote {output}: train L1 {card['train_l1']} (hand stage {card['train_anchor_l1']}), validation L1 "
          f"{card['validation_l1']} (hand stage {card['validation_anchor_l1']}) ({card['train_samples']} + "
          f"{card['validation_samples']} samples, {card['train_seconds']} s)")
    return 0


def _check_train(args: argparse.Namespace, output: Path) -> None:
    """The network file and its card can be written and the numbers make sense (each trainer checks its sets)."""
    if str(output) in ("", "."):  # -o "" (an unset shell variable) once meant the shipped model
        raise InputError("-o is empty; name the .onnx file to write")
    if not 0 <= args.seed < 2 ** 63:
        raise InputError(f"--seed {args.seed} must be in 0..2^63-1")
    output_file(output, (".onnx",), "-o")
    if output.suffix != ".onnx" or output.name == ".onnx":  # the trainers write a card beside NAME.onnx
        raise InputError(f"-o {output} must be a name ending in .onnx (lower case)")
    card = output.with_suffix(".json")
    output_file(card, (".json",), "model card")
    replaceable(output)
    replaceable(card)
    _check_train_data(args.data, output, card)
    if args.epochs is not None and args.epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {args.epochs}")
    if args.network != "texture" and (args.learning_rate is not None or args.mode != "refine"):
        raise InputError(f"--learning-rate and --mode apply to `train texture`, not `train {args.network}`")
    if args.learning_rate is not None and not 0 < args.learning_rate <= 1:
        raise InputError(f"--learning-rate {args.learning_rate:g} must be in (0, 1]")


def _check_train_data(folders: list[str], output: Path, card: Path) -> None:
    """Each --data folder once (named twice, its samples were trained on twice and leaked into the validation
    split), and no output inside one (a card named manifest.json replaced the set's manifest: the set was lost)."""
    seen: dict[Path, str] = {}
    for folder in folders:
        where = Path(folder).resolve()
        if where in seen:
            raise InputError(f"--data {folder} names the same folder as {seen[where]}: give each set once")
        seen[where] = folder
    for path in (output, card):
        written = path.resolve()
        inside = next((name for where, name in seen.items() if written.is_relative_to(where)), None)
        if inside is not None:
            raise InputError(f"{path} is inside the training set {inside}: write the network elsewhere")


def cmd_train(args: argparse.Namespace) -> int:
    require_modules(("torch", "onnx"), "training")  # a traceback once the data had loaded
    if args.network == "recon":
        return cmd_train_recon(args)
    if args.network == "texture":
        return cmd_train_texture(args)
    from avatar_engine.nets.train_hair import TrainOptions, run

    if args.output is None:
        from avatar_engine.data_files import asset_path

        args.output = str(asset_path("models", "hair_style.onnx"))
    _check_train(args, Path(args.output))
    args.epochs = 600 if args.epochs is None else args.epochs
    command = "avatar " + " ".join(sys.argv[1:]) if args.record_command else None
    card = run([Path(d) for d in args.data], Path(args.output), TrainOptions(seed=args.seed, epochs=args.epochs),
               command)
    print(f"wrote {args.output}: train loss {card['train_loss']}, validation loss {card['validation_loss']} "
          f"({card['train_samples']} + {card['validation_samples']} samples, {card['train_seconds']} s)")
    return 0


def cmd_train_recon(args: argparse.Namespace) -> int:
    from avatar_engine.data_files import asset_path
    from avatar_engine.nets.train_recon import TrainOptions, run

    output = (Path(args.output) if args.output is not None
              else asset_path("models", "recon.onnx"))
    _check_train(args, output)
    options = TrainOptions(seed=args.seed, **({} if args.epochs is None else {"epochs": args.epochs}))
    command = "avatar " + " ".join(sys.argv[1:]) if args.record_command else None
    card = run([Path(d) for d in args.data], output, options, command, log=lambda m: print(m, file=sys.stderr))
    val = card.get("validation", {})
    print(f"wrote {output}: held-out face error (linearised rms) {val.get('face_rms_mm_median')} mm "
          f"({card['train_samples']} + {card['validation_samples']} samples, {card['train_seconds']} s)")
    return 0


def _add_landmarker_arguments(p: argparse.ArgumentParser, runs: str = "--landmarker onnx",
                              landmarker: str = "auto") -> None:
    """--landmarker and --backend, shared by build and live; `runs`: what the backend runs there; `landmarker`:
    the default."""
    from avatar_engine.infer.session import BACKENDS
    from avatar_engine.perception.choice import LANDMARKERS

    p.add_argument("--landmarker", choices=LANDMARKERS, default=landmarker,
                   help=f"face tracker (default {landmarker}): MediaPipe's own, or its models as ONNX on --backend "
                        "(run `avatar engines convert` first); auto: the ONNX one where --backend runs on a GPU and "
                        "the models are converted, else MediaPipe's"
                        + ("" if landmarker == "auto" else " (a GPU's start-up, ~5 s, pays off over ~30 photos)"))
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help=f"inference backend of {runs} (auto: with an NVIDIA GPU TensorRT, else ONNX Runtime's CUDA "
                        "provider, else torch on CUDA; without one ONNX Runtime on the CPU)")


class _Parser(argparse.ArgumentParser):
    """argparse with the project's bad-input contract: one line naming the problem, exit code 2 (no usage
    block; `--help` still prints it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _CommandParser(_Parser):
    """A subcommand's parser: the arguments it does not know are its own error, named by it (`avatar render: error:
    unrecognized arguments: ...`); left to the top-level parser they were reported as `avatar: error:`."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="avatar", description="Rigged 3D head avatars: build, animate, export.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_CommandParser)

    p = sub.add_parser("doctor", help="check the GL backend, GPU, model cache and optional backends")
    p.set_defaults(run=cmd_doctor)

    p = sub.add_parser("template", help="write the default head as an avatar file (glTF binary)")
    p.add_argument("-o", "--output", default="head.glb")
    p.add_argument("--bald", action="store_true", help="leave out the hair")
    p.add_argument("--hair", choices=("bald", "buzz", "short", "medium", "long", "fringe"), default=None,
                   help="a hairstyle preset (default: the template's own style)")
    p.add_argument("--wave", type=float, default=None, help="how wavy the hair is: 0 straight (default) to 1 curly")
    p.set_defaults(run=cmd_template)

    p = sub.add_parser("build", help="build a rigged avatar (glTF binary) from one photo of a face, or one per photo")
    p.add_argument("photo", nargs="+", help="photo file (jpg, png, ...); several files or a folder build a batch")
    p.add_argument("-o", "--output", required=True,
                   help="avatar file to write (.glb); for a batch, the folder for <photo name>.glb, its report "
                        "<photo name>.json and build_summary.json (made if missing)")
    p.add_argument("--report", help="also write the build report (.json): stage timings, fit error, warnings")
    p.add_argument("--face", help="which face when the photo has several: 'largest' or N (1 = leftmost)")
    p.add_argument("--recon", choices=("off", "prior", "replace"), default=None,
                   help="the reconstruction network: off, prior (starts the fit), replace (camera fit only); "
                        "default: FitOptions' default")
    p.add_argument("--jobs", type=int, default=1,
                   help="for a batch: build in this many worker processes (each loads the models, ~0.6 GB)")
    p.add_argument("--texture-size", type=int, choices=(512, 1024, 2048), default=1024,
                   help="skin texture width and height (default 1024; 2048 takes about 3 s more and pays off for "
                        "high-resolution photos)")
    p.add_argument("--texture-net", choices=("on", "off"),
                   help="correct the skin texture with the texture network (default: BuildOptions.texture_net)")
    p.add_argument("--glasses", choices=GLASSES_CHOICES, default="auto",
                   help="leave the skin glasses may cover out of the texture (filled in from the skin around it): "
                        "auto where the photo's glasses are found (default), on for frames it misses, off never")
    _add_landmarker_arguments(p, "the networks: --landmarker onnx, --recon, --texture-net; with auto the "
                              "last two stay on the CPU, where a GPU's start-up costs more than it saves", "mediapipe")
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("render", help="render an avatar file with an expression to PNG")
    p.add_argument("avatar", help="avatar file (.glb)")
    p.add_argument("--expression", action="append", default=[],
                   help="ARKit weights, e.g. jawOpen=1,mouthSmileLeft=0.5 (may be given more than once; a name once)")
    p.add_argument("--yaw", type=float, default=0.0, help="head turn in degrees, positive toward the avatar's left")
    p.add_argument("--pitch", type=float, default=0.0, help="head nod in degrees, positive looks down")
    p.add_argument("--view-yaw", type=float, default=0.0, help="camera orbit in degrees")
    p.add_argument("--view-pitch", type=float, default=4.0,
                   help="camera elevation in degrees: positive looks down on the head, negative up from below")
    p.add_argument("--fov", type=float, default=24.0, help="vertical field of view in degrees (the head is framed "
                   "to fill the picture at 24; less zooms in)")
    p.add_argument("--size", default="1024x1024", help="WIDTHxHEIGHT in pixels, each 16..8192 (default 1024x1024)")
    p.add_argument("--samples", type=int, default=4,
                   help=f"MSAA samples: {', '.join(map(str, SAMPLE_COUNTS))} (0 and 1: none; the GL driver may allow "
                        "fewer)")
    p.add_argument("--background", default="transparent", help="transparent (RGBA) or studio")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(run=cmd_render)

    p = sub.add_parser("demo", help="build an avatar from the astronaut photo, render a turntable and a scripted "
                                    "performance to mp4, keep the .glb")
    p.add_argument("-o", "--output", default="avatar-demo.mp4", help="mp4; the .glb and a .png poster go beside it")
    p.add_argument("--photo", default=None, help="build from this photo instead of assets/photos/astronaut.png")
    p.add_argument("--template", action="store_true", help="the default head instead of a built one")
    p.add_argument("--face", help="which face when the photo has several: 'largest' or N (1 = leftmost)")
    p.add_argument("--size", default="960x540")
    p.add_argument("--fps", type=int, default=30)
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("live", help="animate an avatar live from a webcam, a video, frames or an iPhone app")
    p.add_argument("avatar", nargs="?", help="avatar file (.glb); the default head if left out")
    p.add_argument("--source", default="0", help="camera index, video file, folder of images, or ifacialmocap[:PORT]")
    p.add_argument("--window", action="store_true", help="show a window (hotkeys: C recalibrate, M mirror, S stats, Q quit)")
    p.add_argument("--headless", action="store_true", help="no window (the default)")
    p.add_argument("--record", help="record the rendered frames to this .mp4")
    p.add_argument("--virtual-camera", action="store_true", help="send frames to a virtual webcam (pyvirtualcam)")
    p.add_argument("--vmc", nargs="?", const="127.0.0.1:39539", help="send VMC over OSC to HOST:PORT (default 127.0.0.1:39539)")
    p.add_argument("--stats", help="write frame rate, latency and stage times to this .json")
    p.add_argument("--mirror", action="store_true", help="the avatar mirrors you, as a selfie view does")
    p.add_argument("--no-settle", action="store_true",
                   help="keep the first second's calibrated rest: by default a face resting far from the reference "
                        "head's on a shape (read as an expression) has that rest taken once it held it most of 20 s")
    p.add_argument("--size", default="1280x720", help="render size")
    p.add_argument("--samples", type=int, default=None,
                   help="MSAA samples (default: 4 on a GPU, 0 on software GL, where MSAA costs about 3x)")
    p.add_argument("--realtime", action="store_true", help="play files at their own frame rate, as a camera would")
    p.add_argument("--loop", action="store_true", help="start files again at their end")
    p.add_argument("--lossless", action="store_true", help="process every frame of a file (no dropping)")
    p.add_argument("--serial", action="store_true",
                   help="track and render in turn instead of overlapping them: better when other work keeps the CPU "
                        "cores busy")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--max-seconds", type=float, help="stop after this long")
    p.add_argument("--phone", help="iFacialMocap: the phone's address, to ask it to start streaming")
    p.add_argument("--turn-profile", choices=("auto", "on", "off"), default="auto",
                   help="take out the nod the tracker reads on the avatar's face as it turns, measured on the avatar "
                        "(about 1.5 s on its first use, then kept): auto for an avatar `avatar build` made, whose "
                        "face stands in for yours; on for any avatar of you; off when you drive someone else's")
    _add_landmarker_arguments(p)
    p.set_defaults(run=cmd_live)

    p = sub.add_parser("synth", help="render a synthetic training set: random people, MediaPipe on every render")
    p.add_argument("-o", "--output", required=True, help="new (or empty) folder for the set")
    p.add_argument("-n", "--count", type=int, required=True, help="samples to render")
    p.add_argument("--seed", type=int, default=0, help="sample i is drawn from (seed, i): reproducible")
    p.add_argument("--size", type=int, default=None, help="render size in pixels (square; 256, texture sets 512)")
    p.add_argument("--shard", type=int, default=100, help="samples per .npz shard")
    p.add_argument("--no-images", action="store_true", help="keep labels and landmarks only, not the renders")
    p.add_argument("--jobs", type=int, default=1, help="make the shards in this many worker processes (the same "
                   "samples: each is drawn from the seed and its index alone)")
    p.add_argument("--texture", action="store_true",
                   help="a texture-network set instead: the builder's fit and hand-made texture on each render, in "
                        "UV next to the true albedo (renders at 512 unless --size)")
    p.set_defaults(run=cmd_synth)

    p = sub.add_parser("train", help="train a learned builder stage on synthetic sets (needs the [infer] extra)")
    p.add_argument("network", choices=("hair", "recon", "texture"),
                   help="hair: hair mask + landmarks -> hairstyle parameters; recon: landmarks -> identity, "
                        "expression, head pose; texture: the hand-made skin texture + the photo in UV -> a colour "
                        "correction toward the true albedo (sets from `synth --texture`)")
    p.add_argument("--data", nargs="+", required=True, help="synthetic set folders made by `avatar synth` (hair, "
                   "texture: `synth --texture`) or scripts/make_recon_samples.py (recon)")
    p.add_argument("-o", "--output", default=None, help="ONNX file to write (a .json card is written beside it; "
                   "default assets/models/hair_style.onnx, recon.onnx or texture_MODE.onnx)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None, help="default 600 (hair), 100 (recon), 40 (texture)")
    p.add_argument("--mode", choices=("refine", "alone"), default="refine",
                   help="texture: correct the hand-made stage's texture (refine) or the default skin (alone)")
    p.add_argument("--learning-rate", type=float, help="texture: peak learning rate (default 1e-3)")
    p.add_argument("--record-command", action="store_true", help="keep this command line in the card")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("engines", help="convert MediaPipe's face models to ONNX; build TensorRT engines")
    p.add_argument("action", choices=("convert", "build", "list"),
                   help="convert: ONNX files into the model cache; build: TensorRT engines (NVIDIA GPU); list")
    p.add_argument("--onnx-dir", help="folder of the converted ONNX models (default: <model cache>/onnx)")
    p.add_argument("--engines-dir", help="folder of TensorRT engines (default: $AVATAR_ENGINES_DIR, else the "
                   "source checkout's engines/, else engines/ beside the model cache)")
    p.add_argument("--fp32", action="store_true", help="build fp32 engines (default: fp16 where accuracy allows)")
    p.add_argument("--max-batch", type=int, default=16, help="largest batch the engines accept")
    p.set_defaults(run=cmd_engines)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except AvatarError as exc:
        print(f"avatar {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM / SIGHUP through `entry` (`Stopped`)
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"avatar {args.command}: {'interrupted' if signum == signal.SIGINT else 'terminated'}", file=sys.stderr)
        return 128 + int(signum)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # a path past the system's limit that no check before caught: bad input
            print(f"avatar {args.command}: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
            return 2
        if exc.errno not in STORAGE_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"avatar {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (`timeout`, `kill`, a closed terminal) raised like Ctrl-C, so the run's clean-up runs: by
    default the signal ended the process at once, and an avatar being written stayed under its temporary name."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum, frame) -> None:
    raise Stopped(signum)


def entry() -> None:
    """The `avatar` command. A run stopped by a signal ends the process as soon as its own clean-up is done: the
    interpreter's shutdown waited for ever on MediaPipe's dispatcher thread when Ctrl-C landed while a model opened,
    and printed its objects' finalisers' errors after the one-line message."""
    for name in ("SIGTERM", "SIGHUP"):
        # a signal already ignored stays so: `nohup avatar build ...` must outlive its terminal
        if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is not signal.SIG_IGN:
            signal.signal(getattr(signal, name), _raise_stopped)
    try:
        code = main()
    except KeyboardInterrupt as exc:  # before main's own handling began (its arguments were being read)
        print("avatar: interrupted", file=sys.stderr)
        code = 128 + int(getattr(exc, "signum", signal.SIGINT))
    if code > 128:
        _end_worker_pools()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # a closed pipe: nothing more to say
            pass
        os._exit(code)
    sys.exit(code)


def _end_worker_pools() -> None:
    """What the interpreter's exit would do for multiprocessing (`--jobs N`): its finalisers unregister the pools'
    semaphores, which otherwise its resource tracker reports as leaked after the one-line message."""
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        try:
            import multiprocessing

            for child in multiprocessing.active_children():  # left running only by an interrupted shutdown: its
                child.kill()  # exit function would wait for them for ever (workers ignore SIGTERM)
                child.join(5.0)
            util._exit_function()
        except Exception:  # never keep a stopped run from ending
            pass


if __name__ == "__main__":
    entry()
