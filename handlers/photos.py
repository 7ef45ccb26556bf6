"""A photo arrives: check it, charge it and create its render job in the event's transaction, then queue it.

Nothing is queued and nothing is charged unless the job row and the debit commit together; the queue
only learns the job id after the commit (`ctx.after_commit`). Re-styles reuse the photo's cutout.
"""

from __future__ import annotations

from datetime import timedelta

from handlers import buy, contacts, linking
from handlers.context import Context
from handlers.errors import AppError, NotEnoughCredits
from handlers.model import Channel, ChatAction, Inbound, MediaRef, Progress, Reply, Text
from handlers.router import Router, button_payload
from handlers.styles import SIZES, STYLES
from storage import jobs, ledger, queue_order
from storage.models import RenderJob
from storage.types import utcnow

router = Router()

MAX_MEDIA_BYTES = 20 * 1024 * 1024  # Telegram's getFile limit, the lowest of the channels
IMAGE_MIMES = frozenset(
    {"image/jpeg", "image/jpg", "image/png", "image/webp", "image/heic", "image/heif", "image/gif", "image/pjpeg"}
)
FREE_RESTYLE_WINDOW = timedelta(days=1)


def batch_progress_key(batch_key: str) -> str:
    return f"batch:{batch_key}"


async def on_media(event: Inbound, ctx: Context, _argument: str) -> list[Reply]:
    media = event.media[0] if event.media else None
    if media is None:
        return [Text(text=ctx.t("photo-not-image"))]
    _check_media(media)
    batch_key = f"{event.channel.value}:{event.album_key or event.event_id}"
    # A photo sent while others render waits its turn (charged now, as it is accepted); one acknowledgement
    # per batch: an album's later photos join the first one's message.
    if await jobs.pending_count(ctx.session) >= ctx.config.max_queue_depth:
        raise AppError("photo-busy")  # the machine's bound, for everyone; fairness is per user (below)
    if await jobs.pending_count_of(ctx.session, ctx.user_id) >= ctx.config.max_pending_per_user:
        return await _past_the_pending_cap(ctx, batch_key)
    first_of_batch = not await jobs.batch_pending(ctx.session, batch_key)
    if event.album_key and await ledger.balance(ctx.session, ctx.user_id) < ctx.config.render_cost:
        return await _album_past_the_balance(ctx, batch_key)
    job = await _create_charged_job(
        ctx,
        RenderJob(
            user_id=ctx.user_id,
            channel=event.channel.value,
            chat_id=event.chat_id,
            batch_key=batch_key,
            media_file_id=media.file_id,
            media_mime=media.mime,
            style=ctx.user.style,
            size=ctx.user.size,
            cost=ctx.config.render_cost,
        ),
    )
    if not first_of_batch:
        return []  # an album: one acknowledgement for the whole batch
    place = await queue_order.position(ctx.session, job.id or 0)  # under the fair rule, as queues serve
    key = "photo-received-album" if event.album_key else "photo-received"
    return [
        Progress(key=batch_progress_key(batch_key), text=ctx.t(key, position=place)),
        ChatAction(action="upload_photo"),
    ]


router.media = on_media


async def _album_past_the_balance(ctx: Context, batch_key: str) -> list[Reply]:
    """An album larger than the balance is answered once (how many will be made, how to get more), not once
    per photo left over. The debit stays the judge: this only spares the repeated refusal."""
    if not await ctx.services.limiter.hit(f"album-short:{ctx.user_id}:{batch_key}", limit=1, window_s=3600):
        return []
    raise AppError(
        "photo-album-short",
        made=await jobs.count_in_batch(ctx.session, batch_key),
        page=ctx.config.facebook_page_url,
        upgrade=ctx.config.upgrade_url,
    )


def _check_media(media: MediaRef) -> None:
    mime = (media.mime or "").lower()
    if mime and mime not in IMAGE_MIMES:
        raise AppError("photo-not-image")
    if media.size is not None and media.size > MAX_MEDIA_BYTES:
        raise AppError("photo-file-too-big", limit=MAX_MEDIA_BYTES // (1024 * 1024))


async def _how_to_get_more(ctx: Context) -> str:
    found = contacts.block(ctx, "page-codes", "upgrade")
    if not linking.can_join(ctx.config) or await linking.is_verified(ctx):
        return found
    return "\n" + ctx.t("link-hint", credits=ctx.config.signup_credits) + found


async def _create_charged_job(ctx: Context, job: RenderJob) -> RenderJob:
    """Job row and debit in one transaction; a shortfall, or one job too many for this user, rolls both back
    (the dispatcher's savepoint)."""
    created = await jobs.create(ctx.session, job)
    assert created.id is not None
    if created.cost:
        try:
            await ledger.debit(
                ctx.session, ctx.user_id, created.cost, key=jobs.debit_key(created.id), reference="render"
            )
        except ledger.InsufficientCredits as short:
            raise NotEnoughCredits(
                balance=short.balance,
                cost=short.needed,
                more=await _how_to_get_more(ctx),
                buttons=buy.pack_buttons(ctx, Channel(ctx.identity.channel)),
            ) from None
    # Counted after the debit, whose UPDATE of the balance row queues this user's concurrent photos behind
    # one another (PostgreSQL; SQLite writes one at a time): the count includes every job committed before.
    await _within_pending_cap(ctx)
    queue = ctx.services.jobs
    if queue is not None:
        job_id = created.id

        async def enqueue() -> None:
            await queue.enqueue(job_id)

        ctx.after_commit.append(enqueue)
    return created


async def _within_pending_cap(ctx: Context) -> None:
    """One seller's unfinished jobs (the new one included) stay within MAX_PENDING_PER_USER, so one seller's
    albums cannot fill the queue for everyone; the job and its debit roll back with this error."""
    limit = ctx.config.max_pending_per_user
    if await jobs.pending_count_of(ctx.session, ctx.user_id) > limit:
        raise AppError("photo-too-many-pending", limit=limit)


async def _past_the_pending_cap(ctx: Context, batch_key: str) -> list[Reply]:
    """A photo arriving while the seller's cap is full: refused before anything is written; an album's
    photos left over are answered once, not once per photo."""
    if not await ctx.services.limiter.hit(f"pending-cap:{ctx.user_id}:{batch_key}", limit=1, window_s=3600):
        return []
    raise AppError("photo-too-many-pending", limit=ctx.config.max_pending_per_user)


def restyle_payload(job_id: int, style: str, size: str) -> str:
    return button_payload("rs", job_id, style.replace("color:", "c-"), size)


@router.button("rs")
async def restyle(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    """`rs:<job>:<style token>:<size>` (see `restyle_payload`): the same photo, another background or size."""
    job_part, _, rest = argument.partition(":")
    token, _, size = rest.partition(":")
    style = token.replace("c-", "color:", 1) if token.startswith("c-") else token
    source = await jobs.get(ctx.session, int(job_part)) if job_part.isdigit() else None
    if source is None or source.user_id != ctx.user_id or source.state != jobs.DELIVERED:
        return [Text(text=ctx.t("button-stale"))]
    style = style or source.style
    size = size or source.size
    if style not in STYLES or size not in SIZES:
        return [Text(text=ctx.t("button-stale"))]
    original = source.source_job_id or source.id or 0
    first = await jobs.get(ctx.session, original)
    free = first is not None and utcnow() - first.created_at < FREE_RESTYLE_WINDOW
    batch_key = f"{event.channel.value}:{event.event_id}"
    await _create_charged_job(
        ctx,
        RenderJob(
            user_id=ctx.user_id,
            channel=event.channel.value,
            chat_id=event.chat_id,
            batch_key=batch_key,
            source_job_id=original,
            style=style,
            size=size,
            cost=0 if free else ctx.config.render_cost,
        ),
    )
    return [
        Progress(key=batch_progress_key(batch_key), text=ctx.t("photo-restyling")),
        ChatAction(action="upload_photo"),
    ]
