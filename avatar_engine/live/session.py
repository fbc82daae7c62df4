"""`avatar live`: builds the source, avatar, outputs and pipeline from checked settings, runs it, reports.

Faults: a missing camera names the cameras that exist; an unreachable VMC target warns once and the loop
keeps running; Ctrl-C or closing the window stops cleanly with the recording finalised; bad settings raise
InputError before anything opens.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from avatar_engine.errors import AvatarError, InputError
from avatar_engine.paths import output_file, write_json_atomic
from avatar_engine.records import Avatar

log = logging.getLogger("avatar_engine.live")
"""The live loop's warnings (the CLI shows them on stderr: `_warnings_to_stderr`)."""

IFACIALMOCAP = "ifacialmocap"


@dataclass(frozen=True)
class LiveSettings:
    """Everything `avatar live` was asked to do, already parsed."""

    avatar: Avatar | None
    source: str = "0"
    """Camera index, video file, folder of images, or 'ifacialmocap[:PORT]'."""
    window: bool = False
    record: Path | None = None
    virtual_camera: bool = False
    vmc: tuple[str, int] | None = None
    stats: Path | None = None
    mirror: bool = False
    settle_rest: bool = True
    """`AnimatorOptions.settle_rest`: a rest the automatic calibration bounded settles to the person's own."""
    size: tuple[int, int] = (1280, 720)
    samples: int | None = None
    realtime: bool = False
    loop: bool = False
    lossless: bool = False
    max_frames: int | None = None
    max_seconds: float | None = None
    phone: str | None = None
    """iFacialMocap: the phone's address, to ask it to start streaming."""
    serial: bool = False
    """Track and render in turn rather than overlapped (`PipelineOptions.overlap=False`)."""
    landmarker: str = "auto"
    """`LiveOptions.landmarker`: auto, mediapipe or onnx."""
    backend: str = "auto"
    """`LiveOptions.landmarker_backend`."""
    turn_profile: str = "auto"
    """`LiveOptions.turn_profile`: auto, on or off."""

    def check(self) -> None:
        for path, suffix, what in ((self.record, ".mp4", "--record"), (self.stats, ".json", "--stats")):
            if path is not None:
                output_file(path, (suffix,), what)
        if self.record is not None:
            if self.size[0] % 2 or self.size[1] % 2:  # H.264 in yuv420p: the encoder would rescale it silently
                raise InputError(f"--size {self.size[0]}x{self.size[1]}: a recording's width and height must be even")
            if Path(self.source).exists() and Path(self.source).resolve() == Path(self.record).resolve():
                raise InputError(f"--record {self.record} is the --source video: it would be overwritten")
        if self.samples not in (None, 0, 1, 2, 4, 8):
            raise InputError(f"--samples {self.samples} must be 0, 1, 2, 4 or 8")
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError(f"--max-frames {self.max_frames} must be at least 1")
        if self.max_seconds is not None and not (0 < self.max_seconds < math.inf):
            raise InputError(f"--max-seconds {self.max_seconds:g} must be a positive number of seconds")
        if self.phone and not is_phone_source(self.source):
            raise InputError("--phone only applies to --source ifacialmocap")
        if self.phone is not None and (not self.phone.strip() or ":" in self.phone):
            raise InputError(f"--phone {self.phone!r} must be the phone's address (a host name or IPv4), without a "
                             "port: iFacialMocap listens on its own")
        if self.phone:
            from avatar_engine.live.ifacialmocap import DEFAULT_PORT

            _, sep, port = self.source.partition(":")
            if sep and port.strip() != str(DEFAULT_PORT):
                raise InputError(f"--phone with --source {self.source}: after its handshake iFacialMocap sends to "
                                 f"port {DEFAULT_PORT}, whichever port asked; use --source ifacialmocap (or set the "
                                 f"app's destination to port {port} and leave out --phone)")


def is_phone_source(source: str) -> bool:
    """'ifacialmocap' or 'ifacialmocap:PORT' (not a video file whose name starts so)."""
    return source == IFACIALMOCAP or (source.startswith(IFACIALMOCAP + ":") and not Path(source).exists())


def _open_source(settings: LiveSettings):
    if is_phone_source(settings.source):
        from avatar_engine.live.ifacialmocap import DEFAULT_PORT, IFacialMocapSource
        from avatar_engine.live.vmc import port_number

        _, sep, port = settings.source.partition(":")
        number = port_number(port) if sep else DEFAULT_PORT
        if number is None:
            raise InputError(f"--source {settings.source!r}: the port must be in 1..65535")
        return IFacialMocapSource(number, phone=settings.phone)
    from avatar_engine.live.sources import open_source

    return open_source(settings.source, settings.size)


def bone_offsets(avatar: Avatar | None) -> dict[str, tuple[float, float, float]]:
    """Each joint of the avatar (the default head when None) at rest, relative to its parent: the positions VMC's
    Bone/Pos messages carry. The root (the neck) has no parent here; it gets a humanoid's neck-on-chest offset."""
    from avatar_engine.live.vmc import NECK_ON_CHEST

    if avatar is None:
        from avatar_engine.head.template import template_avatar

        avatar = template_avatar()
    skeleton = avatar.skeleton
    return {name: NECK_ON_CHEST if parent < 0 else tuple(float(v) for v in offset)
            for name, parent, offset in zip(skeleton.names, skeleton.parents, skeleton.local_offsets())}


def _warnings_to_stderr() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("avatar live: warning: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.WARNING)


def _warn_about_source(source, summary: dict) -> None:
    """A warning for frames the source could not give (counted in the stats, else seen nowhere)."""
    if summary.get("corrupt_frames"):
        log.warning(f"skipped {summary['corrupt_frames']} unreadable frame(s) of the source")
    cut = getattr(source, "cut_short", None)
    if cut is not None:
        summary["cut_short"] = {"decoded_s": cut[0], "duration_s": cut[1]}
        log.warning(f"the video stopped decoding at {cut[0]:.1f} s of its {cut[1]:.1f} s: the rest of the file is "
                    "damaged")


def run_live(settings: LiveSettings) -> dict:
    """Run the loop to its end; returns the stats summary (also written to settings.stats)."""
    from avatar_engine.live.animator import AnimatorOptions
    from avatar_engine.live.api import LiveAvatar, LiveOptions
    from avatar_engine.live.outputs import LIVE_RECORD_FPS, RecordOutput, VirtualCameraOutput, VmcOutput
    from avatar_engine.live.pipeline import LivePipeline, PipelineOptions
    from avatar_engine.solve.tuning import ARKIT_TUNING, DEFAULT_TUNING

    settings.check()
    _warnings_to_stderr()
    arkit = is_phone_source(settings.source)
    if not arkit and settings.landmarker == "auto" and settings.backend != "auto":
        from avatar_engine.perception.choice import resolve_landmarker

        if resolve_landmarker("auto", settings.backend) == "mediapipe":  # an asked-for backend silently unused
            log.warning(
                f"--backend {settings.backend} is not used: it reaches no GPU here or the face models are not "
                f"converted (avatar engines convert), so MediaPipe's own landmarker tracks; --landmarker onnx "
                f"runs them on {settings.backend} anyway")
    animator = AnimatorOptions(tuning=ARKIT_TUNING if arkit else DEFAULT_TUNING, mirror=settings.mirror,
                               settle_rest=settings.settle_rest)
    needs_render = settings.window or settings.record or settings.virtual_camera or not settings.vmc
    options = LiveOptions(size=settings.size, samples=settings.samples, animator=animator,
                          render=bool(needs_render), landmarker=settings.landmarker,
                          landmarker_backend=settings.backend, turn_profile=settings.turn_profile)
    outputs = []
    window = live = source = pipeline = summary = None
    try:
        if settings.vmc:
            outputs.append(VmcOutput(*settings.vmc, neck_share=animator.tuning.neck_share,
                                     bone_offsets=bone_offsets(settings.avatar)))
        if settings.virtual_camera:
            outputs.append(VirtualCameraOutput())
        source = _open_source(settings)
        if settings.window:
            from avatar_engine.live.window import WindowOutput

            window = WindowOutput(settings.size)
            outputs.append(window)
        if settings.record:  # a live source's frames come at its own pace: record at most LIVE_RECORD_FPS
            outputs.append(RecordOutput(settings.record, max_fps=LIVE_RECORD_FPS if source.live else None,
                                        realtime=bool(source.live or settings.realtime)))
        live = LiveAvatar(settings.avatar, options, ctx=window.ctx if window else None)
        pipeline = LivePipeline(source, live, outputs, PipelineOptions(
            realtime=settings.realtime, loop=settings.loop, lossless=settings.lossless,
            max_frames=settings.max_frames, max_seconds=settings.max_seconds, overlap=not settings.serial))
        if window:
            window.attach(pipeline)
        try:
            summary = pipeline.run()
        except AvatarError as exc:  # an output failed (the recording's disk filled): the run's figures still count
            summary = pipeline.stats.summary()
            summary["failed"] = str(exc)
            raise
        finally:
            if summary is not None:
                summary["interrupted"] = pipeline.interrupted
                summary["stop_signal"] = pipeline.stop_signal
                for out in outputs:
                    if isinstance(out, VmcOutput):
                        summary["vmc"] = {"sent": out.sender.sent, "failed": out.sender.failed}
                summary["corrupt_frames"] = getattr(source, "corrupt", 0)
                summary["turn_profile"] = {"asked": settings.turn_profile, "status": live.turn_profile_note,
                                           **(live.turn_profile.as_dict() if live.turn_profile is not None else {})}
                _warn_about_source(source, summary)
                if settings.stats:
                    try:
                        write_json_atomic(settings.stats, summary)
                    except OSError as exc:
                        if "failed" not in summary:
                            raise
                        # the run's own failure is the message: the stats' comes second
                        log.warning(f"--stats {settings.stats} not written ({exc.strerror or exc})")
        return summary
    finally:
        stuck = pipeline is not None and pipeline.stuck  # a thread still inside the camera's read or the tracker
        for out in outputs:
            if isinstance(out, VmcOutput):
                out.close()
        if live is not None and not stuck:
            live.close()
        if window is not None:
            window.destroy()
        if source is not None and not stuck:
            source.close()

