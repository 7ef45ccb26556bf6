"""Issue #14, "erasure that reaches everything": after `/delete`, nothing of the seller is left anywhere.

The whole system as it is deployed for scale (tests/faults/stack.py): `python -m bot run` and a
`python -m bot worker` process sharing Redis (queue, limiter, web chat relay) and the database. A web chat
visitor and a Messenger user chat, send a photo that is rendered and delivered, open an m.me link (Meta sends
no message id with a referral: its event id used to be built from the PSID) and erase themselves. Then every
row of every table, every file under DATA_DIR, every Redis key (name and value) and the processes' logs are
searched for what named them: the web cookie's secret and the visitor's external id (its keyed hash), the
Messenger PSID, and a sentence each of them typed. (Logs may show the visitor's keyed hash: that is its
pseudonym there by design; it must not be kept anywhere else.)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlmodel import SQLModel, col

from bot.channels.webchat import COOKIE
from bot.channels.webchat_identity import WebIdentity
from bot.settings import Settings
from handlers.privacy import CONFIRM, DELETE_PREFIX
from handlers.router import button_payload
from storage import jobs, ledger, users
from storage.db import Database
from storage.ledger import EntryKind
from storage.models import RenderJob
from storage.users import Identity
from tests.faults.stack import FILES_KEY, REDIS_URL, small_jpeg, stack
from tests.meta.conftest import PAGE_ID, fb_envelope, fb_event

PSID = "7350128864523391"
WEB_SAID, FB_SAID = "zebra quartz umbrella 417", "walrus pepper lantern 902"


def _referral(ref: str) -> dict[str, Any]:
    """An m.me link opened in an existing conversation: Meta sends no message id with it."""
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        "referral": {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"},
    }


async def _wait(check: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.25)


async def _delivered(db: Database, identity: Identity) -> bool:
    async with db.transaction() as session:
        user = await users.find(session, identity)
        assert user is not None
        found = await session.execute(select(RenderJob).where(col(RenderJob.user_id) == user.id))
        return any(job.state == jobs.DELIVERED for job in found.scalars())


async def _grant(db: Database, identity: Identity, amount: int) -> None:
    """The operator's grant (an anonymous web visitor gets no sign-up gift)."""
    async with db.transaction() as session:
        user = await users.find(session, identity)
        assert user is not None and user.id is not None
        await ledger.credit(session, user.id, amount, kind=EntryKind.GRANT, key=f"grant:{uuid.uuid4().hex}")


async def _database_rows(db: Database) -> str:
    """Every column of every row of every table, as text."""
    found = []
    async with db.transaction() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await session.execute(text(f'SELECT * FROM "{table.name}"'))).all():
                found.append(f"{table.name}: " + " | ".join(str(value) for value in row))
    return "\n".join(found)


async def _redis_contents(prefix: str) -> str:
    """Every key under the prefix: its name, type and value."""
    redis = Redis.from_url(REDIS_URL)
    found = []
    try:
        async for key in redis.scan_iter(match=f"{prefix}*"):
            kind = (await redis.type(key)).decode()
            found.append(f"{key!r} ({kind}): {await _value(redis, key, kind)!r}")
    finally:
        await redis.aclose()
    return "\n".join(found)


async def _value(redis: Redis, key: bytes, kind: str) -> Any:
    if kind == "string":
        return await redis.get(key)
    if kind == "hash":
        return await redis.hgetall(key)
    if kind == "list":
        return await redis.lrange(key, 0, -1)  # type: ignore[misc]
    if kind == "set":
        return await redis.smembers(key)  # type: ignore[misc]
    if kind == "zset":
        return await redis.zrange(key, 0, -1, withscores=True)
    if kind == "stream":
        return await redis.xrange(key)
    return None


def _files(data_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}


async def test_after_delete_nothing_of_the_seller_is_left_in_the_database_files_redis_or_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_LOG_LEVEL", "INFO")
    async with stack(tmp_path, redis=True, signup_credits=2) as s:
        s.start_worker()
        web = s._web("seller")
        async with web.post(s.base + "/webchat/messages", json={"text": "hi", "id": "web-turn-0001"}) as r:
            cookie = r.cookies[COOKIE].value
        key = Settings(_env_file=None, data_dir=tmp_path / "data", files_key=FILES_KEY).secret_key("webchat-visitor")  # type: ignore[call-arg]
        visitor = Identity("web", WebIdentity(key, _never_asked).visitor_id(cookie))
        await _grant(s.db, visitor, 2)
        await s.web_photo("seller", small_jpeg(seed=1))
        async with web.post(s.base + "/webchat/messages", json={"text": WEB_SAID, "id": "web-turn-0002"}) as r:
            assert r.status == 200

        seller = Identity("messenger", PSID)
        await s.fb_text(PSID, "hi")
        await s.fb_text(PSID, FB_SAID)
        await s._meta("messenger", fb_envelope(_referral("SPRING24")))  # no such code: answered, not redeemed
        await s.fb_photo(PSID, small_jpeg(seed=2))
        await _wait(lambda: _delivered(s.db, visitor), f"the web photo was not delivered\n{s.logs()}")
        await _wait(lambda: _delivered(s.db, seller), f"the Messenger photo was not delivered\n{s.logs()}")
        assert not s.failures, s.failures

        named = {
            "web secret": cookie.split(".")[0],
            "web external id": visitor.external_id,
            "PSID": PSID,
            "web words": WEB_SAID,
            "Messenger words": FB_SAID,
        }
        before = await _database_rows(s.db)
        async with s.db.transaction() as session:  # a finished web job names the visitor by its keyed hash
            chats = (
                await session.execute(select(col(RenderJob.chat_id)).where(col(RenderJob.state) == jobs.DELIVERED))
            ).scalars()
            assert visitor.external_id in set(chats)
        seen = [what for what, value in named.items() if value in before]
        assert seen == ["web external id", "PSID", "web words"], seen  # the scan sees them (never the secret)

        confirm = button_payload(DELETE_PREFIX, CONFIRM)
        for body in ({"text": "/delete"}, {"payload": confirm, "label": "Yes"}):
            async with web.post(s.base + "/webchat/messages", json=body) as r:
                assert r.status == 200
        await s.fb_text(PSID, "/delete")
        await s._meta("messenger", fb_envelope(fb_event("Postback", PSID, payload=confirm, title="Yes")))
        async with s.db.transaction() as session:
            assert await users.find(session, visitor) is None and await users.find(session, seller) is None
        await asyncio.sleep(1)  # what the processes do after the answer (blob removal, limiter keys) is done

        rows = await _database_rows(s.db)
        files = {
            str(p.relative_to(tmp_path)): p.read_bytes()
            for p in tmp_path.rglob("*")
            if p.is_file() and not p.name.endswith(".log")
        }
        kept = await _redis_contents(s.env["REDIS_PREFIX"])
        logged = s.front.log() if s.front else ""
        logged += "".join(worker.log() for worker in s.workers)
    left = []
    for what, value in named.items():
        left += [f"{what} in the database: {line}" for line in rows.splitlines() if value in line]
        left += [f"{what} in {name}" for name, data in files.items() if value.encode() in data]
        left += [f"{what} in Redis: {line}" for line in kept.splitlines() if value in line]
        if what != "web external id":
            left += [f"{what} in a log: {line}" for line in logged.splitlines() if value in line]
    assert not left, "\n".join(left)


async def _never_asked(visitor: str, message_id: str | None) -> Any:
    raise AssertionError("only the visitor id is computed here")
