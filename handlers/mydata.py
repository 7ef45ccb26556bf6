"""/mydata: everything held about the user as a zip (the `user show` JSON plus their images), sent as a file."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import mimetypes
import zipfile
from typing import Any

from handlers.context import Context
from handlers.model import Document, Inbound, Reply, Text
from handlers.router import Router
from storage import export
from storage.blobs import BlobKeyError, BlobStore
from storage.models import StoredFile
from storage.types import utcnow

log = logging.getLogger(__name__)

router = Router()

EXPORTS_PER_HOUR = 3
EXPORTS_KEY = "mydata:"
RECORD_NAME = "nexoraz-data.json"


@router.command("mydata", aliases=("my data", "আমার তথ্য", "export"), limiter_keys=(EXPORTS_KEY,))
async def my_data(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if not await ctx.services.limiter.hit(f"{EXPORTS_KEY}{ctx.identity}", limit=EXPORTS_PER_HOUR, window_s=3600):
        return [Text(text=ctx.t("mydata-too-many"))]
    record = await export.user_record(ctx.session, ctx.user)
    stored = await export.files(ctx.session, ctx.user_id)
    data = await asyncio.to_thread(build_zip, record, stored, ctx.services.blobs)
    name = f"nexoraz-data-{utcnow():%Y-%m-%d}.zip"
    return [Document(data=data, name=name, mime="application/zip", caption=ctx.t("mydata-caption"))]


def build_zip(record: dict[str, Any], stored: list[StoredFile], blobs: BlobStore | None) -> bytes:
    """`nexoraz-data.json` (exactly what `user show` prints) and `files/<id>-<kind>-<name>`, decrypted."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(RECORD_NAME, json.dumps(record, ensure_ascii=False, indent=2))
        for item in stored:
            if blobs is None:
                break
            try:
                content = blobs.get(item.path)
            except (FileNotFoundError, BlobKeyError) as error:
                log.warning("file %s left out of a data export: %s", item.id, error)
                continue
            archive.writestr(entry_name(item), content, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def entry_name(item: StoredFile) -> str:
    """`files/<id>-<kind>-<name>`, with an extension from the mime type where the name has none."""
    name = item.name if "." in item.name else item.name + (mimetypes.guess_extension(item.mime) or "")
    return f"files/{item.id}-{item.kind}-{name}"
