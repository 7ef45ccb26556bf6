"""Training consent: off by default, append-only history with the policy version, and a training export
that holds only uploads made under a consent still in force, without EXIF/GPS."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from handlers.context import Services
from storage import privacy, users
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say
from tests.privacy.privacy_harness import CAMERA, seed_files, with_blobs


async def _user_id(services: Services, external: str) -> int:
    async with services.db.transaction() as s:
        user = await users.find(s, Identity("telegram", external))
        assert user is not None and user.id is not None
        return user.id


async def _exported_ids(services: Services) -> set[int]:
    async with services.db.transaction() as s:
        return {u.file_id for u in await privacy.training_uploads(s)}


async def test_consent_history_and_training_set_follow_optin_and_optout(services: Services, tmp_path: Path) -> None:
    with_blobs(services, tmp_path / "data")
    bot = make_dispatcher(services)
    who = Identity("telegram", "300")
    await say(bot, inbound("hi", user="300"))
    before = await seed_files(services, who, kinds=("upload",))  # off by default: never exported
    assert await _exported_ids(services) == set()

    assert "/optout" in await say(bot, inbound("/optin", user="300"))
    assert "already" in await say(bot, inbound("opt in", user="300"))
    during = await seed_files(services, who, kinds=("upload", "output"))
    assert await _exported_ids(services) == {during.file_ids[0]}  # the upload only, not the output

    assert "taken out" in await say(bot, inbound("/optout", user="300"))
    assert await _exported_ids(services) == set()
    # Opting in again covers new uploads only: the earlier ones were made under a consent since revoked.
    services.config = replace(services.config, policy_version=date(2026, 1, 1))
    await say(bot, inbound("/optin", user="300"))
    after = await seed_files(services, who, kinds=("upload",))
    assert await _exported_ids(services) == {after.file_ids[0]}
    assert before.file_ids[0] not in await _exported_ids(services)

    async with services.db.transaction() as s:
        history = await privacy.consent_history(s, await _user_id(services, "300"))
    assert [(e.training_opt_in, e.policy_version) for e in history] == [
        (True, date(2025, 10, 15)),
        (False, date(2025, 10, 15)),
        (True, date(2026, 1, 1)),
    ]
    assert all(a.created_at <= b.created_at for a, b in zip(history, history[1:], strict=False))


async def test_optout_is_the_default_and_speaks_bengali(services: Services) -> None:
    bot = make_dispatcher(services)
    assert "স্বাভাবিক নিয়ম" in await say(bot, inbound("/optout", user="301", lang="bn"))
    reply = await say(bot, inbound("/optin", user="301", lang="bn"))
    assert "ধন্যবাদ" in reply and "১৫ অক্টোবর, ২০২৫" in reply
    async with services.db.transaction() as s:
        assert await privacy.training_opt_in(s, await _user_id(services, "301"))


def test_training_export_cli_writes_only_consented_uploads_without_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.app import create_app
    from bot.settings import Settings
    from storage import migrate

    data_dir = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data_dir))

    async def seed() -> tuple[int, int, int]:
        app = create_app(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
        await migrate.upgrade_async(app.settings.effective_database_url)
        try:
            bot = app.dispatcher
            for user in ("400", "401", "402"):
                await say(bot, inbound("hi", user=user))
            await say(bot, inbound("/optin", user="400"))
            await say(bot, inbound("/optin", user="402"))
            kept = await seed_files(app.services, Identity("telegram", "400"), kinds=("upload",))
            never = await seed_files(app.services, Identity("telegram", "401"), kinds=("upload",))
            revoked = await seed_files(app.services, Identity("telegram", "402"), kinds=("upload",))
            await say(bot, inbound("/optout", user="402"))
            return kept.file_ids[0], never.file_ids[0], revoked.file_ids[0]
        finally:
            await app.db.dispose()

    kept, never, revoked = asyncio.run(seed())
    out_dir = tmp_path / "training"
    assert main(["training", "export", str(out_dir)]) == 0
    assert "exported 1 images" in capsys.readouterr().out
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([f"{kept}.png", "manifest.jsonl"])
    raw = (out_dir / f"{kept}.png").read_bytes()
    assert CAMERA.encode() not in raw and b"eXIf" not in raw and b"Exif" not in raw
    with Image.open(io.BytesIO(raw)) as image:
        assert image.size == (32, 24)
        assert not image.getexif() and "exif" not in image.info
        pixel = image.getpixel((5, 5))
        assert isinstance(pixel, tuple) and pixel[0] > 150  # the picture itself survives
    manifest = [json.loads(line) for line in (out_dir / "manifest.jsonl").read_text().splitlines()]
    assert [m["file"] for m in manifest] == [f"{kept}.png"] and manifest[0]["policy_version"] == "2025-10-15"
    assert f"{never}.png" not in {m["file"] for m in manifest} and f"{revoked}.png" not in {m["file"] for m in manifest}
    # An existing, non-empty folder is refused rather than mixed with stale files.
    assert main(["training", "export", str(out_dir)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
