"""Live loop speed: frames per second and added latency (capture timestamp -> frame rendered and read back),
with the capture, tracker, solver, render and readback stages timed apart, in wall and in CPU time.

    PYTHONPATH=. python benchmarks/live_fps.py [--size 1280x720] [--samples 0] [--source-size 1280x720]
                                               [--seconds 20] [--clip clip.mp4] [--solo-frames 90]
                                               [--avatar me.glb] [--landmarker mediapipe|onnx] [--record]
                                               [--backend onnxruntime|torch|tensorrt] [--out result.json]

The avatar driven is the default head, or --avatar (issue 4 asks for a built avatar: `avatar build` one; a
built head's fitted hair can have up to four sheets where the default has two). A clip of the default head performing (the round-trip performance) at the source size is rendered once
(or --clip reuses one). "solo" runs each stage alone, one after the other, over the same frames: wall and
process CPU per frame (all threads: MediaPipe's graph, llvmpipe's rasteriser, FFmpeg's decoder), and the render
again with the cores idle 13 ms before each frame (`render_after_idle`, as at a camera's pace: on a virtual machine
whose host deschedules idle virtual CPUs, the rasteriser's wake-up shows here). Then the
loop runs the clip: "fast" reads the file as fast as the loop can (issue 4's speed figure) and "camera"
paces it at 30 fps as a webcam would (latency as users feel it), both with tracking overlapping rendering
(the default, the tracker's threads at nice +`tracker_nice` below the renderer's; with --record, "camera_record"
also writes the mp4 `avatar live --record` would, and reports its length), then "fast_serial" and "camera_serial"
with the two in turn (`PipelineOptions(overlap=False)`:
the better layout when other work keeps the cores busy). Each run reports its stages' wall time,
the CPU of the thread that ran each stage (`stage_cpu_ms`), the CPU per rendered frame of each thread group
(`cpu_ms_per_frame`: main = solve + render submission + readback; render_workers = llvmpipe; track_workers =
MediaPipe's graph; decode_workers = FFmpeg) and the load average: on the shared 2-core machine wall times
move with other work, CPU times much less.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from live_common import REFERENCE_CAMERA, parse_size, performance, render_clip, save

from avatar_engine.live import LiveAvatar, LiveOptions, LivePipeline, PipelineOptions, open_source
from avatar_engine.live.outputs import Output, RecordOutput
from avatar_engine.render.camera import Camera


class ReadbackOutput(Output):
    """Asks for pixels, as a recording or a virtual camera would, and does nothing with them."""

    def write(self, frame) -> None:
        pass


IDLE_BEFORE_RENDER_S = 0.013
"""The idle time before each frame of `render_after_idle`: a 30 fps camera's period less the loop's ~20 ms."""


def _per_frame(fn, n: int, idle_s: float = 0.0) -> dict:
    """Wall p50/p95 and process CPU per call of fn(i) over n calls (ms); with idle_s, sleeps that long (untimed)
    before each call."""
    walls, cpu = [], 0.0
    for i in range(n):
        if idle_s:
            time.sleep(idle_s)
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn(i)
        walls.append((time.perf_counter() - t0) * 1e3)
        cpu += time.process_time() - c0
    return {"wall_p50": round(float(np.percentile(walls, 50)), 2), "wall_p95": round(float(np.percentile(walls, 95)), 2),
            "cpu": round(cpu * 1e3 / n, 2)}


def solo(clip: Path, size, samples: int, n: int, avatar=None, landmarker: str = "mediapipe",
         backend: str = "onnxruntime") -> dict:
    """Each stage alone over the clip's first n frames (decode, track, solve, render, readback)."""
    from avatar_engine.pools import single_threaded_pools
    from avatar_engine.live.tracker import Tracker

    load0 = os.getloadavg()
    out, marks, solved = {}, [], []
    with open_source(str(clip)) as source, single_threaded_pools():
        frames = [source.read() for _ in range(n)]  # kept for the tracker; decode is timed on a second pass
        source.rewind()
        out["decode"] = _per_frame(lambda i: source.read(), n)
        with Tracker(landmarker=landmarker, backend=backend) as tracker:
            tracker.track(frames[0].rgb, 0)  # graph start-up is not a frame
            out["track"] = _per_frame(lambda i: marks.append(tracker.track(frames[i].rgb, frames[i].t_media_ns + 1)), n)
        with LiveAvatar(avatar, options=LiveOptions(size=size, samples=samples, landmarker=landmarker,
                                                    landmarker_backend=backend)) as live:
            out["solve"] = _per_frame(lambda i: solved.append(live.animate(marks[i], frames[i].t_media_ns + 1)), n)
            live.warm_up(track=False)
            out["render"] = _per_frame(lambda i: live.draw(solved[i]), n)
            # the same frames with the cores idle before each, as at a camera's pace: a host that deschedules idle
            # virtual CPUs makes the rasteriser's first wake slow (the "camera" runs pay it on every frame)
            out["render_after_idle"] = _per_frame(lambda i: live.draw(solved[i]), n, IDLE_BEFORE_RENDER_S)
            out["render_after_idle"]["idle_ms"] = IDLE_BEFORE_RENDER_S * 1e3
            out["readback"] = _per_frame(lambda i: live.read(), n)
    out["found_faces"] = sum(m is not None for m in marks)
    out["load_average"] = {"start": [round(v, 2) for v in load0], "end": [round(v, 2) for v in os.getloadavg()]}
    return out


def run(clip: Path, size, samples: int, realtime: bool, seconds: float, readback: bool, overlap: bool,
        avatar=None, landmarker: str = "mediapipe", backend: str = "onnxruntime", record: bool = False) -> dict:
    live = LiveAvatar(avatar, options=LiveOptions(size=size, samples=samples, landmarker=landmarker,
                                                  landmarker_backend=backend))
    with tempfile.TemporaryDirectory() as tmp, open_source(str(clip)) as source:
        outputs = [RecordOutput(Path(tmp) / "recording.mp4", realtime=realtime)] if record else \
            [ReadbackOutput()] if readback else []
        summary = LivePipeline(source, live, outputs, PipelineOptions(realtime=realtime, loop=True,
                                                                      max_seconds=seconds, overlap=overlap)).run()
        if record:  # what `avatar live --record` makes: its length and frames, against the run's
            import imageio_ffmpeg

            reader = imageio_ffmpeg.read_frames(str(Path(tmp) / "recording.mp4"))
            meta = next(reader)
            summary["recording"] = {"seconds": round(meta["duration"], 2), "fps": meta["fps"],
                                    "frames": sum(1 for _ in reader), "dropped_s": round(outputs[0].dropped_s, 2)}
    info = live.ctx.info
    live.close()
    summary["gl_renderer"] = info.get("GL_RENDERER")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1280x720", help="render size")
    ap.add_argument("--samples", type=int, default=0, help="MSAA samples of the render")
    ap.add_argument("--source-size", default="1280x720", help="size of the camera-like input clip")
    ap.add_argument("--seconds", type=float, default=20.0, help="how long each run lasts")
    ap.add_argument("--clip", help="reuse this input clip instead of rendering one")
    ap.add_argument("--no-readback", action="store_true", help="do not read the frames back (window-only use)")
    ap.add_argument("--no-serial", action="store_true", help="skip the runs with tracking and rendering in turn")
    ap.add_argument("--record", action="store_true",
                    help="also a camera-paced run recording an mp4, as avatar live --record does ('camera_record')")
    ap.add_argument("--solo-frames", type=int, default=90, help="frames per stage in the solo run (0: skip it)")
    ap.add_argument("--avatar", help="avatar file (.glb) to drive instead of the default head")
    ap.add_argument("--landmarker", choices=("mediapipe", "onnx"), default="mediapipe",
                    help="the tracker: MediaPipe's, or its models as ONNX on --backend (perception.onnx_landmarker)")
    ap.add_argument("--backend", choices=("onnxruntime", "torch", "tensorrt"), default="onnxruntime",
                    help="inference backend of --landmarker onnx (torch: CUDA where torch sees a GPU)")
    ap.add_argument("--out")
    args = ap.parse_args()
    size, source_size = parse_size(args.size), parse_size(args.source_size)
    avatar = None
    if args.avatar:
        from avatar_engine.io import read_glb

        avatar = read_glb(args.avatar)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(args.clip) if args.clip else Path(tmp) / "source.mp4"
        if not args.clip:
            weights, angles = performance(10.0)
            # a webcam frames a head smaller than the portrait reference: pull the camera back for wide frames
            camera = Camera(distance=0.75, target=REFERENCE_CAMERA.target)
            render_clip(clip, weights, angles, source_size, 0, camera)
        runs = {"solo": solo(clip, size, args.samples, args.solo_frames, avatar, args.landmarker, args.backend)} \
            if args.solo_frames else {}
        modes = [("fast", False, True), ("camera", True, True)]
        if args.record:
            modes += [("camera_record", True, True)]
        if not args.no_serial:
            modes += [("fast_serial", False, False), ("camera_serial", True, False)]
        runs.update({name: run(clip, size, args.samples, realtime, args.seconds, not args.no_readback, overlap, avatar,
                               args.landmarker, args.backend, record=name.endswith("_record"))
                     for name, realtime, overlap in modes})
    gl = runs["fast"].pop("gl_renderer")
    for name in runs:
        runs[name].pop("gl_renderer", None)
    save("live_fps", {"avatar": args.avatar or "default head", "landmarker": args.landmarker,
                      "backend": args.backend if args.landmarker == "onnx" else None, "render_size": list(size), "samples": args.samples, "source_size": list(source_size),
                      "readback": not args.no_readback, "gl_renderer": gl,
                      "tracker_nice": PipelineOptions().tracker_nice,
                      "note": "2 shared CPU cores: wall timings are noisy when other work runs (see load_average); "
                              "CPU times per frame are steadier", **runs}, args.out)


if __name__ == "__main__":
    main()
