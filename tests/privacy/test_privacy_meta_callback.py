"""Meta's data-deletion callback: a verified signed_request erases the user and answers a status URL and a
confirmation code; forged or malformed requests are refused and erase nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot import privacy_http
from bot.settings import Settings
from handlers.context import Services
from handlers.model import Channel
from storage import users
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say
from tests.privacy.privacy_harness import seed_files, with_blobs

SECRET = "messenger-app-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fresh(user_id: str, **extra: object) -> dict[str, object]:
    return {"algorithm": "HMAC-SHA256", "issued_at": int(time.time()), "user_id": user_id, **extra}


def signed_request(payload: object, secret: str = SECRET) -> str:
    body = _b64(json.dumps(payload).encode())
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{_b64(signature)}.{body}"


@pytest.fixture
async def client(services: Services, tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    with_blobs(services, tmp_path / "data")
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data", messenger_app_secret=SECRET, public_base_url="https://bot.example", _env_file=None
    )
    http = web.Application()
    privacy_http.add_routes(http, settings, services)
    async with TestClient(TestServer(http)) as test_client:
        yield test_client


async def _exists(services: Services, psid: str) -> bool:
    async with services.db.transaction() as s:
        return await users.find(s, Identity("messenger", psid)) is not None


async def test_signed_request_erases_the_messenger_user_and_gives_a_status_page(
    client: TestClient[web.Request, web.Application], services: Services, tmp_path: Path
) -> None:
    await say(make_dispatcher(services), inbound("hi", user="psid-1", channel=Channel.MESSENGER))
    seeded = await seed_files(services, Identity("messenger", "psid-1"))
    payload = {"algorithm": "HMAC-SHA256", "issued_at": int(time.time()), "user_id": "psid-1"}
    response = await client.post("/meta/data-deletion", data={"signed_request": signed_request(payload)})
    assert response.status == 200
    answer = await response.json()
    code = answer["confirmation_code"]
    assert answer["url"] == f"https://bot.example/meta/data-deletion/status?code={code}"
    assert not await _exists(services, "psid-1")
    assert not any((tmp_path / "data" / p).exists() for p in seeded.paths)

    page = await client.get(f"/meta/data-deletion/status?code={code}")
    assert page.status == 200 and "have been erased" in await page.text()
    bengali = await client.get(f"/meta/data-deletion/status?code={code}", headers={"Accept-Language": "bn-BD,bn;q=0.9"})
    assert "মুছে ফেলা হয়েছে" in await bengali.text()
    unknown = await client.get("/meta/data-deletion/status?code=nope")
    assert unknown.status == 404 and "do not know" in await unknown.text()


async def test_unknown_user_gets_a_code_saying_nothing_was_held(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.post("/meta/data-deletion", data={"signed_request": signed_request(fresh("42"))})
    code = (await response.json())["confirmation_code"]
    page = await client.get(f"/meta/data-deletion/status?code={code}")
    assert "could not match this Facebook account" in await page.text()


async def test_a_stale_or_replayed_request_erases_no_one(
    client: TestClient[web.Request, web.Application], services: Services
) -> None:
    """Issue 14 (7): a signed_request issued in 2001 was accepted; a replay erased a user who came back since."""
    await say(make_dispatcher(services), inbound("hi", user="psid-9", channel=Channel.MESSENGER))
    for issued_at in (1_000_000_000, int(time.time()) - 2 * 24 * 3600, int(time.time()) + 3600):
        stale = {"algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": "psid-9"}
        response = await client.post("/meta/data-deletion", data={"signed_request": signed_request(stale)})
        assert response.status == 400 and "stale" in await response.text()
    assert await _exists(services, "psid-9")
    # Issued an hour ago, before this seller came back (the account is newer): a receipt, but nothing erased.
    earlier = {"algorithm": "HMAC-SHA256", "issued_at": int(time.time()) - 3600, "user_id": "psid-9"}
    response = await client.post("/meta/data-deletion", data={"signed_request": signed_request(earlier)})
    assert response.status == 200 and await _exists(services, "psid-9")


REFUSED: list[tuple[dict[str, str], int]] = [
    ({"signed_request": signed_request(fresh("psid-2"), secret="someone-else")}, 403),
    ({"signed_request": signed_request(fresh("psid-3")).replace(".", ".e30", 1)}, 403),  # payload swapped
    ({"signed_request": "A" * 43 + "." + _b64(json.dumps(fresh("psid-2")).encode())}, 403),
    ({"signed_request": "no-dot-here"}, 400),
    ({"signed_request": "abc$%.def"}, 400),
    ({"signed_request": ""}, 400),
    ({}, 400),
    ({"signed_request": signed_request(["psid-2"])}, 400),
    ({"signed_request": signed_request(fresh("psid-2", algorithm="none"))}, 400),
    ({"signed_request": signed_request(fresh("<script>"))}, 400),
    ({"signed_request": signed_request({"user_id": "psid-2"})}, 400),  # no issued_at
]


async def test_forged_and_malformed_requests_are_refused_and_erase_nothing(
    client: TestClient[web.Request, web.Application], services: Services
) -> None:
    for psid in ("psid-2", "psid-3"):
        await say(make_dispatcher(services), inbound("hi", user=psid, channel=Channel.MESSENGER))
    for form, status in REFUSED:
        response = await client.post("/meta/data-deletion", data=form)
        assert response.status == status, form
    assert await _exists(services, "psid-2") and await _exists(services, "psid-3")


def test_signature_check_needs_the_payload_part_exactly() -> None:
    good = signed_request(fresh("1"))
    verified = privacy_http.verify_signed_request(good, {"messenger": SECRET, "whatsapp": ""})
    assert (verified.channels, verified.user_id) == (["messenger"], "1")
    verified = privacy_http.verify_signed_request(good, {"messenger": "x", "whatsapp": SECRET})
    assert (verified.channels, verified.user_id) == (["whatsapp"], "1")
    with pytest.raises(privacy_http.SignedRequestError):
        privacy_http.verify_signed_request(good + "x", {"messenger": SECRET})
