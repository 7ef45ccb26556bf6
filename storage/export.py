"""Everything held about one user, as JSON-ready data: `user show`, and later the /mydata export."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import ledger
from storage.models import CreditAccount, LedgerEntry, User


async def user_record(session: AsyncSession, user: User) -> dict[str, Any]:
    assert user.id is not None
    account = await session.get(CreditAccount, user.id)
    entries = (
        await session.execute(select(LedgerEntry).where(LedgerEntry.user_id == user.id).order_by(LedgerEntry.id))  # type: ignore[arg-type]
    ).scalars()
    return {
        "user": {
            "channel": user.channel,
            "external_id": user.external_id,
            "locale": user.locale,
            "display_name": user.display_name,
            "created_at": user.created_at.isoformat(),
            "last_seen_at": user.last_seen_at.isoformat(),
            "style": user.style,
            "size": user.size,
        },
        "credits": {
            "balance": await ledger.balance(session, user.id),
            "plan": account.plan if account else None,
            "ledger": [
                {
                    "delta": e.delta,
                    "kind": e.kind,
                    "reference": e.reference,
                    "created_at": e.created_at.isoformat(),
                }
                for e in entries
            ],
        },
        "consent": {"training_opt_in": False, "events": []},
        "renders": [],
        "files": [],
    }
