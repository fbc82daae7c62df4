"""MediaPipe's Face Landmarker (Tasks API) behind a small numpy interface.

    with FaceLandmarker(FaceLandmarkerOptions()) as landmarker:
        faces = landmarker.detect(rgb)              # rgb : (h, w, 3) uint8
        faces[0].scores_by_name()["jawOpen"]

MediaPipe is imported when a landmarker is created, never at import time, and its types never leave this
module: a result is a list of `FaceObservation` records of numpy arrays. The running mode is fixed when the
landmarker is made: "image" landmarkers answer `detect`, "video" landmarkers answer `detect_video` (which
tracks the face between frames and needs increasing timestamps); calling the other one raises at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from avatar_engine.errors import BackendError, ModelError
from avatar_engine.head.arkit import ARKIT_INDEX, ARKIT_NAMES

RunningMode = Literal["image", "video"]
RUNNING_MODES: tuple[str, ...] = ("image", "video")
MODEL_NAME = "face_landmarker.task"
"""Registry name of the model used when `FaceLandmarkerOptions.model_path` is None."""
POINT_COUNT = 478
"""468 face mesh points and 2 × 5 iris points."""
NEUTRAL_CATEGORY = "_neutral"
"""MediaPipe's first blend-shape category; it is not an ARKit shape and is dropped."""
UNSCORED: frozenset[str] = frozenset({"tongueOut"})
"""ARKit shapes MediaPipe's blend-shape model does not score (it has `_neutral` + 51 names); their score is 0."""
INSTALL_HINT = "install the tracking extra: pip install 'avatar-engine[track]' (mediapipe==1.2.2)"


@dataclass(frozen=True)
class FaceLandmarkerOptions:
    """How the face landmarker is made. Every field is checked when the landmarker is created."""

    model_path: Path | None = None
    """The `face_landmarker.task` bundle; None takes the verified copy from the model registry."""
    running_mode: RunningMode = "image"
    """"image": independent photos, `detect(rgb)`. "video": frames of one stream, `detect_video(rgb, t_ms)`,
    which runs the detector only when tracking is lost."""
    num_faces: int = 1
    """The most faces returned per image."""
    min_detection_confidence: float = 0.5
    """Face detector score below which a candidate face is dropped, in [0, 1]."""
    min_presence_confidence: float = 0.5
    """Landmark model's face-presence score below which a face is dropped, in [0, 1]."""
    min_tracking_confidence: float = 0.5
    """Video mode: below this, tracking is considered lost and the detector runs again, in [0, 1]."""

    def __post_init__(self) -> None:
        if self.running_mode not in RUNNING_MODES:
            raise ValueError(f"running_mode must be one of {RUNNING_MODES}, got {self.running_mode!r}")
        if not isinstance(self.num_faces, int) or self.num_faces < 1:
            raise ValueError(f"num_faces must be a positive integer, got {self.num_faces!r}")
        for name in ("min_detection_confidence", "min_presence_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")


@dataclass(frozen=True)
class FaceObservation:
    """One face found in one image."""

    points: np.ndarray
    """points : (478, 3) float32 landmarks; x and y normalised to the image (0..1, left to right, top to
    bottom), z a relative depth on about the scale of x (smaller is nearer the camera)."""
    scores: np.ndarray
    """scores : (52,) float32 blend-shape scores in [0, 1], ARKit order (`ARKIT_NAMES`); the shapes in
    `UNSCORED` (tongueOut) are not measured by MediaPipe and read 0."""
    pose: np.ndarray
    """pose : (4, 4) float32 facial transformation matrix: MediaPipe's canonical face model to camera space,
    in centimetres (camera looks down -z, so a face in front of it has negative z translation)."""

    def scores_by_name(self) -> dict[str, float]:
        """The scores as {ARKit name: score}."""
        return {name: float(s) for name, s in zip(ARKIT_NAMES, self.scores)}


class FaceLandmarker:
    """MediaPipe's face landmarker with blend shapes and head pose. A context manager; `close()` frees it."""

    def __init__(self, options: FaceLandmarkerOptions | None = None) -> None:
        self.options = options or FaceLandmarkerOptions()
        self._last_t_ms: int | None = None
        self._targets: np.ndarray | None = None
        self._task = None
        self._direct = None
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as exc:
            raise BackendError(f"the face landmarker needs MediaPipe ({exc}); {INSTALL_HINT}") from None
        self._mp = mp
        path = self._resolve_model_path()
        mode = vision.RunningMode.IMAGE if self.options.running_mode == "image" else vision.RunningMode.VIDEO
        mp_options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=mode,
            num_faces=self.options.num_faces,
            min_face_detection_confidence=self.options.min_detection_confidence,
            min_face_presence_confidence=self.options.min_presence_confidence,
            min_tracking_confidence=self.options.min_tracking_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        try:
            self._task = vision.FaceLandmarker.create_from_options(mp_options)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"MediaPipe could not load the face landmarker model {path}: {exc}") from None
        self._direct = _DirectVideo.of(self._task) if self.options.running_mode == "video" else None

    def _resolve_model_path(self) -> Path:
        from avatar_engine.assets.registry import model_file

        return model_file(MODEL_NAME, self.options.model_path, "face landmarker")

    # --- detection ----------------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray) -> list[FaceObservation]:
        """Faces in one photo. rgb : (h, w, 3) uint8. Needs running_mode "image"."""
        if self.options.running_mode != "image":
            raise RuntimeError("detect() needs a landmarker made with running_mode='image'; this one is 'video': "
                               "call detect_video(rgb, t_ms) for frames of a stream")
        result = self._open_task().detect(self._image(rgb))
        return self._observations(result)

    def detect_video(self, rgb: np.ndarray, t_ms: int) -> list[FaceObservation]:
        """Faces in one frame of a stream. rgb : (h, w, 3) uint8; t_ms : the frame's time in milliseconds,
        strictly increasing from call to call. Needs running_mode "video"."""
        if self.options.running_mode != "video":
            raise RuntimeError("detect_video() needs a landmarker made with running_mode='video'; this one is "
                               "'image': call detect(rgb) for single photos")
        t_ms = int(t_ms)
        if self._last_t_ms is not None and t_ms <= self._last_t_ms:
            raise ValueError(f"video timestamps must increase: got t_ms={t_ms} after {self._last_t_ms}")
        task = self._open_task()
        image = self._image(rgb)
        self._last_t_ms = t_ms
        if self._direct is not None:
            return self._direct.detect(image, t_ms, self._targets_for)
        return self._observations(task.detect_for_video(image, t_ms))

    def _open_task(self):
        if self._task is None:
            raise RuntimeError("this FaceLandmarker is closed")
        return self._task

    def _image(self, rgb: np.ndarray):
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
            # an empty image reached MediaPipe and came back as a C++ stack dump
            raise ValueError(f"expected an (h, w, 3) uint8 RGB image, got shape {rgb.shape} dtype {rgb.dtype}")
        return self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))

    def _observations(self, result) -> list[FaceObservation]:
        faces = []
        for i, landmarks in enumerate(result.face_landmarks):
            points = np.array([(p.x, p.y, p.z) for p in landmarks], np.float32)
            categories = result.face_blendshapes[i]
            targets = self._targets_for(lambda: [c.category_name for c in categories])
            scores = np.zeros(len(ARKIT_NAMES), np.float32)
            scores[targets] = [c.score for c in categories[1:]]
            pose = np.asarray(result.facial_transformation_matrixes[i], np.float32).reshape(4, 4)
            faces.append(FaceObservation(points=points, scores=scores, pose=pose))
        return faces

    def _targets_for(self, names) -> np.ndarray:
        """`_score_targets`, checked on the first result only. names : a callable returning the category names."""
        if self._targets is None:
            self._targets = self._score_targets(names())
        return self._targets

    def _score_targets(self, names: list[str]) -> np.ndarray:
        """ARKit index of each of MediaPipe's categories after `_neutral`, checked against `ARKIT_NAMES`."""
        if not names or names[0] != NEUTRAL_CATEGORY:
            raise ModelError(f"the face landmarker model's first blend shape is {names[:1]}, expected "
                             f"{NEUTRAL_CATEGORY!r}: not MediaPipe's blend-shape model")
        names = names[1:]
        unknown = [n for n in names if n not in ARKIT_INDEX]
        missing = [n for n in ARKIT_NAMES if n not in names and n not in UNSCORED]
        if unknown or missing or len(set(names)) != len(names):
            raise ModelError(f"the face landmarker model's blend shapes do not match ARKit's names (unknown: "
                             f"{unknown}, missing: {missing}, {len(names)} after {NEUTRAL_CATEGORY!r})")
        if names != [n for n in ARKIT_NAMES if n in names]:
            raise ModelError("the face landmarker model's blend shapes are not in ARKit's order")
        return np.array([ARKIT_INDEX[n] for n in names], np.intp)

    # --- lifetime -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Free MediaPipe's graph; safe to call twice."""
        self._direct = None
        if self._task is not None:
            task, self._task = self._task, None
            try:
                task.close()
            except RuntimeError:
                # closed on a thread that outlived the main one: MediaPipe's dispatcher pool shut down with it
                # ("cannot schedule new futures after shutdown"); the process is ending and frees the graph
                if threading.main_thread().is_alive():
                    raise
                if hasattr(task, "_handle"):  # or its own finaliser tries again and prints a traceback at exit
                    task._handle = None

    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() would otherwise fail noisily at interpreter shutdown
        try:
            self.close()
        except Exception:
            pass


class _DirectVideo:
    """MediaPipe 1.2's `detect_for_video` without its per-call costs: the public method hands each C call to a
    dispatcher thread (two thread hops a frame, each needing the GIL that the render thread holds while it
    draws) and builds 478 landmark objects in Python (~1.5 ms); this calls the same C functions on the caller's
    thread, as MediaPipe's own `Image` does, and reads the result into numpy. Same results (a test compares).
    `of()` returns None when this MediaPipe's internals differ, and the public method is used."""

    def __init__(self, task, raw, result_type, to_exception) -> None:
        self._task, self._raw, self._result_type, self._to_exception = task, raw, result_type, to_exception
        self._detect = raw.MpFaceLandmarkerDetectForVideo
        self._close_result = raw.MpFaceLandmarkerCloseResult

    @classmethod
    def of(cls, task) -> "_DirectVideo | None":
        try:
            from mediapipe.tasks.python.core import mediapipe_c_utils
            from mediapipe.tasks.python.vision import face_landmarker as module

            raw = task._lib._lib
            names = [f[0] for f in module.MpFaceLandmarkerResultC._fields_]
            if names[:4] != ["face_landmarks", "face_landmarks_count", "face_blendshapes", "face_blendshapes_count"]:
                return None
            if len(raw.MpFaceLandmarkerDetectForVideo.argtypes) != 6 or task._handle is None:
                return None
            point = module.landmark_c_lib.MpNormalizedLandmarkC
            if (point.x.offset, point.y.offset, point.z.offset) != (0, 4, 8):
                return None
            return cls(task, raw, module.MpFaceLandmarkerResultC, mediapipe_c_utils.convert_to_exception)
        except (ImportError, AttributeError, TypeError):
            return None

    def detect(self, image, t_ms: int, score_targets) -> list[FaceObservation]:
        import ctypes

        result, error = self._result_type(), ctypes.c_char_p()
        status = self._detect(self._task._handle, image._image_ptr, None, t_ms, ctypes.byref(result),
                              ctypes.byref(error))
        exc = self._to_exception(status, error)
        if error.value is not None:
            self._raw.MpErrorFree(error)
        if exc is not None:
            raise exc
        try:
            return [self._face(result, i, score_targets) for i in range(result.face_landmarks_count)]
        finally:
            self._close_result(ctypes.byref(result))

    @staticmethod
    def _face(result, i: int, score_targets) -> FaceObservation:
        import ctypes

        marks = result.face_landmarks[i]
        size = ctypes.sizeof(marks.landmarks._type_)  # x, y, z float32 first, then flags and a name pointer
        memory = (ctypes.c_char * (marks.landmarks_count * size)).from_address(ctypes.addressof(marks.landmarks.contents))
        points = np.frombuffer(memory, np.uint8).reshape(-1, size)[:, :12].copy().view(np.float32)
        cats = result.face_blendshapes[i]
        categories = [cats.categories[j] for j in range(cats.categories_count)]
        targets = score_targets(lambda: [c.category_name.decode() for c in categories])
        scores = np.zeros(len(ARKIT_NAMES), np.float32)
        scores[targets] = [c.score for c in categories[1:]]
        m = result.facial_transformation_matrixes[i]  # column-major floats
        pose = np.ctypeslib.as_array(m.data, (m.cols, m.rows)).T.astype(np.float32).reshape(4, 4)
        return FaceObservation(points=points, scores=scores, pose=pose)
