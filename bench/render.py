"""Render speed and memory for a 12-MP JPEG: `segment` (decode + matte) and the whole render
(cutout + white + transparent), each as a ratio to the floor measured in the same process (decode +
encode of the same outputs alone), the network on torch and on onnxruntime, and a worker's peak RSS.

    .venv/bin/python bench/render.py [--photos N] [--segmenter auto|u2netp|u2net|classical]
        [--thread-counts 1,2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_photo(seed: int, size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A 12-MP phone-like JPEG: a shaded product with a handle on a noisy table with a cast shadow."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = (w // 4, h // 4)
    yy = np.linspace(0, 1, small[1], dtype=np.float32)[:, None, None]
    table = np.array([205, 190, 170], np.float32) * (0.9 + 0.12 * yy) + rng.normal(0, 6, (small[1], small[0], 3))
    bg = Image.fromarray(np.clip(table, 0, 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    mask = Image.new("L", size, 0)
    d = ImageDraw.Draw(mask)
    cx, cy = w // 2 + int(rng.integers(-200, 200)), h // 2
    d.rounded_rectangle((cx - 700, cy - 900, cx + 500, cy + 900), radius=120, fill=255)
    d.ellipse((cx + 350, cy - 500, cx + 1000, cy + 300), fill=255)
    d.ellipse((cx + 520, cy - 330, cx + 830, cy + 130), fill=0)
    shadow = mask.transform(size, Image.Transform.AFFINE, (1, 0.3, -150, 0, 1, -80)).filter(
        ImageFilter.GaussianBlur(40)
    )
    dark = Image.new("RGB", size, (60, 50, 40))
    bg = Image.composite(dark, bg, shadow.point(lambda v: v * 0.5))
    fg = Image.linear_gradient("L").rotate(90).resize(size)
    product = Image.merge(
        "RGB", (fg.point(lambda v: 120 + v // 2), fg.point(lambda v: 30 + v // 5), fg.point(lambda v: 40))
    )
    photo = Image.composite(product, bg, mask.filter(ImageFilter.GaussianBlur(2)))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` runs (other processes share the cores: the median resists them)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(photos: list[bytes], threads: int, kind: str, device: str | None, onnx: bool) -> dict[str, object]:
    import torch

    import render
    from render.api import WORK_MAX_SIDE
    from render.decode import decode
    from render.encode import encode

    torch.set_num_threads(threads)
    seg = render.load_segmenter(kind, device=device, onnx=onnx)
    runtime = "onnxruntime" if getattr(seg, "onnx", None) is not None else "torch"
    render.compose_outputs(render.cutout(photos[0], segmenter=seg), "white", "original")  # warm-up

    def outputs(data: bytes) -> list[render.Output]:
        cut = render.cutout(data, segmenter=seg)
        return render.compose_outputs(cut, "white", "original") + render.compose_outputs(cut, "transparent", "original")

    def segment(data: bytes) -> None:
        render.segment(decode(data, max_side=WORK_MAX_SIDE), segmenter=seg)

    shapes = {
        i: [(im.size, im.mode) for im in map(lambda o: Image.open(io.BytesIO(o.data)), outputs(d))]
        for i, d in enumerate(photos)
    }

    def floor(i: int, data: bytes) -> None:
        """Decode the same photo, encode images of the same sizes and modes as its outputs."""
        image = decode(data, max_side=WORK_MAX_SIDE)
        for size, mode in shapes[i]:
            target = image.resize(size) if image.size != size else image
            encode(target.convert("RGBA") if mode == "RGBA" else target, "floor")

    rows = {"floor": 0.0, "segment": 0.0, "render": 0.0}
    for i, data in enumerate(photos):  # interleaved, so that the load falls on all three alike
        rows["floor"] += _timed(functools.partial(floor, i, data), 3)
        rows["segment"] += _timed(functools.partial(segment, data), 3)
        rows["render"] += _timed(functools.partial(outputs, data), 3)
    n = len(photos)
    return {
        "threads": threads,
        "segmenter": f"{seg.name}/{runtime}",
        "floor_ms": rows["floor"] / n * 1000,
        "segment_ms": rows["segment"] / n * 1000,
        "render_ms": rows["render"] / n * 1000,
        "segment_ratio": rows["segment"] / rows["floor"],
        "render_ratio": rows["render"] / rows["floor"],
    }


def worker(args: argparse.Namespace) -> None:
    photos = [make_photo(i) for i in range(args.photos)]
    result = measure(photos, args.threads, args.segmenter, args.device, not args.torch_only)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=2)
    parser.add_argument("--segmenter", default="auto")
    parser.add_argument("--device", default=None)
    parser.add_argument("--thread-counts", default="2", help="comma-separated torch thread counts to measure")
    parser.add_argument("--threads", type=int, default=0, help="internal: run one measurement in this process")
    parser.add_argument("--torch-only", action="store_true", help="internal: keep the network on torch")
    args = parser.parse_args()
    if args.threads:
        worker(args)
        return
    import os

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"cpus: {os.cpu_count()}  load average: {load}  photo: 4000x3000 JPEG q90  photos per run: {args.photos}")
    print("floor = decode + encode of the same outputs (white + transparent, original size); medians of 3")
    head = f"{'segmenter':20} {'threads':>7} {'floor ms':>9} {'segment ms':>10} {'x floor':>8} {'render ms':>10}"
    print(head + f" {'x floor':>8} {'peak RSS MB':>12}")
    for threads in [int(t) for t in args.thread_counts.split(",")]:
        for torch_only in (True, False):
            cmd = [sys.executable, __file__, "--threads", str(threads), "--photos", str(args.photos)]
            cmd += ["--segmenter", args.segmenter] + (["--device", args.device] if args.device else [])
            cmd += ["--torch-only"] if torch_only else []
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout  # noqa: S603
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{r['segmenter']:20} {r['threads']:>7} {r['floor_ms']:>9.0f} {r['segment_ms']:>10.0f} "
                f"{r['segment_ratio']:>8.2f} {r['render_ms']:>10.0f} {r['render_ratio']:>8.2f} "
                f"{r['peak_rss_mb']:>12.0f}"
            )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average after: {load}")


if __name__ == "__main__":
    main()
