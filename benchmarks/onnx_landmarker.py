"""MediaPipe's face landmarker rebuilt on the inference backends (`perception.onnx_landmarker`) against MediaPipe's own:
agreement and time per photo, per stream frame and per batch.

    python benchmarks/onnx_landmarker.py [--subjects 20] [--repeats 20] [--out benchmarks/results/onnx_landmarker.json]

Images: grace_hopper.jpg whole and cropped, the astronaut photo, and `--subjects` known-truth renders of random
head-model identities (`build.synthetic`: yaw up to 30 degrees, mild expressions, 512x512).
- agreement, photo mode: both landmarkers' `detect` on each image; mean landmark distance as a fraction of the
  inter-pupil distance, largest blend-shape score difference, head rotation difference (degrees);
- agreement, stream mode: a 30-frame clip of a render turning its head and opening its jaw through both landmarkers'
  video modes (MediaPipe's smooths its landmarks along a stream; ours does not: the live solver filters);
- time: photo mode (detector + landmarks + blend shapes + pose), stream mode (landmarks + blend shapes + pose), and
  photos in batches of 1, 4 and 16 (one call per model), for each backend that runs here (ONNX Runtime on 1 thread
  and on its default threads, PyTorch on 1 CPU thread and, where torch sees a GPU, on CUDA with and without CUDA
  graphs), and MediaPipe's Tasks API for comparison. Median wall time per image.
Convert the models first: `avatar engines convert`. The 2 CPU cores are shared: `load_average` says how busy.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from result_file import emit

from avatar_engine.build.synthetic import random_subject, subject_photo, subject_view
from avatar_engine.head.model import HeadModel
from avatar_engine.infer import InferOptions
from avatar_engine.infer import mediapipe_check as check
from avatar_engine.infer.select import torch_cuda_usable
from avatar_engine.perception import FaceLandmarker, FaceLandmarkerOptions
from avatar_engine.perception.onnx_landmarker import OnnxFaceLandmarker
from avatar_engine.records import Expression
from avatar_engine.render.camera import Camera
from avatar_engine.render.context import headless_context


def compare(reference, face, size) -> dict[str, float]:
    scale = np.array(size, np.float64)
    ref, got = reference.points[:, :2] * scale, face.points[:, :2] * scale
    iod = np.linalg.norm(ref[468] - ref[473])
    ra, rb = (p[:3, :3] / np.linalg.norm(p[:3, 0]) for p in (reference.pose, face.pose))
    return {"landmarks_iod": float(np.linalg.norm(ref - got, axis=1).mean() / iod),
            "scores_max_abs": float(np.abs(reference.scores - face.scores).max()),
            "scores_mean_abs": float(np.abs(reference.scores - face.scores).mean()),
            "rotation_deg": float(np.degrees(np.arccos(np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1))))}


def summary(rows: list[dict]) -> dict:
    out = {}
    for key in rows[0]:
        v = np.array([r[key] for r in rows])
        out[key] = {"median": round(float(np.median(v)), 4), "p90": round(float(np.percentile(v, 90)), 4),
                    "max": round(float(v.max()), 4)}
    return out


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1e3, 2)


def clip(ctx, frames: int = 30) -> list[np.ndarray]:
    from avatar_engine.head.template import template_avatar
    from avatar_engine.render.renderer import STUDIO_BACKDROP, Renderer, RenderOptions

    out = []
    with Renderer(ctx, RenderOptions(size=(640, 480), background=STUDIO_BACKDROP)) as renderer:
        renderer.load(template_avatar())
        for k in range(frames):
            phase = k / frames * 2 * np.pi
            renderer.render(Expression.from_names({"jawOpen": 0.4 * (1 - np.cos(phase))}),
                            Camera(yaw_deg=25 * np.sin(phase), **check.HEAD_CAMERA))
            out.append(np.ascontiguousarray(renderer.read()[..., :3]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--seed", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    ctx = headless_context()

    from avatar_engine.build.image import load_photo

    root = os.path.join(os.path.dirname(__file__), "..")
    photos = check.photo_crops() + [load_photo(os.path.join(root, "assets", "photos", "astronaut.png"))]
    model = HeadModel.default()
    renders = []
    for k in range(args.subjects):
        subject = random_subject(np.random.default_rng(args.seed + k), model)
        renders.append(subject_photo(ctx, subject, subject_view(subject, (512, 512), model=model), model))
    stream = clip(ctx)

    result = {"benchmark": "onnx_landmarker", "load_average": round(load, 2), "cpu_count": os.cpu_count(),
              "machine": platform.machine(), "images": {"photos": len(photos), "renders": len(renders)}}
    with FaceLandmarker() as mediapipe, OnnxFaceLandmarker(infer=InferOptions(backend="onnxruntime", threads=1)) as ours:
        rows, missed = [], 0
        for rgb in photos + renders:
            ref, got = mediapipe.detect(rgb), ours.detect(rgb)
            if not ref or not got:
                missed += int(bool(ref) != bool(got))
                continue
            rows.append(compare(ref[0], got[0], (rgb.shape[1], rgb.shape[0])))
        result["photo_mode"] = {"compared": len(rows), "found_by_one_only": missed, **summary(rows)}
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="video")) as mediapipe, \
            OnnxFaceLandmarker(infer=InferOptions(backend="onnxruntime", threads=1)) as ours:
        rows = []
        for k, rgb in enumerate(stream):
            ref, got = mediapipe.detect_video(rgb, 33 * k), ours.detect_video(rgb, 33 * k)
            if ref and got:
                rows.append(compare(ref[0], got[0], (rgb.shape[1], rgb.shape[0])))
        result["stream_mode"] = {"frames": len(stream), "compared": len(rows), **summary(rows)}

    photo, frame = photos[2], stream[0]
    timings = {}
    with FaceLandmarker() as mediapipe:
        timings["mediapipe"] = {"photo_ms": timed(lambda: mediapipe.detect(photo), args.repeats)}
    with FaceLandmarker(FaceLandmarkerOptions(running_mode="video")) as mediapipe:
        t = iter(range(1, 10 ** 9))
        timings["mediapipe"]["stream_frame_ms"] = timed(lambda: mediapipe.detect_video(frame, 33 * next(t)),
                                                        args.repeats)
    backends = [("onnxruntime/threads=1", InferOptions(backend="onnxruntime", threads=1)),
                ("onnxruntime/threads=default", InferOptions(backend="onnxruntime")),
                ("torch/threads=1", InferOptions(backend="torch", device="cpu", threads=1))]
    if torch_cuda_usable():
        backends += [("torch/cuda", InferOptions(backend="torch", device="cuda")),
                     ("torch/cuda/no_graphs", InferOptions(backend="torch", device="cuda", cuda_graphs=False))]
    for label, infer in backends:
        try:
            landmarker = OnnxFaceLandmarker(infer=infer)
        except Exception as exc:  # a backend that does not run here
            timings[label] = {"skipped": str(exc).splitlines()[0][:160]}
            continue
        with landmarker:
            row = {"photo_ms": timed(lambda: landmarker.detect(photo), args.repeats)}
            t = iter(range(1, 10 ** 9))
            row["stream_frame_ms"] = timed(lambda: landmarker.detect_video(frame, 33 * next(t)), args.repeats)
            for batch in (1, 4, 16):
                images = (renders * 16)[:batch]
                row[f"batch_{batch}_ms_per_photo"] = round(
                    timed(lambda: landmarker.detect_batch(images), max(3, args.repeats // batch)) / batch, 2)
            timings[label] = row
    result["time"] = timings
    result["note"] = ("agreement: landmarks as a fraction of the inter-pupil distance; the tests' bounds are 2% "
                      "(photos) and 3.5% (streams), scores 0.2, rotation 1.5 degrees")
    emit(result, args.out)


if __name__ == "__main__":
    main()
