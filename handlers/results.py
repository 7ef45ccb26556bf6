"""What a seller receives: the finished images with buttons for more, a failure explained, /history.

Used by the workers (which deliver results) and by the handlers (history, "send as photo").
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from babel.dates import format_date
from PIL import Image as PILImage

from handlers.context import Context
from handlers.i18n import Catalog, catalog, to_bengali_digits
from handlers.model import Button, Choice, Document, Image, Inbound, Reply, Text
from handlers.not_right import not_right_payload
from handlers.photos import restyle_payload
from handlers.router import Router, button_payload
from storage import jobs, ledger
from storage.models import RenderJob, StoredFile

router = Router()

HISTORY_LENGTH = 5
PHOTO_MAX_SIDE = 2048  # "send as photo": a preview the platforms accept as a photo (well under 10 MB)
OFFERED_AFTER_RESULT = ("white", "studio", "color:cream", "gradient")  # transparent comes with every photo
FAILURE_KEYS = {
    "unreadable": "photo-failed-unreadable",
    "unsupported": "photo-failed-unreadable",
    "too_large": "photo-failed-too-large",
    "too_small": "photo-failed-too-small",
    "segmentation_failed": "photo-failed-no-product",
    "media_unavailable": "photo-failed-download",
}
# The render's reason codes for a doubtful cutout (render.cutout; handlers do not import the render core)
# and the tip that fits each; an unknown or missing code gets the general one.
HARD_TIPS = {
    "subject_too_small": "photo-hard-tip-too-small",
    "subject_too_large": "photo-hard-tip-too-large",
    "subject_touches_borders": "photo-hard-tip-cut-off",
    "uncertain_edges": "photo-hard-tip-low-contrast",
}


def result_replies(
    t: Catalog, job: RenderJob, outputs: Sequence[tuple[StoredFile, bytes]], balance: int
) -> list[Reply]:
    """The images as documents (nothing recompressed), then buttons for other backgrounds and sizes, and
    "not right?" (its credit back, see `handlers.not_right`)."""
    assert job.id is not None
    style_name = t("style-name", style=job.style.replace("color:", "color-"))
    size_name = t("size-name", size=job.size)
    replies: list[Reply] = [
        Document(data=data, name=stored.name, mime=stored.mime, stored_id=stored.id) for stored, data in outputs
    ]
    caption = t("photo-done", style=style_name, size=size_name, balance=balance)
    if job.hard_photo:  # the render doubts its cutout: advice, and the photo was not charged (bot/job_files.py)
        caption += "\n" + t(HARD_TIPS.get(job.hard_reason or "", "photo-hard-tip"))
        if job.cost > 0 and job.source_job_id is None:
            caption += " " + t("photo-hard-not-charged")
    buttons = [
        Button(label=t("style-name", style=s.replace("color:", "color-")), payload=restyle_payload(job.id, s, job.size))
        for s in OFFERED_AFTER_RESULT
        if s != job.style
    ][:3]
    buttons += [
        Button(label=t("size-name", size=z), payload=restyle_payload(job.id, job.style, z))
        for z in ("square", "portrait", "story", "marketplace")
        if z != job.size
    ][:3]
    buttons.append(Button(label=t("photo-as-photo"), payload=button_payload("ph", job.id)))
    buttons.append(Button(label=t("not-right-button"), payload=not_right_payload(job.id)))
    replies.append(Choice(text=caption + "\n\n" + t("photo-more-options"), buttons=tuple(buttons)))
    return replies


def undelivered_reply(t: Catalog, refunded: bool) -> Text:
    """The platform refused the images (they wait in /history): say so, and that the credit is back."""
    text = t("photo-undelivered")
    if refunded:
        text += " " + t("photo-refunded")
    return Text(text=text)


def failure_reply(t: Catalog, code: str, refunded: bool) -> Text:
    text = t(FAILURE_KEYS.get(code, "photo-failed-other"))
    if refunded:
        text += " " + t("photo-refunded")
    return Text(text=text)


async def load_outputs(ctx: Context, job_id: int) -> list[tuple[StoredFile, bytes]]:
    blobs = ctx.services.blobs
    assert blobs is not None
    return [(f, blobs.get(f.path)) for f in await jobs.files_of(ctx.session, job_id, "output")]


async def _own_delivered_job(ctx: Context, argument: str) -> RenderJob | None:
    job = await jobs.get(ctx.session, int(argument)) if argument.isdigit() else None
    if job is None or job.user_id != ctx.user_id or job.state not in (jobs.DELIVERED, jobs.UNDELIVERED):
        return None
    return job


@router.command("history", aliases=("ইতিহাস", "আগের ছবি"))
async def history(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    recent = await jobs.recent_delivered(ctx.session, ctx.user_id, HISTORY_LENGTH)
    if not recent:
        return [Text(text=ctx.t("history-empty"))]
    lines = [ctx.t("history-title")]
    buttons = []
    for number, job in enumerate(recent, start=1):
        day = format_date(job.created_at.date(), "d MMM", locale=ctx.locale)
        day = to_bengali_digits(day) if ctx.locale == "bn" else day
        style = ctx.t("style-name", style=job.style.replace("color:", "color-"))
        lines.append(
            ctx.t("history-item", number=number, date=day, style=style, size=ctx.t("size-name", size=job.size))
        )
        buttons.append(Button(label=ctx.t("history-again", number=number), payload=button_payload("hist", job.id or 0)))
    return [Choice(text="\n".join(lines), buttons=tuple(buttons))]


@router.button("hist")
async def history_again(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    job = await _own_delivered_job(ctx, argument)
    outputs = await load_outputs(ctx, job.id or 0) if job else []
    if job is None or not outputs:
        return [Text(text=ctx.t("history-gone"))]
    balance = await ledger.balance(ctx.session, ctx.user_id)
    return result_replies(catalog(ctx.locale), job, outputs, balance)


@router.button("ph")
async def send_as_photo(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    """A compressed preview photo (JPEG on white), for chats where a document is awkward to share."""
    job = await _own_delivered_job(ctx, argument)
    outputs = await load_outputs(ctx, job.id or 0) if job else []
    if job is None or not outputs:
        return [Text(text=ctx.t("history-gone"))]
    stored, data = outputs[0]
    return [Image(data=as_jpeg(data), name=stored.name.rsplit(".", 1)[0] + ".jpg", mime="image/jpeg")]


def as_jpeg(data: bytes) -> bytes:
    with PILImage.open(io.BytesIO(data)) as image:
        image.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
        rgba = image.convert("RGBA")
        flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        out = io.BytesIO()
        flat.save(out, "JPEG", quality=88, optimize=True)
        return out.getvalue()
