"""Issue 15, points 2-6, in a real Chromium on a 360x640 phone: what a seller goes through.

Sends that survive the network (offline, a lost answer), the conversation and results kept across a
reload and a server restart, light previews, the gallery and its zip, `history` with thumbnails, photos
queued while others render, and an album larger than the balance answered once.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.channels.webchat import COOKIE, WebChat
from handlers.model import Text
from tests.bot.webchat_harness import (
    BENGALI,
    ENGLISH,
    Server,
    browser,
    camera_photo,
    screenshot_path,
    server,
    web_id,
)
from tests.photos.photo_harness import product_photo

pytestmark = pytest.mark.browser
__all__ = ["browser", "server"]
PHONE = {"viewport": {"width": 360, "height": 640}, "has_touch": True}


async def _phone(browser: Any, server: Server, language: dict[str, Any] = ENGLISH) -> tuple[Any, Any, str]:
    context = await browser.new_context(**PHONE, **language)
    page = await context.new_page()
    await page.goto(server.base + "/")
    await page.wait_for_selector(".msg.bot")
    cookies = await context.cookies()
    return context, page, next(c["value"] for c in cookies if c["name"] == COOKIE)


async def _photo_file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


async def test_offline_sends_show_failed_and_go_out_when_the_network_returns(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    context, page, visitor = await _phone(browser, server)
    await context.set_offline(True)
    await page.fill("#text", "credits")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.me.failed >> text=Not sent. Tap to try again")
    await page.set_input_files("#file", await _photo_file(tmp_path, "p.jpg", product_photo()))
    await page.wait_for_selector(".msg.me.failed img")
    await page.screenshot(path=screenshot_path(tmp_path, "offline-failed-360"))
    await context.set_offline(False)  # the "online" event sends both again, in order, with the same ids
    await page.wait_for_selector(".msg.bot >> text=You have 3 credits")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.msg.me .state')].filter(s => s.textContent == '✓').length == 2"
    )
    assert await page.locator(".msg.me.failed").count() == 0
    await page.wait_for_selector(".msg.bot img[alt='white-original.jpg']", timeout=90_000)
    assert await server.balance(visitor) == 2
    await context.close()


async def test_a_lost_answer_is_asked_again_with_the_same_id_and_handled_once(server: Server, browser: Any) -> None:
    """The answer is lost on the way back (the server did the work): the page retries with the same id and
    draws the first answer once. Photos get the same treatment (tests/bot/test_webchat_durable.py checks
    the charge: Playwright's `route.fetch` does not forward multipart file bodies)."""
    context, page, visitor = await _phone(browser, server)
    lost: list[str] = []

    async def lose_the_first_answer(route: Any) -> None:
        response = await route.fetch()  # the server handles it ...
        if not lost:
            lost.append(response.url)
            await route.abort("connectionreset")  # ... but the answer never reaches the phone
        else:
            await route.fulfill(response=response)

    await page.route("**/webchat/messages", lose_the_first_answer)
    await page.fill("#text", "credits")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.bot >> text=You have 3 credits")
    await page.wait_for_selector(".msg.me .state >> text=✓")
    assert lost
    assert await page.locator(".msg.bot >> text=You have 3 credits").count() == 1
    history = await page.evaluate("fetch('/webchat/history').then(r => r.json())")
    assert [e["me"]["text"] for e in history["entries"] if e.get("me")] == ["credits"]
    await context.close()


async def test_results_survive_reload_closed_tab_and_restart_with_light_previews(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    context, page, visitor = await _phone(browser, server, BENGALI)
    # Upload progress while the 12 MP photo goes up. On a quiet machine the upload can finish (and its bar go)
    # before a poll sees it, so the page records every bar it draws.
    await page.evaluate(
        """() => new MutationObserver(() => { if (document.querySelector('.msg.me .bar')) window.sawBar = true; })
                 .observe(document.body, {childList: true, subtree: true})"""
    )
    await page.set_input_files("#file", await _photo_file(tmp_path, "big.jpg", camera_photo()))
    await page.wait_for_function("() => window.sawBar === true")
    await page.wait_for_selector(".msg.bot >> text=/লাইনে|কাজ চলছে/")
    await page.close()  # the seller leaves while it renders: the result must wait for them
    for _ in range(180):
        page = await context.new_page()
        await page.goto(server.base + "/")
        if await page.locator(".msg.bot img[alt='white-original.jpg']").count():
            break
        await page.close()
        await asyncio.sleep(1)
    await page.wait_for_selector(".msg.bot img[alt='white-original.jpg']")
    # The queue bubble is gone once the results are in; the seller's own photo is there too.
    assert await page.locator(".msg.bot.progress").count() == 0
    assert await page.locator(".msg.me img").count() == 1

    previews = await page.eval_on_selector_all(".msg img", "els => els.map(e => e.getAttribute('src'))")
    sizes = [
        await page.evaluate("src => fetch(src).then(r => r.blob()).then(b => [b.size, b.type])", src)
        for src in previews
    ]
    assert sizes and all(size <= 100 * 1024 and kind == "image/jpeg" for size, kind in sizes), sizes
    full = await page.get_attribute(".msg.bot a.pic", "href")
    whole = await page.evaluate("src => fetch(src).then(r => r.blob()).then(b => b.size)", full)
    assert whole > 100 * 1024  # the full file is what a tap opens
    await page.screenshot(path=screenshot_path(tmp_path, "result-bn-360"), full_page=False)

    # A restart: the same conversation and files from a new process on the same DATA_DIR.
    await server.stop()
    await server.start()
    await page.goto(server.base + "/")  # another port, the same host: the cookie is the same visitor
    await page.wait_for_selector(".msg.bot img[alt='white-original.jpg']")
    loaded = await page.eval_on_selector_all(".msg img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
    assert loaded and all(loaded)
    assert await page.evaluate("src => fetch(src).then(r => r.status)", full) == 200
    await page.set_viewport_size({"width": 1366, "height": 850})  # the same conversation on a desktop
    await page.evaluate("() => log.scrollTop = log.scrollHeight")
    await page.screenshot(path=screenshot_path(tmp_path, "result-bn-desktop"))
    await context.close()


async def test_an_open_tab_lives_through_a_server_restart(server: Server, browser: Any, tmp_path: Path) -> None:
    """The server restarts while a photo waits: the tab reconnects, catches up, and its links keep working."""
    context, page, visitor = await _phone(browser, server)
    assert server.app is not None
    port = server.app.port
    await page.set_input_files("#file", await _photo_file(tmp_path, "a.jpg", product_photo()))
    await page.wait_for_selector(".msg.me .state >> text=✓")
    await server.stop()  # the job is accepted (or handed back mid-render): the next start renders it
    await page.wait_for_selector("#status >> text=Connection lost")
    await page.fill("#text", "credits")  # sent while the server is down: queued and retried, not lost
    await page.press("#text", "Enter")
    await server.start(port)
    try:
        await page.wait_for_selector(".msg.bot img[alt='white-original.jpg']", timeout=90_000)  # no reload
    except Exception as error:  # say where the job stands: a render, a delivery or the page
        raise AssertionError(f"jobs {await server.job_states()}; chat: {await page.inner_text('#log')}") from error
    await page.wait_for_selector(".msg.bot >> text=/You have \\d credits?/")
    assert await page.locator(".msg.me.failed").count() == 0
    assert await page.inner_text("#status") == ""
    url = await page.get_attribute(".msg.bot a.pic", "href")
    assert await page.evaluate("src => fetch(src).then(r => r.status)", url) == 200
    assert await server.balance(visitor) == 2
    await context.close()


async def test_a_result_kept_while_the_stream_was_down_shows_after_a_later_answer(server: Server, browser: Any) -> None:
    """The race behind the restart journey, made certain: a result is kept while the event stream is down,
    then the page's own message is answered (a higher entry id) before the stream comes back. The stream's
    catch-up must still bring the result: a POST's answer says nothing about what the page missed."""
    context, page, visitor = await _phone(browser, server)
    assert server.app is not None
    chat = server.app.channel("web")
    assert isinstance(chat, WebChat)
    await page.route("**/webchat/events*", lambda route: route.abort())  # every reconnect fails for now
    await page.evaluate("() => fetch('/webchat/history')")  # the page is settled before the stream drops
    await server.drop_streams()
    await page.wait_for_selector("#status >> text=Connection lost")
    await chat.send(web_id(server.app, visitor), [Text(text="Your photo is ready (kept while away)")])
    await page.fill("#text", "credits")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.bot >> text=You have 3 credits")  # a newer turn, drawn from its answer
    assert await page.locator(".msg.bot >> text=kept while away").count() == 0
    await page.unroute("**/webchat/events*")  # the next reconnect gets through
    await page.wait_for_selector(".msg.bot >> text=kept while away", timeout=15_000)
    await page.wait_for_function("() => document.querySelector('#status').textContent == ''")
    assert await page.locator(".msg.bot >> text=kept while away").count() == 1
    assert await page.locator(".msg.bot >> text=You have 3 credits").count() == 1
    assert await page.locator(".msg.me >> text=credits").count() == 1  # its own turn, streamed too, not redrawn
    await context.close()


async def test_a_stream_a_proxy_refused_during_a_restart_is_opened_again(server: Server, browser: Any) -> None:
    """An error page instead of the stream (a proxy's 502 while the app restarts) makes the browser give the
    stream up for good; the page opens a new one, from where it was, and gets what it missed."""
    context, page, visitor = await _phone(browser, server)
    assert server.app is not None
    chat = server.app.channel("web")
    assert isinstance(chat, WebChat)
    refused: list[str] = []

    async def bad_gateway(route: Any) -> None:
        refused.append(route.request.url)
        await route.fulfill(status=502, body="Bad Gateway")

    await page.route("**/webchat/events*", bad_gateway)
    await page.evaluate("() => fetch('/webchat/history')")  # the page is settled before the stream drops
    await server.drop_streams()
    await page.wait_for_selector("#status >> text=Connection lost")
    await chat.send(web_id(server.app, visitor), [Text(text="Your photo is ready (sent during the restart)")])
    for _ in range(100):  # the browser's own reconnect met the error page: it has given that stream up
        if refused:
            break
        await asyncio.sleep(0.1)
    assert refused
    await page.unroute("**/webchat/events*")
    await page.wait_for_selector(".msg.bot >> text=sent during the restart", timeout=15_000)
    await page.wait_for_function("() => document.querySelector('#status').textContent == ''")
    assert await page.locator(".msg.bot >> text=sent during the restart").count() == 1
    await context.close()


async def test_gallery_zip_history_thumbnails_and_a_queue_of_photos(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    context, page, visitor = await _phone(browser, server)
    first = await _photo_file(tmp_path, "a.jpg", product_photo())
    second = await _photo_file(tmp_path, "b.jpg", product_photo(colour=(30, 90, 200)))
    await page.set_input_files("#file", first)
    await page.wait_for_selector(".msg.me .state >> text=✓")
    await page.set_input_files("#file", second)  # while the first renders: it waits its turn, not refused
    await page.wait_for_function("() => document.querySelectorAll('.msg.me .state').length == 2")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.msg.me .state')].every(s => s.textContent == '✓')"
    )
    for _ in range(120):
        if await page.locator(".msg.bot img[alt='white-original.jpg']").count() == 2:
            break
        await asyncio.sleep(1)
    assert await page.locator(".msg.bot img[alt='white-original.jpg']").count() == 2
    assert await server.balance(visitor) == 1
    assert await page.locator(".msg.bot.progress").count() == 0
    # The results are in view: the chat followed them down (pictures included, once they loaded).
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#log img')].every(i => i.complete)"
        " && log.scrollHeight - log.scrollTop - log.clientHeight < 60"
    )

    await page.click("#open-gallery")
    await page.wait_for_selector("#grid figure img")
    assert await page.locator("#grid figure").count() == 4  # two photos, white and transparent each
    await page.screenshot(path=screenshot_path(tmp_path, "gallery-en-360"))
    href = await page.get_attribute("#download-all", "href")
    response = await page.request.get(server.base + href)
    names = zipfile.ZipFile(io.BytesIO(await response.body())).namelist()
    assert len(names) == 4 and sum(n.endswith("white-original.jpg") for n in names) == 2
    await page.click("#close-gallery")

    await page.fill("#text", "history")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".buttons button img")
    assert await page.locator(".buttons button img").count() == 2
    await context.close()


async def test_an_album_larger_than_the_balance_is_answered_once(server: Server, browser: Any, tmp_path: Path) -> None:
    context, page, visitor = await _phone(browser, server)
    files = [await _photo_file(tmp_path, f"{n}.jpg", product_photo(colour=(40 * n, 90, 200))) for n in range(5)]
    await page.set_input_files("#file", files)
    await page.wait_for_selector(".msg.bot >> text=/The first 3 photos will be made/")
    assert await page.locator(".msg.bot >> text=/more photos than your credits cover/").count() == 1
    assert await page.locator(".msg.bot >> text=/not have enough credits/").count() == 0
    for _ in range(120):
        if await page.locator(".msg.bot img[alt='white-original.jpg']").count() == 3:
            break
        await asyncio.sleep(1)
    assert await page.locator(".msg.bot img[alt='white-original.jpg']").count() == 3
    assert await server.balance(visitor) == 0
    await context.close()
