"""What a handler receives besides the event: the user, their language, the open transaction, services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.commands import CommandTable
from handlers.config import Config
from handlers.i18n import catalog
from storage.blobs import BlobStore
from storage.db import Database
from storage.limits import RateLimiter
from storage.models import User
from storage.users import Identity


class JobQueue(Protocol):
    """Carries render job ids to workers (in-process, or Redis at scale); the job row is the truth."""

    async def enqueue(self, job_id: int) -> None: ...

    def depth(self) -> int: ...


class Observer(Protocol):
    """Counts what the dispatcher sees (bot/metrics.py implements it; handlers import no metrics library)."""

    def event(self, channel: str, kind: str, event_id: str) -> None: ...

    def rate_limited(self, channel: str) -> None: ...

    def payment(self, provider: str, state: str, credits: int) -> None: ...

    def not_right(self, credits: int) -> None:
        """A seller pressed "not right?" under a result and got `credits` back."""


@dataclass(slots=True, kw_only=True)
class Services:
    """Long-lived collaborators, built once in the composition root (`bot/app.py`)."""

    db: Database
    limiter: RateLimiter
    config: Config
    blobs: BlobStore | None = None
    jobs: JobQueue | None = None
    observer: Observer | None = None  # metrics; None in tests that do not count
    commands: CommandTable | None = None  # the declared commands; the dispatcher fills it from its router


@dataclass(slots=True, kw_only=True)
class Context:
    user: User
    locale: str
    session: AsyncSession  # the event's transaction: committed after the handler returns
    services: Services
    new_user: bool = False
    deletion_pending: bool = False  # a /delete waits for its confirmation (read with the user's row)
    arrived_as: Identity | None = None  # who wrote: the account's own identity or one linked to it
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def user_id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    @property
    def identity(self) -> Identity:
        """The identity this message came from (limits and channel-specific answers follow it)."""
        return self.arrived_as or Identity(self.user.channel, self.user.external_id)

    @property
    def identity_hash(self) -> str:
        return self.identity.keyed_hash(self.config.identity_key)

    def t(self, key: str, **args: Any) -> str:
        return catalog(self.locale)(key, **args)

    def has(self, key: str) -> bool:
        return catalog(self.locale).has(key)
