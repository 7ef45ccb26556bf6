"""Which segmenter a process will serve, decided before it serves anyone.

With `SEGMENTER=auto` and no verified weights in MODELS_DIR the render core falls back to the classical
segmenter, whose cutouts are much worse. Sellers pay per result, so a bot that serves real platforms
(a channel's credentials or PUBLIC_BASE_URL set) refuses to start that way unless the operator chose
`SEGMENTER=classical`; a local web chat only warns. Either way `/readyz` names the segmenter in use.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import OperatorError
from bot.settings import Settings


@dataclass(frozen=True, slots=True)
class SegmenterChoice:
    name: str
    fallback: bool  # the classical segmenter only because the weights are missing

    def describe(self) -> str:
        return f"{self.name} (fallback: weights missing)" if self.fallback else self.name


def serves_real_users(settings: Settings) -> bool:
    return bool(
        settings.telegram_enabled or settings.whatsapp_enabled or settings.messenger_enabled or settings.public_base_url
    )


def choose_segmenter(settings: Settings, *, strict: bool = True, serving: bool | None = None) -> SegmenterChoice:
    """The segmenter `run`/`worker` will load. `strict`: OperatorError when that would be the fallback while
    serving real users (start-up); otherwise just the description (for /readyz). `serving`: whether this
    process renders for sellers (a Redis `worker` always does); by default, whether a platform is configured."""
    from render.weights import is_fetched  # no torch: checksum only

    if settings.segmenter != "auto":
        return SegmenterChoice(settings.segmenter, fallback=False)
    models_dir = settings.effective_models_dir
    if is_fetched(models_dir):
        return SegmenterChoice("u2netp", fallback=False)
    if strict and (serves_real_users(settings) if serving is None else serving):
        raise OperatorError(
            f"no segmentation weights in MODELS_DIR={models_dir}: run `python -m bot models fetch` with the same "
            "settings, or set SEGMENTER=classical to serve the (much weaker) classical fallback on purpose"
        )
    return SegmenterChoice("classical", fallback=True)
