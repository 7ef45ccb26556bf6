"""What the web chat costs a seller on mobile data: page weight, inline previews against the full files,
the gallery zip, and the time to make a preview (first request) against serving it again (kept).

    python bench/webchat_weight.py [--photos 3] [--side 4000]

Runs `run`'s app in this process (classical segmenter, in-process render), sends camera-like photos of
`side` x 3/4 side pixels as a visitor would, waits for the results, then measures over loopback HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import app as app_module  # noqa: E402
from bot.settings import Settings  # noqa: E402


def camera_photo(width: int, height: int, seed: int) -> bytes:
    """A product on a textured, noisy table: compresses like a phone photo, not like a drawing."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    table = 150 + 40 * np.sin(x / 37.0) * np.cos(y / 53.0) + rng.normal(0, 18, (height, width))
    rgb = np.stack([table * 0.95, table * 0.85, table * 0.7], axis=-1)
    inside = ((x - width / 2) / (width / 4)) ** 2 + ((y - height / 2) / (height / 3)) ** 2 < 1
    rgb[inside] = np.stack(
        [200 + rng.normal(0, 12, inside.sum()), 40 + 20 * np.sin(x[inside] / 9.0), 50 + 0 * x[inside]], -1
    )
    out = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=88)
    return out.getvalue()


async def main(photos: int, side: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), http_port=0, segmenter="classical", _env_file=None)  # type: ignore[call-arg]
        app = app_module.create_app(settings)
        await app_module.start(app)
        base = f"http://127.0.0.1:{app.port}"
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                page = 0
                for path in ("/", "/webchat/app.js"):
                    async with http.get(base + path) as r:
                        page += len(await r.read())
                for n in range(photos):
                    form = aiohttp.FormData()
                    form.add_field("id", f"bench-photo-{n:04d}")
                    data = camera_photo(side, side * 3 // 4, n)
                    form.add_field("photo", io.BytesIO(data), filename="p.jpg", content_type="image/jpeg")
                    async with http.post(base + "/webchat/photos", data=form) as r:
                        assert r.status == 200, await r.text()
                documents: list[dict[str, object]] = []
                for _ in range(600):
                    async with http.get(base + "/webchat/history") as r:
                        turns = (await r.json())["entries"]
                    documents = [d for t in turns for d in t["replies"] if d["type"] == "document"]
                    if len(documents) >= 2 * photos:
                        break
                    await asyncio.sleep(1)
                full = sum(int(str(d["bytes"])) for d in documents)
                first, again, sizes = [], [], []
                for d in documents:
                    started = time.perf_counter()
                    async with http.get(base + str(d["preview"])) as r:
                        sizes.append(len(await r.read()))
                    first.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    async with http.get(base + str(d["preview"])) as r:
                        await r.read()
                    again.append(time.perf_counter() - started)
                async with http.get(base + "/webchat/gallery.zip") as r:
                    zipped = len(await r.read())
        finally:
            await app_module.stop(app)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}; {photos} photos of {side}x{side * 3 // 4}")
    print(f"page (HTML + CSS + JS, before images): {page / 1024:.1f} KB")
    print(f"results: {len(documents)} files, {full / 1024:.0f} KB in full")
    previews = sum(sizes)
    print(f"inline previews: {previews / 1024:.0f} KB ({previews / max(full, 1):.1%} of the full files)")
    print(f"largest preview: {max(sizes) / 1024:.0f} KB (budget 100 KB)")
    print(f"preview made on first request: median {1000 * sorted(first)[len(first) // 2]:.0f} ms")
    print(f"preview served again (kept):   median {1000 * sorted(again)[len(again) // 2]:.0f} ms")
    print(f"download-all zip: {zipped / 1024:.0f} KB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--side", type=int, default=4000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.photos, arguments.side))
