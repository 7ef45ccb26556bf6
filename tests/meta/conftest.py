"""WhatsApp and Messenger on a real HTTP server, a real SQLite database and the Graph API emulator.

Inbound webhooks are built from Meta's own examples (tests/specs/meta-examples) and signed with the
app secret, exactly as Meta delivers them.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.app import handler_config
from bot.channels.messenger import MessengerChannel
from bot.channels.meta import sign
from bot.channels.whatsapp import WhatsAppChannel
from bot.settings import Settings
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.model import Inbound, Kind, Reply
from storage.db import Database
from storage.limits import MemoryRateLimiter
from tests.emulators.graph_api import GraphEmulator
from tests.helpers import make_dispatcher

EXAMPLES = Path(__file__).resolve().parents[1] / "specs" / "meta-examples"
WA_SECRET, FB_SECRET = "wa-app-secret", "fb-app-secret"
PAGE_ID = "682498302938465"
_ids = itertools.count(1)


def wa_example(name: str) -> dict[str, Any]:
    examples = json.loads((EXAMPLES / "whatsapp_webhook_examples.json").read_text(encoding="utf-8"))["examples"]
    return copy.deepcopy(examples[name])


def fb_example(name: str) -> dict[str, Any]:
    events = json.loads((EXAMPLES / "messenger_webhook_examples.json").read_text(encoding="utf-8"))["events"]
    return copy.deepcopy(events[name])


def wa_message(
    example: str, wa_id: str, *, wamid: str | None = None, bsuid: str | None = None, **fields: Any
) -> dict[str, Any]:
    """One of Meta's webhook examples, from `wa_id`, sent now, with `fields` merged into the message."""
    payload = wa_example(example)
    value = payload["entry"][0]["changes"][0]["value"]
    message = value["messages"][0]
    message["from"] = wa_id
    message["id"] = wamid or f"wamid.TEST{next(_ids)}"
    message["timestamp"] = str(int(time.time()))
    for key, val in fields.items():
        message[key] = val
    for contact in value.get("contacts", []):
        contact["wa_id"] = wa_id
        if bsuid:
            contact["user_id"] = bsuid
    return payload


def wa_text(wa_id: str, text: str, **kw: Any) -> dict[str, Any]:
    return wa_message("Text Message", wa_id, text={"body": text}, **kw)


def wa_button(wa_id: str, reply_id: str, title: str, **kw: Any) -> dict[str, Any]:
    interactive = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return wa_message("Interactive Button Reply Message", wa_id, interactive=interactive, **kw)


def wa_status(recipient: str, wamid: str, status: str, error_code: int | None = None) -> dict[str, Any]:
    """A status webhook, shaped by the spec's `StatusMessageValue` (the examples have none)."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if error_code:
        item["errors"] = [{"code": error_code, "title": "Re-engagement message", "message": "Re-engagement message"}]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [item],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"value": value, "field": "messages"}]}],
    }


def fb_envelope(*events: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": int(time.time() * 1000), "messaging": list(events)}]}


def fb_event(example: str, psid: str, **message: Any) -> dict[str, Any]:
    event = fb_example(example)
    event["sender"] = {"id": psid}
    event["recipient"] = {"id": PAGE_ID}
    event["timestamp"] = int(time.time() * 1000)
    for part in ("message", "postback"):
        if part in event:
            event[part]["mid"] = f"m_TEST{next(_ids)}"
            if part == "message":
                event[part].pop("quick_reply", None)
            event[part].update(message)
    return event


@dataclass
class Harness:
    url: str
    emulator: GraphEmulator
    whatsapp: WhatsAppChannel
    messenger: MessengerChannel
    dispatcher: Dispatcher
    services: Services
    http: httpx.AsyncClient
    events: list[Inbound] = field(default_factory=list)
    media_answers: list[Reply] = field(default_factory=list)

    async def post(
        self, platform: str, payload: Any, *, secret: str | None = None, signed: bool = True
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if signed:
            headers["X-Hub-Signature-256"] = sign(body, secret or (WA_SECRET if platform == "whatsapp" else FB_SECRET))
        response = await self.http.post(f"{self.url}/webhooks/{platform}", content=body, headers=headers)
        await self.settle()
        return response

    async def settle(self) -> None:
        await self.whatsapp.outbox.drain()
        await self.messenger.outbox.drain()

    def wa_texts(self, to: str | None = None) -> list[str]:
        """What a WhatsApp user read: text bodies and interactive bodies, in order."""
        found = []
        for body in self.emulator.sent("whatsapp"):
            if to and body["to"] != to:
                continue
            if body["type"] == "text":
                found.append(body["text"]["body"])
            elif body["type"] == "interactive":
                found.append(body["interactive"]["body"]["text"])
        return found

    def fb_texts(self) -> list[str]:
        return [b["message"]["text"] for b in self.emulator.sent("messenger") if "text" in b["message"]]


@pytest.fixture
async def emulator() -> AsyncIterator[GraphEmulator]:
    emulator = await GraphEmulator().start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def meta_settings(tmp_path: Path, emulator: GraphEmulator) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        http_port=0,
        whatsapp_access_token=emulator.whatsapp_token,
        whatsapp_phone_number_id=emulator.phone_number_id,
        whatsapp_app_secret=WA_SECRET,
        whatsapp_verify_token="wa-verify",
        messenger_page_access_token=emulator.page_token,
        messenger_app_secret=FB_SECRET,
        messenger_verify_token="fb-verify",
        graph_api_base=emulator.base,
        files_key="k" * 43,
    )


@pytest.fixture
async def harness(meta_settings: Settings, sqlite_url: str, emulator: GraphEmulator) -> AsyncIterator[Harness]:
    db = Database(sqlite_url)
    services = Services(db=db, limiter=MemoryRateLimiter(), config=handler_config(meta_settings))
    dispatcher = make_dispatcher(services)
    whatsapp = WhatsAppChannel(meta_settings, dispatcher)
    messenger = MessengerChannel(meta_settings, dispatcher)
    for channel in (whatsapp, messenger):
        channel.graph.backoff_s = 0.01  # the production backoff, shrunk for tests
    app = web.Application()
    whatsapp.add_routes(app)
    messenger.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with httpx.AsyncClient(timeout=30) as http:
        h = Harness(f"http://127.0.0.1:{port}", emulator, whatsapp, messenger, dispatcher, services, http)
        real_dispatch = dispatcher.dispatch

        async def recording(event: Inbound) -> list[Reply]:
            h.events.append(event)
            if event.kind in (Kind.PHOTO, Kind.DOCUMENT, Kind.ALBUM_ITEM):
                return list(h.media_answers)  # the photo flow is tested on its own; here only what arrives
            return await real_dispatch(event)

        dispatcher.dispatch = recording  # type: ignore[method-assign]
        await whatsapp.start()
        await messenger.start()
        try:
            yield h
        finally:
            await whatsapp.stop()
            await messenger.stop()
            await runner.cleanup()
            await db.dispose()


async def create_giveaway(services: Services, credits: int = 5) -> str:
    """A giveaway as the operator's `giveaway create` makes it; returns the code to type."""
    from handlers import codes
    from storage import giveaways

    code = codes.generate()
    async with services.db.transaction() as session:
        await giveaways.create(
            session,
            code_hash=codes.code_hash(codes.normalize(code) or "", services.config.identity_key),
            hint=codes.hint(code),
            credits=credits,
            max_uses=10,
            expires_at=None,
        )
    return code
