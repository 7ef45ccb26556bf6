"""One person, one account across chats (issue #14): /link codes, merging, the welcome gift once, /unlink,
/delete reaching every linked chat. Through the real dispatcher and router, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from handlers import codes
from handlers.config import Config
from handlers.context import Services
from handlers.model import Channel
from handlers.privacy import CONFIRM
from storage import export, giveaways, ledger, links, users
from storage.models import LinkCode
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say

TELEGRAM, WHATSAPP, WEB = Channel.TELEGRAM, Channel.WHATSAPP, Channel.WEB


@pytest.fixture
def config() -> Config:
    """A deployment with Telegram and WhatsApp beside the web chat: there is a verified chat to join."""
    return Config(
        signup_credits=3,
        identity_key=b"k" * 32,
        telegram_bot_username="NexorazTestBot",
        whatsapp_display_number="+880 1711-000000",
    )


def code_in(text: str) -> str:
    found = re.search(r"link ([A-Z0-9]{8})", text)
    assert found, text
    return found.group(1)


async def balance_of(services: Services, channel: Channel, user: str) -> int:
    async with services.db.transaction() as session:
        found = await users.find(session, Identity(channel.value, user))
        assert found is not None and found.id is not None
        return await ledger.balance(session, found.id)


async def no_drift(services: Services) -> None:
    async with services.db.transaction() as session:
        assert await ledger.drift(session) == []


async def test_a_web_visitor_gets_no_gift_and_no_codes_until_it_joins_a_verified_chat(services: Services) -> None:
    dispatcher = make_dispatcher(services)
    async with services.db.transaction() as session:
        await giveaways.create(
            session,
            code_hash=codes.code_hash("EID7K3", services.config.identity_key),
            hint="EID",
            credits=5,
            max_uses=10,
            expires_at=None,
        )
    welcome = await say(dispatcher, inbound("hi", user="visitor-a", channel=WEB))
    assert "0 credits" in welcome and "3 free credits" in welcome  # the offer names the gift it would bring
    assert await balance_of(services, WEB, "visitor-a") == 0
    refused = await say(dispatcher, inbound("redeem EID7K3", user="visitor-a", channel=WEB))
    assert "Giveaway codes are for people who chat with us" in refused
    assert await balance_of(services, WEB, "visitor-a") == 0

    # The visitor joins its Telegram (a newcomer there): the gift comes once, with the verified chat.
    code = code_in(refused)
    joined = await say(dispatcher, inbound(f"/start link-{code}", user="7001", channel=TELEGRAM))
    assert "Joined" in joined and "Telegram" in joined and "web chat" in joined
    assert await balance_of(services, WEB, "visitor-a") == 3 == await balance_of(services, TELEGRAM, "7001")
    ok = await say(dispatcher, inbound("redeem EID7K3", user="visitor-a", channel=WEB))
    assert "Code accepted" in ok and await balance_of(services, TELEGRAM, "7001") == 8
    # The same person cannot redeem the code again from the other chat.
    again = await say(dispatcher, inbound("/redeem EID7K3", user="7001", channel=TELEGRAM))
    assert "not valid" in again and await balance_of(services, TELEGRAM, "7001") == 8
    await no_drift(services)


async def test_a_newcomer_joining_an_account_does_not_get_a_second_gift(services: Services) -> None:
    dispatcher = make_dispatcher(services)
    await say(dispatcher, inbound("/start", user="7002", channel=TELEGRAM))
    offer = await say(dispatcher, inbound("/link", user="7002", channel=TELEGRAM))
    code = code_in(offer)
    # The seller's first WhatsApp message is the code, typed in lower case with Bengali digits.
    typed = code.lower().translate(str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯"))
    joined = await say(dispatcher, inbound(f"link {typed}", user="8801711000002", channel=WHATSAPP))
    assert "Joined" in joined and "welcome gift comes once per person" in joined
    assert await balance_of(services, WHATSAPP, "8801711000002") == 3
    async with services.db.transaction() as session:
        account = await users.find(session, Identity("telegram", "7002"))
        assert account is not None and account.id is not None
        record = await export.user_record(session, account)
    assert record["identities"] == [
        {"channel": "telegram", "external_id": "7002"},
        {"channel": "whatsapp", "external_id": "8801711000002"},
    ]
    # A code works once.
    reused = await say(dispatcher, inbound(f"link {code}", user="8801711000003", channel=WHATSAPP))
    assert "not valid or has expired" in reused
    await no_drift(services)


async def test_two_existing_accounts_keep_both_ledgers_whole(services: Services) -> None:
    dispatcher = make_dispatcher(services)
    await say(dispatcher, inbound("/start", user="7003", channel=TELEGRAM))
    await say(dispatcher, inbound("hi", user="8801711000004", channel=WHATSAPP))
    code = code_in(await say(dispatcher, inbound("link", user="8801711000004", channel=WHATSAPP)))
    joined = await say(dispatcher, inbound(f"/link {code}", user="7003", channel=TELEGRAM))
    assert "balance: 6" in joined  # two people's gifts earned before they were joined: nothing created or lost
    assert await balance_of(services, TELEGRAM, "7003") == 6 == await balance_of(services, WHATSAPP, "8801711000004")
    same = await say(
        dispatcher, inbound("link " + code_in(await say(dispatcher, inbound("/link", user="7003"))), user="7003")
    )
    assert "already part of that account" in same
    await no_drift(services)

    # /unlink in WhatsApp: the credits stay with Telegram; WhatsApp starts over with no second gift.
    done = await say(dispatcher, inbound("unlink", user="8801711000004", channel=WHATSAPP))
    assert "no longer joined" in done and "Telegram" in done
    assert await balance_of(services, TELEGRAM, "7003") == 6
    await say(dispatcher, inbound("hi", user="8801711000004", channel=WHATSAPP))
    assert await balance_of(services, WHATSAPP, "8801711000004") == 0
    alone = await say(dispatcher, inbound("/unlink", user="7003", channel=TELEGRAM))
    assert "not joined to any other" in alone
    await no_drift(services)


async def test_unlinking_the_first_chat_leaves_the_account_with_the_other(services: Services) -> None:
    dispatcher = make_dispatcher(services)
    await say(dispatcher, inbound("/start", user="7004", channel=TELEGRAM))
    code = code_in(await say(dispatcher, inbound("/link", user="7004")))
    await say(dispatcher, inbound(f"link {code}", user="8801711000005", channel=WHATSAPP))
    await say(dispatcher, inbound("/unlink", user="7004", channel=TELEGRAM))
    assert await balance_of(services, WHATSAPP, "8801711000005") == 3
    async with services.db.transaction() as session:
        account = await users.find(session, Identity("whatsapp", "8801711000005"))
        assert account is not None and account.id is not None
        assert await links.identities(session, account.id) == [Identity("whatsapp", "8801711000005")]
        assert await users.find(session, Identity("telegram", "7004")) is None
    welcome = await say(dispatcher, inbound("/start", user="7004", channel=TELEGRAM))
    assert "0 credits" in welcome  # a new account, and no second gift


async def test_delete_in_one_chat_erases_the_account_everywhere(services: Services) -> None:
    dispatcher = make_dispatcher(services)
    await say(dispatcher, inbound("hi", user="visitor-b", channel=WEB))
    code = code_in(await say(dispatcher, inbound("link", user="visitor-b", channel=WEB)))
    await say(dispatcher, inbound(f"/start link-{code}", user="7005"))
    await say(dispatcher, inbound("/delete", user="7005"))
    erased = await say(dispatcher, inbound(payload=f"del:{CONFIRM}", user="7005"))
    assert "erased" in erased
    async with services.db.transaction() as session:
        assert await users.find(session, Identity("telegram", "7005")) is None
        assert await users.find(session, Identity("web", "visitor-b")) is None
        # Both identities are remembered by keyed hash only: neither gets a welcome gift again.
        key = services.config.identity_key
        assert await ledger.signup_granted(session, Identity("web", "visitor-b").keyed_hash(key))
    assert "0 credits" in await say(dispatcher, inbound("/start", user="7005"))
    await no_drift(services)


async def test_wrong_link_codes_are_limited(services: Services) -> None:
    dispatcher = make_dispatcher(services)
    answers = [await say(dispatcher, inbound(f"link WRONG{n:03d}", user="7006")) for n in range(7)]
    assert all("not valid" in a for a in answers[:5])
    assert "Too many wrong link codes" in answers[5] and "Too many" in answers[6]


async def test_a_refund_after_a_join_reaches_the_joined_account(services: Services) -> None:
    """A photo debited before its seller's chats were joined fails after: the credit comes back to the account
    that holds the debit now, not to the id the render job was claimed with (which no longer exists)."""
    dispatcher = make_dispatcher(services)
    await say(dispatcher, inbound("/start", user="7010"))
    await say(dispatcher, inbound("hi", user="8801711000010", channel=WHATSAPP))
    async with services.db.transaction() as session:
        whatsapp = await users.find(session, Identity("whatsapp", "8801711000010"))
        assert whatsapp is not None and whatsapp.id is not None
        folded_id = whatsapp.id
        assert await ledger.debit(session, folded_id, 1, key="job:4242:debit", reference="render")
    code = code_in(await say(dispatcher, inbound("/link", user="7010")))
    await say(dispatcher, inbound(f"link {code}", user="8801711000010", channel=WHATSAPP))
    assert await balance_of(services, TELEGRAM, "7010") == 5
    async with services.db.transaction() as session:
        assert await ledger.refund(session, folded_id, debit_key="job:4242:debit", key="job:4242:refund")
    assert await balance_of(services, TELEGRAM, "7010") == 6
    await no_drift(services)


async def test_an_expired_code_is_refused_and_purged(services: Services) -> None:
    dispatcher = make_dispatcher(services)
    await say(dispatcher, inbound("/start", user="7011"))
    code = code_in(await say(dispatcher, inbound("/link", user="7011")))
    later = datetime.now(UTC) + links.CODE_TTL + timedelta(seconds=1)
    async with services.db.transaction() as session:
        assert await links.forget_expired(session, datetime.now(UTC)) == 0  # still live: kept
        assert await links.forget_expired(session, later) == 1
    refused = await say(dispatcher, inbound(f"link {code}", user="8801711000011", channel=WHATSAPP))
    assert "not valid or has expired" in refused
    async with services.db.transaction() as session:
        key = services.config.identity_key
        assert await links.take_code(session, code, key) is None
        fresh = await links.issue_code(session, 1, key)
    async with services.db.transaction() as session:  # issued "15 minutes ago": presented too late
        await session.execute(update(LinkCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    late = await say(dispatcher, inbound(f"link {fresh}", user="8801711000012", channel=WHATSAPP))
    assert "not valid or has expired" in late
