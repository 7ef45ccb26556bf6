"""The web chat's kept conversation on SQLite and PostgreSQL: one turn per client id, trimming, retention,
erasure with the user, and previews within budget."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import delete, func, select

from bot.channels.webchat_store import PREVIEW_BUDGET, make_preview
from storage import users
from storage import webchat as entries
from storage.db import Database
from storage.models import User, WebChatEntry
from storage.types import utcnow
from storage.users import Identity


async def _user(db: Database, name: str) -> int:
    async with db.transaction() as session:
        user, _ = await users.get_or_create(session, Identity("web", name), locale="bn", display_name=None)
        return user.id or 0


async def test_one_turn_per_client_id_and_reading_after(database: Database) -> None:
    user_id = await _user(database, "v" * 22)
    async with database.transaction() as session:
        first = await entries.add_entry(session, user_id, {"me": {"type": "text", "text": "দাম কত?"}}, "id-0000001")
        again = await entries.add_entry(session, user_id, {"me": {"type": "text", "text": "other"}}, "id-0000001")
        late = await entries.add_entry(session, user_id, {"replies": [{"type": "text", "text": "ready"}]})
    assert first == again and late > first
    async with database.transaction() as session:
        kept = await entries.entry_for_client(session, user_id, "id-0000001")
        everything = await entries.recent(session, user_id)
        after = await entries.recent(session, user_id, after=first)
    assert kept is not None and kept[1]["me"]["text"] == "দাম কত?"
    assert [e["entry"] for e in everything] == [first, late] and [e["entry"] for e in after] == [late]


async def test_trimmed_to_the_newest_and_purged_by_age_and_erased_with_the_user(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entries, "KEEP_ENTRIES", 5)
    monkeypatch.setattr(entries, "TRIM_EVERY", 4)
    user_id = await _user(database, "w" * 22)
    async with database.transaction() as session:
        ids = [await entries.add_entry(session, user_id, {"replies": [], "n": n}) for n in range(20)]
        assert [e["entry"] for e in await entries.recent(session, user_id)] == ids[-5:]  # the conversation
        stored = (await session.execute(select(func.count()).where(WebChatEntry.user_id == user_id))).scalar_one()
        assert 5 <= stored < 5 + 4  # trimmed by one turn in four: never more than that behind
        assert await entries.forget_older_than(session, utcnow() - timedelta(days=1)) == 0
        assert await entries.forget_older_than(session, utcnow() + timedelta(seconds=1)) == stored
        await entries.add_entry(session, user_id, {"replies": []}, "id-0000002")
        await session.execute(delete(User).where(User.id == user_id))  # type: ignore[arg-type]
    async with database.transaction() as session:
        assert await entries.recent(session, user_id) == []


def test_previews_fit_the_budget_whatever_the_picture() -> None:
    rng = np.random.default_rng(1)
    noisy = Image.fromarray(rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8))  # the worst case for JPEG
    transparent = Image.new("RGBA", (2000, 1500), (200, 30, 40, 0))
    for picture, kind in ((noisy, "PNG"), (transparent, "PNG"), (noisy.convert("L"), "JPEG")):
        out = io.BytesIO()
        picture.save(out, kind)
        preview = make_preview(out.getvalue())
        assert preview is not None and len(preview) <= PREVIEW_BUDGET
        assert max(Image.open(io.BytesIO(preview)).size) <= 640
    assert make_preview(b"not a picture") is None
