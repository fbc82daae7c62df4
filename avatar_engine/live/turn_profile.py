"""How the live tracker reads an avatar's face turning, measured once per avatar and kept on disk.

The live loop mostly drives an avatar built from the user's own photo, and a rebuilt head mostly reads like the
person: four synthetic people rebuilt from their photos read within 0.3-1.5 degrees of their true heads' nod at 30
degrees of turn, but for one side of one face (4.3 degrees). So the avatar's own reading stands in for the person's
(`solve.turn_profile` says why one is needed): it is rendered at rest and then turned to +-15 and +-30 degrees,
through the same video-mode tracker and rigid fit as the live loop. About 1.5 s on 2 cores, so the result is kept in
the model cache, keyed by the avatar's content.

Round trip (`benchmarks/live_roundtrip.py`), pitch error p95: the astronaut and Grace Hopper built from their photos,
each driving itself, 5.7 -> 2.4 and 5.3 -> 3.0 degrees; synthetic people 7000-7003 driving with their rebuilds'
profiles (`--profile-avatar`), 2.90 / 4.52 / 3.48 / 3.61 -> 2.88 / 4.52 / 3.10 / 3.62 (their error is mostly
elsewhere: expressions tipping the rigid fit, the nod's gain).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from avatar_engine.records import Avatar
from avatar_engine.solve.turn_profile import TurnProfile, fit_turn_profile

SIZE = (256, 256)
"""Render size: the nod read at 384x384 with MSAA was within 0.2 degrees of this."""
YAWS = (0.0, 15.0, 30.0, 15.0, 0.0, -15.0, -30.0, -15.0, 0.0)
"""The turns rendered, in order, each held HOLD frames: as a person turns, through the tracker's video mode."""
HOLD = 3
REST_HOLD = 10
"""Frames of the resting face first: the calibration the turns are read against, as the live loop's is."""
CAMERA_FROM_EYES = (0.0, -0.037, -0.062)
"""Where the camera aims, from the eyes' midpoint (metres): hairline to chin, as a webcam frames a person at a desk
(the benchmarks' reference camera on the default head)."""
CAMERA_DISTANCE = 0.55
FORMAT = 1
"""Version of the measurement: a change to how it is made makes the kept ones stale."""
CACHE_FOLDER = "turn-profiles"


def face_camera(avatar: Avatar):
    """A `Camera` framing the avatar's face as a webcam frames a person at a desk (`CAMERA_FROM_EYES`). Raises
    ValueError when the avatar has no eye joints to aim at."""
    from avatar_engine.render.camera import Camera

    names = avatar.skeleton.names
    if "eye_L" not in names or "eye_R" not in names:
        raise ValueError("the avatar has no eye_L and eye_R joints to aim the camera at")
    rest = np.asarray(avatar.skeleton.rest_positions, np.float64)
    eyes = (rest[names.index("eye_L")] + rest[names.index("eye_R")]) / 2
    return Camera(target=tuple(float(v) for v in eyes + CAMERA_FROM_EYES), distance=CAMERA_DISTANCE)


def measure_turn_profile(avatar: Avatar, landmarker: str = "mediapipe", backend: str = "auto") -> TurnProfile:
    """Render `avatar` turning and read it with the live tracker. Raises ValueError when the avatar has no eye
    joints to frame or the tracker loses its face; BackendError when no OpenGL context can be made."""
    from avatar_engine.live.tracker import Tracker
    from avatar_engine.native_log import native_stderr_silenced
    from avatar_engine.records import Expression
    from avatar_engine.render.context import current_context_kept, headless_context
    from avatar_engine.render.renderer import STUDIO_BACKDROP, RenderOptions, Renderer
    from avatar_engine.solve.calibration import calibrate
    from avatar_engine.solve.pose import head_bones, rigid_points
    from avatar_engine.solve.solver import seen_angles
    from avatar_engine.solve.tuning import DEFAULT_TUNING, LANDMARKS

    camera = face_camera(avatar)
    # a window's own context stays current for its thread; MediaPipe's start-up lines stay off the app's stderr
    with current_context_kept(), native_stderr_silenced():
        ctx = headless_context()
        try:
            with Renderer(ctx, RenderOptions(size=SIZE, samples=0, background=STUDIO_BACKDROP)) as renderer, \
                    Tracker(landmarker=landmarker, backend=backend) as tracker:
                renderer.load(avatar)
                t_ns = 0

                def read(yaw: float, hold: int):
                    nonlocal t_ns  # turned as the solver turns a head: split over the neck and head bones
                    renderer.render(Expression(rotations=head_bones(np.array([yaw, 0.0, 0.0]),
                                                                    DEFAULT_TUNING.neck_share)), camera)
                    rgb = np.ascontiguousarray(renderer.read()[..., :3])
                    for _ in range(hold):
                        t_ns += 33_333_333
                        frame = tracker.track(rgb, t_ns)
                    if frame is None:
                        raise ValueError(f"the tracker lost the avatar's face turned {yaw:g} degrees")
                    return frame

                first = read(0.0, REST_HOLD)
                still = calibrate(first.scores[None], first.rotation[None],
                                  rigid_points(first.points, LANDMARKS["rigid"], first.aspect)[None])
                seen = np.array([seen_angles(read(yaw, HOLD), still) for yaw in YAWS])
        finally:
            ctx.release()
    return fit_turn_profile(seen)


def avatar_digest(avatar: Avatar) -> str:
    """Hex sha256 of what the tracker sees of an avatar: every part's mesh and every material's colour and
    texture, with the rig (the same file read twice, or the same avatar built twice, gives the same digest)."""
    h = hashlib.sha256()
    h.update(repr((avatar.skeleton.names, tuple(int(i) for i in avatar.skeleton.parents))).encode())
    for part in avatar.parts:
        h.update(f"{part.name}:{part.material}".encode())
        for a in (part.positions, part.indices, part.uvs, part.joints, part.weights):
            h.update(np.ascontiguousarray(a).tobytes())
    for key in sorted(avatar.materials):
        m = avatar.materials[key]
        h.update(f"{key}:{m.kind}:{m.base_color}:{m.roughness}:{m.alpha_mode}:{m.alpha_cutoff}:{m.double_sided}:"
                 f"{m.shader_scale}".encode())
        if m.texture is not None:
            h.update(np.ascontiguousarray(m.texture).tobytes())
    h.update(np.ascontiguousarray(avatar.skeleton.rest_positions, np.float32).tobytes())
    return h.hexdigest()


def cache_folder() -> Path:
    from avatar_engine.assets.cache import default_cache_dir

    return default_cache_dir() / CACHE_FOLDER


def turn_profile(avatar: Avatar, landmarker: str = "mediapipe", backend: str = "auto",
                 folder: Path | None = None) -> tuple[TurnProfile, bool]:
    """(the avatar's turn profile, whether it was measured now rather than read from `folder` (default
    `cache_folder()`)). A kept profile that cannot be read is measured again; one that cannot be kept is used
    all the same. Raises as `measure_turn_profile` does."""
    from avatar_engine.assets.registry import MODELS
    from avatar_engine.errors import AvatarError
    from avatar_engine.paths import write_json_atomic

    folder = cache_folder() if folder is None else Path(folder)
    tracker = next(m.sha256 for m in MODELS if m.name == "face_landmarker")  # a new model reads faces anew
    key = hashlib.sha256(f"{avatar_digest(avatar)}:{landmarker}:{backend}:{tracker}".encode()).hexdigest()
    path = folder / f"{key[:32]}-v{FORMAT}.json"
    try:
        return TurnProfile.from_dict(json.loads(path.read_text())), False
    except (OSError, ValueError, AttributeError):  # none kept yet, or a damaged file: measure it (again)
        pass
    profile = measure_turn_profile(avatar, landmarker, backend)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, profile.as_dict())
    except (OSError, AvatarError):  # a read-only cache: measured again next time
        pass
    return profile, True
