"""The Bot API emulator with the answers real deployments produce besides Telegram's own JSON errors: a
proxy's HTML "502 Bad Gateway" page, a file server answering 502, and slow answers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from aiohttp import web

from tests.emulators.telegram_api import TelegramAPIEmulator

BAD_GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"  # noqa: E501


@dataclass
class _Html:
    status: int
    times: int


class HostileTelegram(TelegramAPIEmulator):
    def __init__(self) -> None:
        super().__init__()
        self._html: dict[str, list[_Html]] = defaultdict(list)
        self._download_failures: list[int] = []
        self._delays: dict[str, float] = {}
        self.html_answers = 0
        self.downloads_refused = 0

    def html(self, method: str, *, status: int = 502, times: int = 1) -> None:
        """The next `times` calls of `method` get an HTML page (a proxy in front of the Bot API)."""
        self._html[method].append(_Html(status, times))

    def fail_downloads(self, status: int, times: int = 1) -> None:
        self._download_failures.extend([status] * times)

    def slow(self, method: str, seconds: float) -> None:
        self._delays[method] = seconds

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        for fault in self._html.get(method, []):
            if fault.times > 0:
                fault.times -= 1
                self.html_answers += 1
                return web.Response(status=fault.status, text=BAD_GATEWAY_PAGE, content_type="text/html")
        if method in self._delays:
            await asyncio.sleep(self._delays[method])
        return await super()._api(request)

    async def _download(self, request: web.Request) -> web.Response:
        if self._download_failures:
            self.downloads_refused += 1
            return web.Response(status=self._download_failures.pop(0), text=BAD_GATEWAY_PAGE, content_type="text/html")
        return await super()._download(request)
