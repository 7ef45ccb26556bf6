"""Contacts and links sellers read (support WhatsApp, the Facebook page, prices, the how-to video, the full
policy, the e-mail address): each sentence is shown only when the operator configured its setting. An unset
setting leaves its sentence out; the bot never invents a number or a page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.config import Config
from handlers.context import Context

Translate = Callable[..., str]

# kind -> (Config attribute, locale key, placeable)
CONTACTS: dict[str, tuple[str, str, str]] = {
    "page-codes": ("facebook_page_url", "contact-page-codes", "url"),
    "upgrade": ("upgrade_url", "contact-upgrade", "url"),
    "video": ("tutorial_video_url", "contact-video", "url"),
    "whatsapp": ("support_whatsapp", "contact-whatsapp", "number"),
    "page": ("facebook_page_url", "contact-page", "url"),
    "email": ("support_email", "contact-email", "email"),
    "privacy": ("privacy_url", "privacy-link", "url"),
}


def value(config: Config, kind: str) -> str:
    return str(getattr(config, CONTACTS[kind][0]) or "").strip()


def lines(config: Config, t: Translate, *kinds: str) -> list[str]:
    """The sentences of the configured `kinds`, in that order, translated by `t` (a catalog)."""
    found = []
    for kind in kinds:
        _attribute, key, placeable = CONTACTS[kind]
        if setting := value(config, kind):
            args: dict[str, Any] = {placeable: setting}
            found.append(t(key, **args))
    return found


def block_for(config: Config, t: Translate, *kinds: str) -> str:
    """`lines` ready to follow a sentence: each on its own line, or nothing at all."""
    return "".join("\n" + line for line in lines(config, t, *kinds))


def block(ctx: Context, *kinds: str) -> str:
    return block_for(ctx.config, ctx.t, *kinds)
