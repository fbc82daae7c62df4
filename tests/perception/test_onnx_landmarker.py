"""The face landmarker on the inference backends agrees with MediaPipe's own, photo by photo and along a stream."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="onnx is not installed (pip install 'avatar-engine[infer]')")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'avatar-engine[infer]')")
pytest.importorskip("mediapipe", reason="mediapipe is not installed (pip install 'avatar-engine[track]')")

from avatar_engine.errors import InputError  # noqa: E402
from avatar_engine.infer import InferOptions  # noqa: E402
from avatar_engine.infer import mediapipe_check as check  # noqa: E402
from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions  # noqa: E402
from avatar_engine.perception.face_geometry import FaceGeometry  # noqa: E402
from avatar_engine.perception.onnx_landmarker import OnnxFaceLandmarker, ssd_anchors  # noqa: E402
from avatar_engine.records import Expression  # noqa: E402
from avatar_engine.render.camera import Camera  # noqa: E402

LANDMARK_TOLERANCE_IOD = 0.02
"""Mean landmark distance to MediaPipe's, as a fraction of the inter-pupil distance (seen: 0.5-1.0%: the same
models on crops resampled a little differently)."""
SCORE_TOLERANCE = 0.2
"""Largest blend-shape score difference to MediaPipe's (seen: 0.04-0.16; MediaPipe's own video and image modes
differ by up to 0.16 on the stream below)."""
STREAM_LANDMARK_TOLERANCE_IOD = 0.035
"""Along a stream MediaPipe also smooths its landmarks, which lag a turning head: its own video and image modes
differ by 1.2-2.1% there (ours from its video mode: 1.0-2.4%)."""
POSE_TOLERANCE_DEG = 1.5
"""Head rotation difference to MediaPipe's (seen: 0.2-0.7 degrees)."""


def inter_pupil(points_px: np.ndarray) -> float:
    return float(np.linalg.norm(points_px[468] - points_px[473]))


def rotation_deg(a: np.ndarray, b: np.ndarray) -> float:
    ra = a[:3, :3] / np.linalg.norm(a[:3, 0])
    rb = b[:3, :3] / np.linalg.norm(b[:3, 0])
    return float(np.degrees(np.arccos(np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1))))


def assert_agree(reference, face, size, landmark_tolerance: float = LANDMARK_TOLERANCE_IOD) -> None:
    scale = np.array(size, np.float64)
    ref_px, got_px = reference.points[:, :2] * scale, face.points[:, :2] * scale
    error = np.linalg.norm(ref_px - got_px, axis=1).mean() / inter_pupil(ref_px)
    assert error <= landmark_tolerance, error
    assert np.abs(reference.scores - face.scores).max() <= SCORE_TOLERANCE
    assert rotation_deg(reference.pose, face.pose) <= POSE_TOLERANCE_DEG


@pytest.fixture(scope="module")
def landmarkers(onnx_dir):
    with FaceLandmarker() as mediapipe, OnnxFaceLandmarker(
            infer=InferOptions(backend="onnxruntime", device="cpu"), onnx_dir=onnx_dir) as ours:
        yield mediapipe, ours


@pytest.fixture(scope="module")
def images(gl_context):
    return check.photo_crops() + check.head_renders(gl_context, size=320)


def test_anchors_are_the_short_range_detectors():
    anchors = ssd_anchors()
    assert anchors.shape == (896, 2)
    assert np.allclose(anchors[0], [1 / 32, 1 / 32]) and np.allclose(anchors[-1], [15 / 16, 15 / 16])


def test_pose_from_mediapipes_landmarks_is_mediapipes_pose(landmarkers, images):
    from avatar_engine.assets.registry import model_file

    geometry = FaceGeometry.from_task(model_file("face_landmarker.task", None, "face landmarker"))
    mediapipe, _ = landmarkers
    for rgb in images[:2]:
        face = mediapipe.detect(rgb)[0]
        assert np.allclose(geometry.pose(face.points, (rgb.shape[1], rgb.shape[0])), face.pose, atol=1e-3)


def test_photos_and_renders_agree_with_mediapipe(landmarkers, images):
    mediapipe, ours = landmarkers
    for rgb in images:
        (reference,), faces = mediapipe.detect(rgb), ours.detect(rgb)
        assert len(faces) == 1
        assert faces[0].points.shape == (478, 3) and faces[0].scores.shape == (52,)
        assert faces[0].scores[-1] == 0.0  # tongueOut: not scored
        assert_agree(reference, faces[0], (rgb.shape[1], rgb.shape[0]))


def test_a_batch_gives_what_each_photo_gives_alone(landmarkers, images):
    _, ours = landmarkers
    batch = ours.detect_batch(images)
    for rgb, faces in zip(images, batch):
        (alone,) = ours.detect(rgb)
        assert np.allclose(faces[0].points, alone.points, atol=1e-4)
        assert np.allclose(faces[0].scores, alone.scores, atol=1e-4)


def test_a_stream_is_tracked_from_frame_to_frame(gl_context, onnx_dir):
    # against MediaPipe's own video mode: both place each crop from the last frame's landmarks
    from avatar_engine.head.template import template_avatar
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    frames = []
    with Renderer(gl_context, RenderOptions(size=(320, 240), background=STUDIO_BACKDROP)) as renderer:
        renderer.load(template_avatar())
        for k, yaw in enumerate(np.linspace(-20, 20, 6)):
            camera = Camera(yaw_deg=float(yaw), **check.HEAD_CAMERA)
            renderer.render(Expression.from_names({"jawOpen": 0.1 * k}), camera)
            frames.append(np.ascontiguousarray(renderer.read()[..., :3]))
    with OnnxFaceLandmarker(infer=InferOptions(backend="onnxruntime", device="cpu"), onnx_dir=onnx_dir) as stream, \
            FaceLandmarker(FaceLandmarkerOptions(running_mode="video")) as mediapipe:
        detector_calls = []
        detect = stream._detect
        stream._detect = lambda images: detector_calls.append(1) or detect(images)
        for k, rgb in enumerate(frames):
            (face,) = stream.detect_video(rgb, 33 * k)
            assert_agree(mediapipe.detect_video(rgb, 33 * k)[0], face, (320, 240), STREAM_LANDMARK_TOLERANCE_IOD)
        assert len(detector_calls) == 1  # only the first frame needed the detector
        with pytest.raises(ValueError, match="increase"):
            stream.detect_video(frames[0], 0)


def test_no_face_and_bad_images(landmarkers):
    _, ours = landmarkers
    assert ours.detect(np.full((240, 320, 3), 90, np.uint8)) == []
    with pytest.raises(InputError, match="uint8 image"):
        ours.detect(np.zeros((240, 320), np.uint8))
    with pytest.raises(InputError, match="uint8 image"):
        ours.detect(np.zeros((240, 320, 3), np.float32))


def test_num_faces_limits_what_is_returned(onnx_dir, images):
    with OnnxFaceLandmarker(FaceLandmarkerOptions(num_faces=1, min_detection_confidence=0.99),
                            InferOptions(backend="onnxruntime", device="cpu"), onnx_dir) as strict:
        found = strict.detect(images[0])
    assert len(found) <= 1


def test_the_builder_and_the_live_tracker_take_it(onnx_dir, images, monkeypatch):
    from avatar_engine.build.pipeline import Builder, BuildOptions
    from avatar_engine.infer import mediapipe_onnx
    from avatar_engine.live.tracker import Tracker

    monkeypatch.setattr(mediapipe_onnx, "default_onnx_dir", lambda: onnx_dir)
    with Builder(BuildOptions(landmarker="onnx", backend="onnxruntime", hair=False)) as builder:
        result = builder.build(images[0])  # grace_hopper.jpg
        check = builder.check_render(result)  # it also judges the render
    assert result.fit.reprojection_error <= 0.03  # the builder's targets, as with MediaPipe's landmarker
    assert check.found and check.mean <= 0.04
    with Tracker(FaceLandmarkerOptions(running_mode="video"), landmarker="onnx", backend="onnxruntime") as tracker:
        frames = [tracker.track(rgb, 33_000_000 * k) for k, rgb in enumerate(images[2:])]
    assert all(f is not None and f.points.shape == (478, 3) for f in frames)


def test_an_unknown_landmarker_is_refused():
    from avatar_engine.errors import InputError as Refused
    from avatar_engine.live.api import LiveOptions
    from avatar_engine.perception.choice import open_face_landmarker

    with pytest.raises(Refused, match="unknown face landmarker"):
        open_face_landmarker("dlib")
    with pytest.raises(ValueError, match="landmarker must be one of"):
        LiveOptions(landmarker="dlib")


def test_streams_tracked_in_one_batch_match_each_tracked_alone(onnx_dir, images):
    # three "cameras": each stream's faces are what its own tracker finds, and a stream without a face stays empty
    streams = [[images[0], images[1]], [images[2], images[3]], [np.full((240, 320, 3), 90, np.uint8)] * 2]
    infer = InferOptions(backend="onnxruntime", device="cpu")
    with OnnxFaceLandmarker(infer=infer, onnx_dir=onnx_dir) as together:
        batched = [together.detect_streams([s[t] for s in streams], 33 * t) for t in range(2)]
    for k, stream in enumerate(streams):
        with OnnxFaceLandmarker(infer=infer, onnx_dir=onnx_dir) as alone:
            for t, rgb in enumerate(stream):
                want = alone.detect_video(rgb, 33 * t)
                got = batched[t][k]
                assert len(got) == len(want) == (0 if k == 2 else 1)
                for g, w in zip(got, want):
                    assert np.allclose(g.points, w.points, atol=1e-4) and np.allclose(g.scores, w.scores, atol=1e-4)


@pytest.mark.parametrize("roll_deg", [-35, 35])
def test_a_tilted_face_is_cropped_level(landmarkers, images, roll_deg):
    # the crop turns with the eyes (detector keypoints 0 -> 1); a sign error would feed the model a face tilted 70 deg
    from PIL import Image

    mediapipe, ours = landmarkers
    rgb = np.asarray(Image.fromarray(images[0]).rotate(roll_deg, resample=Image.BILINEAR, expand=True))
    (reference,), (face,) = mediapipe.detect(rgb), ours.detect(rgb)
    assert_agree(reference, face, (rgb.shape[1], rgb.shape[0]))


def test_two_faces_are_tracked_apart(onnx_dir, images):
    # num_faces=2 on a frame with two people: both are found, each once, and stay separate frame after frame
    left = images[1]  # grace_hopper's head
    pair = np.full((left.shape[0], 2 * left.shape[1] + 40, 3), 120, np.uint8)
    pair[:, :left.shape[1]] = left
    pair[:, -left.shape[1]:] = left[:, ::-1]
    with OnnxFaceLandmarker(FaceLandmarkerOptions(num_faces=2), InferOptions(backend="onnxruntime", device="cpu"),
                            onnx_dir) as stream:
        for t in range(3):
            faces = stream.detect_video(pair, 33 * t)
            assert len(faces) == 2
            centres = sorted(float(f.points[:, 0].mean()) for f in faces)
            assert centres[0] < 0.5 < centres[1]


def test_auto_takes_the_onnx_landmarker_only_on_a_gpu_with_the_models_converted(onnx_dir, monkeypatch, tmp_path):
    import avatar_engine.infer.select as select
    from avatar_engine.infer import mediapipe_onnx
    from avatar_engine.perception.choice import resolve_landmarker

    monkeypatch.setattr(mediapipe_onnx, "default_onnx_dir", lambda: onnx_dir)
    monkeypatch.setattr(select, "tensorrt_usable", lambda: False)
    monkeypatch.setattr(select, "ort_cuda_usable", lambda: False)
    monkeypatch.setattr(select, "nvidia_driver_present", lambda: True)
    for gpu, want in ((True, "onnx"), (False, "mediapipe")):
        monkeypatch.setattr(select, "torch_cuda_usable", lambda gpu=gpu: gpu)
        assert resolve_landmarker("auto") == want
        assert resolve_landmarker("auto", backend="onnxruntime") == "mediapipe"  # ONNX Runtime here: the CPU
        assert resolve_landmarker("mediapipe") == "mediapipe" and resolve_landmarker("onnx") == "onnx"
    monkeypatch.setattr(select, "ort_cuda_usable", lambda: True)  # an onnxruntime-gpu build...
    monkeypatch.setattr(select, "nvidia_driver_present", lambda: False)  # ...on a machine without a driver
    assert resolve_landmarker("auto", backend="onnxruntime") == "mediapipe"
    monkeypatch.setattr(select, "nvidia_driver_present", lambda: True)
    assert resolve_landmarker("auto", backend="tensorrt") == "mediapipe"  # asked for, but TensorRT is not usable
    monkeypatch.setattr(mediapipe_onnx, "default_onnx_dir", lambda: tmp_path)  # not converted: MediaPipe's
    assert resolve_landmarker("auto") == "mediapipe"


def test_no_nvidia_driver_means_torch_is_not_even_imported_to_ask(monkeypatch):
    import avatar_engine.infer.select as select

    monkeypatch.setattr(select.sys, "platform", "linux")
    monkeypatch.setattr(select, "NVIDIA_DEVICE_FILES", ("/nonexistent/nvidiactl",))
    monkeypatch.setattr("avatar_engine.infer.torch_backend.cuda_available", lambda: pytest.fail("torch was asked"))
    monkeypatch.setattr(select, "tensorrt_usable", lambda: pytest.fail("tensorrt was asked"))
    monkeypatch.setattr(select, "ort_cuda_usable", lambda: pytest.fail("onnxruntime was asked"))
    assert not select.torch_cuda_usable()
    assert select.resolve_backend(InferOptions()) == "onnxruntime"


def test_detections_of_no_area_are_dropped_not_looped_on():
    # with min_detection_confidence 0 a blank frame's anchors pass with all-zero boxes: IoU 0 with themselves kept
    # them in the suppression loop for ever
    from avatar_engine.perception.onnx_landmarker import decode_detections

    regressors = np.zeros((896, 16), np.float32)
    logits = np.full(896, -50.0, np.float32)
    logits[:3] = 5.0
    regressors[2, 2:4] = 20.0  # one real box among two of no area
    found = decode_detections(regressors, logits, (128.0, 0.0, 0.0), 0.0)
    assert len(found) >= 1 and all(np.isfinite(d.box).all() for d in found)
    assert found[0].box[2] > found[0].box[0]


def test_without_opencv_it_refuses_to_open_naming_the_extra(monkeypatch):
    """OpenCV comes with the [track] extra; with only [infer] the landmarker says so when opened."""
    import sys

    from avatar_engine.errors import BackendError
    from avatar_engine.perception.onnx_landmarker import OnnxFaceLandmarker

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    with pytest.raises(BackendError, match=r"ONNX landmarker.*OpenCV.*avatar-engine\[track\]"):
        OnnxFaceLandmarker()


def test_a_swapped_model_whose_manifest_agrees_is_a_model_fault(onnx_dir, tmp_path):
    """The blend-shape model copied over the detector, the manifest rewritten to match: it was opened and blamed on
    the image ("input ... has shape (1, 128, 128, 3), expected Nx146x2", exit 2)."""
    import hashlib
    import json
    import shutil

    from avatar_engine.errors import ModelError

    copied = tmp_path / "onnx"
    shutil.copytree(onnx_dir, copied)
    shutil.copy(copied / "face_blendshapes.onnx", copied / "face_detector.onnx")
    manifest = json.loads((copied / "manifest.json").read_text())
    manifest["face_detector"]["sha256"] = hashlib.sha256((copied / "face_detector.onnx").read_bytes()).hexdigest()
    (copied / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"face_detector.onnx is not MediaPipe's face_detector: it takes 146x2 per "
                                         r"face \(expected 128x128x3\) and lacks outputs .*avatar engines convert"):
        OnnxFaceLandmarker(infer=InferOptions(backend="onnxruntime", device="cpu"), onnx_dir=copied)
