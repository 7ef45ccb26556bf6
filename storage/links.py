"""One person, one account across channels (issue #14): link codes, merging two accounts, unlinking.

A code is issued to an account and typed (or carried by a deep link) in another channel; whoever presents
it joins the issuer. Joining two accounts is a merge: everything of one moves onto the other (ledger
entries, jobs, files, the web conversation, payments, consent), the balances add up, and the emptied row
becomes a linked identity of the survivor. Nothing is created or lost: the ledger stays whole, and each
entry keeps its idempotency key, so `credits check` agrees before and after.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import ledger, privacy, users
from storage.models import (
    ConsentEvent,
    DeletionRequest,
    LedgerEntry,
    LinkCode,
    LinkedIdentity,
    Payment,
    RenderJob,
    StoredFile,
    User,
    WebChatEntry,
)
from storage.sql import affected, insert_ignore
from storage.types import utcnow
from storage.users import Identity

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed on a phone
CODE_LENGTH = 8  # 31^8 = 8.5e11 codes; a wrong guess is rate limited like a giveaway code
CODE_TTL = timedelta(minutes=15)
VERIFIED_CHANNELS = ("telegram", "whatsapp", "messenger")  # a platform vouches for a person; the web does not


_BENGALI_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def clean_code(text: str) -> str:
    """What a person may type for a code: lower case, spaces or dashes inside, a `link-` prefix."""
    text = text.translate(_BENGALI_DIGITS).strip().upper().replace(" ", "").replace("-", "")
    return text.removeprefix("LINK")


def code_hash(code: str, key: bytes) -> str:
    return hmac.new(key, b"link:" + code.encode(), hashlib.sha256).hexdigest()


# Built once, on the table: an anonymous web visitor is offered a code at every welcome and /credits.
_CODES = LinkCode.__table__  # type: ignore[attr-defined]
_DROP_CODES_OF = delete(_CODES).where(_CODES.c.user_id == bindparam("owner"))
_ADD_CODE = insert(_CODES)


async def issue_code(session: AsyncSession, user_id: int, key: bytes) -> str:
    """A new code for this account; the account's earlier codes stop working (one live code each)."""
    await session.execute(_DROP_CODES_OF, {"owner": user_id})
    code = new_code()
    now = utcnow()
    values = {"code_hash": code_hash(code, key), "user_id": user_id, "expires_at": now + CODE_TTL, "created_at": now}
    await session.execute(_ADD_CODE, values)
    return code


async def take_code(session: AsyncSession, code: str, key: bytes) -> int | None:
    """The issuing account of a live code, which is used up by this call; None for a wrong or expired one."""
    hashed = code_hash(clean_code(code), key)
    found = await session.get(LinkCode, hashed)
    if found is None:
        return None
    await session.execute(delete(LinkCode).where(col(LinkCode.code_hash) == hashed))
    return found.user_id if found.expires_at > utcnow() else None


async def forget_expired(session: AsyncSession, now: datetime) -> int:
    """Codes nobody used in time (every anonymous web visitor is offered one): removed by the hourly purge."""
    return affected(await session.execute(delete(LinkCode).where(col(LinkCode.expires_at) <= now)))


# Built once: a web visitor's every welcome asks whether a platform vouches for it (`handlers.linking`).
_LINKS = LinkedIdentity.__table__  # type: ignore[attr-defined]
_LINKED_TO = (
    select(_LINKS.c.channel, _LINKS.c.external_id).where(_LINKS.c.user_id == bindparam("user_id")).order_by(_LINKS.c.id)
)


async def identities(session: AsyncSession, user_id: int) -> list[Identity]:
    """Every identity reaching this account: the one it was created with first, then the linked ones."""
    user = await session.get(User, user_id)
    if user is None:
        return []
    rows = (await session.execute(_LINKED_TO, {"user_id": user_id})).all()
    return [Identity(user.channel, user.external_id), *(Identity(str(c), str(e)) for c, e in rows)]


async def identity_on(session: AsyncSession, user_id: int, channel: str) -> Identity | None:
    """This account's identity on one channel (the first one, if it has several)."""
    return next((i for i in await identities(session, user_id) if i.channel == channel), None)


def verified(found: list[Identity]) -> bool:
    return any(i.channel in VERIFIED_CHANNELS for i in found)


@dataclass(frozen=True, slots=True)
class Merged:
    user_id: int  # the account that stays
    balance: int
    returned: int  # a second sign-up gift handed back (credits), 0 if none


async def merge(session: AsyncSession, keep: int, fold: int, *, fold_is_new: bool, policy_version: date) -> Merged:
    """Move everything of account `fold` onto `keep`, and make `fold`'s identities linked identities of it.

    `fold_is_new`: `fold` was created by the very message that presented the code. If both accounts got the
    sign-up gift, that newcomer's gift is handed back (it cannot have been spent): one gift per person."""
    assert keep != fold
    await session.flush()
    users.reach_changed(session)
    moved = await identities(session, fold)
    returned = 0
    if fold_is_new and await _signup_amount(session, keep):
        returned = await _signup_amount(session, fold)
    await _hand_over_language(session, keep, fold)
    keep_opt_in = await privacy.training_opt_in(session, keep)
    fold_opt_in = await privacy.training_opt_in(session, fold)
    await ledger.move_balance(session, fold, keep)
    for table in (LedgerEntry, RenderJob, StoredFile, ConsentEvent, Payment, WebChatEntry, LinkedIdentity):
        await session.execute(update(table).where(col(table.user_id) == fold).values(user_id=keep))
    await session.execute(delete(DeletionRequest).where(col(DeletionRequest.user_id).in_((keep, fold))))
    await session.execute(delete(LinkCode).where(col(LinkCode.user_id) == fold))
    await session.execute(delete(User).where(col(User.id) == fold))
    for stale in [o for o in session.identity_map.values() if isinstance(o, User) and o.id == fold]:
        session.expunge(stale)
    now = utcnow()
    rows = [{"user_id": keep, "channel": i.channel, "external_id": i.external_id, "created_at": now} for i in moved]
    if rows:
        await insert_ignore(session, LinkedIdentity, rows)
    if returned:
        taken = await ledger.take_back(
            session, keep, returned, kind=ledger.EntryKind.LINK, key=f"link-signup:{fold}", reference="second gift"
        )
        returned = taken or 0
    if keep_opt_in != fold_opt_in:  # one said no to training: the joined account says no
        await privacy.set_training_consent(session, keep, False, policy_version)
    return Merged(keep, await ledger.balance(session, keep), returned)


async def _hand_over_language(session: AsyncSession, keep: int, fold: int) -> None:
    """A language the seller chose (/lang) in the joining account wins over one the staying account only
    guessed from a platform's hint."""
    kept, folded = await session.get(User, keep), await session.get(User, fold)
    if kept is not None and folded is not None and folded.locale_chosen and not kept.locale_chosen:
        kept.locale, kept.locale_chosen = folded.locale, True
        session.add(kept)


async def unlink(session: AsyncSession, user_id: int, identity: Identity) -> bool:
    """This identity no longer reaches the account (which keeps its balance and history). The account's
    own identity can be unlinked too while another stays: the earliest linked one takes its place.
    False when it is the account's only identity."""
    found = await identities(session, user_id)
    if identity not in found or len(found) < 2:
        return False
    users.reach_changed(session)
    linked = col(LinkedIdentity.user_id) == user_id
    if identity == found[0]:
        successor = found[1]
        await session.execute(delete(LinkedIdentity).where(linked, *_named(successor)))
        await session.execute(
            update(User)
            .where(col(User.id) == user_id)
            .values(channel=successor.channel, external_id=successor.external_id)
        )
        user = await session.get(User, user_id)
        if user is not None:
            await session.refresh(user)
        return True
    await session.execute(delete(LinkedIdentity).where(linked, *_named(identity)))
    return True


def _named(identity: Identity) -> tuple[Any, Any]:
    return col(LinkedIdentity.channel) == identity.channel, col(LinkedIdentity.external_id) == identity.external_id


async def _signup_amount(session: AsyncSession, user_id: int) -> int:
    query = select(func.coalesce(func.sum(col(LedgerEntry.delta)), 0)).where(
        col(LedgerEntry.user_id) == user_id, col(LedgerEntry.kind) == ledger.EntryKind.SIGNUP.value
    )
    return int(await session.scalar(query) or 0)
