"""The web chat's durable side over HTTP: retried photos charged once, uploads and results in the blob store
(through a restart, a lost upload failing with a refund), the channel contract, the gallery, prices."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image as PILImage
from sqlalchemy import event, func, select

from bot import app as app_module
from bot.channels.base import Refused
from bot.channels.webchat import WebChat
from bot.settings import Settings
from handlers.model import Text
from storage import export, jobs, ledger, users
from storage.models import RenderJob, StoredFile, WebChatEntry
from storage.users import Identity
from tests.bot.webchat_harness import camera_photo, web_id
from tests.photos.photo_harness import product_photo


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        http_port=0,
        segmenter="classical",
        web_visitor_credits=3,  # about rendering, not who gets credits (test_webchat_linking.py)
        facebook_page_url="https://facebook.com/nexoraz",
        upgrade_url="https://nexoraz.pro/pricing",
        _env_file=None,
    )  # type: ignore[call-arg]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[app_module.App]:
    app = app_module.create_app(_settings(tmp_path / "data"))
    await app_module.start(app)
    try:
        yield app
    finally:
        await app_module.stop(app)


def _base(app: app_module.App) -> str:
    return f"http://127.0.0.1:{app.port}"


def _form(client_id: str, *photos: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("id", client_id)
    for n, data in enumerate(photos):
        form.add_field("photo", io.BytesIO(data), filename=f"p{n}.jpg", content_type="image/jpeg")
    return form


async def _balance(app: app_module.App, visitor: str) -> int:
    async with app.db.transaction() as session:
        user = await users.find(session, Identity("web", web_id(app, visitor)))
        assert user is not None
        return await ledger.balance(session, user.id or 0)


async def _wait_for_results(http: aiohttp.ClientSession, base: str, count: int = 2) -> list[dict[str, Any]]:
    for _ in range(240):
        async with http.get(base + "/webchat/history") as response:
            entries = (await response.json())["entries"]
        documents = [r for e in entries for r in e["replies"] if r["type"] == "document"]
        if len(documents) >= count:
            return documents
        await asyncio.sleep(0.5)
    raise AssertionError(f"no results: {entries}")


async def test_a_photo_posted_twice_with_one_id_is_one_job_and_one_credit(served: app_module.App) -> None:
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base + "/webchat/photos", data=_form("photo-0001", product_photo())) as r:
            first = await r.json()
            visitor = r.cookies["nxz_visitor"].value
        blobs_after_first = sorted(p.name for p in (served.settings.data_dir / "files").rglob("*.bin"))
        async with http.post(base + "/webchat/photos", data=_form("photo-0001", product_photo())) as r:
            again = await r.json()
        assert again["repeat"] is True and again["replies"] == first["replies"]
        await _wait_for_results(http, base)
    async with served.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(RenderJob)) == 1
    assert await _balance(served, visitor) == 2
    # The retry's copy of the upload was not kept (only the first one, and what the render stored).
    assert set(blobs_after_first) <= {p.name for p in (served.settings.data_dir / "files").rglob("*.bin")}
    async with served.db.transaction() as session:
        kinds = (await session.execute(select(StoredFile.kind))).scalars().all()
    assert kinds.count("web-upload") == 1


async def test_results_and_conversation_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    app = app_module.create_app(_settings(data_dir))
    await app_module.start(app)
    jar = aiohttp.CookieJar(unsafe=True)
    try:
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.post(_base(app) + "/webchat/photos", data=_form("photo-big-01", camera_photo())) as r:
                assert r.status == 200
            documents = await _wait_for_results(http, _base(app))
            async with http.get(_base(app) + documents[1]["url"]) as r:
                before = await r.read()
    finally:
        await app_module.stop(app)
    app = app_module.create_app(_settings(data_dir))  # a new process on the same DATA_DIR
    await app_module.start(app)
    try:
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(_base(app) + "/webchat/history") as r:
                entries = (await r.json())["entries"]
            mine = next(e["me"] for e in entries if e.get("me"))
            assert mine["type"] == "photos"  # the seller's own photo, then the results
            assert [d["name"] for d in documents] == ["white-original.jpg", "transparent-original.png"]
            async with http.get(_base(app) + documents[1]["url"]) as r:
                assert r.status == 200 and await r.read() == before and len(before) > 100 * 1024
            for drawn in [*documents, *mine["files"]]:
                async with http.get(_base(app) + drawn["preview"]) as r:
                    preview = await r.read()
                assert r.content_type == "image/jpeg" and len(preview) <= 100 * 1024
                assert max(PILImage.open(io.BytesIO(preview)).size) <= 640
            async with http.get(_base(app) + "/webchat/gallery") as r:
                gallery = (await r.json())["jobs"]
            assert len(gallery) == 1 and len(gallery[0]["files"]) == 2 and gallery[0]["label"]
            async with http.get(_base(app) + "/webchat/gallery.zip") as r:
                archive = zipfile.ZipFile(io.BytesIO(await r.read()))
            assert sorted(n.split("-", 1)[1] for n in archive.namelist()) == sorted(d["name"] for d in documents)
        async with aiohttp.ClientSession() as stranger:  # another visitor sees none of it
            for path in (documents[0]["url"], documents[0]["preview"]):
                async with stranger.get(_base(app) + path) as r:
                    assert r.status == 404
            async with stranger.get(_base(app) + "/webchat/gallery") as r:
                assert (await r.json())["jobs"] == []
    finally:
        await app_module.stop(app)


async def test_a_lost_upload_fails_the_job_with_a_refund_not_a_loop(served: app_module.App) -> None:
    """Issue 13, item 1: the upload is gone before the worker fetches it: refused, refunded, told, done."""
    assert served.workers is not None
    await served.workers.stop()  # nobody renders: the job waits in the queue
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base + "/webchat/photos", data=_form("photo-lost-1", product_photo())) as r:
            visitor = r.cookies["nxz_visitor"].value
        assert await _balance(served, visitor) == 2
        async with served.db.transaction() as session:
            job = (await session.execute(select(RenderJob))).scalar_one()
        served.services.blobs.delete(job.media_file_id)  # type: ignore[union-attr]
        await served.workers.process(job.id or 0)
        async with served.db.transaction() as session:
            assert (await jobs.get(session, job.id or 0)).state == jobs.FAILED  # type: ignore[union-attr]
        assert await _balance(served, visitor) == 3
        async with http.get(base + "/webchat/history") as r:
            text = json.dumps((await r.json())["entries"], ensure_ascii=False)
        assert "credit has been returned" in text


async def test_the_channel_contract_refused_for_missing_tampered_or_foreign_uploads(served: app_module.App) -> None:
    chat = served.channel("web")
    assert isinstance(chat, WebChat)
    path = await chat.store.keep_upload(b"a photo")
    assert await chat.fetch_media(path) == b"a photo"
    stored = served.settings.data_dir / path
    stored.write_bytes(stored.read_bytes()[:-1] + b"x")  # tampered
    for file_id in (path, "files/00/" + "0" * 32 + ".bin", "../../etc/passwd", ""):
        with pytest.raises(Refused):
            await chat.fetch_media(file_id)
    with pytest.raises(Refused):  # a visitor nobody knows (erased): nothing to keep it for
        await chat.send("x" * 22, [Text(text="hello")])


async def test_price_questions_in_both_languages_get_the_plans(served: app_module.App) -> None:
    base = _base(served)
    for question, language, expected in (("দাম কত?", "bn", "প্রতি ছবিতে"), ("how much is it", "en", "Each photo costs")):
        headers = {"Accept-Language": language}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers) as http:
            async with http.post(base + "/webchat/messages", json={"text": "/start", "id": "start-0001"}) as r:
                assert "স্বাগতম উপহার" in json.dumps(await r.json(), ensure_ascii=False) or language == "en"
            async with http.post(base + "/webchat/messages", json={"text": question, "id": "price-0001"}) as r:
                answer = (await r.json())["replies"][0]["text"]
        assert expected in answer and served.settings.upgrade_url in answer


async def test_delete_erases_the_kept_conversation_and_the_web_files(served: app_module.App) -> None:
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base + "/webchat/photos", data=_form("photo-del-01", product_photo())) as r:
            visitor = r.cookies["nxz_visitor"].value
        documents = await _wait_for_results(http, base)
        async with served.db.transaction() as session:  # what `user show` and /mydata list
            user = await users.find(session, Identity("web", web_id(served, visitor)))
            assert user is not None
            record = await export.user_record(session, user)
        assert [t["me"]["type"] for t in record["web_chat"] if t.get("me")] == ["photos"]
        assert {f["kind"] for f in record["files"]} >= {"web-upload", "output"}
        async with http.post(base + "/webchat/messages", json={"text": "/delete", "id": "delete-0001"}) as r:
            buttons = [b["payload"] for b in (await r.json())["replies"][0]["buttons"]]
        async with http.post(base + "/webchat/messages", json={"payload": buttons[0], "id": "delete-0002"}) as r:
            assert r.status == 200 and "erased" in json.dumps(await r.json())
        async with http.get(base + documents[0]["url"]) as r:
            assert r.status == 404
    async with served.db.transaction() as session:
        assert await users.find(session, Identity("web", web_id(served, visitor))) is None
        assert await session.scalar(select(func.count()).select_from(StoredFile)) == 0
        assert await session.scalar(select(func.count()).select_from(WebChatEntry)) == 0
    assert not list((served.settings.data_dir / "files").rglob("*.bin"))


async def test_retention_purges_old_turns_with_the_files(served: app_module.App) -> None:
    from datetime import timedelta

    from storage import retention
    from storage.types import utcnow

    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base + "/webchat/messages", json={"text": "help", "id": "help-00001"}) as r:
            assert r.status == 200
        blobs = served.services.blobs
        assert blobs is not None
        settings = served.settings
        later = utcnow() + timedelta(days=settings.retention_days_outputs + 1)
        await retention.purge(
            served.db,
            blobs,
            uploads_days=settings.retention_days_uploads,
            outputs_days=settings.retention_days_outputs,
            now=later,
        )
        async with http.get(base + "/webchat/history") as r:
            assert (await r.json())["entries"] == []


async def test_photos_past_the_per_message_limit_are_answered_not_dropped(served: app_module.App) -> None:
    from bot.channels.webchat import MAX_UPLOADS_PER_MESSAGE

    assert served.workers is not None
    await served.workers.stop()  # only the answer matters here
    tiny = product_photo(64, 48)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        form = _form("photo-many-1", *[tiny] * (MAX_UPLOADS_PER_MESSAGE + 3))
        async with http.post(_base(served) + "/webchat/photos", data=form) as r:
            body = json.dumps(await r.json())
    assert "Please send the other 3 in another message" in body


async def test_the_same_id_sent_twice_at_once_gets_one_answer_twice(served: app_module.App) -> None:
    """A retry that overtakes its original (a slow network): both answers carry the one kept turn."""
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base + "/webchat/messages", json={"text": "hi", "id": "hello-00001"}) as r:
            assert r.status == 200

        async def ask() -> dict[str, Any]:
            async with http.post(base + "/webchat/messages", json={"text": "credits", "id": "twice-0001"}) as r:
                return dict(await r.json())

        first, second = await asyncio.gather(ask(), ask())
        assert first["replies"] and first["replies"] == second["replies"] and first["entry"] == second["entry"]
        async with http.get(base + "/webchat/history") as r:
            turns = [e for e in (await r.json())["entries"] if (e.get("me") or {}).get("text") == "credits"]
        assert len(turns) == 1


async def test_a_message_with_the_pages_id_takes_two_transactions_and_its_retry_one(tmp_path: Path) -> None:
    """A known visitor's message is one read (the cookie, and the turn kept for the message's id: a retry) and
    the transaction that records it, where its turn is kept too (`Inbound.within`); a retry is the read alone,
    and gets the first answer. Four and two transactions before."""
    app = app_module.create_app(_settings(tmp_path / "data"))
    began: list[object] = []
    counting = False

    def count(connection: object) -> None:
        # The request's own and its dispatch's (start-up's purge and the sweepers run beside, in tasks of theirs).
        task = asyncio.current_task()
        ours = task is not None and (
            task.get_name() == "dispatch-batches" or task.get_coro().__qualname__ == "RequestHandler._handle_request"
        )
        if counting and ours:
            began.append(task)

    event.listen(app.db.engine.sync_engine, "begin", count)  # before start: no other thread is dispatching yet
    await app_module.start(app)
    base = _base(app)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(base + "/webchat/messages", json={"text": "hi", "id": "hello-00001"}) as r:
                assert r.status == 200  # the visitor's account exists from here on
            counting = True
            async with http.post(base + "/webchat/messages", json={"text": "credits", "id": "credits-0001"}) as r:
                first = await r.json()
            assert len(began) == 2, began
            began.clear()
            async with http.post(base + "/webchat/messages", json={"text": "credits", "id": "credits-0001"}) as r:
                again = await r.json()
            assert len(began) == 1, len(began)
            counting = False
            async with http.get(base + "/webchat/history") as r:
                kept = [e for e in (await r.json())["entries"] if (e.get("me") or {}).get("text") == "credits"]
    finally:
        await app_module.stop(app)
    assert first["replies"] and "3" in json.dumps(first["replies"])  # the balance: the turn was answered
    assert again["repeat"] is True and again["replies"] == first["replies"] and again["entry"] == first["entry"]
    assert [e["entry"] for e in kept] == [first["entry"]]  # kept once, with the answer the page was given
