"""Everything held about one user, as JSON-ready data: `user show`, and the /mydata export."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import ledger, links, payments, privacy, webchat
from storage.models import CreditAccount, LedgerEntry, Payment, RenderJob, StoredFile, User


async def user_record(session: AsyncSession, user: User) -> dict[str, Any]:
    assert user.id is not None
    account = await session.get(CreditAccount, user.id)
    ledger_query = select(LedgerEntry).where(col(LedgerEntry.user_id) == user.id).order_by(col(LedgerEntry.id))
    entries = (await session.execute(ledger_query)).scalars()
    consent = await privacy.consent_history(session, user.id)
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
            "policy_version_seen": user.policy_version_seen.isoformat() if user.policy_version_seen else None,
        },
        # Every chat that reaches this account: the one it began in first, then those joined by /link.
        "identities": [
            {"channel": i.channel, "external_id": i.external_id} for i in await links.identities(session, user.id)
        ],
        "credits": {
            "balance": await ledger.balance(session, user.id),
            "plan": account.plan if account else None,
            "purchased": await ledger.purchased_credits(session, user.id),
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
        "consent": {
            "training_opt_in": bool(consent and consent[-1].training_opt_in),
            "events": [
                {
                    "training_opt_in": c.training_opt_in,
                    "policy_version": c.policy_version.isoformat(),
                    "created_at": c.created_at.isoformat(),
                }
                for c in consent
            ],
        },
        "renders": [_render(job) for job in await _jobs(session, user.id)],
        "files": [_file(f) for f in await files(session, user.id)],
        # The web chat's kept conversation (what the page shows again on reload), when there is one.
        "web_chat": await webchat.recent(session, user.id, limit=webchat.KEEP_ENTRIES),
        "payments": [payment_record(p) for p in await payments.listing(session, user_id=user.id, limit=10_000)],
    }


def payment_record(payment: Payment) -> dict[str, Any]:
    """A payment as billing keeps it (no phone numbers or names: the providers keep those)."""
    return {
        "id": payment.id,
        "channel": payment.channel,
        "provider": payment.provider,
        "pack": payment.pack,
        "credits": payment.credits,
        "amount": payment.amount,
        "currency": payment.currency,
        "state": payment.state,
        "transaction_id": payment.transaction_id,
        "provider_payment_id": payment.provider_payment_id,
        "refund_id": payment.refund_id,
        "credits_taken_back": payment.credits_taken_back,
        "credits_unrecovered": payment.credits_unrecovered,
        "created_at": payment.created_at.isoformat(),
        "paid_at": payment.paid_at.isoformat() if payment.paid_at else None,
        "refunded_at": payment.refunded_at.isoformat() if payment.refunded_at else None,
    }


async def files(session: AsyncSession, user_id: int) -> list[StoredFile]:
    query = select(StoredFile).where(col(StoredFile.user_id) == user_id).order_by(col(StoredFile.id))
    return list((await session.execute(query)).scalars())


async def _jobs(session: AsyncSession, user_id: int) -> list[RenderJob]:
    query = select(RenderJob).where(col(RenderJob.user_id) == user_id).order_by(col(RenderJob.id))
    return list((await session.execute(query)).scalars())


def _render(job: RenderJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "channel": job.channel,
        "state": job.state,
        "style": job.style,
        "size": job.size,
        "cost": job.cost,
        "source_job_id": job.source_job_id,
        "error_code": job.error_code,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


def _file(stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "kind": stored.kind,
        "name": stored.name,
        "mime": stored.mime,
        "job_id": stored.job_id,
        "path": stored.path,
        "bytes": stored.bytes,
        "created_at": stored.created_at.isoformat(),
    }
