"""Regression: in a batch, new users' flags were swapped (created read as "/delete pending"), so every new
seller in a crowd was told "we updated our privacy policy" and treated as a returning user."""

from __future__ import annotations

import asyncio

from handlers.context import Services
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say


async def test_new_users_arriving_together_are_welcomed_as_new(services: Services) -> None:
    bot = make_dispatcher(services)
    replies = await asyncio.gather(
        *(say(bot, inbound("/start", user=f"crowd-{n}", lang="en", event_id=f"c{n}")) for n in range(12))
    )
    for reply in replies:
        assert "Welcome to Nexoraz" in reply and "3 free credits" in reply
        assert "updated our privacy policy" not in reply, reply
        assert "cancelled" not in reply.lower(), reply
