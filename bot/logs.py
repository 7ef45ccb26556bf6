"""Logging set-up: readable lines on a terminal, one JSON object per line otherwise (for log collectors).

Each line carries the ids bound in the current context (`bind`): the HTTP request id, the inbound event
(`channel/event id`) or the render job id. Only internal ids: never names, texts or platform user ids.
Where a line must tell chats apart, it carries `pseudonym(chat_id)`: a keyed hash (HMAC with a key derived
from the master key) that links the lines of one chat without saying who it is.

`RedactingFilter`, on the handler, is the net under all of this: the secrets it is given (the bot token, the
Graph access tokens, app secrets) and anything shaped like a Telegram bot token or a URL's credentials are
replaced in the message, its arguments and the formatted traceback (aiohttp puts the request URL, with
`/bot<token>/`, in its error messages).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_IDS: ContextVar[dict[str, str]] = ContextVar("nexoraz_log_ids")
_PSEUDONYM_KEY = [os.urandom(32)]  # replaced by `configure(key=...)`: stable across restarts and processes
REDACTED = "[redacted]"
_TOKEN_PATTERNS = (
    re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{30,}"),  # a Telegram bot token, wherever it appears
    re.compile(r"(?i)(access_token=|bearer\s+)[A-Za-z0-9._~+/=-]{12,}"),
)


def pseudonym(value: object) -> str:
    """A keyed hash of a platform id (chat id, phone number, PSID): the same for one value, meaningless else."""
    digest = hmac.new(_PSEUDONYM_KEY[0], str(value).encode(), hashlib.sha256).hexdigest()
    return "p" + digest[:12]


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Removes secrets from a record before any formatter sees it (message, arguments and traceback)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
            record.exc_info = None  # formatters would format the original again
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def bind(**ids: object) -> None:
    """Add ids to every log line of the current task (and of the tasks it creates from now on)."""
    _IDS.set({**_IDS.get({}), **{name: str(value) for name, value in ids.items()}})


@contextmanager
def scope(**ids: object) -> Iterator[None]:
    """Ids for the log lines of one unit of work (an HTTP request, a render job); dropped after it."""
    token = _IDS.set({**_IDS.get({}), **{name: str(value) for name, value in ids.items()}})
    try:
        yield
    finally:
        _IDS.reset(token)


def bound() -> dict[str, str]:
    return dict(_IDS.get({}))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_IDS.get({}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = _IDS.get({})
        return line + "".join(f" [{k}={v}]" for k, v in ids.items()) if ids else line


def configure(level: str = "INFO", *, key: bytes | None = None, secrets: tuple[str, ...] = ()) -> None:
    """`key`: the pseudonym key (`Settings.secret_key("logs")`); `secrets`: strings no line may show."""
    if key:
        _PSEUDONYM_KEY[0] = key
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if sys.stderr.isatty():
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "alembic.runtime.migration", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
