"""bKash end to end on WhatsApp and Messenger: the whole bot (`bot.app`) with both Meta channels against the
Graph API emulator, the bKash emulator, real SQLite. The seller types `kinun` / `কিনুন`, taps a pack, gets
the payment link in the chat, pays on bKash's page, and the receipt arrives in the same chat."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import app as app_module
from bot.channels.meta import sign
from bot.settings import Settings
from tests.emulators import bkash_api
from tests.emulators.bkash_api import BkashEmulator
from tests.emulators.graph_api import GraphEmulator
from tests.meta.conftest import FB_SECRET, WA_SECRET, fb_envelope, fb_event, wa_button, wa_text

WA_ID, PSID = "8801711000111", "6600112233"
_URL = re.compile(r"https?://\S+/pay/bkash/start/\S+")


@pytest.fixture
async def graph() -> AsyncIterator[GraphEmulator]:
    emulator = await GraphEmulator().start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def running(tmp_path: Path, graph: GraphEmulator, bkash: BkashEmulator) -> AsyncIterator[app_module.App]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        http_port=port,
        public_base_url=f"http://127.0.0.1:{port}",
        whatsapp_access_token=graph.whatsapp_token,
        whatsapp_phone_number_id=graph.phone_number_id,
        whatsapp_app_secret=WA_SECRET,
        whatsapp_verify_token="wa-verify",
        messenger_page_access_token=graph.page_token,
        messenger_app_secret=FB_SECRET,
        messenger_verify_token="fb-verify",
        graph_api_base=graph.base,
        bkash_base_url=bkash.base_url,
        bkash_app_key=bkash_api.APP_KEY,
        bkash_app_secret=bkash_api.APP_SECRET,
        bkash_username=bkash_api.USERNAME,
        bkash_password=bkash_api.PASSWORD,
    )
    app = app_module.create_app(settings)
    await app_module.start(app)
    try:
        yield app
    finally:
        await app_module.stop(app)


async def _post(app: app_module.App, platform: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    secret = WA_SECRET if platform == "whatsapp" else FB_SECRET
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{app.port}/webhooks/{platform}", data=body, headers=headers) as response,
    ):
        assert response.status == 200
    for channel in app.channels:
        outbox = getattr(channel, "outbox", None)
        if outbox is not None:
            await outbox.drain()


async def _pay_on_bkash(link: str) -> str:
    """The seller's browser: our link -> bKash's page -> bKash's redirect back to us. Returns that page."""
    async with aiohttp.ClientSession() as browser:
        async with browser.get(link, allow_redirects=False) as start:
            assert start.status == 302
            bkash_page = start.headers["Location"]
        async with browser.get(bkash_page + "?action=success", allow_redirects=False) as paid:
            assert paid.status == 302
            callback = paid.headers["Location"]
        async with browser.get(callback) as back:
            return await back.text()


def _wa_bodies(graph: GraphEmulator) -> list[str]:
    found = []
    for body in graph.sent("whatsapp"):
        if body["type"] == "text":
            found.append(body["text"]["body"])
        elif body["type"] == "interactive":
            found.append(body["interactive"]["body"]["text"])
    return found


async def test_a_whatsapp_seller_buys_with_bkash(running: app_module.App, graph: GraphEmulator) -> None:
    await _post(running, "whatsapp", wa_text(WA_ID, "kinun"))
    offer = [b for b in graph.sent("whatsapp") if b["type"] == "interactive"][-1]["interactive"]
    titles = {b["reply"]["title"]: b["reply"]["id"] for b in offer["action"]["buttons"]}
    # A Bangladeshi number: Bengali, with Bengali digits, and each title within WhatsApp's 20 characters.
    assert list(titles) == ["১০টি ক্রেডিট · ৳১২০", "৩০টি ক্রেডিট · ৳৩৩০", "১০০টি ক্রেডিট · ৳৯৯০"]
    await _post(running, "whatsapp", wa_button(WA_ID, titles["১০টি ক্রেডিট · ৳১২০"], "১০টি ক্রেডিট · ৳১২০"))
    [link] = _URL.findall(_wa_bodies(graph)[-1])
    page = await _pay_on_bkash(link)
    assert "পেমেন্ট পাওয়া গেছে" in page
    await _post(running, "whatsapp", wa_text(WA_ID, "balance"))  # drains the outbox after the receipt too
    receipt = next(t for t in _wa_bodies(graph) if t.startswith("✅"))
    assert "১০টি ক্রেডিট যোগ" in receipt and "১৩" in receipt


async def test_a_messenger_seller_buys_with_bkash(running: app_module.App, graph: GraphEmulator) -> None:
    await _post(running, "messenger", fb_envelope(fb_event("Text Message", PSID, text="buy")))
    last = [b["message"] for b in graph.sent("messenger") if "quick_replies" in b.get("message", {})][-1]
    quick = {q["title"]: q["payload"] for q in last["quick_replies"]}
    label = "10 credits · ৳120"
    assert label in quick
    tap = fb_event("Text Message", PSID, text=label, quick_reply={"payload": quick[label]})
    await _post(running, "messenger", fb_envelope(tap))
    texts = [b["message"]["text"] for b in graph.sent("messenger") if "text" in b.get("message", {})]
    [link] = _URL.findall(texts[-1])
    assert "Pay with bKash" in texts[-1]
    page = await _pay_on_bkash(link)
    assert "Payment received" in page
    await _post(running, "messenger", fb_envelope(fb_event("Text Message", PSID, text="balance")))
    texts = [b["message"]["text"] for b in graph.sent("messenger") if "text" in b.get("message", {})]
    receipt = next(t for t in texts if t.startswith("✅"))
    assert "10 credits added" in receipt and "13" in receipt
