"""bKash Tokenized Checkout end to end through the web chat: the whole bot (`bot.app`) on a real port, the
bKash emulator on another, real SQLite. The seller's browser is played by following the redirects by hand
(our link -> bkashURL -> bKash's redirect to our callback), so a test can also forge, replay, double or drop
that last step. Every case ends with the ledger check clean.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update

from bot import app as app_module
from bot.cli import main
from bot.settings import Settings
from handlers.model import Reply
from storage import ledger, payments, users
from storage.models import Payment
from storage.types import utcnow
from storage.users import Identity
from tests.bot.webchat_harness import web_id
from tests.emulators import bkash_api
from tests.emulators.bkash_api import BkashEmulator


def _token(shop: Shop, payment_id: int) -> str:
    from handlers.buy import checkout_token

    return checkout_token(shop.app.services.config.identity_key, payment_id)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclasses.dataclass
class Shop:
    app: app_module.App
    base: str
    bkash: BkashEmulator
    http: aiohttp.ClientSession
    sent: list[tuple[str, str, str]]  # (channel, chat, text) of messages that answer no inbound event
    visitor: str = ""

    async def say(self, text: str = "", payload: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"payload": payload} if payload else {"text": text}
        async with self.http.post(self.base + "/webchat/messages", json=body) as response:
            assert response.status == 200
            self.visitor = response.cookies["nxz_visitor"].value if "nxz_visitor" in response.cookies else self.visitor
            return list((await response.json())["replies"])

    async def link(self, pack: str = "starter") -> str:
        await self.say("buy")
        [link] = await self.say(payload=f"buy:{pack}")
        assert link["type"] == "link"
        return str(link["url"])

    async def open(self, url: str) -> tuple[int, str, str]:
        """GET without following redirects: (status, Location, body)."""
        async with self.http.get(url, allow_redirects=False) as response:
            return response.status, response.headers.get("Location", ""), await response.text()

    async def pay(self, pack: str = "starter", action: str = "success") -> str:
        """Through bKash's page up to the redirect; returns the callback URL (not opened yet)."""
        status, bkash_url, _ = await self.open(await self.link(pack))
        assert status == 302 and bkash_url.startswith(self.bkash.url)
        status, callback, _ = await self.open(f"{bkash_url}?action={action}")
        assert status == 302 and callback.startswith(self.base + "/pay/bkash/callback?")
        return callback

    async def balance(self) -> int:
        async with self.app.db.transaction() as session:
            user = await users.find(session, Identity("web", web_id(self.app, self.visitor)))
            assert user is not None and user.id is not None
            return await ledger.balance(session, user.id)

    async def payments(self) -> list[Payment]:
        async with self.app.db.transaction() as session:
            return list(reversed(await payments.listing(session)))

    async def ledger_clean(self) -> bool:
        async with self.app.db.transaction() as session:
            return await ledger.drift(session) == []


@pytest.fixture
async def shop(tmp_path: Path, bkash: BkashEmulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Shop]:
    port = _free_port()
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "HTTP_PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BKASH_BASE_URL": bkash.base_url,
        "BKASH_APP_KEY": bkash_api.APP_KEY,
        "BKASH_APP_SECRET": bkash_api.APP_SECRET,
        "BKASH_USERNAME": bkash_api.USERNAME,
        "BKASH_PASSWORD": bkash_api.PASSWORD,
        "BKASH_TIMEOUT_SECONDS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the operator CLI, run in a thread, reads the same settings
    app = app_module.create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    sent: list[tuple[str, str, str]] = []
    original = app.bkash.notify

    async def recording(channel: str, chat_id: str, replies: Sequence[Reply]) -> None:
        sent.extend((channel, chat_id, getattr(r, "text", "")) for r in replies)
        await original(channel, chat_id, replies)

    app.bkash.notify = recording
    await app_module.start(app)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            yield Shop(app, f"http://127.0.0.1:{port}", bkash, http, sent)
    finally:
        await app_module.stop(app)


async def test_a_web_seller_buys_with_bkash_and_a_replayed_callback_grants_nothing(shop: Shop) -> None:
    [offer] = await shop.say("কিনুন")
    assert offer["type"] == "choice"
    assert [b["label"] for b in offer["buttons"]] == ["10 credits · ৳120", "30 credits · ৳330", "100 credits · ৳990"]
    before = await shop.balance()
    callback = await shop.pay()
    status, _, page = await shop.open(callback)
    assert status == 200 and "Payment received" in page
    assert await shop.balance() == before + 10
    [paid] = await shop.payments()
    assert (paid.state, paid.provider, paid.amount, paid.currency) == ("paid", "bkash", 120, "BDT")
    assert paid.transaction_id == shop.bkash.payments[paid.provider_payment_id or ""].trx_id
    assert shop.sent[-1][0] == "web" and "Payment #" in shop.sent[-1][2] and str(before + 10) in shop.sent[-1][2]
    create = shop.bkash.calls_to("create")[0].body
    assert create["amount"] == "120.00" and create["merchantInvoiceNumber"] == f"NXZ{paid.id}"

    # The same redirect again (a reload, or someone replaying it): the page, and nothing more.
    status, _, page = await shop.open(callback)
    assert status == 200 and "Payment received" in page
    # The chat's link opened again: no second bKash payment, the same answer.
    status, _, page = await shop.open(shop.base + "/pay/bkash/start/" + _token(shop, paid.id or 0))
    assert status == 410 and "Payment received" in page and len(shop.bkash.calls_to("create")) == 1
    assert await shop.balance() == before + 10 and len(shop.bkash.calls_to("execute")) == 1
    assert await shop.ledger_clean()


async def test_forged_callbacks_grant_nothing(shop: Shop) -> None:
    before_any = await shop.say("hi")
    assert before_any
    before = await shop.balance()
    # An invented paymentID, "status=success" in the query string: 404, bKash is not even asked.
    status, _, page = await shop.open(shop.base + "/pay/bkash/callback?paymentID=TR0011FAKE&status=success")
    assert status == 404 and "do not know this payment" in page
    # A real paymentID whose payer never paid: bKash's execute refuses (2056), nothing is granted.
    status, bkash_url, _ = await shop.open(await shop.link())
    payment_ref = bkash_url.rsplit("/", 1)[1]
    status, _, page = await shop.open(f"{shop.base}/pay/bkash/callback?paymentID={payment_ref}&status=success")
    assert status == 200 and "did not go through" in page
    assert shop.bkash.calls_to("execute")[-1].answer["statusCode"] == "2056"
    # A checkout link with a made-up token.
    status, _, _ = await shop.open(shop.base + "/pay/bkash/start/1-0000000000000000deadbeef")
    assert status == 404
    assert await shop.balance() == before and {p.state for p in await shop.payments()} == {"failed"}
    assert await shop.ledger_clean()


async def test_an_amount_that_does_not_match_the_pack_grants_nothing(shop: Shop) -> None:
    await shop.say("hi")
    before = await shop.balance()
    callback = await shop.pay()
    shop.bkash.faults.reported_amount = "12.00"
    status, _, page = await shop.open(callback)
    assert status == 200 and "did not go through" in page
    [payment] = await shop.payments()
    assert payment.state == "mismatch" and await shop.balance() == before
    assert "did not match" in shop.sent[-1][2]
    assert await shop.ledger_clean()


async def test_an_execute_that_times_out_is_settled_by_query_once(shop: Shop) -> None:
    await shop.say("hi")
    before = await shop.balance()
    callback = await shop.pay()
    shop.bkash.faults.slow_execute_s = 1.5  # longer than BKASH_TIMEOUT_SECONDS=1; bKash completes it anyway
    status, _, page = await shop.open(callback)
    assert status == 200 and "Payment received" in page
    # The execute's answer came too late (it is recorded when it is finally sent); the query settled it.
    assert [c.path for c in shop.bkash.calls if c.path in ("execute", "payment/status")][0] == "payment/status"
    # The browser retries the redirect while the slow execute's answer is still on its way: no second grant.
    status, _, page = await shop.open(callback)
    assert "Payment received" in page
    assert await shop.balance() == before + 10
    assert await shop.ledger_clean()


async def test_two_callbacks_at_once_grant_once(shop: Shop) -> None:
    await shop.say("hi")
    before = await shop.balance()
    callback = await shop.pay()
    results = await asyncio.gather(shop.open(callback), shop.open(callback), shop.open(callback))
    assert all(status == 200 for status, _, _ in results)
    assert await shop.balance() == before + 10
    assert len([m for m in shop.sent if "Payment #" in m[2]]) == 1
    assert await shop.ledger_clean()


async def test_a_callback_that_never_comes_is_reconciled_by_query(shop: Shop) -> None:
    await shop.say("hi")
    before = await shop.balance()
    await shop.pay()  # paid on bKash's page; the browser never comes back
    await shop.link("shop")  # another checkout, never opened at all
    assert shop.app.bkash is not None
    counts = await shop.app.bkash.reconcile(timedelta(0))
    assert counts == {"paid": 1, "pending": 1}
    assert await shop.balance() == before + 10 and "Payment #" in shop.sent[-1][2]
    # Hours later the unopened checkout expires; the paid one is untouched.
    async with shop.app.db.transaction() as session:
        await session.execute(update(Payment).values(created_at=utcnow() - timedelta(hours=3)))
    assert await shop.app.bkash.reconcile(timedelta(0)) == {"expired": 1}
    assert [p.state for p in await shop.payments()] == ["paid", "expired"]
    assert await shop.ledger_clean()


async def test_a_pack_removed_or_repriced_meanwhile_is_not_charged(shop: Shop) -> None:
    await shop.say("hi")
    before = await shop.balance()
    config = shop.app.services.config
    callback = await shop.pay("shop")
    shop.app.services.config = dataclasses.replace(config, packs=tuple(p for p in config.packs if p.id != "shop"))
    status, _, page = await shop.open(callback)
    assert status == 200 and "changed before you paid" in page
    assert shop.bkash.calls_to("execute") == []  # never executed: the payer's money never moved
    assert "stopped before you were charged" in shop.sent[-1][2]
    # A link opened after the price changed: no bKash payment is created at all.
    shop.app.services.config = config
    url = await shop.link("pro")
    dearer = tuple(dataclasses.replace(p, price_bdt=1200) if p.id == "pro" else p for p in config.packs)
    shop.app.services.config = dataclasses.replace(config, packs=dearer)
    status, _, _ = await shop.open(url)
    assert status == 410 and len(shop.bkash.calls_to("create")) == 1
    assert await shop.balance() == before and {p.state for p in await shop.payments()} == {"cancelled"}
    assert await shop.ledger_clean()


async def test_a_cancelled_payment_is_believed_only_when_bkash_agrees(shop: Shop) -> None:
    await shop.say("hi")
    before = await shop.balance()
    callback = await shop.pay(action="cancel")
    status, _, page = await shop.open(callback)
    assert status == 200 and "did not go through" in page
    assert shop.bkash.calls_to("payment/status")[-1].answer["transactionStatus"] == "Cancelled"
    assert await shop.balance() == before and [p.state for p in await shop.payments()] == ["failed"]


async def test_bkash_down_at_start_says_later_and_the_next_try_works(shop: Shop) -> None:
    url = await shop.link()
    shop.bkash.faults.html_errors["create"] = 1
    status, _, page = await shop.open(url)
    assert status == 503 and "not answering" in page
    status, location, _ = await shop.open(url)
    assert status == 302 and location.startswith(shop.bkash.url)


async def test_operator_refund_through_bkash_and_never_below_zero(shop: Shop) -> None:
    await shop.say("hi")
    before = await shop.balance()
    status, _, _ = await shop.open(await shop.pay())
    [paid] = await shop.payments()
    async with shop.app.db.transaction() as session:
        user = await users.find(session, Identity("web", web_id(shop.app, shop.visitor)))
        assert user is not None and user.id is not None
        await ledger.debit(session, user.id, before + 4, key="test:spend")  # 6 of the 10 bought are left
    assert await asyncio.to_thread(main, ["payments", "refund", str(paid.id)]) == 0
    [refund_call] = shop.bkash.calls_to("payment/refund")
    assert refund_call.body["amount"] == "120.00" and refund_call.body["trxID"] == paid.transaction_id
    [refunded] = await shop.payments()
    assert (refunded.state, refunded.credits_taken_back, refunded.credits_unrecovered) == ("refunded", 6, 4)
    assert refunded.refund_id == shop.bkash.payments[paid.provider_payment_id or ""].refund_trx
    assert await shop.balance() == 0
    assert await asyncio.to_thread(main, ["payments", "refund", str(paid.id)]) == 1
    assert await asyncio.to_thread(main, ["credits", "check"]) == 0


async def test_a_forged_cancel_does_not_close_a_payment_the_payer_can_still_pay(shop: Shop) -> None:
    await shop.say("hi")
    before = await shop.balance()
    status, bkash_url, _ = await shop.open(await shop.link())
    payment_ref = bkash_url.rsplit("/", 1)[1]
    status, _, _ = await shop.open(f"{shop.base}/pay/bkash/callback?paymentID={payment_ref}&status=cancel")
    assert [p.state for p in await shop.payments()] == ["pending"]
    status, callback, _ = await shop.open(f"{bkash_url}?action=success")
    status, _, page = await shop.open(callback)
    assert "Payment received" in page and await shop.balance() == before + 10


async def test_the_operators_reconcile_command_settles_a_lost_redirect(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    await shop.say("hi")
    before = await shop.balance()
    await shop.pay()  # paid on bKash's page; the browser never comes back
    assert await asyncio.to_thread(main, ["payments", "reconcile", "--minutes", "0"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"paid": 1}
    assert await shop.balance() == before + 10 and [p.state for p in await shop.payments()] == ["paid"]
    assert await asyncio.to_thread(main, ["credits", "check"]) == 0
