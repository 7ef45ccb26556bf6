"""`python -m bot purge` (retention now) and `python -m bot training export DIR` (the consented training set).

The export holds only uploads made under a training consent still in force (see
`storage.privacy.training_uploads`), re-encoded from pixels alone: no EXIF, GPS or other metadata, and
named by file id, never by anything that identifies a person.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import OperatorError

if TYPE_CHECKING:
    from storage.blobs import BlobStore
    from storage.privacy import TrainingUpload

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"


def register(sub: Any) -> None:
    purge = sub.add_parser("purge", help="delete uploads and outputs older than the retention windows, now")
    purge.set_defaults(func=run_purge)
    training = sub.add_parser("training", help="the model-training set (only uploads with consent)")
    actions = training.add_subparsers(dest="training_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write consented uploads, stripped of metadata, as PNG files into DIR (empty or new)",
    )
    export.add_argument("dir", type=Path)
    export.set_defaults(func=run_training_export)


def run_purge(args: argparse.Namespace) -> int:
    counts = asyncio.run(_purge())
    print(f"purged {counts}")  # noqa: T201
    return 0


async def _purge() -> Any:
    from bot.cli.common import operator_database
    from storage import retention
    from storage.blobs import BlobStore

    async with operator_database() as (settings, db):
        blobs = BlobStore(settings.data_dir, settings.secret_key("files"))
        return await retention.purge(
            db,
            blobs,
            uploads_days=settings.retention_days_uploads,
            outputs_days=settings.retention_days_outputs,
        )


def run_training_export(args: argparse.Namespace) -> int:
    target: Path = args.dir
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OperatorError(f"{target} is not an empty folder: export into a new or empty one")
    blobs, uploads = asyncio.run(_training_uploads())
    written = write_training_set(target, blobs, uploads)
    print(f"exported {written} images to {target}")  # noqa: T201
    return 0


async def _training_uploads() -> tuple[BlobStore, list[TrainingUpload]]:
    from bot.cli.common import operator_database
    from storage import privacy
    from storage.blobs import BlobStore

    async with operator_database() as (settings, db):
        blobs = BlobStore(settings.data_dir, settings.secret_key("files"))
        async with db.transaction() as session:
            return blobs, await privacy.training_uploads(session)


def write_training_set(target: Path, blobs: BlobStore, uploads: list[TrainingUpload]) -> int:
    from storage.blobs import BlobKeyError

    target.mkdir(parents=True, exist_ok=True)
    written = 0
    with (target / MANIFEST).open("w", encoding="utf-8") as manifest:
        for upload in uploads:
            try:
                png = pixels_only_png(blobs.get(upload.path))
            except (OSError, ValueError, BlobKeyError) as error:  # a purged blob, an undecodable image
                log.warning("upload %s left out: %s", upload.file_id, error)
                continue
            name = f"{upload.file_id}.png"
            (target / name).write_bytes(png)
            entry = {
                "file": name,
                "uploaded_at": upload.uploaded_at.isoformat(),
                "consent_at": upload.consent_at.isoformat(),
                "policy_version": upload.policy_version.isoformat(),
            }
            manifest.write(json.dumps(entry) + "\n")
            written += 1
    return written


def pixels_only_png(data: bytes) -> bytes:
    """Decode, apply the EXIF orientation, and save the pixels alone: no EXIF, GPS, ICC or text chunks."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        upright = ImageOps.exif_transpose(opened)
        mode = upright.mode if upright.mode in ("RGB", "RGBA", "L", "LA") else "RGBA"
        converted = upright.convert(mode)
        clean = Image.frombytes(mode, converted.size, converted.tobytes())
    out = io.BytesIO()
    clean.save(out, format="PNG")
    return out.getvalue()
