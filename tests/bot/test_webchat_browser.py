"""The web chat as a visitor uses it: `run`'s HTTP server, a real headless Chromium, typing and clicking."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import app as app_module
from bot.settings import Settings
from tests.photos.photo_harness import product_photo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(
        data_dir=tmp_path / "data",
        http_port=0,
        segmenter="classical",
        web_visitor_credits=3,  # about rendering, not who gets credits (test_webchat_linking.py)
        facebook_page_url="https://facebook.com/nexoraz",
        _env_file=None,
    )  # type: ignore[call-arg]
    app = app_module.create_app(settings)
    await app_module.start(app)
    try:
        yield f"http://127.0.0.1:{app.port}"
    finally:
        await app_module.stop(app)


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is needed for the browser test: `make browser` installs it")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def test_a_bengali_visitor_chats_presses_buttons_and_is_remembered(served: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = await browser.new_context(locale="bn-BD", extra_http_headers={"Accept-Language": "bn-BD,bn;q=0.9"})
    page = await context.new_page()
    await page.goto(served + "/")
    assert await page.get_attribute("html", "lang") == "bn"
    # A first visit opens with the welcome, as /start does on the platforms.
    await page.wait_for_selector(".msg.bot >> text=Nexoraz-এ আপনাকে স্বাগতম")
    assert await page.input_value("#text") == ""
    assert await page.get_attribute("#text", "placeholder") == "মেসেজ লিখুন, অথবা পণ্যের ছবি পাঠান"
    await page.fill("#text", "শুরু")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.bot >> text=Nexoraz-এ আপনাকে স্বাগতম")
    assert "৩টি ফ্রি ক্রেডিট আছে, আমাদের স্বাগতম উপহার" in await page.inner_text("#log")

    await page.fill("#text", "ভাষা")
    await page.click("#send")
    await page.click(".buttons button >> text=English")
    await page.wait_for_selector(".msg.bot >> text=Done: I will write to you in English")
    await page.screenshot(path=str(tmp_path / "webchat.png"))

    # The cookie keeps the visitor: a reload shows the page in the chosen language and the balance stays.
    await page.reload()
    assert await page.get_attribute("html", "lang") == "en"
    await page.fill("#text", "credits")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.bot >> text=You have 3 credits")
    links = await page.eval_on_selector_all(".msg.bot a", "els => els.map(e => e.href)")
    assert "https://facebook.com/nexoraz" in links

    # A photo: acknowledged at once, then the studio images appear in the chat with buttons under them.
    photo = tmp_path / "product.jpg"
    photo.write_bytes(product_photo())
    await page.set_input_files("#file", str(photo))
    # The acknowledgement is edited in place by the worker's "working on it" line, which may come first.
    await page.wait_for_selector(".msg.bot >> text=/in line|Working on your photo/")
    await page.wait_for_selector(".msg.bot img[alt='white-original.jpg']", timeout=90_000)
    await page.wait_for_selector(".msg.bot img[alt='transparent-original.png']")
    await page.click(".buttons button >> text=Square 1:1")
    await page.wait_for_selector(".msg.bot img[alt='white-square.jpg']", timeout=60_000)
    await page.screenshot(path=str(tmp_path / "webchat-photo.png"), full_page=True)
    await context.close()


async def test_hostile_text_is_shown_as_text_not_markup(served: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = await browser.new_page()
    await page.goto(served + "/")
    await page.fill("#text", "hello")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.bot >> text=Welcome to Nexoraz")
    await page.fill("#text", "<img src=x onerror=alert(1)>")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.bot >> text=did not quite get that")
    assert await page.locator("#log img").count() == 0
    assert "<img src=x onerror=alert(1)>" in await page.inner_text("#log")
