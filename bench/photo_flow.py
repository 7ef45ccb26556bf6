"""The photo flow end to end through the web chat: photos per minute with 1 and 2 render workers, and the
front end's acknowledgement latency while the workers are saturated.

Starts `python -m bot run` (embedded defaults: SQLite, in-process queue, process pool) per worker count,
uploads phone-sized JPEGs from separate visitors over loopback, and watches the job rows until all are
delivered. Prints numbers; asserts nothing.

    .venv/bin/python bench/photo_flow.py [--photos 12] [--width 4000 --height 3000] [--segmenter auto]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from front_end import free_port, wait_ready  # noqa: E402


def phone_photo(width: int, height: int, seed: int) -> bytes:
    image = Image.new("RGB", (width, height), (180 + seed % 40, 170, 160))
    draw = ImageDraw.Draw(image)
    for n in range(0, width, max(8, width // 60)):  # a textured table cloth
        draw.line((n, 0, n + height // 3, height), fill=(150, 140 + seed % 30, 130), width=3)
    draw.rounded_rectangle(
        (width // 3, height // 4, 2 * width // 3, 3 * height // 4),
        radius=width // 20,
        fill=(30 + seed * 17 % 200, 60, 160),
    )
    image = image.filter(ImageFilter.GaussianBlur(1))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


async def upload(base: str, photo: bytes, n: int) -> float:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        form = aiohttp.FormData()
        form.add_field("photo", photo, filename=f"p{n}.jpg", content_type="image/jpeg")
        start = time.perf_counter()
        async with http.post(base + "/webchat/photos", data=form) as r:
            await r.read()
            assert r.status == 200, r.status
        return time.perf_counter() - start


async def texts_while_busy(base: str, count: int) -> list[float]:
    jar = aiohttp.CookieJar(unsafe=True)
    latencies = []
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        for _ in range(count):
            start = time.perf_counter()
            async with http.post(base + "/webchat/messages", json={"text": "credits"}) as r:
                await r.read()
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(0.05)
    return latencies


def delivered(db: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = dict(conn.execute("SELECT state, count(*) FROM render_jobs GROUP BY state").fetchall())
    return rows.get("delivered", 0), sum(rows.values())


def run_once(workers: int, photos: list[bytes], segmenter: str, models_dir: str | None) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {
            "DATA_DIR": tmp,
            "HTTP_PORT": str(port),
            "RENDER_WORKERS": str(workers),
            "SEGMENTER": segmenter,
            "LOG_LEVEL": "WARNING",
            "SIGNUP_CREDITS": "5",
        }
        if models_dir:
            env["MODELS_DIR"] = models_dir
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(base))

            async def go() -> tuple[list[float], list[float]]:
                acks = asyncio.gather(*(upload(base, p, n) for n, p in enumerate(photos)))
                chatter = texts_while_busy(base, 40)
                return await acks, await chatter

            began = time.perf_counter()
            acks, chats = asyncio.run(go())
            db = Path(tmp) / "nexoraz.sqlite3"
            while delivered(db)[0] < len(photos):
                if time.perf_counter() - began > 1200:
                    raise TimeoutError(f"only {delivered(db)} delivered")
                time.sleep(0.2)
            elapsed = time.perf_counter() - began
            qa = statistics.quantiles(acks, n=20)
            qc = statistics.quantiles(chats, n=20)
            print(
                f"workers={workers}: {len(photos)} photos in {elapsed:.1f} s = "
                f"{60 * len(photos) / elapsed:.1f} photos/min; "
                f"photo ack p50 {statistics.median(acks) * 1000:.0f} ms p95 {qa[18] * 1000:.0f} ms; "
                f"text reply while saturated p50 {statistics.median(chats) * 1000:.0f} ms p95 {qc[18] * 1000:.0f} ms"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--segmenter", default="auto")
    parser.add_argument("--models-dir", default=os.environ.get("MODELS_DIR", str(Path("data/models").resolve())))
    args = parser.parse_args()
    photos = [phone_photo(args.width, args.height, n) for n in range(args.photos)]
    print(
        f"{args.photos} photos of {args.width}x{args.height} ({len(photos[0]) / 1e6:.1f} MB JPEG each), "
        f"segmenter={args.segmenter}, {os.cpu_count()} CPU cores"
    )
    for workers in (1, 2):
        run_once(workers, photos, args.segmenter, args.models_dir)


if __name__ == "__main__":
    main()
