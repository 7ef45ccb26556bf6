"""`python -m bot ...`: one module per command group, each exposing `register(subparsers)`.

Registration must stay cheap: a command imports its heavy dependencies (torch, the render core)
inside the function it runs, so `python -m bot run` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "bot.cli.run_cmd",
    "bot.cli.db_cmd",
    "bot.cli.render_cmd",
    "bot.cli.models_cmd",
    "bot.cli.giveaway_cmd",
    "bot.cli.credits_cmd",
    "bot.cli.user_cmd",
    "bot.cli.worker_cmd",
    "bot.cli.privacy_cmd",
    "bot.cli.stats_cmd",
    "bot.cli.payments_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Nexoraz chat: studio product photos through Telegram, WhatsApp, Messenger and web chat.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command group not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `stats | head`: the reader left; say nothing more (Python's documented recipe)
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by a closed pipe
    except SystemExit:
        raise
    except Exception as exc:  # the operator sees one clear line, not a traceback
        from bot.errors import OperatorError

        if isinstance(exc, OperatorError):
            print(f"error: {exc}", file=sys.stderr)  # noqa: T201
            return 2
        raise
    return result
