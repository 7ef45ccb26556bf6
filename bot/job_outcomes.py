"""What processing a render job can come to (`bot.job_processor`), and the signals inside it."""

from __future__ import annotations

from dataclasses import dataclass

MAX_RETRY_DELAY_S = 300.0


@dataclass(frozen=True, slots=True)
class Delivered:
    pass


@dataclass(frozen=True, slots=True)
class Undelivered:
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    code: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    after_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class NotClaimed:
    reason: str


Outcome = Delivered | Undelivered | Failed | RetryLater | NotClaimed


class JobGone(Exception):
    """The job row vanished mid-render (the user ran /delete)."""


class RenderFailed(Exception):
    """The render process said this photo cannot be made (`render_task` turns any error into a code)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class LeaseLost(Exception):
    """Our claim ran out and another worker may hold the job now: touch nothing more."""


def transient_delay(attempts: int) -> float:
    """Backoff for an infrastructure blink: 1, 2, 4... seconds, at most MAX_RETRY_DELAY_S."""
    return float(min(2.0 ** max(0, attempts - 1), MAX_RETRY_DELAY_S))
