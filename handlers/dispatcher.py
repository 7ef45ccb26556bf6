"""One inbound event -> replies: dedupe, load or create the user, route, map typed errors once.

The event id is claimed in the same transaction as the handler's writes, so a redelivery is a no-op and a
crash part-way lets the platform's redelivery try again. Replies go out only after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from handlers import privacy
from handlers.context import Context, Services
from handlers.errors import AppError, ServiceUnavailable
from handlers.i18n import catalog, locale_from_hint
from handlers.model import Choice, Inbound, Kind, Reply, Text
from handlers.router import Router
from storage import events, ledger, users
from storage.errors import is_transient
from storage.users import Identity

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4096  # longer messages are answered, not parsed (nothing we accept is that long)
MESSAGES_PER_MINUTE = 30

Fallback = Callable[[Inbound, Context, str], Awaitable[list[Reply]]]


class Dispatcher:
    def __init__(self, services: Services, router: Router, fallback: Fallback) -> None:
        self.services = services
        self.router = router
        if services.commands is None:
            services.commands = router.table
        self.fallback = fallback

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
        after_commit = []
        try:
            async with self.services.db.transaction() as session:
                if not await events.claim(session, event.channel.value, event.event_id):
                    log.info("redelivered event %s/%s ignored", event.channel, event.event_id)
                    return []
                user, created = await users.get_or_create(
                    session, identity, locale=locale_from_hint(event.locale_hint), display_name=event.display_name
                )
                hinted = locale_from_hint(event.locale_hint)
                if not created and event.locale_hint and not user.locale_chosen and user.locale != hinted:
                    user.locale = hinted
                    session.add(user)
                if created:
                    await ledger.grant_signup(
                        session,
                        user.id or 0,
                        identity.keyed_hash(self.services.config.identity_key),
                        self.services.config.signup_credits,
                    )
                ctx = Context(user=user, locale=user.locale, session=session, services=self.services, new_user=created)
                notices = await privacy.before_route(event, ctx)  # policy-change notice, /delete cancelling
                replies = notices + await self._handle(event, ctx)
                after_commit = ctx.after_commit
        except Exception as error:
            if is_transient(error):
                raise
            log.exception("event %s/%s failed", event.channel, event.event_id)
            lang = locale_from_hint(event.locale_hint)
            return [Text(text=catalog(lang)("error-internal"))]
        for action in after_commit:
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
        return replies

    async def _handle(self, event: Inbound, ctx: Context) -> list[Reply]:
        try:
            async with ctx.session.begin_nested():
                return await self._route(event, ctx)
        except AppError as error:
            text = ctx.t(error.key, **error.args_for_message)
            return [Choice(text=text, buttons=error.buttons) if error.buttons else Text(text=text)]

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
