"""What is kept of a purchase, and where it shows: /credits, /mydata, `user show`, `stats`, /metrics,
`payments list`, `packs`; and /delete, after which the billing record stays, de-identified."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import pytest

from bot.cli import main
from bot.metrics import Metrics
from handlers import checkout
from handlers.context import Services
from handlers.model import Choice, Document, Invoice, Kind, MediaRef
from storage import ledger, payments, users
from storage.models import LedgerEntry, Payment
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say


async def _bought(services: Services, user: str, pack: str = "starter", charge: str = "stxCharge1") -> Payment:
    """A seller taps a pack on Telegram and Telegram confirms the Stars payment."""
    bot = make_dispatcher(services)
    [invoice] = await bot.dispatch(inbound(payload=f"buy:{pack}", user=user))
    assert isinstance(invoice, Invoice)
    payment_id = int(invoice.payload.split(":")[1])
    async with services.db.transaction() as session:
        payment = await payments.get(session, payment_id)
    assert payment is not None
    settled = await checkout.settle(services, payment, transaction_id=charge, currency="XTR", amount=payment.amount)
    assert settled.granted
    return settled.payment or payment


@pytest.fixture
def selling(services: Services) -> Services:
    services.config = dataclasses.replace(services.config, packs=payments.parse_packs("starter:10:120:70"))
    services.observer = Metrics()
    return services


async def test_credits_show_bought_apart_from_gifts_and_offer_packs(selling: Services) -> None:
    bot = make_dispatcher(selling)
    await _bought(selling, "301")
    [reply] = await bot.dispatch(inbound("/credits", user="301"))
    assert isinstance(reply, Choice) and [b.payload for b in reply.buttons] == ["buy:starter"]
    assert "Bought: 10 · gifts and bonuses: 3" in reply.text and "+10 purchase" in reply.text


async def test_running_out_of_credits_offers_the_packs(selling: Services) -> None:
    bot = make_dispatcher(selling)
    await say(bot, inbound("hi", user="302", lang="bn"))
    async with selling.db.transaction() as session:
        user = await users.find(session, Identity("telegram", "302"))
        assert user is not None and user.id is not None
        await ledger.debit(session, user.id, 3, key="test:spend-all")
    photo = MediaRef(file_id="f1", mime="image/jpeg", size=1000)
    replies = await bot.dispatch(inbound(user="302", kind=Kind.PHOTO, media=(photo,), lang="bn"))
    [offer] = [r for r in replies if isinstance(r, Choice)]
    assert "যথেষ্ট ক্রেডিট নেই" in offer.text and offer.buttons[0].label == "১০টি ক্রেডিট · ৭০ ⭐"


async def test_mydata_and_metrics_include_payments(selling: Services) -> None:
    bot = make_dispatcher(selling)
    paid = await _bought(selling, "303")
    replies = await bot.dispatch(inbound("/mydata", user="303"))
    [document] = [r for r in replies if isinstance(r, Document)]
    record = json.loads(zipfile.ZipFile(io.BytesIO(document.data)).read("nexoraz-data.json"))
    assert record["credits"]["purchased"] == 10
    [row] = record["payments"]
    assert (row["id"], row["provider"], row["amount"], row["currency"], row["state"]) == (
        paid.id,
        "stars",
        70,
        "XTR",
        "paid",
    )
    assert row["transaction_id"] == "stxCharge1"
    assert isinstance(selling.observer, Metrics)
    scraped = selling.observer.render().decode()
    assert 'nexoraz_payments_total{provider="stars",state="paid"} 1.0' in scraped
    assert 'nexoraz_credits_purchased_total{provider="stars"} 10.0' in scraped


async def test_delete_keeps_the_billing_record_de_identified(selling: Services) -> None:
    bot = make_dispatcher(selling)
    paid = await _bought(selling, "304")
    await say(bot, inbound("/delete", user="304"))
    assert "erased" in await say(bot, inbound(payload="del:yes", user="304"))
    async with selling.db.transaction() as session:
        kept = await payments.get(session, paid.id or 0)
        assert kept is not None and kept.user_id is None
        assert (kept.state, kept.amount, kept.transaction_id) == ("paid", 70, "stxCharge1")
        assert await users.find(session, Identity("telegram", "304")) is None
        entries = [e for e in (await session.execute(LedgerEntry.__table__.select())).all() if e.kind == "purchase"]
        assert entries and all(e.user_id is None and e.subject.startswith("erased:") for e in entries)
        assert await ledger.drift(session) == []
    # The same confirmation arriving again after the erasure grants nothing to anyone.
    again = await checkout.settle(selling, kept, transaction_id="stxCharge1", currency="XTR", amount=70)
    assert not again.granted


def test_operator_commands_list_packs_stats_and_user_show(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    from pathlib import Path

    from bot.app import create_app
    from bot.settings import Settings
    from storage import migrate

    data = Path(str(tmp_path)) / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("CREDIT_PACKS", "starter:10:120:70,shop:30:330:190")

    async def buy() -> None:
        app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
        await migrate.upgrade_async(app.settings.effective_database_url)
        try:
            await _bought(app.services, "305", "shop", "stxChargeOps")
        finally:
            await app.db.dispose()

    asyncio.run(buy())
    assert main(["packs"]) == 0
    out = capsys.readouterr().out
    assert "starter" in out and "330" in out and "bKash: off" in out
    assert main(["payments", "list", "--user", "telegram:305", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["pack"], row["state"], row["amount"]) == ("shop", "paid", 190)
    assert main(["payments", "list", "--since", "2999-01-01"]) == 0
    assert "stxChargeOps" not in capsys.readouterr().out
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    [day] = stats["payments_by_day"]
    assert (day["provider"], day["currency"], day["paid"], day["amount"], day["credits"]) == (
        "stars",
        "XTR",
        1,
        190,
        30,
    )
    assert sum(d["purchased"] for d in stats["by_day"]) == 30
    assert main(["user", "show", "telegram:305"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["payments"][0]["transaction_id"] == "stxChargeOps" and shown["credits"]["purchased"] == 30
    assert main(["credits", "check"]) == 0
