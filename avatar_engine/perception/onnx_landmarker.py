"""MediaPipe's face landmarker rebuilt on the inference backends: its three models as ONNX, its graph in numpy.

    with OnnxFaceLandmarker() as landmarker:                     # InferOptions picks the backend
        faces = landmarker.detect(rgb)                           # one photo: detector, then landmarks
        batch = landmarker.detect_batch([rgb1, rgb2, ...])       # many photos, each model run once per batch
        faces = landmarker.detect_video(frame, t_ms)             # a stream: the last face's landmarks place the
                                                                 # next crop; the detector runs when it is lost
        per_stream = landmarker.detect_streams([f1, f2], t_ms)   # several streams, one batch per model

It returns the same `FaceObservation` records as `perception.FaceLandmarker` (478 points, 52 scores, pose), so the
builder and the live loop can take either. Why: MediaPipe's Tasks API runs its graph on one CPU thread, one image
at a time; here each model is one `Session` (ONNX Runtime on the CPU, its CUDA provider, PyTorch or TensorRT), a
batch of photos is one call per model, and so are the frames of several streams tracked together. On a 2-core CPU
it costs about what MediaPipe does (benchmarks/onnx_landmarker.py); batches pay off on a GPU.

The graph, as MediaPipe's face landmarker task runs it (face_detector_graph, face_landmarks_detector_graph):
- detector: the image letterboxed to 128x128 in [-1, 1]; 896 SSD anchors (strides 8, 16, 16, 16); boxes and six
  keypoints decoded in 128-px units; sigmoid scores >= `min_detection_confidence`; weighted non-maximum suppression
  (IoU 0.3);
- crop: a square of 1.5x the box's long side, turned so the eyes lie level (detector keypoints 0 and 1, or
  landmarks 33 and 263 when tracking), resampled to 256x256 in [0, 1];
- landmarks: 478 x (x, y, z) in crop pixels, mapped back through the crop; the presence logit's sigmoid must reach
  `min_presence_confidence`;
- blend shapes: 146 of the landmarks in image pixels -> `_neutral` + 51 ARKit scores (tongueOut reads 0);
- pose: `face_geometry.FaceGeometry`, MediaPipe's metric Procrustes on the canonical mesh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_engine.errors import InputError, ModelError
from avatar_engine.infer.mediapipe_onnx import CONVERT_HINT, face_spec, onnx_model_path
from avatar_engine.infer.session import InferOptions
from avatar_engine.perception.face_geometry import FaceGeometry
from avatar_engine.perception.opencv import import_cv2
from avatar_engine.perception.landmarker import MODEL_NAME, FaceLandmarkerOptions, FaceObservation

DETECTOR_SIZE = 128
LANDMARK_SIZE = 256
ROI_SCALE = 1.5
"""The landmark crop's side over the face box's long side."""
NMS_IOU = 0.3
SCORE_CLIP = 100.0
TRACK_EYES = (33, 263)
"""Landmarks whose line sets the crop's rotation when tracking (outer eye corners: right, then left)."""


def ssd_anchors() -> np.ndarray:
    """(896, 2) anchor centres of the short-range face detector, normalised: a 16x16 grid with 2 anchors per cell
    (stride 8), then an 8x8 grid with 6 (three stride-16 layers of 2); every anchor is 1 x 1."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        y, x = np.mgrid[:grid, :grid]
        centres = np.stack([(x + 0.5) / grid, (y + 0.5) / grid], -1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float64)


ANCHORS = ssd_anchors()
ANCHORS.setflags(write=False)
"""The detector's anchors, made once (every detector call decodes against them)."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -SCORE_CLIP, SCORE_CLIP)))


@dataclass(frozen=True)
class Detection:
    """A face the detector found, in image pixels."""

    box: np.ndarray
    """(4,) x_min, y_min, x_max, y_max."""
    keypoints: np.ndarray
    """(6, 2) right eye, left eye, nose tip, mouth, right ear, left ear (the person's sides)."""
    score: float


def decode_detections(regressors: np.ndarray, logits: np.ndarray, letterbox: tuple[float, float, float],
                      min_score: float) -> list[Detection]:
    """One image's detector outputs -> faces after weighted non-maximum suppression, best first.
    regressors : (896, 16); logits : (896,) or (896, 1); letterbox : (side, pad_x, pad_y) of the square the
    image was pasted into."""
    anchors = ANCHORS
    scores = _sigmoid(np.asarray(logits, np.float64).reshape(-1))
    keep = np.flatnonzero(scores >= min_score)
    if not len(keep):
        return []
    raw = np.asarray(regressors, np.float64)[keep] / DETECTOR_SIZE
    centre = raw[:, :2] + anchors[keep]
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], 1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[keep][:, None]
    side, pad_x, pad_y = letterbox
    to_px = lambda p: p * side - np.array([pad_x, pad_y])  # noqa: E731
    boxes = np.concatenate([to_px(boxes[:, :2]), to_px(boxes[:, 2:])], 1)
    keypoints = to_px(keypoints)
    scores = scores[keep]
    # a box of no area has IoU 0 with itself: it never left the list and the loop ran for ever
    order = [int(k) for k in np.argsort(-scores) if np.all(boxes[k, 2:] > boxes[k, :2])]
    out = []
    while order:
        best = order[0]
        ious = _iou(boxes[best], boxes[order])
        group = [best] + [order[k] for k in np.flatnonzero(ious > NMS_IOU) if order[k] != best]
        w = scores[group][:, None]
        out.append(Detection((boxes[group] * w).sum(0) / w.sum(), (keypoints[group] * w[:, :, None]).sum(0)
                             / w.sum(), float(scores[best])))
        order = [k for k in order if k not in group]
    return out


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)


@dataclass(frozen=True)
class Crop:
    """A square region of the image turned by `angle`: crop pixel (u, v) of a `size` crop is
    centre + R(angle) @ ((u / size - 0.5) * side, (v / size - 0.5) * side) in image pixels (y down)."""

    centre: np.ndarray
    side: float
    angle: float

    def matrix(self, size: int) -> np.ndarray:
        """(2, 3) crop pixels -> image pixels."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        k = self.side / size
        rot = np.array([[c, -s], [s, c]]) * k
        return np.hstack([rot, (self.centre - rot @ np.array([size / 2, size / 2]))[:, None]])

    def to_image(self, points: np.ndarray, size: int) -> np.ndarray:
        m = self.matrix(size)
        return points @ m[:, :2].T + m[:, 2]


def crop_from_points(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> Crop:
    """The landmark model's crop for a face box (4,) whose level line runs from point a to point b (pixels)."""
    angle = -np.arctan2(-(b[1] - a[1]), b[0] - a[0])
    centre = (box[:2] + box[2:]) / 2
    return Crop(centre, float((box[2:] - box[:2]).max() * ROI_SCALE), float(angle))


def crop_pixels(rgb: np.ndarray, crop: Crop, size: int = LANDMARK_SIZE) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]: the image resampled under the crop (bilinear, black outside)."""
    cv2 = import_cv2("the ONNX landmarker's crops")

    m = crop.matrix(size)
    # warpAffine maps destination to source with WARP_INVERSE_MAP; pixel centres sit at +0.5 in both
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    full = np.vstack([m, [0, 0, 1]])
    dst_to_src = np.linalg.inv(shift) @ full @ shift
    out = cv2.warpAffine(rgb, dst_to_src[:2], (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.astype(np.float32) / 255.0


def letterboxed(rgb: np.ndarray, size: int = DETECTOR_SIZE) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The image centred in a black square, resampled to size x size in one warp (no full-size square is made, so
    a large frame costs no more than a small one): ((size, size, 3) in [-1, 1], (side, pad_x, pad_y)) where
    side is the square's side and pad_x, pad_y the image's offset in it, in image pixels."""
    cv2 = import_cv2("the ONNX landmarker's crops")

    h, w = rgb.shape[:2]
    side = max(h, w)
    pad_x, pad_y = (side - w) / 2, (side - h) / 2
    k = size / side
    # continuous coordinates, pixel centres at +0.5 on both sides: dst = k * (src + pad)
    m = np.array([[k, 0.0, k * pad_x + 0.5 * k - 0.5], [0.0, k, k * pad_y + 0.5 * k - 0.5]])
    small = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)  # as MediaPipe's letterboxing resamples (bilinear, black bars)
    return small.astype(np.float32) / 127.5 - 1.0, (float(side), float(pad_x), float(pad_y))


def _check_image(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 8:
        raise InputError(f"expected an (h, w, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def check_face_model(name: str, session, spec: dict) -> None:
    """ModelError (with the convert hint) when MediaPipe model `name`'s session does not take the input or give the
    outputs the landmarker reads (`spec`: `face_spec()`): a swapped model whose manifest agreed with it was reported
    as bad input (exit 2), and one with other output names would have been a KeyError."""
    model = spec["models"][name]
    size = model.get("input_size")
    want = (size, size, 3) if size else (len(spec["blendshape_landmarks"]), 2)
    got = tuple(session.inputs[0].shape[1:]) if len(session.inputs) == 1 else None
    missing = sorted(set(model["outputs"]) - {o.name for o in session.outputs})
    if got != want or missing:
        raise ModelError(f"{name}.onnx is not MediaPipe's {name}: it takes "
                         f"{'x'.join(map(str, got)) if got else f'{len(session.inputs)} inputs'} per face (expected "
                         f"{'x'.join(map(str, want))})" + (f" and lacks outputs {', '.join(missing)}" if missing else "")
                         + f"; {CONVERT_HINT}")


class OnnxFaceLandmarker:
    """The face landmarker on `avatar_engine.infer` sessions. A context manager; `close()` frees the sessions.

    `options` are the MediaPipe landmarker's (num_faces, confidences; its running mode is not used: `detect`,
    `detect_batch` and `detect_video` all work on one instance); `infer` chooses the backend; `onnx_dir` holds the
    converted models (`avatar engines convert`)."""

    def __init__(self, options: FaceLandmarkerOptions | None = None, infer: InferOptions | None = None,
                 onnx_dir: Path | None = None, task_path: Path | None = None) -> None:
        from avatar_engine.assets.registry import model_file
        from avatar_engine.infer import open_session

        import_cv2("the ONNX landmarker's crops")  # fail when opened, not at the first frame
        self.options = options or FaceLandmarkerOptions()
        infer = infer or InferOptions()
        self._sessions = {}
        spec = face_spec()
        try:
            for name in ("face_detector", "face_landmarks_detector", "face_blendshapes"):
                self._sessions[name] = open_session(onnx_model_path(name, onnx_dir), infer)
                check_face_model(name, self._sessions[name], spec)
            if any(session.device == "cuda" for session in self._sessions.values()):
                self.warm_up()
        except Exception:
            self.close()
            raise
        self.backend = self._sessions["face_detector"].backend
        self._geometry = FaceGeometry.from_task(model_file(MODEL_NAME, task_path, "face landmarker"))
        self._subset = np.asarray(spec["blendshape_landmarks"])
        self._tracked: list[list[np.ndarray]] = []  # per stream: last frame's faces, (478, 2) pixels each
        self._last_t_ms: int | None = None

    def warm_up(self) -> None:
        """Run each model once on one blank input. On CUDA the first run of a shape picks cuDNN's algorithms and
        captures the CUDA graph (seconds on an H200: a live session's first frames came 3 s late); done when the
        landmarker opens, every later single-face frame replays it."""
        for name, session in self._sessions.items():
            spec = session.inputs[0]
            self._run(name, np.zeros((1, *[int(d) for d in spec.shape[1:]]), np.float32))

    # --- the graph's stages, batched over (image, crop) pairs ---------------------------------------
    def _run(self, name: str, x: np.ndarray) -> dict[str, np.ndarray]:
        session = self._sessions[name]
        return session.run({session.inputs[0].name: np.ascontiguousarray(x, np.float32)})

    def _detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        inputs, boxes = zip(*(letterboxed(rgb) for rgb in images))
        out = self._run("face_detector", np.stack(inputs))
        regressors, logits = out["regressors"], out["classificators"]
        return [decode_detections(regressors[k], logits[k], boxes[k], self.options.min_detection_confidence)
                [:self.options.num_faces] for k in range(len(images))]

    def _landmarks(self, images: list[np.ndarray], crops: list[tuple[int, Crop]]
                   ) -> list[tuple[int, FaceObservation, np.ndarray]]:
        """(image index, face, (478, 2) pixel points) for each crop whose face is present."""
        if not crops:
            return []
        x = np.stack([crop_pixels(images[k], crop) for k, crop in crops])
        out = self._run("face_landmarks_detector", x)
        raw = out["Identity"].reshape(len(crops), -1, 3).astype(np.float64)
        presence = _sigmoid(out["Identity_1"].reshape(len(crops)))
        least = self.options.min_presence_confidence
        found = [(i, k, crop) for i, (k, crop) in enumerate(crops) if presence[i] >= least]
        if not found:
            return []
        points_px, normalised = [], []
        for i, k, crop in found:
            h, w = images[k].shape[:2]
            xy = crop.to_image(raw[i, :, :2], LANDMARK_SIZE)
            z = raw[i, :, 2] * crop.side / LANDMARK_SIZE
            points_px.append(xy)
            normalised.append(np.column_stack([xy[:, 0] / w, xy[:, 1] / h, z / w]).astype(np.float32))
        scores = self._run("face_blendshapes", np.stack([p[self._subset] for p in points_px]))
        scores = scores["StatefulPartitionedCall:0"].reshape(len(found), -1)
        results = []
        for j, (i, k, crop) in enumerate(found):
            h, w = images[k].shape[:2]
            arkit = np.zeros(52, np.float32)
            arkit[:51] = scores[j, 1:52]  # MediaPipe's order: _neutral, then the ARKit names but tongueOut
            pose = self._geometry.pose(normalised[j], (w, h))
            results.append((k, FaceObservation(normalised[j], arkit, pose), points_px[j]))
        return results

    # --- public -------------------------------------------------------------------------------------
    def detect_batch(self, images: list[np.ndarray]) -> list[list[FaceObservation]]:
        """Faces in each of several photos (largest detector score first); each model runs once for the batch."""
        images = [_check_image(rgb) for rgb in images]
        if not images:
            return []
        crops = [(k, crop_from_points(d.keypoints[0], d.keypoints[1], d.box))
                 for k, found in enumerate(self._detect(images)) for d in found]
        faces: list[list[FaceObservation]] = [[] for _ in images]
        for k, face, _ in self._landmarks(images, crops):
            faces[k].append(face)
        return faces

    def detect(self, rgb: np.ndarray) -> list[FaceObservation]:
        """Faces in one photo."""
        return self.detect_batch([rgb])[0]

    def detect_video(self, rgb: np.ndarray, t_ms: int) -> list[FaceObservation]:
        """Faces in one frame of a stream; t_ms must increase from call to call. Each face found last frame places
        its own crop (landmarks 33 and 263 level, 1.5x the landmarks' box); the detector runs only when there are
        fewer than num_faces of them."""
        return self.detect_streams([rgb], t_ms)[0]

    def detect_streams(self, frames: list[np.ndarray], t_ms: int) -> list[list[FaceObservation]]:
        """One frame of each of several streams, all taken at t_ms (increasing from call to call); frame k always
        comes from stream k. As `detect_video` per stream, but each model runs once for all the streams: several
        cameras (or one per player) tracked on one GPU in one batch."""
        frames = [_check_image(rgb) for rgb in frames]
        t_ms = int(t_ms)
        if self._last_t_ms is not None and t_ms <= self._last_t_ms:
            raise ValueError(f"video timestamps must increase: got t_ms={t_ms} after {self._last_t_ms}")
        self._last_t_ms = t_ms
        if len(self._tracked) != len(frames):  # the first call, or the set of streams changed: start afresh
            self._tracked = [[] for _ in frames]
        crops = [(k, crop_from_points(p[TRACK_EYES[0]], p[TRACK_EYES[1]], np.concatenate([p.min(0), p.max(0)])))
                 for k, faces in enumerate(self._tracked) for p in faces]
        found: list[list[tuple[FaceObservation, np.ndarray]]] = [[] for _ in frames]
        for k, face, points in self._landmarks(frames, crops):
            box = np.concatenate([points.min(0), points.max(0)])
            if not any(_iou(box, np.concatenate([p.min(0), p.max(0)])[None])[0] > NMS_IOU for _, p in found[k]):
                found[k].append((face, points))  # two tracks that drifted onto one face keep the first
        short = [k for k in range(len(frames)) if len(found[k]) < self.options.num_faces]
        if short:
            new_crops = []
            for k, detections in zip(short, self._detect([frames[k] for k in short])):
                boxes = [np.concatenate([p.min(0), p.max(0)]) for _, p in found[k]]
                room = self.options.num_faces - len(found[k])
                for d in detections:
                    if room and not (boxes and _iou(d.box, np.array(boxes)).max() > NMS_IOU):  # not tracked yet
                        new_crops.append((k, crop_from_points(d.keypoints[0], d.keypoints[1], d.box)))
                        room -= 1
            for k, face, points in self._landmarks(frames, new_crops):
                found[k].append((face, points))
        self._tracked = [[p for _, p in faces] for faces in found]
        return [[face for face, _ in faces] for faces in found]

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions = {}

    def __enter__(self) -> "OnnxFaceLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
