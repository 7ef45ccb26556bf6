"""Operators' commands: giveaway create/list, credits grant/check, user show; as an operator runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.app import create_app
from bot.cli import main
from bot.settings import Settings
from storage import migrate
from tests.conftest import inbound
from tests.helpers import say


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "NexorazBot")
    monkeypatch.setenv("WHATSAPP_DISPLAY_NUMBER", "+880 1711-000000")
    monkeypatch.setenv("FACEBOOK_PAGE_ID", "nexoraz")
    return tmp_path / "data"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


async def _app_say(data_dir: Path, text: str, user: str) -> str:
    app = create_app(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    await migrate.upgrade_async(app.settings.effective_database_url)
    try:
        return await say(app.dispatcher, inbound(text, user=user))
    finally:
        await app.db.dispose()


def test_giveaway_create_prints_code_and_links_that_redeem(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    code, out, _ = _run(capsys, "giveaway", "create", "--credits", "4", "--max-uses", "1", "--expires", "2099-12-31")
    assert code == 0
    shown = re.search(r"code: (\S+)", out)
    assert shown
    plain = shown.group(1).replace("-", "")
    assert f"https://t.me/NexorazBot?start={plain}" in out
    assert f"https://wa.me/8801711000000?text=redeem%20{plain}" in out
    assert f"https://m.me/nexoraz?ref={plain}" in out
    assert "Code accepted" in asyncio.run(_app_say(data_dir, f"/start {plain}", "fan"))
    assert "not valid" in asyncio.run(_app_say(data_dir, f"redeem {plain}", "late"))  # max uses 1
    code, out, _ = _run(capsys, "giveaway", "list")
    assert "1/1" in out and "used up" in out and "2099-12-31 23:59" in out


def test_giveaway_create_rejects_bad_input(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "giveaway", "create", "--credits", "0")[0] == 2
    assert _run(capsys, "giveaway", "create", "--credits", "5000")[0] == 2
    assert _run(capsys, "giveaway", "create", "--credits", "5", "--max-uses", "-1")[0] == 2
    assert _run(capsys, "giveaway", "create", "--credits", "5", "--expires", "2001-01-01")[0] == 2
    assert _run(capsys, "giveaway", "create", "--credits", "5", "--expires", "soon")[0] == 2
    assert _run(capsys, "giveaway", "create", "--credits", "5", "--code", "!")[0] == 2
    assert _run(capsys, "giveaway", "create", "--credits", "5", "--code", "SAME1")[0] == 0
    code, _, err = _run(capsys, "giveaway", "create", "--credits", "5", "--code", "same-1")
    assert code == 2 and "exists already" in err


def test_grant_check_and_show(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    asyncio.run(_app_say(data_dir, "hello", "buyer"))
    code, out, _ = _run(
        capsys,
        "credits",
        "grant",
        "telegram:buyer",
        "10",
        "--reason",
        "bKash payment 8F3K",
        "--purchase",
        "--key",
        "tx-8F3K",
    )
    assert code == 0 and "13 credits" in out
    code, out, _ = _run(capsys, "credits", "grant", "telegram:buyer", "10", "--reason", "again", "--key", "tx-8F3K")
    assert code == 0 and "already granted" in out and "13 credits" in out
    assert _run(capsys, "credits", "grant", "telegram:buyer", "-5", "--reason", "x")[0] == 2
    assert _run(capsys, "credits", "grant", "telegram:buyer", "999999999", "--reason", "x")[0] == 2
    assert _run(capsys, "credits", "grant", "telegram:buyer", "5", "--reason", "  ")[0] == 2
    assert _run(capsys, "credits", "grant", "nonsense", "5", "--reason", "x")[0] == 2
    code, out, _ = _run(capsys, "credits", "grant", "telegram:nobody", "5", "--reason", "x")
    assert code == 1 and out.strip() == "not found"
    code, out, _ = _run(capsys, "credits", "check")
    assert code == 0 and out.startswith("ok: 1 accounts")
    code, out, _ = _run(capsys, "user", "show", "telegram:buyer")
    record = json.loads(out)
    assert record["user"]["channel"] == "telegram" and record["user"]["external_id"] == "buyer"
    assert record["credits"]["balance"] == 13
    assert [e["kind"] for e in record["credits"]["ledger"]] == ["signup", "purchase"]
    assert record["credits"]["ledger"][1]["reference"] == "bKash payment 8F3K"
    assert set(record) >= {"user", "credits", "consent", "renders", "files"}
    code, out, _ = _run(capsys, "user", "show", "web:ghost")
    assert code == 1 and out.strip() == "not found"


def test_credits_check_reports_drift(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import sqlite3

    asyncio.run(_app_say(data_dir, "hello", "drifty"))
    with sqlite3.connect(data_dir / "nexoraz.sqlite3") as conn:
        conn.execute("UPDATE credit_accounts SET balance = balance + 7")
    code, out, _ = _run(capsys, "credits", "check")
    assert code == 1 and "DRIFT" in out and "balance 10, ledger sum 3" in out
