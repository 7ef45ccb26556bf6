"""Reading a web chat photo form within limits, while it streams (issue #14, item 3).

aiohttp's request size limit does not apply to a multipart body read part by part, so the limits are counted
here, chunk by chunk: the whole request (`MAX_FORM_BYTES`, every part counted, also those skipped) and the
number of parts (`MAX_FORM_PARTS`). Nothing is stored or cached while reading: photos are held in memory
(at most `MAX_FORM_BYTES`) and only sealed into the blob store once the whole form was accepted, so a refused
request keeps nothing and evicts nothing. A declared `Content-Length` over the limit is refused before
a byte is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # one photo; a larger one is answered by the handler ("too large")
MAX_UPLOADS_PER_MESSAGE = 20
MAX_FORM_BYTES = 64 * 1024 * 1024  # a whole album of phone photos (the page sends them as taken)
MAX_FORM_PARTS = 2 * MAX_UPLOADS_PER_MESSAGE + 4  # photos beyond 20 are answered; far beyond is abuse
_CHUNK = 256 * 1024


class FormRefused(Exception):
    """The form broke a limit: `key` is the locale key of the answer, `limit` its placeable."""

    def __init__(self, key: str, limit: int) -> None:
        super().__init__(key)
        self.key = key
        self.limit = limit


@dataclass(slots=True)
class Photo:
    mime: str
    data: bytes | None  # None: over MAX_UPLOAD_BYTES (drained, not kept)
    size: int


@dataclass(slots=True)
class PhotoForm:
    client_id: str = ""
    photos: list[Photo] = field(default_factory=list)
    left_out: int = 0  # photo parts beyond MAX_UPLOADS_PER_MESSAGE


async def read_photo_form(request: web.Request) -> PhotoForm:
    """The form's id and photos; raises `FormRefused` as soon as a limit is crossed."""
    declared = request.content_length
    if declared is not None and declared > MAX_FORM_BYTES:
        raise FormRefused("web-upload-too-large", MAX_FORM_BYTES // (1024 * 1024))
    budget = _Budget()
    reader = await request.multipart()
    form = PhotoForm()
    parts = 0
    while (part := await reader.next()) is not None:
        parts += 1
        if parts > MAX_FORM_PARTS:
            raise FormRefused("web-upload-too-many-parts", MAX_UPLOADS_PER_MESSAGE)
        if not isinstance(part, BodyPartReader):
            raise FormRefused("web-upload-too-many-parts", MAX_UPLOADS_PER_MESSAGE)  # nested multipart
        if part.name == "id":
            form.client_id = (await _read(part, budget, 64)).decode("utf-8", "replace")
            continue
        if part.name != "photo" or len(form.photos) >= MAX_UPLOADS_PER_MESSAGE:
            form.left_out += part.name == "photo"
            await _read(part, budget, 0)
            continue
        mime = (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip().lower()
        data = await _read(part, budget, MAX_UPLOAD_BYTES)
        if budget.part_overflow:
            form.photos.append(Photo(mime, None, MAX_UPLOAD_BYTES + 1))
        elif data:
            form.photos.append(Photo(mime, data, len(data)))
    return form


@dataclass(slots=True)
class _Budget:
    used: int = 0
    part_overflow: bool = False


async def _read(part: BodyPartReader, budget: _Budget, keep: int) -> bytes:
    """Reads a part to its end, counting every byte against the form; keeps at most `keep` bytes of it."""
    chunks: list[bytes] = []
    size = 0
    budget.part_overflow = False
    while chunk := await part.read_chunk(_CHUNK):
        budget.used += len(chunk)
        if budget.used > MAX_FORM_BYTES:
            raise FormRefused("web-upload-too-large", MAX_FORM_BYTES // (1024 * 1024))
        size += len(chunk)
        if size > keep:
            budget.part_overflow = True
            chunks.clear()
            continue
        chunks.append(chunk)
    return b"".join(chunks)
