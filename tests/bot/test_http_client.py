"""The Graph API's client (httpx over aiohttp, bot/http_client.py) against a real server that misbehaves as the
internet does: HTML error pages, gzip, redirects, slow answers, refused connections, bodies cut short."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.channels.meta import GraphClient, ServerError, TooLarge, download_capped
from bot.http_client import async_client


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []
    flaky = {"left": 2}

    async def echo(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        return web.json_response({"ok": True, "query": dict(request.query)})

    async def html_502(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html><body>Bad Gateway</body></html>", content_type="text/html")

    async def flaky_then_ok(request: web.Request) -> web.Response:
        if flaky["left"]:
            flaky["left"] -= 1
            return await html_502(request)
        return web.json_response({"id": "m.1"})

    async def gzipped(request: web.Request) -> web.Response:
        body = gzip.compress(json.dumps({"packed": "x" * 5000}).encode())
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/echo?came=redirect")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: only counting the bytes finds the size
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"\xff" * 65536)
        return response

    async def cut_short(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"x" * 1000)
        assert request.transport is not None
        request.transport.close()  # the connection drops with 99,000 bytes still promised
        return response

    app = web.Application(client_max_size=8 << 20)
    for path, handler in [("/echo", echo), ("/moved", moved), ("/slow", slow), ("/big", big), ("/gz", gzipped)]:
        app.router.add_route("*", path, handler)
    app.router.add_get("/html", html_502)
    app.router.add_post("/flaky", flaky_then_ok)
    app.router.add_get("/cut", cut_short)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen, bodies
    finally:
        await runner.cleanup()


async def test_json_multipart_and_headers_arrive_as_httpx_sent_them(
    server: tuple[str, list[web.Request], list[bytes]],
) -> None:
    base, seen, bodies = server
    async with async_client(base_url=base + "/", headers={"Authorization": "Bearer T0KEN"}) as http:
        answer = await http.post("echo", json={"text": "আপনার ছবি তৈরি"}, params={"fields": "id"})
        assert answer.status_code == 200 and answer.json() == {"ok": True, "query": {"fields": "id"}}
        assert seen[-1].headers["Authorization"] == "Bearer T0KEN"
        assert seen[-1].headers["Content-Type"] == "application/json"
        assert json.loads(bodies[-1]) == {"text": "আপনার ছবি তৈরি"}
        photo = bytes(range(256)) * 8192  # 2 MiB: written in chunks, not as one bytes body
        await http.post("echo", data={"type": "image"}, files={"filedata": ("r.png", photo, "image/png")})
        assert seen[-1].headers["Content-Type"].startswith("multipart/form-data; boundary=")
        assert photo in bodies[-1] and b'name="type"' in bodies[-1]


async def test_html_error_pages_gzip_and_redirects_are_httpx_s_to_read(
    server: tuple[str, list[web.Request], list[bytes]],
) -> None:
    base, _, _ = server
    async with async_client(base_url=base + "/", follow_redirects=True) as http:
        page = await http.get("html")
        assert page.status_code == 502 and "Bad Gateway" in page.text
        packed = await http.get("gz")
        assert packed.json() == {"packed": "x" * 5000}  # decoded once, by httpx
        moved = await http.get("moved")
        assert moved.status_code == 200 and moved.json()["query"] == {"came": "redirect"}
        assert [r.status_code for r in moved.history] == [302]


async def test_failures_on_the_wire_are_the_httpx_errors_callers_catch(
    server: tuple[str, list[web.Request], list[bytes]],
) -> None:
    base, _, _ = server
    async with async_client(base_url=base + "/", timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("slow")
        with pytest.raises(httpx.ReadError):
            await http.get("cut")
        assert (await http.get("echo")).status_code == 200  # the pool recovers from both
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: the connection is refused
        async with async_client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")


async def test_the_graph_client_retries_html_pages_and_caps_downloads(
    server: tuple[str, list[web.Request], list[bytes]],
) -> None:
    base, _, _ = server
    graph = GraphClient(base, "T0KEN", retries=2, backoff_s=0.01)
    try:
        assert await graph.post("flaky", {"to": "1"}) == {"id": "m.1"}  # two 502 pages, then the answer
        with pytest.raises(ServerError):
            await graph.get("html")  # a page every time: retried, then a typed error
        with pytest.raises(TooLarge):
            await graph.download(base + "/big", limit=1 << 20)  # 2.5 MiB promised by no header
        assert len(await graph.download(base + "/big", limit=4 << 20)) == 40 * 65536
    finally:
        await graph.aclose()
    async with async_client() as http:
        with pytest.raises(TooLarge):
            await download_capped(http, base + "/big", 100_000)


async def test_the_graph_clients_calls_keep_the_clients_headers_timeout_and_decoding(
    server: tuple[str, list[web.Request], list[bytes]],
) -> None:
    """Its calls go straight to the transport (`send_read`): the token, the query, the body, gzip decoding and
    the timeout are still the client's, and a failure on the wire is retried, then a typed error."""
    base, seen, bodies = server
    graph = GraphClient(base, "T0KEN", retries=1, backoff_s=0.01, timeout_s=0.3)
    try:
        answer = await graph.get("echo", fields="id")
        assert answer == {"ok": True, "query": {"fields": "id"}}
        assert seen[-1].headers["Authorization"] == "Bearer T0KEN"
        assert await graph.post("echo", {"to": "8801"}) == {"ok": True, "query": {}}
        assert json.loads(bodies[-1]) == {"to": "8801"} and seen[-1].content_type == "application/json"
        assert await graph.get("gz") == {"packed": "x" * 5000}
        for failing in ("slow", "cut"):  # a timeout, a body cut short: retried once, then ServerError
            with pytest.raises(ServerError):
                await graph.get(failing)
        assert (await graph.get("echo"))["ok"] is True  # the pool recovers
    finally:
        await graph.aclose()


async def test_a_proxy_named_in_the_environment_carries_the_requests_unless_no_proxy_names_the_host(
    server: tuple[str, list[web.Request], list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As httpx does: HTTP(S)_PROXY is read when the client is made; NO_PROXY names hosts reached directly."""
    base, seen, _ = server
    monkeypatch.setenv("HTTP_PROXY", base)  # the test server plays a forward proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with async_client() as http:
        answer = await http.get("http://graph.invalid/echo?via=proxy")  # .invalid never resolves: only a proxy
        assert answer.status_code == 200 and answer.json()["query"] == {"via": "proxy"}
        assert seen[-1].headers["Host"] == "graph.invalid"
    monkeypatch.setenv("NO_PROXY", "graph.invalid")
    async with async_client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://graph.invalid/echo")


async def test_a_request_makes_no_trip_to_a_thread(server: tuple[str, list[web.Request], list[bytes]]) -> None:
    """aiohttp's trust_env looked up ~/.netrc and the proxy variables in the default executor on every request
    (two thread trips, bench/RESULTS.md issue 17); the environment is read once, when the client is made."""
    base, _, _ = server
    loop = asyncio.get_running_loop()
    trips: list[object] = []
    real = loop.run_in_executor

    def counted(executor: object, func: object, *args: object) -> asyncio.Future[object]:
        trips.append(func)
        return real(executor, func, *args)  # type: ignore[arg-type]

    async with async_client(base_url=base) as http:
        await http.get("/echo")  # the session and its connection are made
        loop.run_in_executor = counted  # type: ignore[method-assign]
        try:
            for _ in range(3):
                assert (await http.post("/echo", json={"n": 1})).status_code == 200
        finally:
            del loop.run_in_executor  # type: ignore[method-assign]
    assert trips == []
