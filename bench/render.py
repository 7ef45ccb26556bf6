"""Render speed and memory: ms per 12-MP JPEG through segment + white + transparent, on 1 and 2 torch
threads, beside the floor (decode + encode of the same outputs alone), and a worker's peak RSS.

    .venv/bin/python bench/render.py [--photos N] [--segmenter auto|u2netp|classical] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
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


def measure(photos: list[bytes], threads: int, kind: str, device: str | None) -> dict[str, float]:
    import torch

    import render
    from render.api import WORK_MAX_SIDE
    from render.decode import decode
    from render.encode import encode

    torch.set_num_threads(threads)
    seg = render.load_segmenter(kind, device=device)
    render.compose_outputs(render.cutout(photos[0], segmenter=seg), "white", "original")  # warm-up

    start = time.perf_counter()
    results = []
    for data in photos:
        cut = render.cutout(data, segmenter=seg)
        results.append(
            render.compose_outputs(cut, "white", "original") + render.compose_outputs(cut, "transparent", "original")
        )
    full = (time.perf_counter() - start) / len(photos)

    # The floor: decode the same photo, encode images of the same sizes and modes as the outputs.
    shapes = [[Image.open(io.BytesIO(o.data)) for o in outs] for outs in results]
    start = time.perf_counter()
    for data, imgs in zip(photos, shapes, strict=True):
        image = decode(data, max_side=WORK_MAX_SIDE)
        for img in imgs:
            target = image.resize(img.size) if image.size != img.size else image
            if img.mode == "RGBA":
                target = target.convert("RGBA")
            encode(target, "floor")
    floor = (time.perf_counter() - start) / len(photos)
    return {
        "threads": threads,
        "ms_per_photo": full * 1000,
        "floor_ms": floor * 1000,
        "ratio": full / floor,
        "segmenter": seg.name,
    }


def worker(args: argparse.Namespace) -> None:
    photos = [make_photo(i) for i in range(args.photos)]
    result = measure(photos, args.threads, args.segmenter, args.device)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--segmenter", default="auto")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=0, help="internal: run one measurement in this process")
    args = parser.parse_args()
    if args.threads:
        worker(args)
        return
    import os

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"cpus: {os.cpu_count()}  load average: {load}  photo: 4000x3000 JPEG q90  photos per run: {args.photos}")
    print(f"{'segmenter':10} {'threads':>7} {'ms/photo':>9} {'floor ms':>9} {'ratio':>6} {'peak RSS MB':>12}")
    for threads in (1, 2):
        cmd = [
            sys.executable,
            __file__,
            "--threads",
            str(threads),
            "--photos",
            str(args.photos),
            "--segmenter",
            args.segmenter,
        ] + (["--device", args.device] if args.device else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"{r['segmenter']:10} {r['threads']:>7} {r['ms_per_photo']:>9.0f} {r['floor_ms']:>9.0f} "
            f"{r['ratio']:>6.2f} {r['peak_rss_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
