"""Real inputs for MediaPipe's three face models, and their TFLite reference outputs.

Used by `scripts/convert_mediapipe_onnx.py` (agreement report) and the tests: a photo or a render plus
MediaPipe's own 478 landmarks on it give the three models what MediaPipe's graph would feed them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from avatar_engine.errors import BackendError, InputError
from avatar_engine.infer.mediapipe_onnx import face_spec

ROI_SCALE = 1.5
"""The landmark model's crop is this times the landmarks' bounding box (MediaPipe's face ROI scale)."""


def _resized(image, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0


def face_model_inputs(rgb: np.ndarray, points: np.ndarray) -> dict[str, np.ndarray]:
    """Inputs of the three models for one image, batch 1, keyed by model name.

    rgb : (h, w, 3) uint8 image; points : (478, 3) MediaPipe landmarks, x and y normalised to the image.
    face_detector : (1, 128, 128, 3) the whole image letterboxed to a square, in [-1, 1];
    face_landmarks_detector : (1, 256, 256, 3) a square crop of ROI_SCALE x the landmarks' box, in [0, 1];
    face_blendshapes : (1, 146, 2) the blend-shape subset of the landmarks, in image pixels."""
    from PIL import Image

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"expected an (h, w, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    image = Image.fromarray(rgb)
    side = max(h, w)
    square = Image.new("RGB", (side, side))
    square.paste(image, ((side - w) // 2, (side - h) // 2))
    models = face_spec()["models"]
    detector = _resized(square, models["face_detector"]["input_size"]) * 2.0 - 1.0
    xy = points[:, :2] * np.array([w, h], np.float32)
    centre, extent = (xy.min(0) + xy.max(0)) / 2, (xy.max(0) - xy.min(0)).max() * ROI_SCALE
    box = tuple(int(round(v)) for v in (*(centre - extent / 2), *(centre + extent / 2)))
    crop = _resized(image.crop(box), models["face_landmarks_detector"]["input_size"])
    subset = xy[np.asarray(face_spec()["blendshape_landmarks"])]
    return {"face_detector": detector[None], "face_landmarks_detector": crop[None],
            "face_blendshapes": subset[None].astype(np.float32)}


def tflite_bytes(task_path: Path, name: str) -> bytes:
    """The TFLite member of face_landmarker.task that model `name` was converted from."""
    with zipfile.ZipFile(task_path) as archive:
        return archive.read(face_spec()["models"][name]["member"])


def run_tflite(data: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run a one-input TFLite model on each item of batch `x` with LiteRT's interpreter (the reference).

    Returns {output name: (batch, ...) float32}; TFLite's batch-less outputs get the batch axis prepended."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise BackendError(f"the TFLite reference needs ai-edge-litert ({exc}); pip install 'avatar-engine[infer]'") \
            from None
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    outputs: dict[str, list[np.ndarray]] = {}
    for item in x:
        interpreter.set_tensor(source["index"], item[None].astype(np.float32))
        interpreter.invoke()
        for d in interpreter.get_output_details():
            y = interpreter.get_tensor(d["index"])
            outputs.setdefault(d["name"], []).append(y[0] if y.shape[:1] == (1,) else y)
    return {k: np.stack(v) for k, v in outputs.items()}


def max_abs_errors(got: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, float]:
    """{output: max |got - reference|}; InputError when names or shapes differ."""
    if set(got) != set(reference):
        raise InputError(f"outputs differ: {sorted(got)} vs {sorted(reference)}")
    errors = {}
    for k, ref in reference.items():
        if got[k].shape != ref.shape:
            raise InputError(f"output {k}: shape {got[k].shape} vs reference {ref.shape}")
        errors[k] = float(np.abs(got[k] - ref).max())
    return errors


HEAD_CAMERA = dict(distance=0.55, target=(0.0, 0.10, 0.05))
"""Frames our head from hairline to chin (as the MediaPipe judge tests do)."""
HEAD_EXPRESSIONS = ({}, {"jawOpen": 0.6, "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8})


def head_renders(ctx, size: int = 256, expressions=HEAD_EXPRESSIONS) -> list[np.ndarray]:
    """Renders of the default head, one per expression: (size, size, 3) uint8 each."""
    from avatar_engine.head.template import template_avatar
    from avatar_engine.records import Expression
    from avatar_engine.render.camera import Camera
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    with Renderer(ctx, RenderOptions(size=(size, size), background=STUDIO_BACKDROP)) as renderer:
        renderer.load(template_avatar())
        images = []
        for weights in expressions:
            renderer.render(Expression.from_names(weights), Camera(**HEAD_CAMERA))
            images.append(np.ascontiguousarray(renderer.read()[..., :3]))
    return images


def photo_crops() -> list[np.ndarray]:
    """Two crops of matplotlib's grace_hopper.jpg (512 x 600): the whole portrait and a tighter head crop."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        rgb = np.asarray(image.convert("RGB"))
    return [rgb, np.ascontiguousarray(rgb[20:420, 56:456])]


def batched_inputs(images: list[np.ndarray]) -> dict[str, np.ndarray]:
    """{model: (len(images), ...) inputs}, landmarks from MediaPipe's own face landmarker on each image.

    InputError when MediaPipe finds no face in one of them."""
    from avatar_engine.perception import FaceLandmarker

    per_image = []
    with FaceLandmarker() as landmarker:
        for k, rgb in enumerate(images):
            faces = landmarker.detect(rgb)
            if not faces:
                raise InputError(f"MediaPipe finds no face in reference image {k}")
            per_image.append(face_model_inputs(rgb, faces[0].points))
    return {name: np.concatenate([p[name] for p in per_image]) for name in per_image[0]}
