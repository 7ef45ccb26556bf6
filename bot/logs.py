"""Logging set-up: readable lines on a terminal, one JSON object per line otherwise (for log collectors).

Each line carries the ids bound in the current context (`bind`): the HTTP request id, the inbound event
(`channel/event id`) or the render job id. Only internal ids: never names, texts or platform user ids.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_IDS: ContextVar[dict[str, str]] = ContextVar("nexoraz_log_ids")


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
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = _IDS.get({})
        return line + "".join(f" [{k}={v}]" for k, v in ids.items()) if ids else line


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty():
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "alembic.runtime.migration", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
