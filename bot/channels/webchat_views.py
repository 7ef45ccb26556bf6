"""The web chat page itself and what it reads back: its script, the kept conversation, files, previews and the gallery.

Every file answer checks that the file belongs to the visitor asking (the cookie names the visitor; a file
of someone else is a 404, as is a file that is gone). Files come from the blob store, so links keep
working after a restart and on any front process.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from PIL import Image as PILImage

from handlers.i18n import catalog, locale_from_hint
from storage import webchat as entries
from storage.blobs import BlobKeyError
from storage.models import RenderJob, StoredFile

if TYPE_CHECKING:
    from bot.channels.webchat import WebChat

STATIC_DIR = Path(__file__).resolve().parent / "static"
IMMUTABLE = "private, max-age=31536000, immutable"  # a file id never names other bytes


def add_view_routes(app: web.Application, chat: WebChat) -> None:
    views = _Views(chat)
    app.router.add_get("/", views.page)
    app.router.add_get("/webchat/app.js", views.script)
    app.router.add_get("/favicon.ico", views.favicon)
    app.router.add_get("/webchat/history", views.history)
    app.router.add_get("/webchat/files/{id:[0-9]{1,12}}", views.file)
    app.router.add_get("/webchat/files/{id:[0-9]{1,12}}/preview", views.preview)
    app.router.add_get("/webchat/gallery", views.gallery)
    app.router.add_get("/webchat/gallery.zip", views.gallery_zip)


class _Views:
    def __init__(self, chat: WebChat) -> None:
        self.chat = chat
        self.store = chat.store
        self._favicon = _favicon()

    async def script(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "app.js", headers={"Content-Type": "text/javascript; charset=utf-8"})

    async def page(self, request: web.Request) -> web.Response:
        visitor = await self.chat.visitor(request)
        lang = (await self.chat.locale_of(visitor.id)) if not visitor.fresh else None
        lang = lang or locale_from_hint(accept_language(request))
        t = catalog(lang)
        keys = ("title", "placeholder", "send", "photo", "offline", "sending", "failed", "gallery", "download-all")
        strings: dict[str, str | bool] = {key: t(f"web-{key}") for key in keys}
        strings |= {k: t(f"web-{k}") for k in ("close", "gallery-empty", "other-lang", "other-lang-code")}
        strings["fresh"] = visitor.fresh  # a first visit opens with the welcome, as /start does on the platforms
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        html = html.replace("{{lang}}", lang).replace("{{title}}", _escape_html(str(strings["title"])))
        for key in ("photo", "send", "placeholder", "gallery", "other-lang", "close", "download-all"):
            html = html.replace("{{" + key + "}}", _escape_html(str(strings[key])))
        html = html.replace("{{strings}}", _escape_json_for_html(strings))
        response = web.Response(text=html, content_type="text/html", charset="utf-8")
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        self.chat.remember(request, response, visitor)
        return response

    async def favicon(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._favicon, content_type="image/png", headers={"Cache-Control": "max-age=86400"})

    async def _user(self, request: web.Request) -> int | None:
        visitor = await self.chat.visitor(request, sets_cookie=False)  # these answers set no cookie
        return None if visitor.fresh else await self.store.user_id(visitor.id)

    async def history(self, request: web.Request) -> web.Response:
        """The recent conversation (or what came after entry `after`): what the page draws on load."""
        user_id = await self._user(request)
        after = request.query.get("after", "0")
        found = await self.store.recent(user_id, int(after) if after.isdigit() else 0) if user_id else []
        return web.json_response({"entries": found}, headers={"Cache-Control": "no-store"})

    async def file(self, request: web.Request) -> web.Response:
        user_id = await self._user(request)
        try:
            found = await self.store.file(user_id, int(request.match_info["id"])) if user_id else None
        except (FileNotFoundError, BlobKeyError):
            found = None  # its row outlived the blob (a purge between the two): gone, as for anyone
        if found is None:
            raise web.HTTPNotFound()
        stored, data = found
        disposition = "attachment" if request.query.get("download") else "inline"
        return web.Response(
            body=data,
            content_type=stored.mime,
            headers={"Content-Disposition": f'{disposition}; filename="{stored.name}"', "Cache-Control": IMMUTABLE},
        )

    async def preview(self, request: web.Request) -> web.Response:
        user_id = await self._user(request)
        try:
            data = await self.store.preview(user_id, int(request.match_info["id"])) if user_id else None
        except (FileNotFoundError, BlobKeyError):
            data = None
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": IMMUTABLE})

    async def gallery(self, request: web.Request) -> web.Response:
        """Every result of the seller, newest first, each job with its outputs (style, size, files)."""
        user_id = await self._user(request)
        found: list[tuple[RenderJob, list[StoredFile]]] = []
        t = catalog("en")
        if user_id:
            async with self.store.db.transaction() as session:
                found = await entries.gallery(session, user_id)
            t = catalog(await self.chat.locale_of((await self.chat.visitor(request, sets_cookie=False)).id) or "en")
        items = [
            {
                "job": job.id,
                "style": job.style,
                "size": job.size,
                "label": t("style-name", style=job.style.replace("color:", "color-"))
                + " · "
                + t("size-name", size=job.size),
                "created_at": job.created_at.isoformat(),
                "files": [
                    {
                        "url": f"/webchat/files/{f.id}",
                        "preview": f"/webchat/files/{f.id}/preview",
                        "name": f.name,
                        "mime": f.mime,
                        "bytes": f.bytes,
                    }
                    for f in files
                ],
            }
            for job, files in found
        ]
        return web.json_response({"jobs": items}, headers={"Cache-Control": "no-store"})

    async def gallery_zip(self, request: web.Request) -> web.Response:
        """All results in one zip (stored, not deflated: PNG and JPEG do not shrink), names prefixed by job."""
        user_id = await self._user(request)
        if not user_id:
            raise web.HTTPNotFound()
        async with self.store.db.transaction() as session:
            found = await entries.gallery(session, user_id, limit=500)
        blobs = self.store.blobs

        def build() -> bytes:
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
                for job, files in found:
                    for stored in files:
                        try:
                            archive.writestr(f"{job.id}-{stored.name}", blobs.get(stored.path))
                        except (FileNotFoundError, BlobKeyError):
                            continue
            return out.getvalue()

        data = await asyncio.to_thread(build)
        return web.Response(
            body=data,
            content_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="nexoraz-results.zip"', "Cache-Control": "no-store"},
        )


def _favicon() -> bytes:
    """The brand's green square with a white dot: drawn once, no file to ship."""
    icon = PILImage.new("RGB", (32, 32), (11, 122, 90))
    for x in range(32):
        for y in range(32):
            if (x - 15.5) ** 2 + (y - 15.5) ** 2 < 64:
                icon.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    icon.save(out, "PNG")
    return out.getvalue()


def accept_language(request: web.Request) -> str | None:
    header = request.headers.get("Accept-Language", "")
    first = header.split(",")[0].split(";")[0].strip()
    return first or None


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _escape_json_for_html(value: object) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
