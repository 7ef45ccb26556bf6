"""Issue 14, Redis: what a front and its workers put in Redis carries no upload, no reply and no identity.

Relay mode end to end (a front serving the web chat, a `python -m bot worker` process, real Redis): a photo
whose EXIF holds a GPS position is uploaded over HTTP; while it waits in the queue and after it was
delivered, every Redis key of the deployment is read (whatever its type), and every relay message Redis
carried was captured: none holds a byte run of the photo, the EXIF marker, the reply or the visitor's
cookie, and every key written (in a Redis database of the test's own) is under REDIS_PREFIX. A relay
message that was tampered with or moved to another visitor's channel is dropped, and the relay goes on.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image, ImageDraw
from redis.asyncio import Redis

from bot import app as app_module
from bot.channels.webchat import COOKIE, WebChat
from bot.channels.webchat_relay import WebChatRelay
from tests.scale.scale_harness import REDIS_URL, ScaleBot, scale_bot

pytestmark = pytest.mark.redis

OWN_DATABASE = REDIS_URL.rsplit("/", 1)[0] + "/11"  # a database of its own: every new key is this deployment's
GPS_IFD = 0x8825
IMAGE_DESCRIPTION = 0x010E


def photo_with_gps(marker: str) -> bytes:
    """A product photo as a phone takes it: EXIF with a GPS position (Dhaka) and a description."""
    image = Image.new("RGB", (480, 360), (205, 208, 212))
    ImageDraw.Draw(image).ellipse((160, 90, 320, 270), fill=(200, 30, 40))
    exif = Image.Exif()
    exif[IMAGE_DESCRIPTION] = marker
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (23.0, 48.0, 37.08), 3: "E", 4: (90.0, 24.0, 45.36), 27: b"ASCII\0\0\0" + marker.encode()})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


async def redis_values(redis: Redis, match: str) -> dict[bytes, list[bytes]]:
    """Every key matching `match` and everything it holds, read by type (DUMP may compress)."""
    found: dict[bytes, list[bytes]] = {}
    async for key in redis.scan_iter(match=match, count=1000):
        kind = (await redis.type(key)).decode()
        values: list[Any]
        if kind == "string":
            values = [await redis.get(key)]
        elif kind == "hash":
            values = [x for pair in (await redis.hgetall(key)).items() for x in pair]  # type: ignore[misc]
        elif kind == "list":
            values = await redis.lrange(key, 0, -1)  # type: ignore[misc]
        elif kind == "set":
            values = list(await redis.smembers(key))  # type: ignore[misc]
        elif kind == "zset":
            values = [member for member, _ in await redis.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            entries = await redis.xrange(key)
            values = [x for _id, fields in entries for pair in fields.items() for x in pair]
        else:
            values = []
        found[key] = [v if isinstance(v, bytes) else str(v).encode() for v in values if v is not None]
    return found


def leaks(blobs: list[bytes], secrets_: list[bytes]) -> list[bytes]:
    return [secret for secret in secrets_ if any(secret in blob for blob in blobs)]


async def assert_nothing_readable(bot: ScaleBot, photo: bytes, marker: str, cookie: str, existing: set[bytes]) -> None:
    prefix = bot.settings.redis_prefix
    runs = [photo[i : i + 24] for i in range(0, len(photo) - 24, 97)]  # byte runs from all over the file
    secrets_ = [marker.encode(), cookie.encode(), *runs]
    mine = await redis_values(bot.redis, f"{prefix}:*")
    assert mine, "the queue's stream at least is under the prefix"
    for key, values in mine.items():
        assert not leaks([key, *values], secrets_), f"{key!r} holds the upload, its EXIF or the cookie"
    everything = await redis_values(bot.redis, "*")  # in this test's own database, everything is ours
    outside = [key for key in everything if key not in existing and not key.startswith(prefix.encode() + b":")]
    assert outside == [], "keys written outside REDIS_PREFIX"


async def test_relay_mode_keeps_no_upload_exif_reply_or_cookie_readable_in_redis(tmp_path: Path) -> None:
    marker = f"GPS-MARKER-{uuid.uuid4().hex}"
    photo = photo_with_gps(marker)
    assert marker.encode() in photo  # the EXIF travels in the upload
    async with scale_bot(tmp_path, [], redis_url=OWN_DATABASE) as bot:
        existing = {key async for key in bot.redis.scan_iter()}  # an earlier run's leftovers, if any
        front = app_module.create_app(bot.settings.model_copy(update={"http_port": 0}))
        await app_module.start(front)
        chat = front.channel("web")
        assert isinstance(chat, WebChat)
        cookie = chat.identity.issue().cookie or ""
        base = f"http://127.0.0.1:{front.port}"
        try:
            async with aiohttp.ClientSession(cookies={COOKIE: cookie}) as http:
                events = await http.get(base + "/webchat/events", timeout=aiohttp.ClientTimeout(total=120))
                assert (await events.content.readline()).startswith(b": connected")
                form = aiohttp.FormData()
                form.add_field("id", "msg-gps-0001")
                form.add_field("photo", photo, filename="IMG_0001.jpg", content_type="image/jpeg")
                async with http.post(base + "/webchat/photos", data=form, headers={"Origin": base}) as response:
                    assert response.status == 200
                assert await bot.queue.refresh_depth() == 1
                await assert_nothing_readable(bot, photo, marker, cookie, existing)  # queued, no worker yet

                bot.start_worker()
                documents: list[dict[str, str]] = []
                async with asyncio.timeout(90):
                    while len(documents) < 2:
                        line = await events.content.readline()
                        if line.startswith(b"data: "):
                            item = json.loads(line[6:])
                            documents += [r for r in item.get("replies", []) if r["type"] == "document"]
                events.close()
                async with http.get(base + documents[0]["url"]) as media:
                    assert media.status == 200 and len(await media.read()) > 1000  # rendered and delivered
            await bot.settle(timeout=30)
            await assert_nothing_readable(bot, photo, marker, cookie, existing)
            carried = bot.published  # every relay message as Redis carried it (the harness subscribed)
            assert carried, "the worker published the results through Redis"
            reply_words = [documents[0]["url"].encode(), b'"document"', b"replies"]
            assert not leaks(carried, [*reply_words, marker.encode(), cookie.encode()])
        finally:
            await app_module.stop(front)


async def test_a_tampered_or_moved_relay_message_is_dropped_and_the_relay_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"nxz-test-{uuid.uuid4().hex[:10]}"
    redis = Redis.from_url(REDIS_URL)
    relay = WebChatRelay(redis, prefix=prefix, key=b"k" * 32)
    got: list[tuple[str, dict[str, Any]]] = []
    arrived = asyncio.Event()

    def deliver(visitor: str, item: dict[str, Any]) -> None:
        got.append((visitor, item))
        arrived.set()

    await relay.start(deliver, lambda: ["ann", "bob"])
    try:
        to_ann, to_bob = relay.channel("ann"), relay.channel("bob")
        sealed = relay.seal(to_ann, {"type": "replies", "entry": 1})
        tampered = bytearray(sealed)
        tampered[-5] ^= 0x01
        with caplog.at_level(logging.WARNING, logger="bot.channels.webchat_relay"):
            await redis.publish(to_ann, bytes(tampered))  # altered in Redis
            await redis.publish(to_bob, sealed)  # ann's message replayed on bob's channel
            await redis.publish(to_ann, b'{"type": "replies", "entry": 9}')  # unsealed: forged
            await redis.publish(to_ann, relay.seal(to_ann, {"type": "replies", "entry": 2}))
            await asyncio.wait_for(arrived.wait(), 5)
            await asyncio.sleep(0.2)
        assert got == [("ann", {"type": "replies", "entry": 2})]
        dropped = [r.getMessage() for r in caplog.records if "did not open" in r.getMessage()]
        assert len(dropped) == 3
        assert not any(relay.visitor_hash("ann") in line or "bob" in line for line in dropped)
        assert relay._task is not None and not relay._task.done()
    finally:
        await relay.stop()
        await redis.aclose()
