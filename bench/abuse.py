"""What an abuser with one machine still obtains, per hour (issue #14): the real app over HTTP, the web chat.

The abuser's client drops its cookie on every request (each message is a new visitor), asks for credits,
guesses giveaway codes, redeems a real code, and guesses link codes; then, as a visitor that kept its cookie,
guesses link codes. The app runs as wherever a platform channel runs (`WEB_VISITOR_CREDITS` 0,
`WEB_NEW_VISITORS_PER_HOUR` 60); every limit is per hour, so what one run of `--requests` obtains is what
an hour gives. Prints numbers, asserts nothing.

    .venv/bin/python bench/abuse.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sqlalchemy import func, select  # noqa: E402

from bot import app as app_module  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers import codes  # noqa: E402
from storage import giveaways, ledger  # noqa: E402
from storage.models import CreditAccount, LinkCode, User  # noqa: E402
from tests.bot.test_webchat_linking import post_message  # noqa: E402
from tests.faults.stack import load_average  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind")
    args = parser.parse_args()
    print(load_average())
    with tempfile.TemporaryDirectory() as folder:
        # As wherever a platform channel runs: a new cookie gets no credits (WEB_VISITOR_CREDITS unset = 0 there).
        settings = Settings(data_dir=Path(folder), http_port=0, web_visitor_credits=0, _env_file=None)  # type: ignore[call-arg]
        app = app_module.create_app(settings)
        await app_module.start(app)
        try:
            await _run(app, f"http://127.0.0.1:{app.port}", args.requests)
        finally:
            await app_module.stop(app)


async def _run(app: app_module.App, base: str, n: int) -> None:
    async with app.db.transaction() as session:
        await giveaways.create(
            session,
            code_hash=codes.code_hash("EID7K3", app.services.config.identity_key),
            hint="EID",
            credits=5,
            max_uses=5,
            expires_at=None,
        )
    started = time.perf_counter()
    # One visitor that keeps its cookie guesses link codes; then the cookieless flood: every message a new visitor.
    _, _, kept = await post_message(base, "hi")
    kept_guesses = 0
    for i in range(n):
        _, text, kept = await post_message(base, f"link KEPT{i:04d}", kept)
        kept_guesses += "not valid" in text
    statuses: dict[int, int] = {}
    evaluated = {"link WRONG{:03d}": 0, "redeem WRONG{}": 0, "redeem EID7K3": 0}
    for kind in ("link WRONG{:03d}", "redeem WRONG{}", "redeem EID7K3", "hi"):
        for i in range(n):
            status, text, _ = await post_message(base, kind.format(i))
            statuses[status] = statuses.get(status, 0) + 1
            if kind in evaluated and ("not valid" in text or "Code accepted" in text):
                evaluated[kind] += 1
    elapsed = time.perf_counter() - started
    async with app.db.transaction() as session:
        accounts = int(await session.scalar(select(func.count()).select_from(User)) or 0)
        credits = int(await session.scalar(select(func.coalesce(func.sum(CreditAccount.balance), 0))) or 0)
        codes_made = int(await session.scalar(select(func.count()).select_from(LinkCode)) or 0)
        (giveaway,) = await giveaways.listing(session)
        drift = await ledger.drift(session)
    print(f"{5 * n + 1} requests in {elapsed:.1f} s; cookieless statuses {dict(sorted(statuses.items()))}")
    print(f"accounts made: {accounts} (limit WEB_NEW_VISITORS_PER_HOUR={app.settings.web_new_visitors_per_hour})")
    print(f"credits obtained: {credits}; giveaway uses: {giveaway.uses} of {giveaway.max_uses}")
    print(f"link codes evaluated: {kept_guesses} for a visitor keeping its cookie (limit 5 an hour), then")
    print(f"  {evaluated['link WRONG{:03d}']} for cookieless visitors (limit 20 an hour per network, after those 5)")
    print(
        f"giveaway guesses evaluated: {evaluated['redeem WRONG{}']}, real code accepted: {evaluated['redeem EID7K3']}"
    )
    print(f"live link codes held: {codes_made}; ledger drift: {len(drift)}")


if __name__ == "__main__":
    asyncio.run(main())
