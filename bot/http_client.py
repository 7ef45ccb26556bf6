"""httpx's client API over aiohttp's connection pool: the Graph API (WhatsApp, Messenger) and the CDN downloads.

Why: the callers keep httpx's requests, responses, redirects, decoding and typed errors, but httpcore's pool
costs about 2 ms of CPU per request with 50 connections open (it scans every pooled connection, and polls
idle sockets, on each request), 13x what aiohttp spends on the same call (`bench/http_client.py`). Under
load the front sends one or two Graph calls per Meta message, so that cost was most of the front's CPU.

The transport only moves bytes: httpx builds the request (headers, JSON, multipart), follows redirects and
decodes gzip/brotli (aiohttp's own decompression is off), and reads the body as a stream (a capped download
stops reading and closes the connection). An API call that needs none of the client's own machinery (no
redirect, cookie, auth flow or hook: the Graph client's) goes from `build_request` straight to the transport
(`send_read`). aiohttp's failures come back as the httpx errors callers catch:
timeouts as `httpx.TimeoutException`, everything else on the wire as `httpx.TransportError`.
"""

from __future__ import annotations

import io
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
from multidict import CIMultiDict

CHUNK_BYTES = 64 * 1024
LARGE_BODY_BYTES = 1 << 20
MAX_CONNECTIONS = 100  # httpx's own default
KEEPALIVE_S = 5.0  # httpx's own default keep-alive expiry
_HOP_BY_HOP = {b"host", b"content-length", b"transfer-encoding", b"connection"}  # aiohttp writes its own


def async_client(**options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` (same options: base_url, headers, timeout, follow_redirects...) on aiohttp."""
    return httpx.AsyncClient(transport=AiohttpTransport(), **options)


async def send_read(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    """One request (built by the client: its base URL, headers and timeout) through the transport, read to
    the end. An API call that follows no redirect, sends no cookie and has no auth flow or event hook needs
    nothing else of `client.send`, whose machinery for them was about a third of what httpx adds to the
    transport: 0.27 against 0.31 ms of CPU a Graph call, 0.16 for aiohttp alone (bench/http_client.py,
    issue 17). Errors are the transport's (httpx's own types, as `client.send` raises them)."""
    response = await transport.handle_async_request(request)
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session, made on the first request (it needs the running event loop), closed by aclose."""

    def __init__(self, *, max_connections: int = MAX_CONNECTIONS, keepalive_s: float = KEEPALIVE_S) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        # HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, read once, as httpx reads them when a client is made.
        # (aiohttp's own trust_env reads them, and ~/.netrc, again on each request, in a thread: two trips.)
        self._proxies = urllib.request.getproxies_environment()

    def _proxy_for(self, url: httpx.URL) -> str | None:
        if not self._proxies:
            return None
        chosen = self._proxies.get(url.scheme) or self._proxies.get("all")
        # NO_PROXY as urllib (and httpx) match it; typeshed does not declare the function, Python has it.
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if chosen is None or bypass(url.host, self._proxies):
            return None
        return chosen

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_s),
                auto_decompress=False,  # httpx decodes, as it would with its own transport
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),  # httpx's are sent
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _HOP_BY_HOP
        )
        body = await request.aread()
        # aiohttp warns on a bytes body over 1 MiB (an upload of a result): a file-like one is written in chunks.
        data = io.BytesIO(body) if len(body) > LARGE_BODY_BYTES else body or None
        with _as_httpx_errors(request):
            response = await self._client().request(
                request.method,
                str(request.url),
                headers=headers,
                data=data,
                allow_redirects=False,  # httpx follows them (or not) itself
                proxy=self._proxy_for(request.url),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
                yield chunk

    async def aclose(self) -> None:
        # Read to the end: the connection goes back to the pool; left unread (a refused download): it is closed.
        self._response.release()


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except aiohttp.ConnectionTimeoutError as error:
        raise httpx.ConnectTimeout(str(error) or "connect timed out", request=request) from error
    except (TimeoutError, aiohttp.ServerTimeoutError) as error:
        raise httpx.ReadTimeout(str(error) or "read timed out", request=request) from error
    except aiohttp.ClientConnectorError as error:  # refused, unreachable, DNS, TLS handshake
        raise httpx.ConnectError(str(error), request=request) from error
    except aiohttp.ClientPayloadError as error:  # the body ended early or is malformed
        raise httpx.ReadError(str(error), request=request) from error
    except aiohttp.ClientResponseError as error:  # not HTTP: a malformed status line or headers
        raise httpx.RemoteProtocolError(str(error), request=request) from error
    except aiohttp.InvalidURL as error:
        raise httpx.UnsupportedProtocol(str(error), request=request) from error
    except (aiohttp.ClientError, OSError) as error:  # disconnected, reset, anything else on the wire
        raise httpx.ReadError(str(error) or type(error).__name__, request=request) from error
