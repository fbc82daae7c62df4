"""The solver with its memory: automatic and on-demand calibration, filtering, and tracking-lost behaviour.

Everything that needs state between frames lives here; the maths it calls in `avatar_engine.solve` is pure.
Time is media time in seconds (file position, or the capture clock for a camera) and must not run backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from avatar_engine.live.idle import IdleOptions, blend, idle_frame, smoothstep
from avatar_engine.solve.blink_range import BlinkRange, observe
from avatar_engine.solve.calibration import (Calibration, calibrate, corners_in_frame, lips_apart,
                                             reference_calibration)
from avatar_engine.solve.filters import OneEuroState
from avatar_engine.solve.frames import LandmarkFrame, SolvedFrame
from avatar_engine.solve.mouth_corners import corner_offsets
from avatar_engine.solve.settled_rest import SettledRest
from avatar_engine.solve.settled_rest import observe as observe_rest
from avatar_engine.solve.solver import filter_frame, lip_gap, solve_frame
from avatar_engine.solve.pose import fit_rotation, rigid_points, turned_deg
from avatar_engine.solve.tuning import DEFAULT_TUNING, LANDMARKS, SolverTuning


@dataclass(frozen=True)
class AnimatorOptions:
    """How tracked frames become the avatar's motion."""

    tuning: SolverTuning = DEFAULT_TUNING
    """Response, filtering and bone constants."""
    idle: IdleOptions = field(default_factory=IdleOptions)
    """Hold, ease-to-neutral and idle life when the face is lost."""
    mirror: bool = False
    """Show the avatar as a mirror image of the person (what a selfie view looks like)."""
    auto_calibrate: bool = True
    """Calibrate the resting face from the first `tuning.calibration_s` seconds of tracking."""
    settle_rest: bool = True
    """After the automatic calibration, let a shape's rest it bounded settle to the person's own once their frames
    show it (`settled_rest`); False keeps the bounded rest until a calibration is asked for."""
    recentre_s: float = 0.6
    """When a calibration ends, glide from the pose shown to the newly calibrated one over this long (the head's
    angles over longer if a calm turn takes longer, `IdleOptions.resume_deg_s`): the new rest moved a head sitting
    8 degrees off the camera's axis back to straight in one frame (a 5-degree snap)."""


MAX_CALIBRATION_FRAMES = 600
"""Calibration ends after this many frames whatever their times say (10 s at 60 fps)."""
EDGE_CUT_MAX = 0.2
"""A face with more than this share of its landmarks beyond the image's edges counts as lost. MediaPipe keeps
tracking a face that slides out of the frame, extrapolating the landmarks it cannot see, and past about a quarter
outside its pose and scores drift: the last frames of a face leaving read yaw -9.6 degrees, the eyes 9-15 degrees
sideways and a lopsided smile, and that was the pose held for half a second. A face 6-25% outside still read as
the whole face did."""
EYE_POINTS = (33, 133, 362, 263) + tuple(range(468, 478))
"""The eyes' corners and irises: a face with any of them beyond the image's edges counts as lost too. An eye at the
edge is read looking 16 degrees sideways while the rest of the face is still whole."""


def usable(frame: LandmarkFrame) -> bool:
    """Every score, rotation entry and landmark of `frame` is a finite number, the rotation is one (within
    `ROTATION_TOLERANCE`), the aspect a plausible image's and the landmarks spread over a face (`FACE_SPREAD_MIN`).
    An all-zero rotation read as a 120-degree turn and restarted the calibration on every frame; landmarks all at
    one point calibrated a rest that held the head at 0 degrees until the next calibration; a NaN aspect or a
    rotation of 1e308 crashed the pose's SVD."""
    rotation = np.asarray(frame.rotation, np.float64)
    if not (np.isfinite(frame.scores).all() and rotation.shape == (3, 3) and np.isfinite(rotation).all()
            and np.abs(rotation).max() <= 1.0 + ROTATION_TOLERANCE
            and np.abs(rotation @ rotation.T - np.eye(3)).max() <= ROTATION_TOLERANCE
            and np.isfinite(frame.aspect) and ASPECT_RANGE[0] <= frame.aspect <= ASPECT_RANGE[1]):
        return False
    if frame.points is None:
        return True
    points = np.asarray(frame.points)
    return bool(np.isfinite(points).all() and np.ptp(points[:, :2], axis=0).min() >= FACE_SPREAD_MIN)


ROTATION_TOLERANCE = 0.05
"""How far a frame's rotation may be from orthonormal (largest entry of R R^T - I): trackers give rotations to
float precision; a bad packet is far off."""
ASPECT_RANGE = (0.05, 20.0)
"""Image width / height a frame may come from."""
FACE_SPREAD_MIN = 1e-3
"""The landmarks must span at least this (normalised image units) in x and y: a face, not a point."""


def outside_share(frame: LandmarkFrame) -> float:
    """The share of the face's 468 landmarks that lie beyond the image's edges (0 without landmarks)."""
    if frame.points is None:
        return 0.0
    xy = np.asarray(frame.points)[:468, :2]
    return float(((xy < 0.0) | (xy > 1.0)).any(axis=1).mean())


def cut_by_edge(frame: LandmarkFrame) -> bool:
    """The face is too far beyond the image's edges to read (`EDGE_CUT_MAX`, `EYE_POINTS`); False without
    landmarks (a phone's scores)."""
    if frame.points is None:
        return False
    eyes = np.asarray(frame.points)[list(EYE_POINTS[:4] if len(frame.points) < 478 else EYE_POINTS), :2]
    return outside_share(frame) > EDGE_CUT_MAX or bool(((eyes < 0.0) | (eyes > 1.0)).any())


def _rigid(frames: list[LandmarkFrame], tuning: SolverTuning, which: str = "rigid") -> np.ndarray | None:
    """(n, k, 3) the frames' `LANDMARKS[which]` (`pose.rigid_points`), or None unless every frame has landmarks."""
    if any(f.points is None for f in frames) or tuning.response != "mediapipe":
        return None
    return np.stack([rigid_points(f.points, LANDMARKS[which], f.aspect) for f in frames])


def _corners(frames: list[LandmarkFrame], tuning: SolverTuning) -> np.ndarray | None:
    """(n, 2, 3) the mouth corners from the upper lip's middle (`mouth_corners.corner_offsets`), as `_rigid` gives
    the rigid points: None unless every frame has landmarks."""
    if any(f.points is None for f in frames) or tuning.response != "mediapipe":
        return None
    return np.stack([corner_offsets(f.points, f.aspect) for f in frames])


def _lip_gaps(frames: list[LandmarkFrame], tuning: SolverTuning) -> np.ndarray | None:
    """How far the lips part (`solver.lip_gap`) in each frame that has landmarks, or None where none has: one frame
    without them (a score-only frame from another tracker) would otherwise cost the calibration its resting gap."""
    gaps = [lip_gap(f.points) for f in frames if f.points is not None]
    return np.array(gaps) if gaps and tuning.response == "mediapipe" else None


ANCHOR_FACING_DEG = 15.0
"""The first face the first calibration sees stands in for its rest (`Animator._provisional`) once it is within this
of the reference head's rest: a resting face of another shape reads up to 8.6 degrees from it (synthetic 7001)."""
SETTLE_TURN_DEG = 10.0
"""Frames of a head turned further than this from the calibrated rest pose say nothing of the resting scores (they
drift with the turn) and are not sampled for the settled rest (`settled_rest`)."""
CLOCK_RESTART_S = 0.5
"""A frame this much older than the last one means the caller's clock started again (not a late frame)."""


class Animator:
    """Turns a stream of `LandmarkFrame | None` (None: no face this frame) into `SolvedFrame`s."""

    def __init__(self, options: AnimatorOptions | None = None) -> None:
        self.options = options or AnimatorOptions()
        self._mirror = self.options.mirror
        self.calibration: Calibration = reference_calibration(self.options.tuning.response)
        self._collect: list[LandmarkFrame] | None = [] if self.options.auto_calibrate else None
        self._so_far: list[tuple[LandmarkFrame, float | None, np.ndarray | None]] = []
        """(frame, its lip gap, its mouth corners in the anchor's rigid frame) for the frames collected so far:
        each frame's read once, as it comes (`_provisional`)."""
        self._anchor: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        """(rotation, rigid points, wide points) of the first face facing the camera the first calibration saw: the
        pose it solves against until it ends (`_provisional`)."""
        self._collect_auto = True  # the first seconds' calibration, bounded; False: one asked for
        self._collect_seen = 0
        self._filter: OneEuroState | None = None
        self._last_tracked: SolvedFrame | None = None
        self._last_tracked_s = -np.inf
        self._last_now_s = -np.inf
        self._shown: SolvedFrame = SolvedFrame.neutral()
        self._glide: dict | None = None
        """When a calibration moves the rest or the face is found again: what was shown then, when, and for how
        long; from the first tracked frame on, how far that lay from it, faded out on top of live tracking
        (`_glided`)."""
        self.state = "idle"
        """'tracking', 'holding' (face just lost), 'easing' (toward idle), 'idle', or 'calibrating'."""
        self.rejected = 0
        """Frames refused for values that are not numbers (shown as no face)."""
        self.used = False
        """The last `update` animated a face from its frame (False: no face, or one refused)."""
        self.cut = 0
        """Frames of a face too far beyond the image's edges (`cut_by_edge`; shown as no face)."""
        self.blinks = BlinkRange()
        """This person's recent blinks, which widen each eye's blink to their full closure (`blink_range`)."""
        self.settling: SettledRest | None = None
        """After the automatic calibration: the rest it bounded, settling to the person's own (`settled_rest`);
        None before it, when it bounded nothing, and after a calibration asked for (taken as it is)."""

    @property
    def mirror(self) -> bool:
        """Show the avatar as a mirror image of the person."""
        return self._mirror

    @mirror.setter
    def mirror(self, value: bool) -> None:
        if bool(value) == self._mirror:
            return
        self._mirror = bool(value)
        if self._last_tracked is not None:  # the pose turns the other way: glide there, as a new rest does (a 17.5
            # degree turn swung to -13.5 in one frame when the window's M key was pressed)
            self._glide, self._filter = self._glide_from(self._last_now_s, self.options.recentre_s), None

    def recalibrate(self) -> None:
        """Collect the resting face again from the next frames (ask the person to look ahead, relaxed): taken as
        it is, without the automatic calibration's bounds."""
        self._collect, self._collect_auto, self._collect_seen = [], False, 0
        self.settling = None
        self.blinks = BlinkRange()  # perhaps someone else now: their blinks are learnt again

    def update(self, frame: LandmarkFrame | None, now_s: float) -> SolvedFrame:
        """The frame to show at now_s (media seconds) given this frame's tracking result. A frame with a value that
        is not a number (a glitching tracker, a phone app's bad packet) counts as no face: one NaN score spread to
        every weight through the filter, for good, and a NaN rotation crashed the pose's SVD. So does a face too far
        beyond the image's edges to read (`cut_by_edge`)."""
        opts = self.options
        if now_s < self._last_now_s - CLOCK_RESTART_S:
            # the caller's clock started again (a new clip, a reset): time-based state starts again with it. The
            # filters passed samples older than their last one through unchanged, so the face froze until the
            # new clock passed the old one (for ever, from a clock restarted far back)
            self._filter, self._glide = None, None
            self._last_tracked_s = now_s if self._last_tracked is not None else -np.inf
            if self._collect:
                self._collect, self._anchor = [], None
        self._last_now_s = now_s
        if frame is not None and not usable(frame):
            self.rejected += 1
            frame = None
        elif frame is not None and cut_by_edge(frame):
            self.cut += 1  # the pose held is the last whole face's, not one MediaPipe half guessed
            frame = None
        self.used = frame is not None
        if frame is None:
            shown = self._lost(now_s)
        else:
            if self._collect is not None:
                self._collect_seen += 1
                if self._collect_auto and self._collect and turned_deg(
                        self._collect[0].rotation, frame.rotation) > opts.tuning.calibration_still_deg:
                    self._collect = []  # not at rest: the window starts again
                self._collect.append(frame)
                span = (frame.t_ns - self._collect[0].t_ns) * 1e-9
                # by count too: a media clock that does not advance (a caller's constant or mis-scaled t_ns) kept
                # collecting for ever, about 6 KB a frame; a head never still calibrates on its last window
                if span >= opts.tuning.calibration_s or self._collect_seen >= MAX_CALIBRATION_FRAMES:
                    self.calibration = self._calibration_from(self._collect)
                    scores = np.stack([f.scores for f in self._collect])
                    settling = SettledRest.start(self.calibration.scores, np.median(scores, axis=0))
                    # nothing bounded (most people): no sampling, no turn test, on any later frame
                    self.settling = settling if self._collect_auto and opts.settle_rest and settling.open else None
                    self._collect, self._anchor, self._so_far = None, None, []
                    if self._last_tracked is not None:  # the rest moved: glide to it (below), do not snap
                        self._glide, self._filter = self._glide_from(now_s, opts.recentre_s), None
            if self.state not in ("tracking", "calibrating", "holding"):
                # re-acquired after easing away: do not filter from a stale position. Not from holding: the avatar
                # still shows the last tracked pose, and a camera slower than the loop's idle tick (under 10 fps)
                # passes through holding between every two frames (the filter was reset on each, the pose a frame late)
                self._filter = None
                self._glide = self._glide_from(now_s, opts.idle.resume_s)
            if self.settling is not None and self._collect is None and turned_deg(
                    self.calibration.rotation, frame.rotation) <= SETTLE_TURN_DEG:
                self.settling = observe_rest(self.settling, frame.scores, now_s)
                if self.settling.rest is not self.calibration.scores:
                    self.calibration = replace(self.calibration, scores=self.settling.rest)
            # MediaPipe's blink response differs from face to face (`blink_range`); a phone's is its own
            widen = opts.tuning.response == "mediapipe"
            # while the first calibration collects, the resting scores read so far stand in for the reference head's:
            # a face whose rest reads far from it (synthetic 7003's lips, a pucker of 0.8) showed that as an
            # expression for the calibration's first second; and the first face's pose stands in for the reference
            # head's (`_provisional`)
            calibration = self._provisional() if self._collect_auto and self._collect else self.calibration
            solved = solve_frame(frame, calibration, opts.tuning, self._mirror, self.blinks.top() if widen else None)
            if widen and self._collect is None:  # calibrated: against the reference's rest a blink may be false
                self.blinks = observe(self.blinks, solved.blinks_read)
            tracked, self._filter = filter_frame(self._filter, solved, opts.tuning)
            shown = tracked
            if self._glide is not None:
                shown = self._glided(tracked, now_s)
            # lost, the face holds what was shown (mid-glide too: holding the tracked frame popped)
            self._last_tracked, self._last_tracked_s = shown, now_s
            self.state = "calibrating" if self._collect is not None else "tracking"
        self._shown = shown
        return shown

    def _provisional(self) -> Calibration:
        """The reference's calibration with the resting scores, lip gap and mouth corners of the frames collected so
        far (bounded as the automatic calibration is), and, with landmarks, the pose of the first face the
        calibration saw facing the camera (`_anchor`, `ANCHOR_FACING_DEG`; kept while the window starts again): the
        reference head's rest is another face's, and its rigid points alone tipped a built Grace Hopper's resting head
        5.5 degrees forward until the calibration ended (1.3 s of the round trip). Not the frames' own pose: a head
        moving then restarts the window with each frame, and against such a rest it would show none of its turn. The
        corners are taken in the anchor's rigid frame."""
        frames, tuning, reference = self._collect, self.options.tuning, self.calibration
        landmarks = tuning.response == "mediapipe" and reference.points is not None
        if self._anchor is None and landmarks and frames[-1].points is not None:
            first = frames[-1]
            points = rigid_points(first.points, LANDMARKS["rigid"], first.aspect)
            # facing the camera about as the reference head does: a head first seen turned 25 degrees showed -27
            # at rest for the calibration's second (review)
            if turned_deg(np.eye(3), fit_rotation(reference.points, points)) <= ANCHOR_FACING_DEG:
                self._anchor = (np.asarray(first.rotation, np.float64), points,
                                rigid_points(first.points, LANDMARKS["wide"], first.aspect))
                self._so_far = []  # their corners were in the reference's frame
        if self._anchor is not None:
            reference = replace(reference, rotation=self._anchor[0], points=self._anchor[1],
                                wide_points=self._anchor[2])
        if self._so_far and (len(self._so_far) > len(frames) or self._so_far[0][0] is not frames[0]):
            self._so_far = []  # the window started again
        for f in frames[len(self._so_far):]:
            read = landmarks and f.points is not None
            corners = corners_in_frame(corner_offsets(f.points, f.aspect),
                                       rigid_points(f.points, LANDMARKS["rigid"], f.aspect),
                                       reference.points) if read else None
            self._so_far.append((f, lip_gap(f.points) if read else None, corners))
        gaps = [g for _, g, _ in self._so_far if g is not None]
        so_far = calibrate(np.stack([f.scores for f in frames]), np.stack([f.rotation for f in frames]),
                           near=reference_calibration(tuning.response), max_shift=tuning.calibration_max_shift,
                           lip_gaps=np.array(gaps) if gaps else None)
        corners = [c for _, _, c in self._so_far]
        whole = all(c is not None for c in corners) and not lips_apart(np.array(gaps) if gaps else None)
        return replace(reference, scores=so_far.scores, lip_gap=so_far.lip_gap,
                       corners=np.median(corners, axis=0) if whole else None)

    def _calibration_from(self, frames: list[LandmarkFrame]) -> Calibration:
        """The resting face of `frames` (automatic: bounded by the reference's, `tuning.calibration_max_shift`)."""
        tuning = self.options.tuning
        return calibrate(np.stack([f.scores for f in frames]), np.stack([f.rotation for f in frames]),
                         _rigid(frames, tuning), near=reference_calibration(tuning.response) if self._collect_auto
                         else None, max_shift=tuning.calibration_max_shift, lip_gaps=_lip_gaps(frames, tuning),
                         corners=_corners(frames, tuning), wide_points=_rigid(frames, tuning, "wide"))

    def _glide_from(self, now_s: float, seconds: float) -> dict:
        return {"shown": self._shown.as_vector(), "start": now_s, "seconds": seconds, "offset": None}

    def _glided(self, tracked: SolvedFrame, now_s: float) -> SolvedFrame:
        """`tracked` plus how far what was shown lay from it when the glide began, fading out (smoothstep) on top of
        live tracking: the face keeps moving meanwhile (a blend from a frozen frame slowed it). The weights and gaze
        fade over the glide's time; the head's angles over at least that and as long as a calm turn takes
        (`IdleOptions.resume_deg_s`, at most `resume_max_s`): a face found 20 degrees from the idle pose swung there
        in a quarter of a second, and an idle blink then held for as long as the turn took."""
        glide, idle = self._glide, self.options.idle
        if glide["offset"] is None:  # the first tracked frame (by this flag: a clock that repeats a time is allowed)
            glide["offset"] = glide["shown"] - tracked.as_vector()
            turn = float(np.abs(glide["offset"][52:55]).max())
            glide["turn_seconds"] = max(glide["seconds"], min(turn / max(idle.resume_deg_s, 1e-6), idle.resume_max_s))
        elapsed = now_s - glide["start"]
        fade = np.full(59, 1.0 - smoothstep(elapsed / max(glide["seconds"], 1e-6)))
        fade[52:55] = 1.0 - smoothstep(elapsed / max(glide["turn_seconds"], 1e-6))
        if fade.max() <= 0.0:
            self._glide = None
            return tracked
        return SolvedFrame.from_vector(tracked.as_vector() + fade * glide["offset"], tracked.t_ns)

    def _lost(self, now_s: float) -> SolvedFrame:
        idle = self.options.idle
        if self._last_tracked is None:
            self.state = "idle"
            return idle_frame(now_s, idle)
        lost_for = now_s - self._last_tracked_s
        if lost_for <= idle.hold_s:
            self.state = "holding"
            return self._last_tracked
        s = smoothstep((lost_for - idle.hold_s) / max(idle.ease_s, 1e-6))
        self.state = "easing" if s < 1.0 else "idle"
        return blend(self._last_tracked, idle_frame(now_s, idle), s)
