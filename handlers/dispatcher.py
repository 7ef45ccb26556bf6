"""One inbound event -> replies: dedupe, load or create the user, route, map typed errors once.

The event id is claimed in the same transaction as the handler's writes, so a redelivery is a no-op and a
crash part-way lets the platform's redelivery try again. Replies go out only after the commit. An event's
`within` runs in that transaction too, after its handler (the web chat keeps its turn there).

This is the front end's hot path (bench/dispatch.py profiles it): a returning user's `/help` costs the
claim, one SELECT (user and pending /delete) and the commit; nothing is written to the user's row unless
something changed. A handler's typed error rolls the whole transaction back and records the event again
in a second one, so the common path needs no SAVEPOINT. Under a backlog, events are recorded in batches
(`handlers.batches`): one transaction, one claim and one user lookup for up to 64 users' events.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import privacy
from handlers.batches import MAX_BATCH, Batches, Outcome, outcome_of
from handlers.config import Config
from handlers.context import Context, Services
from handlers.errors import AppError, ServiceUnavailable
from handlers.i18n import catalog, locale_from_hint
from handlers.model import Choice, Inbound, Kind, Reply, Text
from handlers.router import Router
from storage import events, ledger, users
from storage.errors import is_transient
from storage.models import User
from storage.users import Identity

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4096  # longer messages are answered, not parsed (nothing we accept is that long)
MESSAGES_PER_MINUTE = 30

Fallback = Callable[[Inbound, Context, str], Awaitable[list[Reply]]]


def gift_for(config: Config, channel: str) -> int:
    """Sign-up credits come with an identity a platform vouches for. A web visitor is anyone (a new cookie is
    free), so it gets `web_visitor_credits` (none where a platform runs) and the real gift only by
    joining a verified chat (handlers/linking.py)."""
    return config.web_visitor_credits if channel == "web" else config.signup_credits


class Dispatcher:
    def __init__(self, services: Services, router: Router, fallback: Fallback, *, batch_size: int = MAX_BATCH) -> None:
        self.services = services
        self.router = router
        if services.commands is None:
            services.commands = router.table
        self.fallback = fallback
        self._batches = Batches(self._one, self._many, size=batch_size)

    async def dispatch(self, event: Inbound) -> list[Reply]:
        """Replies once the event is recorded; ServiceUnavailable when it could not be (do not acknowledge)."""
        try:
            return await self._dispatch(event)
        except ServiceUnavailable:
            raise
        except Exception as error:
            if is_transient(error):
                log.warning("event %s/%s not recorded (%s); left for redelivery", event.channel, event.event_id, error)
                raise ServiceUnavailable(str(error)) from error
            raise

    async def _dispatch(self, event: Inbound) -> list[Reply]:
        identity = Identity(event.channel.value, event.user_id)
        observer = self.services.observer
        if observer is not None:
            observer.event(event.channel.value, event.kind.value, event.event_id)
        if not await self.services.limiter.hit(f"msg:{identity}", limit=MESSAGES_PER_MINUTE, window_s=60):
            # Flooding: do no work; say so once per window rather than once per message.
            log.info("rate limited: event %s/%s", event.channel, event.event_id)
            if observer is not None:
                observer.rate_limited(event.channel.value)
            if await self.services.limiter.hit(f"msg-warned:{identity}", limit=1, window_s=60):
                return [Text(text=catalog(locale_from_hint(event.locale_hint))("error-rate-limited"))]
            return []
        return await self._batches.submit(event)

    async def _one(self, event: Inbound) -> list[Reply]:
        """One event in a transaction of its own."""
        try:
            try:
                async with self.services.db.transaction() as session:
                    ctx = await self._arrive(event, session)
                    if ctx is None:
                        return []
                    notices = await privacy.before_route(event, ctx)  # policy-change notice, /delete cancelling
                    replies = await _within(event, ctx, notices + await self._route(event, ctx))
            except AppError as error:
                replies, ctx = await self._refused(event, error)
        except Exception as error:
            if is_transient(error):
                raise
            log.exception("event %s/%s failed", event.channel, event.event_id)
            lang = locale_from_hint(event.locale_hint)
            return [Text(text=catalog(lang)("error-internal"))]
        if ctx is not None:
            await self._after_commit(event, ctx)
        return replies

    async def _many(self, batch: list[Inbound]) -> list[Outcome]:
        """A batch (one event per user) in one transaction: one claim and one user lookup for all. Should any
        handler fail, the whole transaction rolls back and each event goes its own way (`_one`)."""
        try:
            async with self.services.db.transaction() as session:
                staged = await self._stage(batch, session)
        except Exception as error:
            if is_transient(error):  # nothing was recorded, and nothing can be now: ask for redelivery
                return [error] * len(batch)
            log.info("a batch of %d events failed (%s); each goes alone", len(batch), type(error).__name__)
            return [await outcome_of(self._one(event)) for event in batch]
        outcomes: list[Outcome] = []
        for event, item in zip(batch, staged, strict=True):
            if item is None:
                outcomes.append([])
                continue
            replies, ctx = item
            outcomes.append(await outcome_of(self._after_commit_then(event, ctx, replies)))
        return outcomes

    async def _stage(self, batch: list[Inbound], session: AsyncSession) -> list[tuple[list[Reply], Context] | None]:
        secret = self.services.config.identity_key
        keys = [(e.channel.value, events.event_key(e.event_id, e.bot_id, key=secret)) for e in batch]
        new = await events.claim_many(session, keys)
        claimed = [(e, Identity(e.channel.value, e.user_id)) for e, key in zip(batch, keys, strict=True) if key in new]
        known = {
            i: (user, pending, False)
            for i, (user, pending) in (await users.find_many(session, [i for _, i in claimed])).items()
        }
        known |= await self._sign_up([(e, i) for e, i in claimed if i not in known], session)
        staged: list[tuple[list[Reply], Context] | None] = []
        for event, key in zip(batch, keys, strict=True):
            if key not in new:
                log.info("redelivered event %s/%s ignored", event.channel, event.event_id)
                staged.append(None)
                continue
            new.discard(key)  # the same event twice in one batch: the second is the redelivery
            identity = Identity(event.channel.value, event.user_id)
            ctx = await self._context(event, session, identity, known.get(identity))
            notices = await privacy.before_route(event, ctx)
            staged.append((await _within(event, ctx, notices + await self._route(event, ctx)), ctx))
        return staged

    async def _sign_up(
        self, newcomers: list[tuple[Inbound, Identity]], session: AsyncSession
    ) -> dict[Identity, tuple[User, bool, bool]]:
        """A batch's first messages: their users created and their sign-up credits granted, all at once.
        Returns (row, /delete pending, created) per identity, like the returning users' lookup."""
        rows = [(i, locale_from_hint(e.locale_hint), e.display_name) for e, i in newcomers]
        config = self.services.config
        made = await users.create_many(session, rows, policy_seen=config.policy_version)
        for web in (False, True):
            grants = [
                (user.id or 0, i.keyed_hash(config.identity_key))
                for i, (user, created, _) in made.items()
                if created and (i.channel == "web") == web
            ]
            await ledger.grant_signups(session, grants, gift_for(config, "web" if web else ""))
        # In the order `_context` unpacks: (row, /delete pending, created by this batch).
        return {identity: (user, pending, created) for identity, (user, created, pending) in made.items()}

    async def _after_commit_then(self, event: Inbound, ctx: Context, replies: list[Reply]) -> list[Reply]:
        await self._after_commit(event, ctx)
        return replies

    async def _after_commit(self, event: Inbound, ctx: Context) -> None:
        for action in ctx.after_commit:
            try:
                await action()
            except Exception as error:  # recorded already: the sweeper re-queues what was not queued
                if not is_transient(error):
                    raise
                log.warning(
                    "event %s/%s: after-commit step failed (%s); the sweeper retries",
                    event.channel,
                    event.event_id,
                    error,
                )

    async def _arrive(self, event: Inbound, session: AsyncSession) -> Context | None:
        """Claim the event and load (or create) its user; None for a redelivery. Two statements for a
        returning user: the claim, and the user's row with any pending /delete."""
        key = self.services.config.identity_key
        if not await events.claim(session, event.channel.value, event.event_id, key=key, bot=event.bot_id):
            log.info("redelivered event %s/%s ignored", event.channel, event.event_id)
            return None
        return await self._context(event, session, Identity(event.channel.value, event.user_id), None)

    async def _context(
        self, event: Inbound, session: AsyncSession, identity: Identity, loaded: tuple[User, bool, bool] | None
    ) -> Context:
        """The handler's context for a claimed event: its user (loaded with the batch: row, /delete pending,
        created by the batch with its sign-up credits; or loaded here), sign-up credits for a new one, the
        platform's language hint unless the user chose one."""
        hinted = locale_from_hint(event.locale_hint)
        if loaded is not None:
            user, pending, created = loaded
            if not created:
                users.touch(user, event.display_name)
        else:
            arrival = await users.arrive(
                session,
                identity,
                locale=hinted,
                display_name=event.display_name,
                policy_seen=self.services.config.policy_version,
            )
            user, pending, created = arrival.user, arrival.deletion_pending, arrival.created
        if not created and event.locale_hint and not user.locale_chosen and user.locale != hinted:
            user.locale = hinted
        if created and loaded is None:
            await ledger.grant_signup(
                session,
                user.id or 0,
                identity.keyed_hash(self.services.config.identity_key),
                gift_for(self.services.config, identity.channel),
            )
        return Context(
            user=user,
            locale=user.locale,
            session=session,
            services=self.services,
            new_user=created,
            deletion_pending=pending,
            arrived_as=identity,
        )

    async def _refused(self, event: Inbound, error: AppError) -> tuple[list[Reply], Context | None]:
        """A handler raised a typed error: its transaction rolled back with all its writes (no SAVEPOINT
        on every event for this rare path), so the event is recorded again, alone, with the error's reply."""
        async with self.services.db.transaction() as session:
            ctx = await self._arrive(event, session)
            if ctx is None:
                return [], None
            notices = await privacy.before_route(event, ctx)
            text = ctx.t(error.key, **error.args_for_message)
            reply = Choice(text=text, buttons=error.buttons) if error.buttons else Text(text=text)
            return await _within(event, ctx, [*notices, reply]), ctx

    async def _route(self, event: Inbound, ctx: Context) -> list[Reply]:
        if event.kind is Kind.BUTTON and event.payload:
            found = self.router.for_button(event.payload)
            if found:
                handler, argument = found
                return await handler(event, ctx, argument)
            return await self.fallback(event, ctx, "stale-button")
        if event.kind in (Kind.PHOTO, Kind.DOCUMENT, Kind.ALBUM_ITEM) and self.router.media:
            return await self.router.media(event, ctx, "")
        if event.kind in (Kind.PHOTO, Kind.DOCUMENT, Kind.ALBUM_ITEM, Kind.UNSUPPORTED):
            return await self.fallback(event, ctx, "unsupported")
        if len(event.text) > MAX_TEXT_CHARS:
            return await self.fallback(event, ctx, "too-long")
        command = self.router.table.parse(event.text)
        if command is None:
            return await self.fallback(event, ctx, "empty" if not event.text.strip() else "text")
        command_handler = self.router.commands.get(command.name) if command.known else None
        if command_handler is None:
            return await self.fallback(event, ctx, "unknown-command")
        return await command_handler(event, ctx, command.argument)


async def _within(event: Inbound, ctx: Context, replies: list[Reply]) -> list[Reply]:
    """The event's own step in its transaction, after its handler (`Inbound.within`); the replies unchanged."""
    if event.within is not None:
        await event.within(ctx, replies)
    return replies
