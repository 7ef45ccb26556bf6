"""The tables. One row per channel identity in `users`; everything else hangs off `users.id`."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _utc(**kwargs: object) -> object:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kwargs)  # type: ignore[call-overload]


class User(SQLModel, table=True):
    __tablename__ = "users"
    # AUTOINCREMENT on SQLite: an erased user's id is never handed to someone else.
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_users_identity"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    locale: str = Field(default="en", max_length=8)
    locale_chosen: bool = False  # set by /lang: platform hints no longer override it
    display_name: str | None = Field(default=None, max_length=128)
    style: str = Field(default="white", max_length=32)
    size: str = Field(default="original", max_length=32)
    policy_version_seen: date | None = None
    unreachable: bool = False  # the platform said the user blocked the bot (Telegram 403)
    created_at: datetime = _utc()  # type: ignore[assignment]
    last_seen_at: datetime = _utc()  # type: ignore[assignment]


class LinkedIdentity(SQLModel, table=True):
    """Another channel identity of the same person (issue #14): its messages reach `user_id`'s account.

    The user's own row names the identity they first came with; every identity joined to it later by a
    one-time link code is a row here. An identity is in `users` or here, never both (the link merges and
    removes the other row)."""

    __tablename__ = "linked_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_linked_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True))
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    created_at: datetime = _utc()  # type: ignore[assignment]


class LinkCode(SQLModel, table=True):
    """A short-lived one-time code that joins another channel identity to `user_id` (only its keyed hash)."""

    __tablename__ = "link_codes"

    code_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True))
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = _utc()  # type: ignore[assignment]


class ProcessedEvent(SQLModel, table=True):
    """An inbound event seen once: a platform's redelivery of it is a no-op."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("channel", "event_id", name="uq_processed_events"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    event_id: str = Field(max_length=160)
    created_at: datetime = _utc(index=True)  # type: ignore[assignment]


class CreditAccount(SQLModel, table=True):
    """The cached balance; the ledger is the truth, and `credits check` proves they agree."""

    __tablename__ = "credit_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="ck_balance_never_negative"),)

    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True))
    balance: int = 0
    plan: str | None = Field(default=None, max_length=32)
    plan_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    """Append-only. `user_id` is NULL once the user is erased; `subject` then holds a tombstone."""

    __tablename__ = "ledger_entries"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    )
    subject: str | None = Field(default=None, max_length=80)
    delta: int
    kind: str = Field(max_length=16)  # signup, grant, debit, refund, redeem, purchase
    reference: str = Field(default="", max_length=200)
    idempotency_key: str = Field(max_length=160, unique=True)
    created_at: datetime = _utc(index=True)  # type: ignore[assignment]


class SignupGrant(SQLModel, table=True):
    """Keyed hash of each identity that ever got sign-up credits: survives /delete so they come once."""

    __tablename__ = "signup_grants"

    identity_hash: str = Field(primary_key=True, max_length=64)
    created_at: datetime = _utc()  # type: ignore[assignment]


class Giveaway(SQLModel, table=True):
    __tablename__ = "giveaways"
    __table_args__ = (
        CheckConstraint("uses <= max_uses", name="ck_giveaway_uses"),
        CheckConstraint("credits > 0", name="ck_giveaway_credits"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    code_hint: str = Field(max_length=16)  # first characters, for operators' lists
    credits: int
    max_uses: int
    uses: int = 0
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _utc()  # type: ignore[assignment]


class GiveawayRedemption(SQLModel, table=True):
    __tablename__ = "giveaway_redemptions"
    __table_args__ = (UniqueConstraint("giveaway_id", "identity_hash", name="uq_redemption_once"),)

    id: int | None = Field(default=None, primary_key=True)
    giveaway_id: int = Field(foreign_key="giveaways.id", index=True)
    identity_hash: str = Field(max_length=64)
    created_at: datetime = _utc()  # type: ignore[assignment]


class RenderJob(SQLModel, table=True):
    """One photo to render, and its truth: the queue only carries the id.

    States: accepted -> rendering -> delivered | failed. A `rendering` job whose lease ran out belongs to a
    worker that died; the sweeper hands it to another.
    """

    __tablename__ = "render_jobs"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True))
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=128)
    batch_key: str = Field(max_length=160, index=True)  # an album's photos share it; one acknowledgement each batch
    media_file_id: str = Field(default="", max_length=1024)
    media_mime: str | None = Field(default=None, max_length=64)
    source_job_id: int | None = None  # a re-style: compose from that job's stored cutout
    style: str = Field(max_length=32)
    size: str = Field(max_length=32)
    cost: int = 0
    state: str = Field(default="accepted", max_length=16, index=True)
    attempts: int = 0
    error_code: str | None = Field(default=None, max_length=40)
    hard_photo: bool = False
    hard_reason: str | None = Field(default=None, max_length=40)  # the render's code for why (render.cutout)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _utc(index=True)  # type: ignore[assignment]
    updated_at: datetime = _utc()  # type: ignore[assignment]


class StoredFile(SQLModel, table=True):
    """A blob in the encrypted store: the user's upload, the cutout, or an output."""

    __tablename__ = "stored_files"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True))
    job_id: int | None = Field(default=None, index=True)
    kind: str = Field(max_length=16)  # upload, cutout, output
    name: str = Field(max_length=80)  # what the user sees, e.g. white-square.png (never taken from user input)
    mime: str = Field(max_length=64)
    path: str = Field(max_length=200)  # relative to DATA_DIR
    bytes: int
    created_at: datetime = _utc(index=True)  # type: ignore[assignment]


class ConsentEvent(SQLModel, table=True):
    """Append-only: each /optin or /optout, with the policy version in force when it was given."""

    __tablename__ = "consent_events"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True))
    training_opt_in: bool
    policy_version: date
    created_at: datetime = _utc()  # type: ignore[assignment]


class DeletionRequest(SQLModel, table=True):
    """A /delete waiting for its confirmation; any other message removes it (and so cancels)."""

    __tablename__ = "deletion_requests"

    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True))
    created_at: datetime = _utc()  # type: ignore[assignment]


class DeletionReceipt(SQLModel, table=True):
    """What Meta's data-deletion status page shows for a confirmation code; it names no one."""

    __tablename__ = "deletion_receipts"

    code: str = Field(primary_key=True, max_length=32)
    erased: bool  # False: we held nothing about that id
    created_at: datetime = _utc()  # type: ignore[assignment]


class Payment(SQLModel, table=True):
    """A purchase of a credit pack: only what billing needs (DESIGN.md, Payments).

    States: pending -> paid -> refunded, or pending -> failed | cancelled | expired | mismatch. Credits are
    granted by the one UPDATE that moves a row from pending to paid, so a transaction grants at most once;
    `(provider, transaction_id)` is unique besides. `user_id` becomes NULL when the user is erased: the row
    stays as a de-identified billing record.
    """

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "transaction_id", name="uq_payments_transaction"),
        UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_payment"),
        CheckConstraint("credits > 0", name="ck_payments_credits"),
        CheckConstraint("amount > 0", name="ck_payments_amount"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    )
    channel: str = Field(max_length=16)
    provider: str = Field(max_length=16)  # stars, bkash
    pack: str = Field(max_length=32)
    credits: int
    amount: int  # whole units of `currency`: Stars, or taka
    currency: str = Field(max_length=8)  # XTR, BDT
    state: str = Field(default="pending", max_length=16, index=True)
    provider_payment_id: str | None = Field(default=None, max_length=128)  # bKash paymentID
    transaction_id: str | None = Field(default=None, max_length=128)  # telegram_payment_charge_id, bKash trxID
    refund_id: str | None = Field(default=None, max_length=128)  # bKash refundTrxID
    credits_taken_back: int = 0  # at a refund: what the balance still held of the pack
    credits_unrecovered: int = 0  # at a refund: what had been spent already
    created_at: datetime = _utc(index=True)  # type: ignore[assignment]
    updated_at: datetime = _utc()  # type: ignore[assignment]
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refunded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebChatEntry(SQLModel, table=True):
    """One turn of a web visitor's conversation (what they sent, what we answered), so a reload shows it again.

    `client_id` is the page's own id for a message: a retried POST finds the first answer here instead of
    being handled twice. `body` is the JSON the page draws (file links, never file bytes)."""

    __tablename__ = "webchat_entries"
    __table_args__ = (UniqueConstraint("user_id", "client_id", name="uq_webchat_entries_client"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True))
    client_id: str | None = Field(default=None, max_length=64)
    body: str
    created_at: datetime = _utc()  # type: ignore[assignment]
