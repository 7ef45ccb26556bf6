"""Settings from the environment or `.env` (DESIGN.md's table), validated with messages an operator can act on."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import OperatorError
from storage.payments import Pack, parse_packs

_TELEGRAM_TOKEN = re.compile(r"^\d{5,16}:[A-Za-z0-9_-]{30,64}$")
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_DB_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
MIN_KEY_BYTES = 32  # FILES_KEY and DATA_DIR/files.key: every derived secret is as strong as this


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    redis_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    public_base_url: str = ""
    trusted_proxy: bool = False  # only then X-Forwarded-Proto/-Host are believed (the proxy sets them)

    telegram_bot_token: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: str = ""
    telegram_bot_username: str = ""
    telegram_sends_per_second: float = Field(default=30.0, gt=0, le=1000)

    whatsapp_access_token: str = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_app_secret: str = ""
    whatsapp_verify_token: str = ""
    whatsapp_display_number: str = ""

    messenger_page_access_token: str = ""
    messenger_app_secret: str = ""
    messenger_verify_token: str = ""
    facebook_page_id: str = ""

    graph_api_base: str = "https://graph.facebook.com/v23.0"
    files_key: str = ""

    signup_credits: int = Field(default=3, ge=0, le=1000)
    # Credits for an anonymous web visitor (anyone with a new cookie). Unset: none where a platform channel
    # runs (the gift comes by joining a verified chat), SIGNUP_CREDITS where the web chat is the only one
    # (nothing to join: a trial; bounded by WEB_NEW_VISITORS_PER_HOUR). See `web_gift`.
    web_visitor_credits: int | None = Field(default=None, ge=0, le=1000)
    render_cost: int = Field(default=1, ge=0, le=1000)
    # Fairness (issue 14): one seller's photos waiting or rendering at once; past it, "wait for these first".
    max_pending_per_user: int = Field(default=20, ge=1, le=10000)
    # Machine protection only: all sellers' unfinished jobs together; past it, "we are very busy".
    max_queue_depth: int = Field(default=2000, ge=1, le=1_000_000)
    # New web chat visitors (messages from browsers without a known cookie) per network address an hour.
    web_new_visitors_per_hour: int = Field(default=60, ge=1, le=100_000)
    # "Not right?" under a result gives its credit back, at most this many times per user per UTC day.
    not_right_refunds_per_day: int = Field(default=3, ge=0, le=1000)

    support_email: str = "support@nexoraz.pro"
    # Empty = the sentence that would show it is left out (never an invented number or page).
    support_whatsapp: str = ""
    facebook_page_url: str = ""
    upgrade_url: str = ""
    tutorial_video_url: str = ""
    privacy_url: str = ""

    policy_version: date = date(2025, 10, 15)
    retention_days_uploads: int = Field(default=30, ge=1)
    retention_days_outputs: int = Field(default=90, ge=1)

    # The render core (issue 4): where converted weights live, and an operator's own weights file.
    models_dir: Path | None = None
    segmenter: Literal["auto", "u2netp", "u2net", "classical", "custom"] = "auto"
    segmenter_weights: Path | None = None

    # Render workers: processes of the in-process pool (`run`) or of each `worker` command.
    render_workers: int = Field(default=1, ge=1, le=64)
    # Their scheduling priority below the front's (Unix "nice", 0 = the same): where renders share the cores
    # with the front (`run`), an acknowledgement waits for no render, and renders take the time the front leaves
    # (as many a minute under `bench/load.py --render-load`; bench/RESULTS.md, issue 17).
    render_niceness: int = Field(default=10, ge=0, le=19)
    job_lease_seconds: int = Field(default=300, ge=10)
    # With REDIS_URL: the render queue's stream and the web chat relay's keys start with REDIS_PREFIX (several
    # bots, or tests, can share one Redis); a queue message whose worker died is delivered again after this long.
    redis_prefix: str = Field(default="nexoraz", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    queue_redeliver_seconds: float = Field(default=60.0, gt=0, le=24 * 3600)

    # Selling credits (README "Selling credits"): packs as id:credits:taka:stars, comma-separated; bKash
    # Tokenized Checkout for WhatsApp, Messenger and the web chat (Telegram sells with Stars).
    credit_packs: str = "starter:10:120:70,shop:30:330:190,pro:100:990:560"
    bkash_base_url: str = "https://tokenized.sandbox.bka.sh/v1.2.0-beta"
    bkash_app_key: str = ""
    bkash_app_secret: str = ""
    bkash_username: str = ""
    bkash_password: str = ""
    bkash_timeout_seconds: float = Field(default=30.0, gt=0, le=120)

    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            value = "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if value and not value.startswith(_DB_SCHEMES):
            raise ValueError(
                "must start with postgresql+asyncpg:// (or postgresql://) or sqlite+aiosqlite:///, "
                "e.g. postgresql+asyncpg://user:password@host:5432/nexoraz; leave it empty for SQLite in DATA_DIR"
            )
        if value.startswith("postgresql+asyncpg://") and "@" not in value and "/" not in value[21:]:
            raise ValueError("names no host or database, e.g. postgresql+asyncpg://user@host:5432/nexoraz")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis:// or rediss://, e.g. redis://127.0.0.1:6379/0; empty = in-process")
        return value

    @field_validator("telegram_bot_token")
    @classmethod
    def _telegram_token(cls, value: str) -> str:
        value = value.strip()
        if value and not _TELEGRAM_TOKEN.match(value):
            raise ValueError("does not look like a bot token from @BotFather (digits, a colon, then 35 characters)")
        return value

    @field_validator("files_key")
    @classmethod
    def _files_key(cls, value: str) -> str:
        value = value.strip()
        if value and len(value.encode()) < MIN_KEY_BYTES:
            raise ValueError(
                f"must be at least {MIN_KEY_BYTES} bytes (e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`); empty = generated into DATA_DIR"
            )
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: str) -> str:
        if value and not _TELEGRAM_SECRET.match(value):
            raise ValueError("may hold only A-Z, a-z, 0-9, _ and - (1 to 256 characters), as Telegram requires")
        return value

    @field_validator("credit_packs")
    @classmethod
    def _credit_packs(cls, value: str) -> str:
        parse_packs(value)
        return value

    @field_validator("public_base_url", "telegram_api_base", "graph_api_base", "bkash_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if self.telegram_mode == "webhook" and self.telegram_bot_token and not self.public_base_url:
            raise ValueError("TELEGRAM_MODE=webhook needs PUBLIC_BASE_URL (where Telegram reaches this server)")
        if self.whatsapp_access_token and not (self.whatsapp_phone_number_id and self.whatsapp_app_secret):
            raise ValueError("WHATSAPP_ACCESS_TOKEN needs WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_APP_SECRET too")
        if self.messenger_page_access_token and not self.messenger_app_secret:
            raise ValueError("MESSENGER_PAGE_ACCESS_TOKEN needs MESSENGER_APP_SECRET too")
        bkash = (self.bkash_app_key, self.bkash_app_secret, self.bkash_username, self.bkash_password)
        if any(bkash) and not all(bkash):
            raise ValueError("BKASH_APP_KEY needs BKASH_APP_SECRET, BKASH_USERNAME and BKASH_PASSWORD too")
        if self.bkash_app_key and not self.public_base_url:
            raise ValueError("bKash needs PUBLIC_BASE_URL (where bKash sends the seller back after paying)")
        if not self.support_email.strip():
            raise ValueError("SUPPORT_EMAIL may not be empty: the privacy policy and /support name this address")
        if self.segmenter == "custom" and self.segmenter_weights is None:
            raise ValueError("SEGMENTER=custom needs SEGMENTER_WEIGHTS (a path to a .pth state dict)")
        return self

    # Derived values -------------------------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'nexoraz.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def effective_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def bkash_enabled(self) -> bool:
        return bool(self.bkash_app_key)

    @property
    def packs(self) -> tuple[Pack, ...]:
        return parse_packs(self.credit_packs)

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.whatsapp_access_token)

    @property
    def messenger_enabled(self) -> bool:
        return bool(self.messenger_page_access_token)

    @property
    def web_gift(self) -> int:
        """What an anonymous web visitor gets (WEB_VISITOR_CREDITS, or its default as above)."""
        if self.web_visitor_credits is not None:
            return self.web_visitor_credits
        verified = self.telegram_enabled or self.whatsapp_enabled or self.messenger_enabled
        return 0 if verified else self.signup_credits

    @property
    def log_secrets(self) -> tuple[str, ...]:
        """What no log line may show (bot.logs.RedactingFilter)."""
        values = (
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.whatsapp_access_token,
            self.whatsapp_app_secret,
            self.whatsapp_verify_token,
            self.messenger_page_access_token,
            self.messenger_app_secret,
            self.messenger_verify_token,
            self.files_key,
        )
        return tuple(v for v in values if v)

    def secret_key(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose`, derived from FILES_KEY or the key generated into DATA_DIR."""
        import hashlib
        import hmac

        master = self.files_key.encode() if self.files_key else _generated_key(self.data_dir)
        return hmac.new(master, purpose.encode(), hashlib.sha256).digest()


def _generated_key(data_dir: Path) -> bytes:
    """The master key in DATA_DIR/files.key, created atomically: the whole key is written to a private
    temporary file, then linked into place (link fails if the name exists), so a process starting at the
    same time reads either no file or the complete key, never an empty or half-written one."""
    path = data_dir / "files.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".files.key.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(32))
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: its key is the key
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_text().strip().encode()
    if len(key) < MIN_KEY_BYTES:
        raise OperatorError(
            f"{path} holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}: every secret derived from it could be "
            "guessed; restore the right key file (or move it away to generate a new one, losing stored files)"
        )
    return key


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or an OperatorError that names each bad variable and what to do."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper() or "settings"
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}" if name != "settings" else message)
        raise OperatorError("invalid settings: " + "; ".join(lines)) from None
