"""`python -m bot stats`: aggregated users, renders and credits by day, and nothing that names a user."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage import jobs, ledger, users
from storage.db import Database
from storage.models import RenderJob
from storage.types import utcnow


async def _seed(db: Database) -> None:
    async with db.transaction() as session:
        for n, name in enumerate(("Rahima Secret", "Karim Hidden")):
            user, _ = await users.get_or_create(
                session, users.Identity("telegram", f"99887766{n}"), locale="bn", display_name=name
            )
            assert user.id is not None
            await ledger.grant_signup(session, user.id, f"hash-{n}", 3)
            job = await jobs.create(
                session,
                RenderJob(
                    user_id=user.id,
                    channel="telegram",
                    chat_id=f"99887766{n}",
                    batch_key=f"b{n}",
                    style="white",
                    size="square",
                    cost=1,
                    state="delivered" if n == 0 else "failed",
                ),
            )
            assert job.id is not None
            await ledger.debit(session, user.id, 1, key=jobs.debit_key(job.id))
            if n == 1:
                await ledger.refund(session, user.id, debit_key=jobs.debit_key(job.id), key=jobs.refund_key(job.id))
            else:  # the delivered one: "not right?" pressed
                kind = ledger.EntryKind.NOT_RIGHT
                key = jobs.not_right_key(job.id)
                await ledger.refund(session, user.id, debit_key=jobs.debit_key(job.id), key=key, kind=kind)
            await ledger.credit(session, user.id, 5, kind=ledger.EntryKind.PURCHASE, key=f"buy-{n}")
            if n == 0:  # joined to another chat of the same seller: a second welcome gift handed back
                await ledger.take_back(session, user.id, 2, kind=ledger.EntryKind.LINK, key="link-signup:0")
        old = RenderJob(
            user_id=user.id,
            channel="telegram",
            chat_id="x",
            batch_key="old",
            style="white",
            size="square",
            cost=1,
            state="delivered",
            created_at=utcnow() - timedelta(days=30),
        )
        await jobs.create(session, old)


async def test_stats_aggregates_by_day_without_identifiers(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(db_url)
    try:
        await _seed(db)
    finally:
        await db.dispose()
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert await asyncio.to_thread(main, ["stats", "--days", "3", "--json"]) == 0  # the CLI runs its own loop
    out = capsys.readouterr().out
    stats = json.loads(out)
    assert stats["users"] == 2
    assert stats["renders_by_state"] == {"delivered": 1, "failed": 1}  # the 30-day-old job is outside
    today = stats["by_day"][-1]
    assert len(stats["by_day"]) == 3 and today["day"] == utcnow().date().isoformat()
    assert (today["new_users"], today["renders"]) == (2, 2)
    assert (today["debited"], today["refunded"], today["granted"], today["purchased"]) == (2, 1, 4, 10)
    assert today["not_right"] == 1
    assert await asyncio.to_thread(main, ["stats"]) == 0
    table = capsys.readouterr().out
    assert "not right" in table.splitlines()[3]
    assert "users: 2 in total" in table
    for secret in ("998877660", "998877661", "Rahima", "Karim", "hash-0", "buy-0"):
        assert secret not in out and secret not in table


def test_stats_rejects_a_silly_window() -> None:
    assert main(["stats", "--days", "0"]) == 2


async def test_renders_of_erased_users_are_still_counted(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18: after /delete, stats showed fewer renders than debits (jobs go, de-identified debits stay)."""
    from storage import privacy

    db = Database(db_url)
    try:
        await _seed(db)
        async with db.transaction() as session:
            user, _ = await users.get_or_create(
                session, users.Identity("telegram", "998877660"), locale="bn", display_name=None
            )
            assert user.id is not None
            await privacy.erase_user(session, user.id)
    finally:
        await db.dispose()
    monkeypatch.setenv("DATABASE_URL", db_url)
    stats = await asyncio.to_thread(_stats_json)
    today = stats["by_day"][-1]
    assert today["renders"] >= today["debited"] == 2
    assert stats["renders_by_state"] == {"erased": 1, "failed": 1}


def _stats_json() -> dict[str, object]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["stats", "--days", "3", "--json"]) == 0
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def test_stats_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(root),
    }
    script = f"{sys.executable} -m bot stats --days 3000 | head -n 1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("users: 0")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
