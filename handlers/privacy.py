"""The privacy policy, kept: /privacy, the two-step /delete, training consent (/optin, /optout), and the
notice of a new policy version. /mydata lives in `handlers.mydata`.

`before_route` runs on every event before its handler (see the dispatcher): it announces a policy change
once per version, and cancels a pending /delete when the next message is anything but its confirmation.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime

from babel.dates import format_date
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import contacts
from handlers.context import Context, Services
from handlers.i18n import to_bengali_digits
from handlers.model import Button, Choice, Inbound, Kind, Reply, Text
from handlers.router import Router, button_payload
from storage import ledger, links, privacy, users
from storage.users import Identity

log = logging.getLogger(__name__)

router = Router()

DELETE_PREFIX = "del"
CONFIRM, CANCEL = "yes", "no"
PRIVACY_PREFIX = "priv"
# Every rate-limiter key that names a user starts with one of these followed by the identity.
# The dispatcher's flood limit; each command declares its own keys (`limiter_keys`).
CONVERSATION_LIMITER_KEYS = ("msg:", "msg-warned:")


def policy_date(ctx: Context, day: date | None = None) -> str:
    text = format_date(day or ctx.config.policy_version, format="long", locale=ctx.locale)
    return to_bengali_digits(text) if ctx.locale == "bn" else text


# /privacy -----------------------------------------------------------------------------------------------


@router.command("privacy", aliases=("গোপনীয়তা", "প্রাইভেসি", "policy"))
async def show_policy(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if argument.strip().casefold() in ("full", "all", "পুরো"):
        return full_text(ctx)
    summary = ctx.t(
        "privacy-summary",
        email=ctx.config.support_email,
        updated=policy_date(ctx),
        upload_days=ctx.config.retention_days_uploads,
        output_days=ctx.config.retention_days_outputs,
    )
    if link := contacts.block(ctx, "privacy"):
        summary += "\n" + link
    button = Button(label=ctx.t("privacy-full-button"), payload=button_payload(PRIVACY_PREFIX, "full"))
    return [Choice(text=summary, buttons=(button,))]


@router.button(PRIVACY_PREFIX)
async def policy_button(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    return full_text(ctx)


def full_text(ctx: Context) -> list[Reply]:
    """Two messages, each within Messenger's 2,000 characters."""
    updated = policy_date(ctx)
    return [
        Text(
            text=ctx.t(
                "privacy-full-data",
                updated=updated,
                upload_days=ctx.config.retention_days_uploads,
                output_days=ctx.config.retention_days_outputs,
            )
        ),
        Text(text=ctx.t("privacy-full-rights", email=ctx.config.support_email)),
    ]


# /delete --------------------------------------------------------------------------------------------------


@router.command("delete", aliases=("মুছুন", "মুছে ফেলুন", "ডিলিট"))
async def ask_delete(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    await privacy.request_deletion(ctx.session, ctx.user_id)
    return [
        Choice(
            text=ctx.t("delete-explain"),
            buttons=(
                Button(label=ctx.t("delete-confirm-button"), payload=button_payload(DELETE_PREFIX, CONFIRM)),
                Button(label=ctx.t("delete-cancel-button"), payload=button_payload(DELETE_PREFIX, CANCEL)),
            ),
        )
    ]


@router.button(DELETE_PREFIX)
async def delete_answer(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    pending = await privacy.take_deletion_request(ctx.session, ctx.user_id)
    if argument != CONFIRM:
        return [Text(text=ctx.t("delete-cancelled"))]
    if not pending:
        return [Text(text=ctx.t("delete-expired"))]
    done = ctx.t("delete-done")  # in their language, before their settings are gone
    every = await erase_account(ctx.session, ctx.config.identity_key, ctx.user_id)
    paths = await privacy.erase_user(ctx.session, ctx.user_id)
    services = ctx.services

    async def forget() -> None:
        for identity in every:
            await forget_everywhere(services, identity, paths if identity == every[0] else [])
        await services.db.scrub()  # the database file keeps no copy of the erased rows

    ctx.after_commit.append(forget)
    log.info("user erased on request (%d files)", len(paths))
    return [Text(text=done)]


async def forget_everywhere(services: Services, identity: Identity, paths: list[str]) -> None:
    """After the erasure committed: the blobs on disk, and the rate limiter's counters (Redis at scale)."""
    blobs = services.blobs
    if blobs is not None and paths:
        await asyncio.to_thread(lambda: [blobs.delete(p) for p in paths])
    declared = services.commands.limiter_prefixes if services.commands is not None else ()
    for prefix in (*CONVERSATION_LIMITER_KEYS, *declared):
        await services.limiter.forget(f"{prefix}{identity}")


async def erase_identity(services: Services, identity: Identity, *, created_before: datetime | None = None) -> bool:
    """Erase a user outside a conversation (Meta's data-deletion callback); False if none was held.
    `created_before`: when the request was made; an account opened after it is someone who came back since."""
    async with services.db.transaction() as session:
        user = await users.find(session, identity)
        if user is None or user.id is None:
            return False
        if (
            created_before is not None and user.created_at.replace(microsecond=0) > created_before
        ):  # Meta: whole seconds
            log.info("data-deletion request older than the account: nothing erased")
            return False
        every = await erase_account(session, services.config.identity_key, user.id)
        paths = await privacy.erase_user(session, user.id)
    for linked in every:
        await forget_everywhere(services, linked, paths if linked == every[0] else [])
    await services.db.scrub()  # the database file keeps no copy of the erased rows
    return True


async def erase_account(session: AsyncSession, key: bytes, user_id: int) -> list[Identity]:
    """Before the account's row goes (its linked identities go with it): every identity that reached it,
    each remembered by keyed hash only, so none gets a second welcome gift and an erased web visitor's
    old cookie is known to reach nothing."""
    every = await links.identities(session, user_id)
    await ledger.remember_identities(session, [i.keyed_hash(key) for i in every])
    return every


# /optin, /optout ---------------------------------------------------------------------------------------------


@router.command("optin", aliases=("opt in", "opt-in", "অনুমতি দিন"))
async def opt_in(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    changed = await privacy.set_training_consent(ctx.session, ctx.user_id, True, ctx.config.policy_version)
    if not changed:
        return [Text(text=ctx.t("optin-already"))]
    return [Text(text=ctx.t("optin-done", updated=policy_date(ctx)))]


@router.command("optout", aliases=("opt out", "opt-out", "অনুমতি বাতিল"))
async def opt_out(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    changed = await privacy.set_training_consent(ctx.session, ctx.user_id, False, ctx.config.policy_version)
    return [Text(text=ctx.t("optout-done" if changed else "optout-already"))]


# Every event --------------------------------------------------------------------------------------------------


async def before_route(event: Inbound, ctx: Context) -> list[Reply]:
    """Notices to put before the handler's replies (the dispatcher calls this once per event)."""
    notices: list[Reply] = []
    table = ctx.services.commands
    command = table.parse(event.text) if table is not None and event.kind in (Kind.TEXT, Kind.COMMAND) else None
    name = command.name if command and command.known else None
    is_delete_answer = event.kind is Kind.BUTTON and (event.payload or "").startswith(DELETE_PREFIX + ":")
    cancelled = ctx.deletion_pending and not ctx.new_user and not is_delete_answer
    cancelled = cancelled and await privacy.cancel_deletion_request(ctx.session, ctx.user_id)
    if cancelled and name != "delete":
        notices.append(Text(text=ctx.t("delete-cancelled")))
    current, seen = ctx.config.policy_version, ctx.user.policy_version_seen
    if seen != current:
        ctx.user.policy_version_seen = current
        ctx.session.add(ctx.user)
        if not ctx.new_user and (seen is None or seen < current) and name != "privacy":
            notices.append(Text(text=ctx.t("privacy-changed", updated=policy_date(ctx))))
    return notices
