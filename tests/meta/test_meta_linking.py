"""Issue #14, item 1, through Meta's webhooks: a seller joins WhatsApp to Messenger with the m.me referral that
/link gives, typed link codes on WhatsApp, and one balance afterwards."""

from __future__ import annotations

import re

from handlers.i18n import catalog
from storage import ledger, users
from storage.users import Identity
from tests.meta.conftest import Harness, fb_envelope, fb_event, wa_text

PSID = "24012345678909876"
WA = "8801711223344"
en, bn = catalog("en"), catalog("bn")


async def test_whatsapp_and_messenger_become_one_account(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(WA, "hi"))
    await harness.post("whatsapp", wa_text(WA, "link"))
    offer = harness.wa_texts(WA)[-1]
    code = re.search(r"link ([A-Z0-9]{8})", offer)
    assert code, offer
    # A new Messenger conversation opened with the referral of the m.me link (Get Started carries it).
    opened = fb_event("Postback", PSID, payload="GET_STARTED", title="Get Started")
    opened["postback"]["referral"] = {"ref": f"link-{code.group(1)}", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    await harness.post("messenger", fb_envelope(opened))
    said = "\n".join(harness.fb_texts())
    assert "যুক্ত হয়েছে" in said and "WhatsApp" in said and "Messenger" in said
    assert bn("link-gift-once", credits=3) in said  # the newcomer's second gift went back (the account reads bn)
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="credits")))
    statement = harness.fb_texts()[-1]
    assert statement.startswith(bn("credits-balance", balance=3, cost=1))
    assert "দ্বিতীয় স্বাগতম উপহার ফেরত" in statement  # the statement names the return for what it is
    async with harness.services.db.transaction() as session:
        account = await users.find(session, Identity("messenger", PSID))
        assert account is not None and (account.channel, account.external_id) == ("whatsapp", WA)
        assert await ledger.drift(session) == []
    # The same code typed on WhatsApp later is used up.
    await harness.post("whatsapp", wa_text(WA, f"link {code.group(1)}"))
    assert harness.wa_texts(WA)[-1] == bn("link-wrong")
    assert harness.emulator.rejections == []
