#!/usr/bin/env bash
# The render core on a GPU: `segment` and the whole render (cutout + white + transparent) of a 12-MP JPEG
# with the U^2-Net-p on torch + CUDA, and the CPU path (onnxruntime when the .onnx export lies beside the
# weights, else torch on the CPU), in one process, each beside the decode + encode floor measured there.
#
#   PYTHONPATH=. bash bench/render_gpu.sh [WEIGHTS] [DEVICE] [THREADS]
#
# WEIGHTS: the converted u2netp weights, as `python -m bot models fetch` leaves them in
#          DATA_DIR/models/u2netp.pth (default data/models/u2netp.pth; MODELS_DIR overrides that folder).
#          The checksum file beside it (u2netp.pth.json) is checked when it is there; u2netp.onnx beside
#          it gives the CPU path onnxruntime, as a CPU worker runs it.
# DEVICE:  cuda (default) or cpu (runs both paths on the CPU: to check the script without a GPU).
# THREADS: CPU threads for OpenCV, torch and onnxruntime (default 2, the issue's worker box).
#
# Needs python3 with torch, numpy, pillow, opencv and onnxruntime only: it imports the render core
# (render/) and the photo maker of bench/render.py, nothing of bot/, handlers/ or storage/, and no network.
# Bounded to under 5 minutes.
set -euo pipefail

WEIGHTS="$(realpath -m "${1:-data/models/u2netp.pth}")"  # before the cd below: relative to where it was run
DEVICE="${2:-cuda}"
THREADS="${3:-2}"
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:-.}"

exec timeout 290 python3 - "$WEIGHTS" "$DEVICE" "$THREADS" <<'PY'
import importlib.util
import io
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

weights, device, threads = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if not weights.is_file():
    raise SystemExit(f"no weights file at {weights} (run `python -m bot models fetch`, then carry DATA_DIR/models/u2netp.pth)")
if device == "cuda" and not torch.cuda.is_available():
    raise SystemExit("DEVICE=cuda but torch sees no CUDA device")
cv2.setNumThreads(threads)
torch.set_num_threads(threads)

import render
from render.api import WORK_MAX_SIDE
from render.decoding import decode
from render.encode import encode
from render.onnx_runner import onnx_network
from render.segmenter import OnnxU2NetSegmenter, U2NetSegmenter
from render.weights import load_weights

spec = importlib.util.spec_from_file_location("bench_render", "bench/render.py")
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

sidecar = weights.with_name(weights.name + ".json")
network = load_weights(weights, require_checksum=sidecar.is_file())
runners = {f"torch/{device}": U2NetSegmenter(network, name="u2netp", device=device)}
fast = onnx_network(weights.parent, "u2netp", threads=threads)
if fast is not None:
    runners["onnxruntime/cpu"] = OnnxU2NetSegmenter(fast, name="u2netp")
elif device != "cpu":
    runners["torch/cpu"] = U2NetSegmenter(load_weights(weights, require_checksum=sidecar.is_file()), device="cpu")

photo = bench.make_photo(0)
REPEATS = 5


def outputs(seg: render.Segmenter) -> list[render.Output]:
    cut = render.cutout(photo, segmenter=seg)
    return render.compose_outputs(cut, "white", "original") + render.compose_outputs(cut, "transparent", "original")


def segment(seg: render.Segmenter) -> None:
    render.segment(decode(photo, max_side=WORK_MAX_SIDE), segmenter=seg)


first = next(iter(runners.values()))
shapes = [(Image.open(io.BytesIO(o.data)).size, Image.open(io.BytesIO(o.data)).mode) for o in outputs(first)]


def floor() -> None:
    image = decode(photo, max_side=WORK_MAX_SIDE)
    for size, mode in shapes:
        target = image.resize(size) if image.size != size else image
        encode(target.convert("RGBA") if mode == "RGBA" else target, "floor")


def seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


for seg in runners.values():  # warm-up: CUDA kernels, onnxruntime's first run, lazy imports
    outputs(seg)
    segment(seg)
times: dict[str, list[float]] = {"floor": []}
for name in runners:
    times[f"{name} segment"], times[f"{name} render"] = [], []
for _ in range(REPEATS):  # interleaved, so that any other load falls on every column alike
    times["floor"].append(seconds(floor))
    for name, seg in runners.items():
        times[f"{name} segment"].append(seconds(segment, seg))
        times[f"{name} render"].append(seconds(outputs, seg))

gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"device: {device}  GPU: {gpu}  CPU threads: {threads}  cpus: {os.cpu_count()}  "
      f"load average: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
print(f"photo: 4000x3000 JPEG q90 (bench/render.py make_photo), working size {decode(photo, max_side=WORK_MAX_SIDE).size}; "
      f"medians of {REPEATS} interleaved runs")
base = float(np.median(times["floor"]))
print(f"{'what':32} {'ms':>8} {'x floor':>8}")
print(f"{'floor (decode + encode)':32} {base * 1000:>8.0f} {1.0:>8.2f}")
for key, values in times.items():
    if key != "floor":
        ms = float(np.median(values))
        print(f"{key:32} {ms * 1000:>8.0f} {ms / base:>8.2f}")
leaked = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("bot", "handlers", "storage")})
print("modules outside render/ imported:", ", ".join(leaked) if leaked else "none")
PY
