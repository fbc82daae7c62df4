"""The embeddable live API: feed frames in, get weights and rendered frames out. No threads here.

    with LiveAvatar(read_glb("me.glb"), LiveOptions(size=(640, 360))) as live:
        for rgb, t_ns in my_frames:                # rgb : (h, w, 3) uint8
            frame = live.process(rgb, t_ns)
            frame.solved.weights                     # (52,) ARKit weights, filtered
            frame.rgba                               # (360, 640, 4) uint8 render

Phone apps and other trackers that give ARKit scores skip MediaPipe: `process_landmarks(LandmarkFrame(...))`.
`avatar_engine.live.pipeline.LivePipeline` runs the same pieces on threads for a camera or a file.

A LiveAvatar renders on the thread that made it (its OpenGL context belongs there) and makes its own context
current for each call, so several can live side by side. Frame times must increase.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace

import numpy as np

from avatar_engine import exit_close
from avatar_engine.errors import BackendError
from avatar_engine.live.animator import Animator, AnimatorOptions
from avatar_engine.live.outputs import LiveFrame
from avatar_engine.records import Avatar
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import current_context_kept, current_egl_context, headless_context, made_current
from avatar_engine.render.renderer import MSAA_SAMPLES, STUDIO_BACKDROP, numbers_of_shape, whole_number
from avatar_engine.solve.frames import LandmarkFrame, SolvedFrame
from avatar_engine.solve.solver import to_expression


MIN_FRAME_GAP_NS = 100_000
"""Frames closer than this (10,000 a second), `SHORT_GAPS` times in a row, are times in another unit: milliseconds or
frame numbers passed as t_ns were taken, and kept every frame calibrating, weights 0, for 600 frames (then filtered
on nanosecond gaps). One such gap is two datagrams of a burst stamped on arrival (a phone app over Wi-Fi)."""
SHORT_GAPS = 3
SCORE_SLACK = 0.01
"""How far beyond [0, 1] a tracker's score may read (float rounding) before it is a score on another scale."""


INT64_MAX = 2 ** 63 - 1

SECONDS_BELOW = 1e7
"""A frame time with a fraction under this (10 ms in nanoseconds) is seconds: 12345.0333 from time.monotonic() was
cut to 12345 and refused as not following 12345.0. Larger ones are nanoseconds a float carried (i / 30 * 1e9,
OpenCV's msec * 1e6), rounded to the nearest."""


def frame_time(t_ns) -> int:
    """A frame's media time as whole nanoseconds, from an int, a numpy integer or a float (rounded), else
    ValueError: NaN, inf and strings gave errors that did not name t_ns (NaN inside a LandmarkFrame was taken, and
    the face stayed NaN for good); seconds as floats (`SECONDS_BELOW`); beyond int64, MediaPipe's filters flooded
    stderr."""
    if isinstance(t_ns, bool) or not isinstance(t_ns, (int, float, np.integer, np.floating)):
        raise ValueError(f"t_ns must be a whole number of nanoseconds, got {type(t_ns).__name__} {t_ns!r}")
    if isinstance(t_ns, (float, np.floating)):
        if not np.isfinite(t_ns):
            raise ValueError(f"t_ns must be a whole number of nanoseconds, got {t_ns!r}")
        if not float(t_ns).is_integer() and abs(t_ns) < SECONDS_BELOW:
            raise ValueError(f"t_ns {t_ns!r} looks like seconds: it is in nanoseconds (time.monotonic_ns(), or "
                             "seconds x 1e9)")
        t_ns = round(float(t_ns))
    if not -INT64_MAX <= int(t_ns) <= INT64_MAX:
        raise ValueError(f"t_ns {int(t_ns)} is beyond a 64-bit count of nanoseconds")
    return int(t_ns)


def checked_landmarks(landmarks: LandmarkFrame | None) -> None:
    """ValueError naming a LandmarkFrame field of the wrong shape or scale (an API caller's mistake). Values that
    are not numbers, or a matrix that is no rotation, are the tracker's bad frames: the animator refuses those
    (shown as no face, `LiveFrame.tracked` False), as it does for the live inputs' packets."""
    if landmarks is None:
        return
    if not isinstance(landmarks, LandmarkFrame):
        raise TypeError(f"landmarks must be an avatar_engine.solve.frames.LandmarkFrame or None, got "
                        f"{type(landmarks).__name__}")
    scores = np.asarray(landmarks.scores)
    if not numbers_of_shape(scores, (52,)):
        raise ValueError(f"LandmarkFrame.scores must be the 52 ARKit scores in ARKit order, got {scores.dtype} of "
                         f"shape {scores.shape}")
    finite = scores[np.isfinite(scores)]
    if finite.size and (finite.min() < -SCORE_SLACK or finite.max() > 1.0 + SCORE_SLACK):
        raise ValueError(f"LandmarkFrame.scores must lie in [0, 1], got {finite.min():g} to {finite.max():g}"
                         + (" (a 0-100 scale? divide by 100)" if finite.max() > 1.0 + SCORE_SLACK else ""))
    rotation = np.asarray(landmarks.rotation)
    if not numbers_of_shape(rotation, (3, 3)):
        raise ValueError(f"LandmarkFrame.rotation must be the head's (3, 3) rotation, got {rotation.dtype} of shape "
                         f"{rotation.shape}" + (" (a 4 x 4 transform's upper-left 3 x 3 is it)"
                                                if rotation.shape == (4, 4) else ""))
    if landmarks.points is not None:
        points = np.asarray(landmarks.points)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) < 468 or points.dtype.kind not in "fiu":
            raise ValueError(f"LandmarkFrame.points must be MediaPipe's (478, 3) landmarks or None, got "
                             f"{points.dtype} of shape {points.shape}")


TURN_PROFILES = ("auto", "on", "off")


@dataclass(frozen=True)
class LiveOptions:
    """What the live avatar renders and how it animates."""

    size: tuple[int, int] = (1280, 720)
    """Render width, height in pixels."""
    samples: int | None = None
    """MSAA samples; None lets the renderer choose (4 on a GPU, 0 on software GL where MSAA costs ~3x)."""
    background: tuple[tuple[float, float, float], tuple[float, float, float]] | None = STUDIO_BACKDROP
    """None for a transparent background, else a (top, bottom) gradient."""
    camera: Camera = field(default_factory=Camera)
    """Where the render camera looks from."""
    animator: AnimatorOptions = field(default_factory=AnimatorOptions)
    """Solver tuning, mirror, calibration and tracking-lost behaviour."""
    render: bool = True
    """False: solve only (weights and VMC out, no GL context needed)."""
    landmarker: str = "auto"
    """The tracker: "mediapipe" (its Tasks API) or "onnx" (the same models on the inference backends,
    `perception.onnx_landmarker`; needs `avatar engines convert`); "auto": the ONNX one where `landmarker_backend`
    runs on a GPU and the models are converted, else MediaPipe's (`perception.choice.resolve_landmarker`)."""
    landmarker_backend: str = "auto"
    """With landmarker "onnx": auto, tensorrt, onnxruntime or torch."""
    turn_profile: str = "auto"
    """Take out the nod the tracker reads on the avatar's face as it turns (`live.turn_profile`): "auto" for a
    person's head the builder rigged (`Avatar.built`: `avatar build` from a photo, or `build.rig.identity_avatar`),
    whose face stands in for the person driving it; "on" for any avatar
    given (one of the person made elsewhere); "off" never. Measured on an avatar's first use (about 1.5 s on 2
    cores) and kept in the model cache. Needs an OpenGL context, even with `render` False."""

    def __post_init__(self) -> None:
        if not (isinstance(self.size, (tuple, list)) and len(self.size) == 2):  # (64,) was "not enough values to unpack"
            raise ValueError(f"render size must be (width, height) in whole pixels, got {self.size!r}")
        w, h = self.size
        if not all(whole_number(v) for v in (w, h)):
            raise ValueError(f"render size must be whole pixels (width, height), got {self.size!r}")
        if not (16 <= w <= 8192 and 16 <= h <= 8192):
            raise ValueError(f"render size {w}x{h} is outside 16..8192 pixels")
        if self.samples not in (None, *MSAA_SAMPLES):
            raise ValueError(f"samples must be one of {', '.join(map(str, MSAA_SAMPLES))} (or None), got {self.samples!r}")
        from avatar_engine.perception.choice import LANDMARKERS

        if self.landmarker not in LANDMARKERS:
            raise ValueError(f"landmarker must be one of {', '.join(LANDMARKERS)}, got {self.landmarker!r}")
        from avatar_engine.infer.session import BACKENDS

        if self.landmarker_backend not in BACKENDS:
            raise ValueError(f"landmarker_backend must be one of {', '.join(BACKENDS)}, got {self.landmarker_backend!r}")
        if self.turn_profile not in TURN_PROFILES:
            raise ValueError(f"turn_profile must be one of {', '.join(TURN_PROFILES)}, got {self.turn_profile!r}")


class LiveAvatar:
    """Tracker (made on first use), animator and renderer for one avatar. A context manager."""

    def __init__(self, avatar: Avatar | None = None, options: LiveOptions | None = None, ctx=None) -> None:
        if avatar is not None and not isinstance(avatar, Avatar):
            raise TypeError(f"avatar must be an Avatar (avatar_engine.io.read_glb(path) reads one), got "
                            f"{type(avatar).__name__}")
        if options is not None and not isinstance(options, LiveOptions):  # a dict was "no attribute 'animator'"
            raise TypeError(f"options must be a LiveOptions (e.g. LiveOptions(render=False)), got "
                            f"{type(options).__name__}")
        self.options = options or LiveOptions()
        self.turn_profile, self.turn_profile_note = self._turn_profile(avatar)
        """The avatar's `TurnProfile` the solver uses, or None (`LiveOptions.turn_profile`); and how it came to be:
        measured, kept from an earlier run, or why none is used."""
        animator = self.options.animator
        if self.turn_profile is not None:
            animator = replace(animator, tuning=replace(animator.tuning, pitch_at_yaw=self.turn_profile.table()))
        self.animator = Animator(animator)
        self._tracker = None
        self._tracker_lock = threading.Lock()
        self._owner = threading.get_ident()
        self.renderer = None
        self._own_ctx = False
        if self.options.render:
            from avatar_engine.render.renderer import RenderOptions, Renderer

            if avatar is None:
                from avatar_engine.head.template import template_avatar

                avatar = template_avatar()
            self._own_ctx = ctx is None
            # a context of our own is made current only while we draw: the thread's own current one stays
            with current_context_kept() if self._own_ctx else nullcontext():
                self.ctx = ctx or headless_context()
                self._egl_context = current_egl_context() if self._own_ctx else None
                try:
                    self.renderer = Renderer(self.ctx, RenderOptions(size=self.options.size,
                                                                     samples=self.options.samples,
                                                                     background=self.options.background))
                    self.renderer.load(avatar)
                except BaseException:  # (more MSAA samples than the driver has, an avatar it cannot take)
                    if self.renderer is not None:
                        self.renderer.release()
                    if self._own_ctx:
                        self.ctx.release()
                    raise
            from avatar_engine.live.glwait import gil_free_finish

            self._finish = gil_free_finish() or self.renderer.finish
        self._t0 = time.monotonic_ns()
        self._frames = 0
        """Camera frames `process` has taken: the next one's `LiveFrame.index`."""
        self._last_t_ns: int | None = None
        self._short_gaps = 0
        """Frames in a row given under MIN_FRAME_GAP_NS after the one before."""
        self._last_wall_ns = 0
        self._closed = False

    # --- the stages, one at a time (the pipeline times each) ---------------------------------------
    def track(self, rgb: np.ndarray, t_ns: int) -> LandmarkFrame | None:
        """MediaPipe on one frame: rgb (h, w, 3) uint8 RGB (not OpenCV's BGR; a PIL image is converted) at media
        time t_ns (increasing)."""
        self._check_open()
        if not isinstance(rgb, np.ndarray) and callable(getattr(rgb, "convert", None)):  # a PIL image: tracked, it
            rgb = np.asarray(rgb.convert("RGB"))  # then failed on its missing .shape
        if not self._tracker_lock.acquire(blocking=False):  # MediaPipe's graph takes one frame at a time, in order
            raise RuntimeError("this LiveAvatar is tracking on another thread at the same time: one frame at a time")
        try:
            if self._tracker is None:
                from avatar_engine.native_log import native_stderr_silenced

                with native_stderr_silenced():  # MediaPipe's start-up log lines went to the application's stderr
                    self._open_tracker()
            exit_close.used_here(self._tracker)
            return self._tracker.track(rgb, frame_time(t_ns))
        finally:
            self._tracker_lock.release()

    def _open_tracker(self) -> None:
        self._tracker = self._new_tracker()
        exit_close.close_at_exit(self._tracker)

    @property
    def tracker_threads(self) -> dict[int, int]:
        """{native id: nice value it started with} of the tracker's helper threads (MediaPipe's graph); {} before
        the tracker opens."""
        return dict(getattr(self._tracker, "threads", {}))  # a stand-in tracker (tests, an app's own) may have none

    def _turn_profile(self, avatar: Avatar | None):
        """(the avatar's turn profile or None, a note of why) where `LiveOptions.turn_profile` asks for one and the
        solver can use it (it reads MediaPipe's landmarks through the measured maps: a phone app's scores and
        angles, plain `pose_gain`s or a tuning with a table of its own take none)."""
        o = self.options
        tuning = o.animator.tuning
        wanted = o.turn_profile == "on" or (o.turn_profile == "auto" and avatar is not None and avatar.built)
        unusable = ("no avatar was given to measure" if avatar is None
                    else "the scores come from a phone app" if tuning.response != "mediapipe"
                    else "the tuning sets pose_gain" if tuning.pose_gain is not None
                    else "the tuning brings its own pitch_at_yaw" if tuning.pitch_at_yaw is not None else None)
        log = logging.getLogger("avatar_engine.live")
        if not wanted:
            return None, f"not used ({o.turn_profile})"
        if unusable:
            if o.turn_profile == "on":  # asked for by name: say why it does nothing
                log.warning(f"turn profile not used: {unusable}")
            return None, f"not used: {unusable}"
        from avatar_engine.live.turn_profile import turn_profile
        from avatar_engine.perception.choice import resolve_landmarker

        try:
            profile, measured = turn_profile(avatar, resolve_landmarker(o.landmarker, o.landmarker_backend),
                                             o.landmarker_backend)
        except (ValueError, BackendError) as exc:  # the loop runs all the same, with the head's pitch as read
            log.warning(f"the avatar's turn profile was not measured ({exc}): turned heads may read a few degrees "
                        "of nod")
            return None, f"not measured: {exc}"
        return profile, "measured" if measured else "kept from an earlier run"

    def _new_tracker(self):
        from avatar_engine.live.tracker import Tracker

        return Tracker(landmarker=self.options.landmarker, backend=self.options.landmarker_backend)

    def animate(self, landmarks: LandmarkFrame | None, t_ns: int) -> SolvedFrame:
        """Calibrate, solve and filter (or hold / idle when landmarks is None) at media time t_ns (nanoseconds,
        increasing, as `process` takes them: ValueError otherwise; a repeated or earlier time froze the face)."""
        self._check_open()
        checked_landmarks(landmarks)
        t_ns = frame_time(t_ns)
        self._note_time(t_ns, self._check_time(t_ns))
        return self.animator.update(landmarks, t_ns * 1e-9)

    def _check_open(self, rendering: bool = False) -> None:
        if self._closed:
            raise RuntimeError("this LiveAvatar is closed: make a new one")
        if rendering and self.renderer is None:
            raise RuntimeError("this LiveAvatar does not render (LiveOptions(render=False)): weights only")

    def check_thread(self) -> None:
        """RuntimeError unless called on the thread that made this LiveAvatar, where its GL context lives (from
        another thread, draws went nowhere and reads gave stale memory, silently)."""
        if self.renderer is not None and threading.get_ident() != self._owner:
            raise RuntimeError("this LiveAvatar renders on the thread that made it (its OpenGL context belongs "
                               "there): make it on the thread that draws, or use LiveOptions(render=False) here")

    @contextmanager
    def _gl(self):
        """This avatar's context, current for the call: another LiveAvatar or context made since took over the
        thread's current one (draws then went into the newest, silently). A context handed in is the caller's."""
        self._check_open(rendering=True)
        self.check_thread()
        with made_current(self.ctx, self._egl_context) if self._own_ctx else nullcontext():
            yield

    def draw(self, solved: SolvedFrame) -> None:
        """Render into the renderer's framebuffer and wait for it (`read()` or blit it after). The wait releases
        the GIL (`glwait.py`), so tracking and capture threads run while the rasteriser works."""
        with self._gl():
            self.renderer.render(to_expression(solved, self.options.animator.tuning), self.options.camera)
            self._finish()

    def read(self) -> np.ndarray:
        """(h, w, 4) uint8 RGBA of the last draw."""
        with self._gl():
            return self.renderer.read()

    def frame_done(self) -> None:
        """The last draw has been read and shown: lay the next frame's backdrop now (`Renderer.start_next_frame`),
        while the caller waits for the next tracked frame, rather than after it arrives."""
        if self.renderer is not None:
            with self._gl():
                self.renderer.start_next_frame()

    def warm_up(self, track: bool = True) -> None:
        """Load the tracker's model and compile the shaders now, so the first frames are not late."""
        self._check_open()  # after close() it opened a tracker nothing would close
        if track and self._tracker is None:
            from avatar_engine.native_log import native_stderr_silenced

            with native_stderr_silenced():  # MediaPipe's start-up log lines would bury the CLI's own messages
                self._open_tracker()
        if self.renderer is not None:
            self.draw(SolvedFrame.neutral())

    # --- all at once -----------------------------------------------------------------------------
    def process(self, rgb: np.ndarray, t_ns: int | None = None) -> LiveFrame:
        """Track, animate and render one camera frame. t_ns defaults to the time since this object was made."""
        handed_in = time.monotonic_ns()
        given = t_ns is not None
        t_ns = handed_in - self._t0 if t_ns is None else frame_time(t_ns)
        self._check_open()
        self.check_thread()
        short = self._check_time(t_ns, given)  # before tracking: a refused frame has not used its time up
        self._frames += 1
        return self._animated(self.track(rgb, t_ns), t_ns, short, self._frames - 1, handed_in)

    def process_landmarks(self, landmarks: LandmarkFrame | None, t_ns: int | None = None) -> LiveFrame:
        """Animate and render from already tracked scores and pose (phone apps, other trackers). t_ns: the frame's
        media time (default: the landmarks' own; for None, the last frame's advanced by the wall clock, so the held
        face eases to idle on the same clock its frames ran on)."""
        self._check_open()
        self.check_thread()  # before the time check: a refused frame has not used its time up
        checked_landmarks(landmarks)
        given = t_ns is not None or landmarks is not None
        if t_ns is None and landmarks is None:
            t_ns = self._last_t_ns + max(1, time.monotonic_ns() - self._last_wall_ns) \
                if self._last_t_ns is not None else time.monotonic_ns() - self._t0
        else:
            t_ns = frame_time(landmarks.t_ns if t_ns is None else t_ns)
            if landmarks is not None and landmarks.t_ns != t_ns:
                landmarks = replace(landmarks, t_ns=t_ns)  # the filters and calibration run on the time given
        return self._animated(landmarks, t_ns, self._check_time(t_ns, given))

    def _note_time(self, t_ns: int, short: bool) -> None:
        """A frame at t_ns was taken (`_check_time` passed it; short: its answer)."""
        self._short_gaps = self._short_gaps + 1 if short else 0
        self._last_t_ns, self._last_wall_ns = t_ns, time.monotonic_ns()

    def _animated(self, landmarks: LandmarkFrame | None, t_ns: int, short: bool, index: int = -1,
                  t_capture_ns: int | None = None) -> LiveFrame:
        """Animate (and draw) one frame at media time t_ns, checked by `_check_time` (short: its answer); index and
        t_capture_ns: the camera frame's count and when it was handed in (`process`), -1 and None without one."""
        self._note_time(t_ns, short)
        solved = self.animator.update(landmarks, t_ns * 1e-9)
        rgba = None
        if self.renderer is not None:
            self.draw(solved)
            rgba = self.read()
        return LiveFrame(solved, rgba, index, t_capture_ns, self.animator.used, self.animator.state, t_ns)

    def _check_time(self, t_ns: int, given: bool = True) -> bool:
        """ValueError for a frame time that does not follow the last one, or that makes `SHORT_GAPS` frames in a row
        under MIN_FRAME_GAP_NS apart (given: by the caller, not the clock; one short gap is two datagrams of a burst,
        stamped as they arrived). Returns whether it is a short gap the caller gave."""
        if self._last_t_ns is None:
            return False
        if t_ns <= self._last_t_ns:
            # the filters pass nothing on at no elapsed time: a repeated time froze the face for good
            raise ValueError(f"frame times must increase: t_ns {t_ns} after {self._last_t_ns} (in nanoseconds; "
                             "give a time with every frame or with none)")
        short = given and t_ns - self._last_t_ns < MIN_FRAME_GAP_NS
        if short and self._short_gaps + 1 >= SHORT_GAPS:
            raise ValueError(f"{SHORT_GAPS} frames in a row under {MIN_FRAME_GAP_NS // 1000} us apart (the last "
                             f"{t_ns - self._last_t_ns} ns): t_ns is in nanoseconds (time.monotonic_ns(), or "
                             "seconds x 1e9), not milliseconds or frame numbers")
        return short

    def recalibrate(self) -> None:
        """Take the next second of frames as the person's resting face."""
        self._check_open()
        self.animator.recalibrate()

    @property
    def mirror(self) -> bool:
        return self.animator.mirror

    @mirror.setter
    def mirror(self, value: bool) -> None:
        self._check_open()
        self.animator.mirror = bool(value)

    def close(self) -> None:
        """Release the tracker and the GL resources; on the thread that made this LiveAvatar when it renders."""
        if self._closed:
            return
        self.check_thread()
        self._closed = True
        if self._tracker is not None:
            exit_close.forget(self._tracker)
            self._tracker.close()
            self._tracker = None
        if self.renderer is not None:
            if self._own_ctx:
                with current_context_kept(unless=self._egl_context):
                    self.ctx.__enter__()  # current while its objects are released; the way out is the keeper's
                    self.renderer.release()
                    self.ctx.release()
            else:
                self.renderer.release()
            self.renderer = None

    def __enter__(self) -> "LiveAvatar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        # OpenGL objects are not freed by the garbage collector, and a finaliser may run on any thread, where this
        # context cannot be released: say so, as Python does for an unclosed file (a dropped one kept ~47 MB)
        if not getattr(self, "_closed", True) and getattr(self, "renderer", None) is not None:
            warnings.warn("a LiveAvatar was dropped without close(): its OpenGL context and tracker stay until the "
                          "process ends (use `with LiveAvatar(...) as live:`)", ResourceWarning, stacklevel=2)
