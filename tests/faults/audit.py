"""Jobs lost and credits drift, computed from the database alone (shared by tests/faults and bench/).

* jobs lost: job rows still unfinished (accepted/rendering) once the system has settled, plus photos the
  front acknowledged for which no job row exists (the caller says how many it expects).
* credits drift: `ledger.drift` (cached balance != sum of the ledger) plus an independent check per user,
  from the job table rather than the ledger: balance == sign-up credits - cost of every job + cost of every
  failed or undelivered job (refunded), with exactly one debit per charged job and one refund per failed or
  undelivered charged job.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import text

from storage import ledger
from storage.db import Database

REFUNDED_STATES = ("failed", "undelivered")  # a job that did not reach the user gives its credit back


@dataclass
class Audit:
    users: int = 0
    jobs: int = 0
    states: Counter[str] = field(default_factory=Counter)
    unfinished: list[int] = field(default_factory=list)
    missing_jobs: int = 0
    ledger_drift: list[ledger.Drift] = field(default_factory=list)
    balance_mismatches: list[tuple[int, int, int]] = field(default_factory=list)  # user, balance, expected
    bad_debits: list[int] = field(default_factory=list)  # jobs debited 0 or >1 times
    bad_refunds: list[int] = field(default_factory=list)  # jobs refunded wrongly

    @property
    def jobs_lost(self) -> int:
        return len(self.unfinished) + self.missing_jobs

    @property
    def jobs_stuck(self) -> int:
        """Jobs still accepted or rendering once the system settled (waiting for ever, or looping)."""
        return len(self.unfinished)

    @property
    def credits_drift(self) -> int:
        return len(self.ledger_drift) + len(self.balance_mismatches) + len(self.bad_debits) + len(self.bad_refunds)

    def line(self) -> str:
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.states.items())) or "none"
        return (
            f"jobs {self.jobs} ({states}); jobs lost {self.jobs_lost}, stuck {self.jobs_stuck}; "
            f"credits drift {self.credits_drift} "
            f"over {self.users} users"
        )


async def audit(db: Database, *, signup_credits: int, photos_acknowledged: int | None = None) -> Audit:
    result = Audit()
    async with db.transaction() as s:
        result.ledger_drift = list(await ledger.drift(s))
        jobs = (await s.execute(text("SELECT id, user_id, cost, state FROM render_jobs"))).all()
        entries = (await s.execute(text("SELECT user_id, delta, kind, idempotency_key FROM ledger_entries"))).all()
        balances = dict((await s.execute(text("SELECT user_id, balance FROM credit_accounts"))).all())
        result.users = int((await s.execute(text("SELECT count(*) FROM users"))).scalar_one())
    result.jobs = len(jobs)
    result.states = Counter(state for _, _, _, state in jobs)
    result.unfinished = [job_id for job_id, _, _, state in jobs if state in ("accepted", "rendering")]
    if photos_acknowledged is not None:
        result.missing_jobs = max(0, photos_acknowledged - len(jobs))
    by_key = Counter(key for _, _, _, key in entries)
    signup: Counter[int] = Counter()
    for user_id, delta, kind, _ in entries:
        if kind == "signup" and user_id is not None:
            signup[user_id] += delta
    expected = {user_id: signup[user_id] for user_id in balances}
    for job_id, user_id, cost, state in jobs:
        debits, refunds = by_key[f"job:{job_id}:debit"], by_key[f"job:{job_id}:refund"]
        if cost and debits != 1:
            result.bad_debits.append(job_id)
        refunded = state in REFUNDED_STATES
        if refunds != (1 if cost and refunded else 0):
            result.bad_refunds.append(job_id)
        expected[user_id] = expected.get(user_id, 0) - cost + (cost if refunded else 0)
    for user_id, want in expected.items():
        have = balances.get(user_id, 0)
        if have != want:
            result.balance_mismatches.append((user_id, have, want))
    for user_id, amount in signup.items():
        if amount != signup_credits:
            result.balance_mismatches.append((user_id, amount, signup_credits))
    return result
