"""The web chat's durable side: the kept conversation, and which stored files a web visitor may see.

Files themselves are ordinary `StoredFile` rows (erased by /delete, purged by retention like any other):
`web-upload` is a photo as the page sent it, `web-file` a reply file that is not a stored output (a
/mydata zip, a "send as photo" JPEG), `preview` a small JPEG of another file (its name says which).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import jobs
from storage.models import RenderJob, StoredFile, User, WebChatEntry
from storage.sql import affected, insert_ignore

KEEP_ENTRIES = 200  # per visitor: enough for "the recent conversation", small enough to load at once
# One turn in this many (by id) trims its user's turns to the newest KEEP_ENTRIES: a user keeps a few more
# between trims (about TRIM_EVERY), never shown (`recent` reads at most KEEP_ENTRIES). Trimming every turn was
# one statement more per web chat message, about a tenth of its CPU in the front (bench/RESULTS.md, issue 17).
TRIM_EVERY = 8
UPLOAD_KIND, FILE_KIND, PREVIEW_KIND = "web-upload", "web-file", "preview"
VISIBLE_KINDS = ("output", UPLOAD_KIND, FILE_KIND, PREVIEW_KIND)


# A turn whose message is being handled: it holds its place in the conversation (its id) from the start, so
# what the handling pushes meanwhile (a worker's "working on it", even a fast result) comes after it. Not shown
# until it is filled; one left behind (the process died) is filled by the page's retry or trimmed in time.
PENDING = json.dumps({"pending": True})


# Built once: a plain turn's INSERT, and the trim of the user's turns (one turn in TRIM_EVERY) to the newest
# KEEP_ENTRIES in one statement (the KEEP_ENTRIES-th newest id is NULL while there are fewer: nothing goes).
_ENTRIES = WebChatEntry.__table__  # type: ignore[attr-defined]
_ADD = insert(_ENTRIES).values(user_id=bindparam("user_id"), body=bindparam("body")).returning(_ENTRIES.c.id)
_TRIM = delete(_ENTRIES).where(
    _ENTRIES.c.user_id == bindparam("user_id"),
    _ENTRIES.c.id
    < (
        select(_ENTRIES.c.id)
        .where(_ENTRIES.c.user_id == bindparam("user_id"))
        .order_by(_ENTRIES.c.id.desc())
        .offset(bindparam("newest_kept", type_=Integer))
        .limit(1)
        .scalar_subquery()
    ),
)
# A reserved place filled (returning its id), and the turn kept for a page's message id (not a reserved place).
_FILL = (
    update(_ENTRIES)
    .where(
        _ENTRIES.c.user_id == bindparam("owner"),  # (an UPDATE's parameters may not be named as its columns)
        _ENTRIES.c.client_id == bindparam("client"),
        _ENTRIES.c.body == PENDING,
    )
    .values(body=bindparam("text"))
    .returning(_ENTRIES.c.id)
)
_FOR_CLIENT = select(_ENTRIES.c.id, _ENTRIES.c.body).where(
    _ENTRIES.c.user_id == bindparam("user_id"),
    _ENTRIES.c.client_id == bindparam("client_id"),
    _ENTRIES.c.body != PENDING,
)


def preview_name(file_id: int) -> str:
    return f"preview-of-{file_id}.jpg"


async def add_entry(session: AsyncSession, user_id: int, body: dict[str, Any], client_id: str | None = None) -> int:
    """Appends one turn; returns its id (see `keep_entry`)."""
    return (await keep_entry(session, user_id, body, client_id))[0]


async def keep_entry(
    session: AsyncSession, user_id: int, body: dict[str, Any], client_id: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Appends one turn; returns the id and body of the turn kept: this one, or, when `client_id` was already
    recorded, the first answer, which stands ((0, body) if that one is still only a reserved place).

    A user's turns become visible in the order of their ids: the page (and the event stream) catches up with
    "everything after the last id I have", so an id must never show up before a lower one of the same user.
    PostgreSQL hands out ids when a row is inserted, not when it is committed, so two writers for one user (a
    worker delivering a result, the page's own message) queue here on the user's row (FOR NO KEY UPDATE: rows
    that merely point at the user are not held up): the second takes its id only after the first committed.
    SQLite already has a single writer (`BEGIN IMMEDIATE`).
    """
    await _in_turn(session, user_id)
    text = json.dumps(body, ensure_ascii=False)
    if client_id is None:
        entry_id, kept = int(await session.scalar(_ADD, {"user_id": user_id, "body": text}) or 0), body
    else:
        entry_id, kept = await _keep_for_client(session, user_id, client_id, body, text)
    if entry_id % TRIM_EVERY == 0:
        await session.execute(_TRIM, {"user_id": user_id, "newest_kept": KEEP_ENTRIES - 1})
    return entry_id, kept


async def _keep_for_client(
    session: AsyncSession, user_id: int, client_id: str, body: dict[str, Any], text: str
) -> tuple[int, dict[str, Any]]:
    """A turn with the page's id, in as few statements as its case needs: a new id (a text message) is one
    insert; a place reserved for it (a photo's) is filled on the insert's conflict; an id answered before (the
    page's retry) is read back, and that first answer stands."""
    values = {"user_id": user_id, "client_id": client_id, "body": text}
    added = (await insert_ignore(session, WebChatEntry, values, returning=(_ENTRIES.c.id,))).scalar()
    if added is not None:
        return int(added), body
    filled = await session.scalar(_FILL, {"owner": user_id, "client": client_id, "text": text})
    if filled is not None:
        return int(filled), body
    return await entry_for_client(session, user_id, client_id) or (0, body)


async def reserve(session: AsyncSession, user_id: int, client_id: str) -> None:
    """Takes the turn's place before its message is handled (see `PENDING`); `add_entry` fills it."""
    await _in_turn(session, user_id)
    values = {"user_id": user_id, "client_id": client_id, "body": PENDING}
    await insert_ignore(session, WebChatEntry, values)


async def _in_turn(session: AsyncSession, user_id: int) -> None:
    """Waits for the user's other writers of turns (see `keep_entry`); SQLite's one writer already does."""
    if session.get_bind().dialect.name == "sqlite":
        return
    await session.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update(key_share=True))


async def drop_reserved(session: AsyncSession, user_id: int, client_id: str) -> None:
    """The message could not be handled (the page sends it again): its place is given up."""
    mine = (col(WebChatEntry.user_id) == user_id) & (col(WebChatEntry.client_id) == client_id)
    await session.execute(delete(WebChatEntry).where(mine, col(WebChatEntry.body) == PENDING))


async def entry_for_client(session: AsyncSession, user_id: int, client_id: str) -> tuple[int, dict[str, Any]] | None:
    """The turn kept for the page's message id (None while it is only reserved)."""
    row = (await session.execute(_FOR_CLIENT, {"user_id": user_id, "client_id": client_id})).first()
    return (int(row[0] or 0), json.loads(row[1])) if row else None


async def recent(session: AsyncSession, user_id: int, *, after: int = 0, limit: int = 60) -> list[dict[str, Any]]:
    """The newest `limit` turns after entry `after` (at most KEEP_ENTRIES), oldest first, each with its `entry`
    id (and `client`, the page's own id, for a turn the page sent: the tab that sent it already shows the
    message)."""
    limit = min(limit, KEEP_ENTRIES)  # the turns kept beyond it until the next trim are not the conversation
    query = (
        select(col(WebChatEntry.id), col(WebChatEntry.body), col(WebChatEntry.client_id))
        .where(col(WebChatEntry.user_id) == user_id, col(WebChatEntry.id) > after, col(WebChatEntry.body) != PENDING)
        .order_by(col(WebChatEntry.id).desc())
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    found = []
    for entry_id, body, client_id in reversed(rows):
        entry = {**json.loads(body), "entry": int(entry_id or 0)}
        if client_id:
            entry["client"] = client_id
        found.append(entry)
    return found


async def last_entry(session: AsyncSession, user_id: int) -> int:
    """The id of the user's newest turn (0 for none): where a stream that asks for no catch-up starts."""
    newest = await session.scalar(select(func.max(col(WebChatEntry.id))).where(col(WebChatEntry.user_id) == user_id))
    return int(newest or 0)


async def forget_older_than(session: AsyncSession, cutoff: datetime) -> int:
    """Retention: turns older than the outputs' window go with the files they show."""
    result = await session.execute(delete(WebChatEntry).where(col(WebChatEntry.created_at) < cutoff))
    return affected(result)


async def visible_file(session: AsyncSession, user_id: int, file_id: int) -> StoredFile | None:
    """The file if it is this user's and of a kind the page may show (never a cutout)."""
    found = await session.get(StoredFile, file_id)
    if found is None or found.user_id != user_id or found.kind not in VISIBLE_KINDS:
        return None
    return found


async def preview_of(session: AsyncSession, user_id: int, file_id: int) -> StoredFile | None:
    query = select(StoredFile).where(
        col(StoredFile.user_id) == user_id,
        col(StoredFile.kind) == PREVIEW_KIND,
        col(StoredFile.name) == preview_name(file_id),
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def gallery(session: AsyncSession, user_id: int, limit: int = 60) -> list[tuple[RenderJob, list[StoredFile]]]:
    """The user's finished jobs that still have outputs, newest first, each with its outputs."""
    finished = (
        select(RenderJob)
        .where(col(RenderJob.user_id) == user_id, col(RenderJob.state).in_((jobs.DELIVERED, jobs.UNDELIVERED)))
        .order_by(col(RenderJob.id).desc())
        .limit(limit)
    )
    found = list((await session.execute(finished)).scalars())
    if not found:
        return []
    outputs = (
        select(StoredFile)
        .where(col(StoredFile.job_id).in_([j.id for j in found]), col(StoredFile.kind) == "output")
        .order_by(col(StoredFile.id))
    )
    by_job: dict[int, list[StoredFile]] = {}
    for stored in (await session.execute(outputs)).scalars():
        by_job.setdefault(stored.job_id or 0, []).append(stored)
    return [(job, by_job[job.id or 0]) for job in found if by_job.get(job.id or 0)]
