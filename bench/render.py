"""Render speed and memory for a 12-MP JPEG: `segment` (decode + matte) and the whole render
(cutout + white + transparent), each as a ratio to the floor measured in the same process (decode +
encode of the same outputs alone), the network on torch and on onnxruntime, and a worker's peak RSS.

    .venv/bin/python bench/render.py [--photos N] [--segmenter auto|u2netp|u2net|classical]
        [--thread-counts 1,2] [--device cpu|cuda] [--runtimes torch,onnx]

The last line is a render worker's peak RSS: a fresh process doing exactly what `bot.render_task` does
for one 12-MP photo with that SEGMENTER (on the CPU the network runs through onnxruntime, and torch is
never imported).
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
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

if TYPE_CHECKING:
    import render as render_api

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


def _segmenter(kind: str, device: str | None, onnx: bool, threads: int) -> render_api.Segmenter:
    """The segmenter a worker would build; torch is imported (and its threads set) only when it runs it."""
    import cv2

    import render

    cv2.setNumThreads(threads)
    if not onnx:
        import torch

        torch.set_num_threads(threads)
    return render.load_segmenter(kind, device=device, onnx=onnx, threads=threads)


def measure(
    photos: list[bytes], threads: int, kind: str, device: str | None, onnx: bool, repeats: int = 5
) -> dict[str, object]:
    import render
    from render.api import WORK_MAX_SIDE
    from render.decoding import decode
    from render.encode import encode

    seg = _segmenter(kind, device, onnx, threads)
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
    for i, data in enumerate(photos):
        # Interleaved run by run, so that a burst of load from other processes falls on all three alike.
        runs: dict[str, list[float]] = {"floor": [], "segment": [], "render": []}
        for _ in range(repeats):
            runs["floor"].append(_timed(functools.partial(floor, i, data), 1))
            runs["segment"].append(_timed(functools.partial(segment, data), 1))
            runs["render"].append(_timed(functools.partial(outputs, data), 1))
        for name, times in runs.items():
            rows[name] += float(np.median(times))
    n = len(photos)
    return {
        "threads": threads,
        "segmenter": f"{seg.name}/{runtime}",
        "floor_ms": rows["floor"] / n * 1000,
        "segment_ms": rows["segment"] / n * 1000,
        "render_ms": rows["render"] / n * 1000,
        "segment_ratio": rows["segment"] / rows["floor"],
        "render_ratio": rows["render"] / rows["floor"],
        "torch_loaded": "torch" in sys.modules,
    }


def worker_rss(photo: Path, kind: str) -> dict[str, object]:
    """What one render worker process does for one photo (bot/render_task.py: load the segmenter the
    way a worker does, cut out, white + transparent), and the process's peak RSS after it."""
    from bot import render_task
    from render.segmenter import default_models_dir

    data = photo.read_bytes()
    models = str(default_models_dir())
    render_task.warm_up(kind, models, None)
    result = render_task.render_photo(data, ["white", "transparent"], "original", kind, models, None)
    if result.get("failed"):
        raise SystemExit(f"render failed: {result}")
    return {"worker_peak_rss_mb": peak_rss_mb(), "torch_loaded": "torch" in sys.modules}


def worker(args: argparse.Namespace) -> None:
    if args.worker_rss:
        print(json.dumps(worker_rss(Path(args.worker_rss), args.segmenter)))
        return
    photos = [make_photo(i) for i in range(args.photos)]
    result = measure(photos, args.threads, args.segmenter, args.device, not args.torch_only, args.repeats)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def _run(cmd: list[str]) -> dict[str, object]:
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout  # noqa: S603
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=2)
    parser.add_argument("--segmenter", default="auto")
    parser.add_argument("--device", default=None)
    parser.add_argument("--thread-counts", default="2", help="comma-separated thread counts to measure")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each, interleaved; medians reported")
    parser.add_argument("--runtimes", default="torch,onnx", help="which network runtimes to measure on the CPU")
    parser.add_argument("--threads", type=int, default=0, help="internal: run one measurement in this process")
    parser.add_argument("--torch-only", action="store_true", help="internal: keep the network on torch")
    parser.add_argument("--worker-rss", default="", help="internal: one worker's render of this photo file")
    args = parser.parse_args()
    if args.threads or args.worker_rss:
        worker(args)
        return
    import os
    import tempfile

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"cpus: {os.cpu_count()}  load average: {load}  photo: 4000x3000 JPEG q90  photos per run: {args.photos}")
    print(
        "floor = decode + encode of the same outputs (white + transparent, original size); "
        f"medians of {args.repeats} interleaved runs"
    )
    print("segment = decode + matte; render = decode + cutout + white + transparent, encoded")
    head = f"{'segmenter':20} {'threads':>7} {'floor ms':>9} {'segment ms':>10} {'x floor':>8} {'render ms':>10}"
    print(head + f" {'x floor':>8} {'peak RSS MB':>12} {'torch':>6}")
    runtimes = args.runtimes.split(",")
    for threads in [int(t) for t in args.thread_counts.split(",")]:
        for torch_only in [r == "torch" for r in runtimes]:
            cmd = [sys.executable, __file__, "--threads", str(threads), "--photos", str(args.photos)]
            cmd += ["--repeats", str(args.repeats)]
            cmd += ["--segmenter", args.segmenter] + (["--device", args.device] if args.device else [])
            cmd += ["--torch-only"] if torch_only else []
            r = _run(cmd)
            print(
                f"{r['segmenter']:20} {r['threads']:>7} {r['floor_ms']:>9.0f} {r['segment_ms']:>10.0f} "
                f"{r['segment_ratio']:>8.2f} {r['render_ms']:>10.0f} {r['render_ratio']:>8.2f} "
                f"{r['peak_rss_mb']:>12.0f} {'yes' if r['torch_loaded'] else 'no':>6}"
            )
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        photo.write_bytes(make_photo(0))
        r = _run([sys.executable, __file__, "--segmenter", args.segmenter, "--worker-rss", str(photo)])
    torch_note = "torch imported" if r["torch_loaded"] else "torch never imported"
    print(
        f"render worker (bot.render_task, SEGMENTER={args.segmenter}): peak RSS {r['worker_peak_rss_mb']:.0f} MB "
        f"after one 12-MP photo, {torch_note}"
    )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average after: {load}")


if __name__ == "__main__":
    main()
