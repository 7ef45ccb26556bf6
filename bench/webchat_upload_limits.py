"""What an oversized web chat photo form costs the front in memory (issue #14, item 3).

    python bench/webchat_upload_limits.py [--parts 10] [--part-mb 19]

Runs `run`'s app in this process and posts, over loopback, a streamed multipart form (chunked, no
Content-Length) of `parts` photos of `part_mb` MB each, then a form within the limits (3 photos of 5 MB) as
the baseline. Prints the status, the time, how much the client got to send, and the process's resident memory
before and at its peak (Linux VmHWM, reset before each form by writing 5 to /proc/self/clear_refs).
Before the limits, 10 x 19 MB grew the front's RSS by about 416 MB and every part was kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import app as app_module  # noqa: E402
from bot.channels.webchat_uploads import MAX_FORM_BYTES  # noqa: E402
from bot.settings import Settings  # noqa: E402

MB = 1024 * 1024
BOUNDARY = "nxzbenchboundary"


def rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


async def streamed_form(parts: int, part_bytes: int, sent: list[int]) -> AsyncIterator[bytes]:
    chunk = b"\xff\xd8" + b"\x00" * (MB - 2)
    for n in range(parts):
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="p{n}.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        left = part_bytes
        while left > 0:
            piece = chunk[: min(left, MB)]
            left -= len(piece)
            sent[0] += len(piece)
            yield piece
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


async def post(base: str, parts: int, part_mb: int) -> str:
    sent = [0]
    reset_peak()
    before = rss_mib("VmRSS")
    started = time.perf_counter()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(base + "/webchat/photos", data=streamed_form(parts, part_mb * MB, sent), headers=headers) as r,
    ):
        status = r.status
        await r.read()
    elapsed = time.perf_counter() - started
    peak = rss_mib("VmHWM")
    return (
        f"{parts:>2} x {part_mb:>2} MB: HTTP {status} in {elapsed:5.2f} s, client sent {sent[0] / MB:5.0f} MB, "
        f"RSS {before:5.0f} MiB -> peak {peak:5.0f} MiB (+{peak - before:4.0f})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--part-mb", type=int, default=19)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), http_port=0, segmenter="classical", _env_file=None)  # type: ignore[call-arg]
        app = app_module.create_app(settings)
        await app_module.start(app)
        try:
            base = f"http://127.0.0.1:{app.port}"
            print(f"form limit {MAX_FORM_BYTES // MB} MiB")
            print("baseline  " + await post(base, 3, 5))
            print("oversized " + await post(base, args.parts, args.part_mb))
        finally:
            await app_module.stop(app)


if __name__ == "__main__":
    asyncio.run(main())
