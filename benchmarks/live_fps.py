"""Live loop speed: frames per second and added latency (capture timestamp -> frame rendered and read back),
with the capture, tracker, solver, render and readback stage times reported apart.

    PYTHONPATH=. python benchmarks/live_fps.py [--size 1280x720] [--samples 0] [--source-size 1280x720]
                                               [--seconds 20] [--clip clip.mp4]

A clip of the default head performing (the round-trip performance) at the source size is rendered once
(or --clip reuses one), then the loop runs it twice: "fast" reads the file as fast as the loop can (stale
frames dropped: issue 4's speed figure) and "camera" paces it at 30 fps as a webcam would (latency as users
feel it). Rendering is not optimised here: compare the render stage with the tracker to see the bottleneck.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from live_common import REFERENCE_CAMERA, performance, render_clip, save

from avatar_engine.live import LiveAvatar, LiveOptions, LivePipeline, PipelineOptions, open_source
from avatar_engine.live.outputs import Output
from avatar_engine.render.camera import Camera


class ReadbackOutput(Output):
    """Asks for pixels, as a recording or a virtual camera would, and does nothing with them."""

    def write(self, frame) -> None:
        pass


def parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def run(clip: Path, size, samples: int, realtime: bool, seconds: float, readback: bool) -> dict:
    live = LiveAvatar(options=LiveOptions(size=size, samples=samples))
    with open_source(str(clip)) as source:
        summary = LivePipeline(source, live, [ReadbackOutput()] if readback else [],
                               PipelineOptions(realtime=realtime, loop=True, max_seconds=seconds)).run()
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
    ap.add_argument("--out")
    args = ap.parse_args()
    size, source_size = parse_size(args.size), parse_size(args.source_size)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(args.clip) if args.clip else Path(tmp) / "source.mp4"
        if not args.clip:
            weights, angles = performance(10.0)
            # a webcam frames a head smaller than the portrait reference: pull the camera back for wide frames
            camera = Camera(distance=0.75, target=REFERENCE_CAMERA.target)
            render_clip(clip, weights, angles, source_size, 0, camera)
        runs = {name: run(clip, size, args.samples, realtime, args.seconds, not args.no_readback)
                for name, realtime in (("fast", False), ("camera", True))}
    gl = runs["fast"].pop("gl_renderer")
    runs["camera"].pop("gl_renderer")
    save("live_fps", {"render_size": list(size), "samples": args.samples, "source_size": list(source_size),
                      "readback": not args.no_readback, "gl_renderer": gl,
                      "note": "2 shared CPU cores: timings are noisy when other work runs", **runs}, args.out)


if __name__ == "__main__":
    main()
