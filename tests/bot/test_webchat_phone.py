"""Issue 15, point 1: the page on a phone (360x640, 390x844) and a desktop, in Bengali and English.

Measured in a real Chromium: no sideways scrolling, the composer in view (also with the keyboard open, which
on Android shrinks the layout viewport: `interactive-widget=resizes-content`), 44 px touch targets, labels
and focus order. Screenshots go to $WEBCHAT_SCREENSHOTS when set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.bot.webchat_harness import BENGALI, ENGLISH, PHONES, Server, browser, screenshot_path, server

pytestmark = pytest.mark.browser
__all__ = ["browser", "server"]

GEOMETRY = """() => {
  const box = (sel) => {
    const r = document.querySelector(sel).getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, w: r.width, h: r.height};
  };
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth, innerHeight: innerHeight,
    bodyScroll: document.body.scrollWidth,
    composer: box('#composer'), text: box('#text'), send: box('#send'), photo: box('#photo-label'),
    gallery: box('#open-gallery'), lang: box('#other-lang'),
    buttons: [...document.querySelectorAll('.buttons button')].map(b => b.getBoundingClientRect().height),
    wide: [...document.querySelectorAll('#log *')]
      .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5).length,
  };
}"""


def _fits(g: dict[str, Any]) -> None:
    assert g["scrollWidth"] <= g["innerWidth"] and g["bodyScroll"] <= g["innerWidth"], g
    assert g["wide"] == 0, "something in the conversation sticks out to the right"
    for part in ("composer", "text", "send", "photo"):
        assert g[part]["left"] >= 0 and g[part]["right"] <= g["innerWidth"], (part, g[part])
        assert g[part]["top"] >= 0 and g[part]["bottom"] <= g["innerHeight"], (part, g[part])
    for part in ("send", "photo", "gallery", "lang", "text"):
        assert g[part]["h"] >= 44 and g[part]["w"] >= 44, (part, g[part])
    assert all(h >= 44 for h in g["buttons"]), g["buttons"]
    assert g["text"]["w"] >= 150  # room to type


@pytest.mark.parametrize("screen", list(PHONES))
@pytest.mark.parametrize("language", ["bn", "en"])
async def test_the_page_fits_the_screen(
    server: Server, browser: Any, tmp_path: Path, screen: str, language: str
) -> None:
    width, height = PHONES[screen]
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        has_touch=screen != "desktop",
        **(BENGALI if language == "bn" else ENGLISH),
    )
    page = await context.new_page()
    await page.goto(server.base + "/")
    welcome = "Nexoraz-এ আপনাকে স্বাগতম" if language == "bn" else "Welcome to Nexoraz"
    await page.wait_for_selector(f".msg.bot >> text={welcome}")
    await page.wait_for_selector(".msg.bot .buttons button, .msg.bot")
    _fits(await page.evaluate(GEOMETRY))

    # A long word without spaces (a pasted link, a product code) must wrap, not push the page sideways.
    await page.fill("#text", "দামকত" * 40 if language == "bn" else "https://example.com/" + "x" * 200)
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.me .state >> text=✓")
    await page.fill("#text", "ভাষা" if language == "bn" else "language")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".buttons button >> text=English")
    _fits(await page.evaluate(GEOMETRY))
    await page.screenshot(path=screenshot_path(tmp_path, f"phone-{language}-{screen}"))

    # The keyboard: Android shrinks the layout viewport; the input stays on screen above it.
    await page.focus("#text")
    await page.set_viewport_size({"width": width, "height": height - 300})
    geometry = await page.evaluate(GEOMETRY)
    assert (
        geometry["text"]["bottom"] <= geometry["innerHeight"] and geometry["send"]["bottom"] <= geometry["innerHeight"]
    )
    assert await page.evaluate("document.activeElement.id") == "text"
    await context.close()


async def test_labels_focus_order_and_contrast(server: Server, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 640}, **BENGALI)
    page = await context.new_page()
    await page.goto(server.base + "/")
    await page.wait_for_selector(".msg.bot")
    # Every control has a name a screen reader reads out, in the visitor's language.
    names = await page.evaluate(
        """() => ['#photo-label', '#send'].map(s => document.querySelector(s).getAttribute('aria-label'))
              .concat([document.querySelector('label[for=text]').textContent])"""
    )
    assert names == ["ছবি পাঠান", "পাঠান", "মেসেজ লিখুন, অথবা পণ্যের ছবি পাঠান"]
    order = []
    for _ in range(12):  # links and buttons in the conversation come between the header and the composer
        await page.keyboard.press("Tab")
        order.append(await page.evaluate("document.activeElement.id"))
    controls = ["open-gallery", "other-lang", "photo-label", "text", "send"]
    assert [i for i in order if i in controls][:5] == controls
    # Contrast of the text on the brand colour and of the bubbles' text (WCAG AA: 4.5).
    ratios = await page.evaluate(
        """() => {
          const lum = (c) => {
            const [r, g, b] = c.match(/\\d+/g).slice(0, 3).map(v => {
              v /= 255;
              return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
          };
          const ratio = (a, b) => {
            const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
            return (x + .05) / (y + .05);
          };
          const s = (sel) => getComputedStyle(document.querySelector(sel));
          return [ratio(s('header h1').color, s('header').backgroundColor),
                  ratio(s('#send').color, s('#send').backgroundColor),
                  ratio(s('.msg.bot').color, s('.msg.bot').backgroundColor)];
        }"""
    )
    assert min(ratios) >= 4.5, ratios
    await context.close()


async def test_the_page_is_small_and_has_a_favicon(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        sizes = []
        for path in ("/", "/webchat/app.js"):
            async with http.get(server.base + path) as response:
                assert response.status == 200
                sizes.append(len(await response.read()))
        async with http.get(server.base + "/favicon.ico") as response:
            assert response.status == 200 and response.content_type == "image/png"
    assert sum(sizes) < 100 * 1024, sizes  # HTML + CSS + JS before images: the budget of issue 15


async def test_an_english_visitor_is_offered_bengali_in_one_tap(server: Server, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 640}, **ENGLISH)
    page = await context.new_page()
    await page.goto(server.base + "/")
    await page.wait_for_selector(".msg.bot >> text=Welcome to Nexoraz")
    assert await page.inner_text("#other-lang") == "বাংলা"
    await page.click("#other-lang")
    await page.wait_for_function("() => document.documentElement.lang === 'bn'")
    await page.wait_for_selector("#other-lang >> text=English")
    assert await page.get_attribute("#text", "placeholder") == "মেসেজ লিখুন, অথবা পণ্যের ছবি পাঠান"
    assert "Welcome to Nexoraz" in await page.inner_text("#log")  # the conversation is still there
    await context.close()
