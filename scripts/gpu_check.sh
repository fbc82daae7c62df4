#!/bin/bash
# The checks that need an NVIDIA GPU, in one run: the CUDA agreement tests, then the GPU figures (inference latency
# per backend and batch, the ONNX landmarker, the builder with its networks on CUDA, the renderer on the GPU's EGL,
# the live loop). Results go to OUT_DIR as JSON (benchmarks/results/*_h200.json came from this on an H200).
#
#   [PYTHON=.venv/bin/python] bash scripts/gpu_check.sh OUT_DIR [AVATAR.glb CLIP.mp4]
#
# Needs the [track] and [infer] extras with a CUDA build of torch, NVIDIA's EGL (libegl1 and the driver) and the
# converted face models (`avatar engines convert`, run here first). The live-loop run needs a built avatar and a
# 1280x720 clip (benchmarks/live_common.py renders one); without them it is skipped. About 5 minutes on an H200.
set -u
py=${PYTHON:-python3}  # the interpreter with the extras installed
out=${1:?usage: gpu_check.sh OUT_DIR [AVATAR.glb CLIP.mp4]}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$py" -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; print(torch.cuda.get_device_name(0))" || exit 2
"$py" -m avatar_engine.cli engines convert | tail -1
timeout 300 "$py" -m pytest -q -s -p no:cacheprovider tests/infer/test_backends.py -rs 2>&1 | tee "$out/pytest_cuda.txt" | tail -3
timeout 300 "$py" benchmarks/infer_latency.py --repeats 20 --batches 1,4,16,64 --threads 0 --out "$out/infer_latency.json" > /dev/null
timeout 300 "$py" benchmarks/onnx_landmarker.py --subjects 4 --repeats 20 --out "$out/onnx_landmarker.json" > /dev/null
timeout 300 "$py" benchmarks/build_speed.py --repeats 3 --subjects 3 --landmarker onnx --backend torch --recon prior \
    --texture-net --out "$out/build_speed_networks.json" > /dev/null
timeout 300 "$py" benchmarks/render_fps.py --frames 300 --workers 4 --out "$out/render_fps.json" > /dev/null
if [ $# -ge 3 ]; then
    timeout 300 "$py" benchmarks/live_fps.py --avatar "$2" --clip "$3" --samples 4 --seconds 10 --landmarker onnx \
        --backend torch --out "$out/live_fps_onnx_torch.json" > /dev/null
fi
ls -l "$out"
