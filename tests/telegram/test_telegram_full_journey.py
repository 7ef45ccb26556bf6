"""A Bengali seller's whole journey on Telegram: the real aiogram client long polling the Bot API emulator,
the whole app (`bot.app`) with real render worker processes, a real SQLite database and blob store.

start -> photo -> results as documents -> re-style -> send as photo -> credits -> redeem -> privacy -> optin
-> mydata -> delete -> a fresh account; then an album and a file over Telegram's 20 MB download limit.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image

from bot.app import App
from handlers import codes
from handlers.i18n import catalog
from handlers.model import Progress
from storage import export, giveaways, ledger, privacy, users
from storage.users import Identity
from tests.emulators.telegram_api import MB, Call, TelegramAPIEmulator
from tests.emulators.telegram_spec import Upload
from tests.photos.photo_harness import product_photo
from tests.telegram.telegram_harness import RecordingDispatcher, channel_with, running_app, telegram_settings

CHAT = 5550101
ALBUM_CHAT = 5550102
HUGE_CHAT = 5550103
RENDER_WAIT_S = 90
bn = catalog("bn")


def fast_settings(tmp_path: Path, emulator: TelegramAPIEmulator) -> Any:
    return telegram_settings(tmp_path, emulator, segmenter="classical", support_email="help@nexoraz.test")


def for_chat(emulator: TelegramAPIEmulator, method: str, chat: int) -> list[Call]:
    return [c for c in emulator.calls_to(method, ok=True) if c.params.get("chat_id") == chat]


def documents(emulator: TelegramAPIEmulator, chat: int) -> list[Upload]:
    return [c.params["document"] for c in for_chat(emulator, "sendDocument", chat)]


def messages(emulator: TelegramAPIEmulator, chat: int) -> list[dict[str, Any]]:
    state = emulator.chats.get(chat)
    return list(state.messages.values()) if state else []


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """label -> callback data of a message's inline keyboard."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def result_messages(emulator: TelegramAPIEmulator, chat: int) -> list[dict[str, Any]]:
    """The text-with-buttons that follows each delivered render (it carries the "send as photo" button)."""
    return [m for m in messages(emulator, chat) if any(d.startswith("ph:") for d in buttons(m).values())]


async def replies_to(emulator: TelegramAPIEmulator, chat: int, update: dict[str, Any], count: int = 1) -> list[str]:
    """Push one update and return the texts of the `count` new messages it brings to the chat."""
    before = len(messages(emulator, chat))
    emulator.push(update)
    await emulator.wait_for(lambda: len(messages(emulator, chat)) >= before + count)
    return [m.get("text") or m.get("caption") or "" for m in messages(emulator, chat)[before:]]


async def balance_of(app: App, chat: int) -> int | None:
    async with app.db.transaction() as session:
        user = await users.find(session, Identity("telegram", str(chat)))
        return None if user is None else await ledger.balance(session, user.id or 0)


def image(upload: Upload) -> Image.Image:
    picture = Image.open(io.BytesIO(upload.data))
    picture.load()
    return picture


def assert_all_accepted(emulator: TelegramAPIEmulator) -> None:
    refused = [(c.method, c.status, c.error) for c in emulator.calls if c.status != 200]
    assert refused == []
    assert not emulator.pending_queries


async def test_a_bengali_sellers_whole_journey(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    settings = fast_settings(tmp_path, emulator)
    async with running_app(settings) as app:
        # /start: a Bengali welcome with Bengali digits.
        (welcome,) = await replies_to(emulator, CHAT, emulator.message(CHAT, "/start", lang="bn"))
        assert "স্বাগতম" in welcome and "৩টি ফ্রি ক্রেডিট" in welcome and "3" not in welcome

        # A product photo: acknowledged in place, "uploading a photo" shown, then the results as files.
        photo_id = emulator.add_file(product_photo())
        emulator.push(emulator.photo(CHAT, photo_id, lang="bn"))
        await emulator.wait_for(lambda: result_messages(emulator, CHAT), timeout=RENDER_WAIT_S)

        (ack,) = [c for c in for_chat(emulator, "sendMessage", CHAT) if "লাইনে আপনি ১ নম্বরে" in c.params["text"]]
        ack_id = ack.result["message_id"]
        edits = [c for c in for_chat(emulator, "editMessageText", CHAT) if c.params["message_id"] == ack_id]
        assert edits and edits[-1].params["text"] == bn("photo-rendering")
        assert "upload_photo" in {c.params["action"] for c in for_chat(emulator, "sendChatAction", CHAT)}
        assert emulator.calls_to("getFile", ok=True)[0].params["file_id"] == photo_id

        assert for_chat(emulator, "sendPhoto", CHAT) == []  # results are never recompressed
        white, transparent = documents(emulator, CHAT)
        assert (white.filename, transparent.filename) == ("white-original.jpg", "transparent-original.png")
        assert image(white).format == "JPEG" and image(white).convert("RGB").getpixel((2, 2)) == (255, 255, 255)
        assert image(transparent).format == "PNG" and image(transparent).mode == "RGBA"
        assert image(transparent).getpixel((2, 2))[3] == 0  # type: ignore[index]

        (result,) = result_messages(emulator, CHAT)
        assert "বাকি ক্রেডিট: ২টি" in result["text"] and "2" not in result["text"]
        labels = buttons(result)
        square = bn("size-name", size="square")
        assert {square, bn("photo-as-photo"), bn("style-name", style="studio")} <= set(labels)
        assert all(len(d.encode()) <= 64 for d in labels.values())
        assert labels[square].startswith("rs:") and labels[square].endswith(":white:square")
        assert await balance_of(app, CHAT) == 2

        # Another size: a third file, square, composed from the kept cutout and free of charge.
        emulator.push(emulator.press(CHAT, labels[square], lang="bn"))
        await emulator.wait_for(lambda: len(result_messages(emulator, CHAT)) == 2, timeout=RENDER_WAIT_S)
        restyling = [c for c in for_chat(emulator, "sendMessage", CHAT) if c.params["text"] == bn("photo-restyling")]
        assert len(restyling) == 1
        third = documents(emulator, CHAT)[2]
        assert third.filename == "white-square.jpg" and image(third).size == (1080, 1080)
        assert len(emulator.calls_to("getFile")) == 1  # no second download
        assert "বাকি ক্রেডিট: ২টি" in result_messages(emulator, CHAT)[-1]["text"]
        assert await balance_of(app, CHAT) == 2

        # "Send as photo": a compressed preview through sendPhoto.
        as_photo = buttons(result_messages(emulator, CHAT)[-1])[bn("photo-as-photo")]
        emulator.push(emulator.press(CHAT, as_photo, lang="bn"))
        await emulator.wait_for(lambda: for_chat(emulator, "sendPhoto", CHAT))
        (preview,) = [c.params["photo"] for c in for_chat(emulator, "sendPhoto", CHAT)]
        assert image(preview).format == "JPEG" and image(preview).size == (1080, 1080)

        # "Not right?" under the first (paid) result: its credit back in Bengali with advice, and only once.
        not_right = buttons(result_messages(emulator, CHAT)[0])[bn("not-right-button")]
        assert not_right.startswith("nr:")
        (returned,) = await replies_to(emulator, CHAT, emulator.press(CHAT, not_right, lang="bn"))
        assert "১টি ক্রেডিট ফেরত দেওয়া হলো: এখন আপনার আছে ৩টি" in returned and bn("not-right-tip") in returned
        (again,) = await replies_to(emulator, CHAT, emulator.press(CHAT, not_right, lang="bn"))
        assert again.startswith(bn("not-right-already"))
        assert await balance_of(app, CHAT) == 3

        # /credits, then a giveaway code typed with Bengali digits.
        (credits,) = await replies_to(emulator, CHAT, emulator.message(CHAT, "/credits", lang="bn"))
        assert "৩টি ক্রেডিট" in credits
        async with app.db.transaction() as session:
            key = app.services.config.identity_key
            await giveaways.create(
                session, code_hash=codes.code_hash("EID7K3", key), hint="EID…", credits=5, max_uses=10, expires_at=None
            )
        (redeemed,) = await replies_to(emulator, CHAT, emulator.message(CHAT, "/redeem EID৭K৩", lang="bn"))
        assert "৫" in redeemed and "৮" in redeemed
        assert await balance_of(app, CHAT) == 8

        # /privacy: the Bengali summary with the support address; /optin is recorded.
        (summary,) = await replies_to(emulator, CHAT, emulator.message(CHAT, "/privacy", lang="bn"))
        assert "গোপনীয়তা" in summary and "help@nexoraz.test" in summary and "/delete" in summary
        (opted,) = await replies_to(emulator, CHAT, emulator.message(CHAT, "/optin", lang="bn"))
        assert opted.startswith("ধন্যবাদ!")
        async with app.db.transaction() as session:
            user = await users.find(session, Identity("telegram", str(CHAT)))
            assert user is not None and user.id is not None
            consent = await privacy.consent_history(session, user.id)
            assert [c.training_opt_in for c in consent] == [True]

        # /mydata: a zip whose record is exactly what `python -m bot user show` prints, plus the images.
        (caption,) = await replies_to(emulator, CHAT, emulator.message(CHAT, "/mydata", lang="bn"))
        assert caption == bn("mydata-caption")
        archive_upload = documents(emulator, CHAT)[-1]
        assert archive_upload.filename.startswith("nexoraz-data-") and archive_upload.filename.endswith(".zip")
        async with app.db.transaction() as session:
            user = await users.find(session, Identity("telegram", str(CHAT)))
            assert user is not None and user.id is not None
            record = await export.user_record(session, user)
            stored = await export.files(session, user.id)
        with zipfile.ZipFile(io.BytesIO(archive_upload.data)) as archive:
            assert json.loads(archive.read("nexoraz-data.json")) == record
            images = [n for n in archive.namelist() if n.startswith("files/")]
        assert record["credits"]["balance"] == 8 and record["consent"]["training_opt_in"] is True
        assert record["user"]["locale"] == "bn" and len(record["renders"]) == 2
        assert len(images) == len(stored) == len(record["files"]) == 5  # upload, cutout, three results
        blob_paths = [settings.data_dir / f.path for f in stored]
        assert all(p.exists() for p in blob_paths)

        # /delete asks first; the confirmation button erases everything.
        (question,) = await replies_to(emulator, CHAT, emulator.message(CHAT, "/delete", lang="bn"))
        assert question.startswith("আপনি কি আপনার Nexoraz অ্যাকাউন্ট মুছে ফেলতে চান?")
        (done,) = await replies_to(emulator, CHAT, emulator.press(CHAT, "del:yes", lang="bn"))
        assert done == bn("delete-done")
        await emulator.wait_for(lambda: not any(p.exists() for p in blob_paths))
        assert list((settings.data_dir / "files").rglob("*.bin")) == []
        async with app.db.transaction() as session:
            assert await users.find(session, Identity("telegram", str(CHAT))) is None  # `user show`: not found

        # Writing again starts a fresh account, without a second round of sign-up credits.
        await replies_to(emulator, CHAT, emulator.message(CHAT, "/credits", lang="bn"))
        assert "০টি ক্রেডিট" in emulator.texts(CHAT)[-1]
        assert await balance_of(app, CHAT) == 0

        await emulator.wait_for(lambda: not emulator.pending_queries)
        assert_all_accepted(emulator)


async def test_an_album_and_a_file_too_big_to_download(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    async with running_app(fast_settings(tmp_path, emulator)) as app:
        # Two photos of one album: one acknowledgement, two files per photo, two credits.
        album = [emulator.add_file(product_photo()), emulator.add_file(product_photo(colour=(30, 90, 200)))]
        for file_id in album:
            emulator.push(emulator.photo(ALBUM_CHAT, file_id, lang="bn", media_group_id="album-1"))

        # Meanwhile a 25 MB photo: refused before any download, in Bengali, free of charge.
        huge = emulator.add_file(size=25 * MB)
        emulator.push(emulator.photo(HUGE_CHAT, huge, lang="bn"))
        await emulator.wait_for(lambda: emulator.texts(HUGE_CHAT))
        assert emulator.texts(HUGE_CHAT) == [bn("photo-file-too-big", limit=20)]
        assert "২০ মেগাবাইটের বেশি" in emulator.texts(HUGE_CHAT)[0]

        await emulator.wait_for(lambda: len(result_messages(emulator, ALBUM_CHAT)) == 2, timeout=RENDER_WAIT_S)
        acks = [c for c in for_chat(emulator, "sendMessage", ALBUM_CHAT) if "লাইনে আপনি" in c.params["text"]]
        assert len(acks) == 1 and "ছবিগুলো পেয়েছি" in acks[0].params["text"]
        names = sorted(d.filename for d in documents(emulator, ALBUM_CHAT))
        assert names == ["transparent-original.png"] * 2 + ["white-original.jpg"] * 2
        assert await balance_of(app, ALBUM_CHAT) == 1

        assert {c.params["file_id"] for c in emulator.calls_to("getFile")} == set(album)  # never the huge one
        assert await balance_of(app, HUGE_CHAT) == 3
        assert_all_accepted(emulator)


async def test_a_repeated_status_is_not_edited_again(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    """Regression: each photo of an album reports "rendering" on the album's one status message; Telegram
    refuses an edit to the text already shown (400 "message is not modified"), so the sender skips it."""
    settings = telegram_settings(tmp_path, emulator, telegram_bot_username="NexorazTestBot")
    async with channel_with(settings, RecordingDispatcher(), start=False) as channel:
        for text in ("received", "rendering", "rendering", "rendering <1>", "rendering <1>"):
            await channel.send(str(CHAT), [Progress(key="batch:a", text=text)])
    assert emulator.texts(CHAT) == ["rendering <1>"]
    assert [c.method for c in emulator.calls] == ["sendMessage", "editMessageText", "editMessageText"]
    assert_all_accepted(emulator)
