"""Users: one row per channel identity, created on first contact (safe under concurrent first messages)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import User
from storage.sql import affected, insert_ignore
from storage.types import utcnow


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
        if not sep or not external or channel not in {"telegram", "whatsapp", "messenger", "web"}:
            raise ValueError(f"not a user reference: {text!r} (expected e.g. telegram:123 or web:abc)")
        return cls(channel, external)

    def keyed_hash(self, key: bytes) -> str:
        """A hash that identifies this identity again without storing it (survives /delete)."""
        return hmac.new(key, str(self).encode(), hashlib.sha256).hexdigest()


async def get_or_create(
    session: AsyncSession, identity: Identity, *, locale: str, display_name: str | None
) -> tuple[User, bool]:
    """The user's row and whether this call created it."""
    result = await session.execute(
        insert_ignore(
            session,
            User,
            {
                "channel": identity.channel,
                "external_id": identity.external_id,
                "locale": locale,
                "display_name": display_name,
                "created_at": utcnow(),
                "last_seen_at": utcnow(),
            },
        )
    )
    created = bool(affected(result))
    user = await find(session, identity)
    assert user is not None
    if not created:
        user.last_seen_at = utcnow()
        user.unreachable = False  # they wrote to us, so they can be reached again
        if display_name and display_name != user.display_name:
            user.display_name = display_name
        session.add(user)
    return user, created


async def find(session: AsyncSession, identity: Identity) -> User | None:
    result = await session.execute(
        select(User).where(col(User.channel) == identity.channel, col(User.external_id) == identity.external_id)
    )
    return result.scalar_one_or_none()


async def set_locale(session: AsyncSession, user_id: int, locale: str) -> None:
    await session.execute(update(User).where(col(User.id) == user_id).values(locale=locale, locale_chosen=True))


async def mark_unreachable(session: AsyncSession, identity: Identity, unreachable: bool = True) -> None:
    """The platform refuses delivery for good (the user blocked the bot): stop sending until they write again."""
    await session.execute(
        update(User)
        .where(col(User.channel) == identity.channel, col(User.external_id) == identity.external_id)
        .values(unreachable=unreachable)
    )
