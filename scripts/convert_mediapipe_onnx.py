"""Convert MediaPipe's face detector, 478-point landmark model and blend-shape model to ONNX, and check them.

    python scripts/convert_mediapipe_onnx.py            # into <model cache>/onnx, then the agreement report
    python scripts/convert_mediapipe_onnx.py --out DIR --no-check

The models come from the registry's verified face_landmarker.task; the ONNX files (opset 17, batch as
dimension 0) and manifest.json with their sha256 are written atomically. The check runs the TFLite originals
with LiteRT's interpreter and the ONNX files with ONNX Runtime (graph optimisation `basic`: the converted
graph itself) and the torch backend, on real inputs: two crops of grace_hopper.jpg and two renders of our
head, with MediaPipe's landmarks on each. It prints JSON and exits 1 when an error exceeds TFLITE_TOLERANCE.
Needs the [infer] and [track] extras and a headless GL context (EGL) for the renders.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

TFLITE_TOLERANCE = 1e-3
"""Max abs difference allowed between an ONNX output and the TFLite output, per output."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <model cache>/onnx)")
    parser.add_argument("--no-check", action="store_true", help="convert only, skip the TFLite agreement check")
    args = parser.parse_args(argv)

    from avatar_engine.assets import model_path
    from avatar_engine.errors import AvatarError
    from avatar_engine.infer import InferOptions, open_session
    from avatar_engine.infer import mediapipe_check as check
    from avatar_engine.infer.mediapipe_onnx import MODEL_NAMES, convert_mediapipe, read_manifest

    try:
        t0 = time.perf_counter()
        paths = convert_mediapipe(args.out)
        report = {"convert_s": round(time.perf_counter() - t0, 2), "out": str(next(iter(paths.values())).parent),
                  "manifest": read_manifest(next(iter(paths.values())).parent)}
        if not args.no_check:
            from avatar_engine.render.context import headless_context

            ctx = headless_context()
            images = check.photo_crops() + check.head_renders(ctx)
            ctx.release()
            inputs = check.batched_inputs(images)
            task = model_path("face_landmarker")
            agreement, ok = {}, True
            for name in MODEL_NAMES:
                reference = check.run_tflite(check.tflite_bytes(task, name), inputs[name])
                row = {"batch": len(images)}
                for label, options in (("onnxruntime_basic", InferOptions(backend="onnxruntime", device="cpu",
                                                                              ort_optimization="basic")),
                                       ("onnxruntime_all", InferOptions(backend="onnxruntime", device="cpu")),
                                       ("torch", InferOptions(backend="torch", device="cpu"))):
                    with open_session(paths[name], options) as session:
                        got = session.run({session.inputs[0].name: inputs[name]})
                    row[label] = check.max_abs_errors(got, reference)
                row["reference_max_abs"] = {k: float(abs(v).max()) for k, v in reference.items()}
                ok &= max(row["onnxruntime_basic"].values()) <= TFLITE_TOLERANCE
                agreement[name] = row
            report.update(inputs="grace_hopper.jpg (whole, head crop) + 2 head renders (neutral, jawOpen+smile)",
                          tolerance=TFLITE_TOLERANCE, agreement=agreement, within_tolerance=ok)
    except AvatarError as exc:
        print(f"convert_mediapipe_onnx: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(report, indent=2))
    return 0 if report.get("within_tolerance", True) else 1


if __name__ == "__main__":
    sys.exit(main())
