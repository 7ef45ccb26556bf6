"""The backgrounds and sizes offered in chat (a subset of what the render core can do), and /style."""

from __future__ import annotations

from handlers.context import Context
from handlers.model import Button, Choice, Inbound, Reply, Text
from handlers.router import Router, button_payload
from storage.models import User

router = Router()

# Style and size names are the render core's (render.STYLES / render.SIZES); a test keeps them in step.
STYLES = ("white", "transparent", "studio", "gradient", "color:cream", "color:sky", "color:blush", "color:charcoal")
SIZES = ("original", "square", "portrait", "story", "marketplace")


def style_label(ctx: Context, style: str) -> str:
    return ctx.t("style-name", style=style.replace("color:", "color-"))


def size_label(ctx: Context, size: str) -> str:
    return ctx.t("size-name", size=size)


@router.command("style", aliases=("ব্যাকগ্রাউন্ড", "স্টাইল", "background"))
async def choose_style(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    current = ctx.t("style-current", style=style_label(ctx, ctx.user.style), size=size_label(ctx, ctx.user.size))
    return [
        Choice(
            text=current + "\n" + ctx.t("style-choose-background"),
            buttons=tuple(Button(label=style_label(ctx, s), payload=button_payload("dst", s)) for s in STYLES),
        ),
        Choice(
            text=ctx.t("style-choose-size"),
            buttons=tuple(Button(label=size_label(ctx, s), payload=button_payload("dsz", s)) for s in SIZES),
        ),
    ]


@router.button("dst")
async def set_style(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if argument not in STYLES:
        return [Text(text=ctx.t("button-stale"))]
    return await _save(ctx, style=argument)


@router.button("dsz")
async def set_size(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if argument not in SIZES:
        return [Text(text=ctx.t("button-stale"))]
    return await _save(ctx, size=argument)


async def _save(ctx: Context, *, style: str | None = None, size: str | None = None) -> list[Reply]:
    user: User = ctx.user
    user.style = style or user.style
    user.size = size or user.size
    ctx.session.add(user)
    return [Text(text=ctx.t("style-saved", style=style_label(ctx, user.style), size=size_label(ctx, user.size)))]
