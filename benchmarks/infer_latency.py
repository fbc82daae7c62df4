"""Inference latency of MediaPipe's converted face models and the project's networks per backend and batch size.

    python benchmarks/infer_latency.py [--repeats 10] [--batches 1,4,16] [--out benchmarks/results/infer_latency.json]

For each model (face_detector 128x128, face_landmarks_detector 256x256, face_blendshapes 146 points; the builder's
networks in assets/models: recon 1404 landmark coordinates, texture_refine 15x64x64 UV features, hair_style 484
features), each backend that runs here (onnxruntime and torch on the CPU; torch on CUDA where it sees a device, with
its CUDA graphs and without (`cuda/no_graphs`); ONNX Runtime's CUDA provider where the installed build has one;
tensorrt where it imports and a CUDA device exists, with engines built by `avatar engines build`)
and each batch size: median and 90th-percentile wall time per call, per item, and
CPU time per call (all threads), after two warm-up calls. Inputs are seeded noise: uniform in each MediaPipe model's
input range, standard normal for the project's networks, whose inputs are normalised features (latency does not
depend on the values). The models are converted into a temporary folder first (about 1 s).

Each CPU case runs with 1 CPU thread and with the runtime's default (one per core): on this machine, whose 2 cores are
shared with other sessions, the default's spinning worker threads lose badly when the cores are busy (seen: 10x), so
the 1-thread figures are the steadier ones. All figures are noisy: `load_average` is the 1-minute load when the run
started; above the core count, wall times are inflated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from avatar_engine.errors import AvatarError
from avatar_engine.infer import InferOptions, open_session, tensorrt_usable
from avatar_engine.infer.select import ort_cuda_usable, torch_cuda_usable
from avatar_engine.infer.mediapipe_onnx import MODEL_NAMES, convert_mediapipe, face_spec

RESULTS = Path(__file__).resolve().parent / "results" / "infer_latency.json"
PROJECT_MODELS = Path(__file__).resolve().parents[1] / "assets" / "models"
PROJECT_NAMES = ("recon", "texture_refine", "hair_style")


def model_input(name: str, shape, batch: int, rng: np.random.Generator) -> np.ndarray:
    size = (batch, *[int(d) for d in shape[1:]])
    if name in PROJECT_NAMES:
        return rng.standard_normal(size).astype(np.float32)
    spec = face_spec()["models"][name]
    lo, hi = spec.get("input_range", (0.0, 256.0))  # blend-shape points are pixel coordinates
    return rng.uniform(lo, hi, size=size).astype(np.float32)


def gpu_name() -> str | None:
    if not torch_cuda_usable():
        return None
    import torch

    return torch.cuda.get_device_name(0)


def measure(session, x: np.ndarray, repeats: int) -> dict:
    feeds = {session.inputs[0].name: x}
    for _ in range(2):
        session.run(feeds)
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        session.run(feeds)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    median = float(np.median(wall))
    return {"median_ms": round(median * 1e3, 2), "p90_ms": round(float(np.percentile(wall, 90)) * 1e3, 2),
            "per_item_ms": round(median * 1e3 / len(x), 2), "cpu_ms": round(float(np.median(cpu)) * 1e3, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batches", default="1,4,16")
    parser.add_argument("--threads", default="0,1", help="CPU thread counts to try, 0 (the runtime's default, one "
                                                         "per core) first: torch's count is process-wide)")
    parser.add_argument("--out", default=str(RESULTS), help="where to save the JSON ('' to not save)")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    load = os.getloadavg()[0]
    runs = [("onnxruntime", "cpu"), ("torch", "cpu")] + [("torch", "cuda"), ("torch", "cuda/no_graphs")] * torch_cuda_usable() \
        + [("onnxruntime", "cuda")] * ort_cuda_usable() + [("tensorrt", "cuda")] * tensorrt_usable()
    rng = np.random.default_rng(0)
    cases: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {**convert_mediapipe(Path(tmp)), **{n: PROJECT_MODELS / f"{n}.onnx" for n in PROJECT_NAMES}}
        # thread counts outermost: torch's count is process-wide, so every default-threads case runs before any other
        for threads, name, (backend, device) in ((t, n, r) for t in thread_counts
                                                 for n in (*MODEL_NAMES, *PROJECT_NAMES) for r in runs):
            if device != "cpu" and threads != thread_counts[0]:
                continue  # the host's thread count does not matter to a GPU run: measured once
            key = f"{name}/{backend}/{device}" + (f"/threads={threads or 'default'}" if device == "cpu" else "")
            try:
                session = open_session(paths[name], InferOptions(backend=backend, device=device.split("/")[0],
                                                                 threads=threads, cuda_graphs=device == "cuda"))
            except AvatarError as exc:  # e.g. no TensorRT engine built yet
                cases[key] = {"skipped": str(exc)}
                continue
            with session:
                cases[key] = {"device": session.device}
                for batch in batches:
                    x = model_input(name, session.inputs[0].shape, batch, rng)
                    cases[key][f"batch_{batch}"] = measure(session, x, args.repeats)
    result = {"benchmark": "infer_latency", "repeats": args.repeats, "load_average": round(load, 2),
              "cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
              "gpu": gpu_name(),
              "note": "shared 2-core machine: noisy; threads=1 is the steadier figure when load_average > cpu_count", "cases": cases}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
