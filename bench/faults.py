"""Faults against the whole system, bigger than tests/faults: jobs lost and credits drift after each.

Scenarios (tests/faults/scenarios.py): the platforms answering 429 and 5xx for a while; the front's render
process SIGKILLed mid-render; a `python -m bot worker` SIGKILLed mid-render (Redis queue); Redis restarted
with jobs queued and rendering (`redis-cli shutdown nosave`, then redis-server again: the stream is lost);
PostgreSQL connections terminated mid-traffic. Issue #13's faults (tests/faults/job_scenarios.py): a lost
upload, a poisoned image, a refused delivery, non-JSON answers to getUpdates, a delivery slower than the job's
lease. Prints one line per scenario (jobs lost, stuck, credits drift); asserts nothing.

    .venv/bin/python bench/faults.py [--users 10] [--photos 3] [--only redis_restarted ...] [--no-redis-restart]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.faults import job_scenarios, scenarios  # noqa: E402
from tests.faults.stack import load_average  # noqa: E402

ALL = ["platform_refuses", "render_process_killed", "worker_killed", "redis_restarted", "postgres_dropped"]
JOBS = ["lost_upload", "poisoned_image", "refused_delivery", "non_json_poll", "slow_delivery"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10, help="users per channel")
    parser.add_argument("--photos", type=int, default=3, help="photos per channel")
    parser.add_argument("--settle", type=float, default=150)
    parser.add_argument("--only", nargs="+", choices=ALL + JOBS, default=ALL + JOBS)
    parser.add_argument("--no-redis-restart", action="store_true", help="leave the shared Redis alone")
    parser.add_argument("--logs", action="store_true", help="print the processes' logs after each scenario")
    args = parser.parse_args()
    print(f"{load_average()} (before)")
    for name in args.only:
        if name == "redis_restarted" and (args.no_redis_restart or not scenarios.can_restart_redis()):
            print(f"{name}: skipped")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run = getattr(job_scenarios if name in JOBS else scenarios, name)
            outcome = await run(Path(tmp), users=args.users, photos=args.photos, settle_s=args.settle)
            print(outcome.line(), flush=True)
            a = outcome.audit
            if a.credits_drift:
                print(f"  drift: {a.ledger_drift[:5]} {a.balance_mismatches[:5]} {a.bad_debits} {a.bad_refunds}")
            if args.logs or a.jobs_lost or a.credits_drift:
                print(outcome.logs[-6000:])
    print(f"{load_average()} (after)")


if __name__ == "__main__":
    asyncio.run(main())
