"""`python -m bot run`: every configured channel, the HTTP server and the in-process workers."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.errors import OperatorError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="serve all configured channels (web chat always) and the in-process render workers",
        description="Serve the bot. With no platform tokens set it serves the web chat at HTTP_HOST:HTTP_PORT "
        "on the embedded defaults (SQLite and files in DATA_DIR, in-process queue).",
    )
    parser.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    import sys

    from bot import app, logs
    from bot.segmenter_policy import choose_segmenter
    from bot.settings import load_settings
    from storage.migrate import SchemaOutOfDate

    settings = load_settings()
    logs.configure(settings.log_level, key=settings.secret_key("logs"), secrets=settings.log_secrets)
    segmenter = choose_segmenter(settings)
    if segmenter.fallback:
        sys.stderr.write(
            f"WARNING: no segmentation weights in {settings.effective_models_dir}: serving the classical fallback "
            "(much weaker cutouts). Run `python -m bot models fetch` with the same settings.\n"
        )
    try:
        asyncio.run(app.serve(settings))
    except SchemaOutOfDate as exc:
        raise OperatorError(str(exc)) from None
    except OSError as exc:
        raise OperatorError(f"cannot start: {exc} (is the port free, and the database reachable?)") from None
    return 0
