"""The webhook door both Meta channels share: handshake, signatures, bad bodies; and the shared helpers."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import create_app, start, stop
from bot.channels.meta import (
    BadParameter,
    BadToken,
    OutsideWindow,
    RateLimited,
    ServerError,
    Unreachable,
    Window,
    error_from,
    split_text,
    truncate,
)
from bot.channels.text import graphemes
from bot.settings import Settings
from tests.meta.conftest import FB_SECRET, WA_SECRET, Harness, fb_envelope, fb_event, wa_text

BD = "8801712345678"


@pytest.mark.parametrize(("platform", "token"), [("whatsapp", "wa-verify"), ("messenger", "fb-verify")])
async def test_the_verification_handshake(harness: Harness, platform: str, token: str) -> None:
    url = f"{harness.url}/webhooks/{platform}"
    ok = await harness.http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"})
    assert ok.status_code == 200 and ok.text == "42" and ok.headers["Content-Type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "42"},
        {"hub.mode": "unsubscribe", "hub.verify_token": token, "hub.challenge": "42"},
        {},
    ):
        assert (await harness.http.get(url, params=params)).status_code == 403


@pytest.mark.parametrize("platform", ["whatsapp", "messenger"])
async def test_forged_and_missing_signatures_are_refused_and_nothing_is_dispatched(
    harness: Harness, platform: str
) -> None:
    payload = wa_text(BD, "help") if platform == "whatsapp" else fb_envelope(fb_event("Text Message", "1", text="hi"))
    assert (await harness.post(platform, payload, signed=False)).status_code == 401
    assert (await harness.post(platform, payload, secret="not-the-secret")).status_code == 403
    other = FB_SECRET if platform == "whatsapp" else WA_SECRET  # the other app's secret is no better
    assert (await harness.post(platform, payload, secret=other)).status_code == 403
    assert harness.events == [] and harness.emulator.sent(platform) == []


@pytest.mark.parametrize("platform", ["whatsapp", "messenger"])
async def test_malformed_bodies_get_400_and_odd_shapes_are_ignored(harness: Harness, platform: str) -> None:
    assert (await harness.post(platform, b"{not json")).status_code == 400
    assert (await harness.post(platform, b"\xff\xfe")).status_code == 400
    assert (await harness.post(platform, b"[1, 2]")).status_code == 400
    for odd in (
        {},
        {"entry": "x"},
        {"entry": [{"changes": [None, {"value": 3}]}, 7]},
        {"entry": [{"messaging": [{}]}]},
    ):
        assert (await harness.post(platform, odd)).status_code == 200
    assert harness.events == []


async def test_a_tampered_body_with_a_valid_old_signature_is_refused(harness: Harness) -> None:
    from bot.channels.meta import sign

    body = json.dumps(wa_text(BD, "help")).encode()
    signature = sign(body, WA_SECRET)
    tampered = body.replace(b"help", b"HELP")
    response = await harness.http.post(
        f"{harness.url}/webhooks/whatsapp", content=tampered, headers={"X-Hub-Signature-256": signature}
    )
    assert response.status_code == 403


async def test_the_composition_root_mounts_both_channels(meta_settings: Settings) -> None:
    app = create_app(meta_settings)
    assert {c.name for c in app.channels} >= {"whatsapp", "messenger"}
    await start(app)
    try:
        async with httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{app.port}/webhooks/whatsapp"
            params = {"hub.mode": "subscribe", "hub.verify_token": "wa-verify", "hub.challenge": "ok"}
            assert (await http.get(url, params=params)).text == "ok"
            assert (await http.post(url, content=b"{}")).status_code == 401
    finally:
        await stop(app)


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (401, {"code": 190}, BadToken),
        (400, {"code": 100}, BadParameter),
        (400, {"code": 131047}, OutsideWindow),
        (400, {"code": 10, "error_subcode": 2018278}, OutsideWindow),
        (400, {"code": 130429}, RateLimited),
        (400, {"code": 131056}, RateLimited),
        (400, {"code": 4}, RateLimited),
        (400, {"code": 80007}, RateLimited),
        (429, {}, RateLimited),
        (400, {"code": 551}, Unreachable),
        (503, {"code": 2}, ServerError),
        (502, None, ServerError),
    ],
)
def test_graph_errors_are_typed(status: int, error: dict | None, kind: type) -> None:
    assert type(error_from(status, {"error": error} if error is not None else "<html>")) is kind


def test_truncation_never_splits_a_bengali_conjunct_or_an_emoji() -> None:
    assert list(graphemes("ক্ষমা")) == ["ক্ষ", "মা"]
    assert list(graphemes("👍🏽x")) == ["👍🏽", "x"]
    assert truncate("স্টুডিও ব্যাকগ্রাউন্ড সাদা", 12) == "স্টুডিও…"
    assert truncate("short", 20) == "short"


@given(st.text(alphabet="কখগঘ্ািীুূেৈোৌং abc👍🏽\u200d", min_size=0, max_size=80), st.integers(2, 30))
def test_truncate_and_split_keep_limits_and_whole_graphemes(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert len(cut) <= limit
    clusters = list(graphemes(" ".join(text.split())))
    kept = cut.removesuffix("…").rstrip()
    assert "".join(clusters).startswith(kept)
    chunks = split_text(text, limit)
    assert all(len(c) <= limit for c in chunks)


def test_the_window_ignores_out_of_order_deliveries() -> None:
    now = [1_000_000.0]
    window = Window(lambda: now[0])
    window.touch("a", now[0] - 10)
    window.touch("a", now[0] - 30 * 3600)  # an old redelivery arrives late
    now[0] += 23 * 3600
    assert window.is_open("a")
    now[0] += 3600
    assert not window.is_open("a")
    assert window.is_open("never-wrote")  # unknown here: the worker checked the database (bot.workers)
    window.close("b")
    assert not window.is_open("b")
    window.touch("b")
    assert window.is_open("b")
