"""Users: one row per person's account, created on first contact (safe under concurrent first messages).

A row is found by the identity it was created with, or by any identity linked to it later
(`linked_identities`, storage/links.py): the alias is looked up only when the row is not found by its own
identity, so a returning user's message still costs one SELECT."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import DeletionRequest, LinkedIdentity, RenderJob, User
from storage.sql import affected, insert_ignore
from storage.types import utcnow

CHANNELS = ("telegram", "whatsapp", "messenger", "web")


@dataclass(frozen=True, slots=True)
class Identity:
    channel: str
    external_id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"

    @classmethod
    def parse(cls, text: str) -> Identity:
        """`telegram:123`, `whatsapp:<id>`, `messenger:<psid>`, `web:<id>` (operators' notation)."""
        channel, sep, external = text.partition(":")
        if not sep or not external or channel not in CHANNELS:
            raise ValueError(f"not a user reference: {text!r} (expected e.g. telegram:123 or web:abc)")
        return cls(channel, external)

    def keyed_hash(self, key: bytes) -> str:
        """A hash that identifies this identity again without storing it (survives /delete)."""
        return hmac.new(key, str(self).encode(), hashlib.sha256).hexdigest()


TOUCH_AFTER = timedelta(minutes=5)
"""`last_seen_at` is rewritten at most this often: a message inside it costs no UPDATE. The stored time can
lag by this much, so a 24-hour reply window computed from it closes early, never late."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """A user writing to us: their row (attached to the session), whether this message created it, and
    whether a `/delete` was waiting for its confirmation."""

    user: User
    created: bool
    deletion_pending: bool


def _any_of(channel: Any, external_id: Any) -> Any:
    """Identities as `channel = c AND external_id IN (...)` for each channel, the ids of each an expanding bound
    parameter named after it (empty for most batches). Not `(channel, external_id) IN (VALUES ...)`: SQLite
    walks the whole (channel, external_id) index for that once there are two pairs (15 ms a batch at 50,000
    users, growing with them); each channel's IN is a search of the index."""
    return or_(*(and_(channel == c, external_id.in_(bindparam(c, expanding=True))) for c in CHANNELS))


def _ids_by_channel(identities: list[Identity]) -> dict[str, Any]:
    return {c: [i.external_id for i in identities if i.channel == c] for c in CHANNELS}


# On the tables, not the models, where no model object is wanted: a statement naming no model skips the ORM's
# per-execution setup.
_USERS, _LINKS = User.__table__, LinkedIdentity.__table__  # type: ignore[attr-defined]
# Every message looks its user up with one of these: built once, with bound parameters (built anew on each call,
# an expression cost more than running it, bench/RESULTS.md, issue #17).
_WITH_DELETION_REQUEST: Any = (
    select(User, col(DeletionRequest.created_at))
    .outerjoin(DeletionRequest, col(DeletionRequest.user_id) == col(User.id))
    .where(_any_of(col(User.channel), col(User.external_id)))
)
# The accounts that identities were linked to: (linked channel, linked id, row, /delete requested).
_LINKED: Any = (
    select(col(LinkedIdentity.channel), col(LinkedIdentity.external_id), User, col(DeletionRequest.created_at))
    .join(User, col(User.id) == col(LinkedIdentity.user_id))
    .outerjoin(DeletionRequest, col(DeletionRequest.user_id) == col(User.id))
    .where(_any_of(col(LinkedIdentity.channel), col(LinkedIdentity.external_id)))
)


async def arrive(
    session: AsyncSession, identity: Identity, *, locale: str, display_name: str | None, policy_seen: date | None = None
) -> Arrival:
    """One SELECT for a returning user (the row and any pending /delete together); an UPDATE only when
    something changed. A first message inserts (ON CONFLICT DO NOTHING: two first messages at once make one
    row) and selects again. `policy_seen`: the privacy policy's version a new user is shown (written with the
    row, not in an UPDATE of it after)."""
    ids = _ids_by_channel([identity])
    row: Any = (await session.execute(_WITH_DELETION_REQUEST, ids)).first()
    created = False
    if row is None:
        linked = (await session.execute(_LINKED, ids)).first()
        row = (linked[2], linked[3]) if linked is not None else None
    if row is None:
        now = utcnow()
        values = {
            "channel": identity.channel,
            "external_id": identity.external_id,
            "locale": locale,
            "display_name": display_name,
            "policy_version_seen": policy_seen,
            "created_at": now,
            "last_seen_at": now,
        }
        created = bool(affected(await insert_ignore(session, User, values)))
        row = (await session.execute(_WITH_DELETION_REQUEST, ids)).first()
        assert row is not None
    user, pending = row[0], row[1] is not None
    if not created:
        touch(user, display_name)
    return Arrival(user=user, created=created, deletion_pending=pending)


def touch(user: User, display_name: str | None) -> None:
    """A returning user wrote: what changes on their row (flushed with the transaction, if anything did)."""
    now = utcnow()
    if user.unreachable:
        user.unreachable = False  # they wrote to us, so they can be reached again
    if now - user.last_seen_at >= TOUCH_AFTER:
        user.last_seen_at = now
    if display_name and display_name != user.display_name:
        user.display_name = display_name


async def create_many(
    session: AsyncSession, newcomers: list[tuple[Identity, str, str | None]], *, policy_seen: date | None = None
) -> dict[Identity, tuple[User, bool, bool]]:
    """First messages of a batch: (identity, locale, display name) -> (row, created here, /delete pending).
    `policy_seen` as for `arrive`.
    One multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING and one SELECT for all of them; a row another
    process created meanwhile is found, not created (then it is a returning user)."""
    if not newcomers:
        return {}
    now = utcnow()
    rows = [
        {
            "channel": identity.channel,
            "external_id": identity.external_id,
            "locale": locale,
            "display_name": display_name,
            "policy_version_seen": policy_seen,
            "created_at": now,
            "last_seen_at": now,
        }
        for identity, locale, display_name in newcomers
    ]
    added = await insert_ignore(session, User, rows, returning=(_USERS.c.channel, _USERS.c.external_id))
    inserted = {Identity(str(c), str(e)) for c, e in added.all()}
    found = await find_many(session, [identity for identity, _, _ in newcomers])
    return {identity: (user, identity in inserted, pending) for identity, (user, pending) in found.items()}


async def find_many(session: AsyncSession, identities: list[Identity]) -> dict[Identity, tuple[User, bool]]:
    """Returning users of a batch in one SELECT: each row and whether a /delete waits for confirmation.
    Identities not in the result have never written (or were erased): `arrive` creates them one by one."""
    if not identities:
        return {}
    found: dict[Identity, tuple[User, bool]] = {}
    for user, requested in (await session.execute(_WITH_DELETION_REQUEST, _ids_by_channel(identities))).all():
        found[Identity(user.channel, user.external_id)] = (user, requested is not None)
    if missing := [i for i in identities if i not in found]:
        for channel, external_id, user, requested in (await session.execute(_LINKED, _ids_by_channel(missing))).all():
            found[Identity(channel, external_id)] = (user, requested is not None)
    return found


async def get_or_create(
    session: AsyncSession, identity: Identity, *, locale: str, display_name: str | None
) -> tuple[User, bool]:
    """The user's row and whether this call created it."""
    arrival = await arrive(session, identity, locale=locale, display_name=display_name)
    return arrival.user, arrival.created


# The account's id alone, built once: own row or linked row (an identity is in one of the two, never both). The
# web chat asks this on every message (the cookie check); loading the whole row as an ORM object, from an
# expression built anew each time, was most of that look-up's cost (bench/RESULTS.md, #17).
_ID_OF: Any = union_all(
    select(_USERS.c.id).where(
        _USERS.c.channel == bindparam("channel"), _USERS.c.external_id == bindparam("external_id")
    ),
    select(_LINKS.c.user_id).where(
        _LINKS.c.channel == bindparam("channel"), _LINKS.c.external_id == bindparam("external_id")
    ),
).limit(1)


async def find_id(session: AsyncSession, identity: Identity) -> int | None:
    """The id of the account this identity reaches (as `find`), without loading the row."""
    found = await session.scalar(_ID_OF, {"channel": identity.channel, "external_id": identity.external_id})
    return int(found) if found is not None else None


# Set on a transaction that changed which account an identity reaches (a link, an unlink, an erasure, a re-key):
# what was looked up at its start may be stale after it.
_REACH_CHANGED = "nexoraz_reach_changed"


def reach_changed(session: AsyncSession) -> None:
    session.info[_REACH_CHANGED] = True


async def account_of(session: AsyncSession, identity: Identity, looked_up: int) -> int | None:
    """The id of the account this identity reaches, `looked_up` earlier in this transaction (a message's user,
    read with its batch): looked up again only if the transaction has since changed who reaches what."""
    if session.info.get(_REACH_CHANGED):
        return await find_id(session, identity)
    return looked_up


async def find(session: AsyncSession, identity: Identity) -> User | None:
    """The account this identity reaches: its own row, or the row it was linked to."""
    result = await session.execute(
        select(User).where(col(User.channel) == identity.channel, col(User.external_id) == identity.external_id)
    )
    user = result.scalar_one_or_none()
    if user is None:
        linked = (await session.execute(_LINKED, _ids_by_channel([identity]))).first()
        user = linked[2] if linked is not None else None
    return user


async def rekey(session: AsyncSession, old: Identity, external_id: str) -> int | None:
    """Renames an identity in place (same user, balance and history); returns the user's id, None if unknown.
    The web chat's cookies from before issue #14 were stored raw: the first time such a visitor comes back,
    the raw token is replaced by the keyed hash of a newly issued secret, and the old token reaches nothing."""
    user = await find(session, old)
    if user is None or user.id is None:
        return None
    user.external_id = external_id
    session.add(user)
    reach_changed(session)
    same_chat = (col(RenderJob.user_id) == user.id) & (col(RenderJob.chat_id) == old.external_id)
    await session.execute(update(RenderJob).where(same_chat).values(chat_id=external_id))
    return user.id


async def set_locale(session: AsyncSession, user_id: int, locale: str) -> None:
    await session.execute(update(User).where(col(User.id) == user_id).values(locale=locale, locale_chosen=True))


async def mark_unreachable(session: AsyncSession, identity: Identity, unreachable: bool = True) -> None:
    """The platform refuses delivery for good (the user blocked the bot): stop sending until they write again."""
    await session.execute(
        update(User)
        .where(col(User.channel) == identity.channel, col(User.external_id) == identity.external_id)
        .values(unreachable=unreachable)
    )
