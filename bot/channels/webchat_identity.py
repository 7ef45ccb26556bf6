"""Who a web chat visitor is, and whether a request may change anything (issue #14, items 5 and 8).

The cookie is a bearer credential, so it never leaves the visitor's browser in a usable form: it holds a
server-issued random secret, the moment it was issued and a tag (HMAC) proving the server issued it. The
visitor's external id (what `users.external_id`, `render_jobs.chat_id`, processed events, logs, Redis and the
`/mydata` export hold) is a keyed hash of the secret: whoever reads a backup or a log learns nothing that opens
the account. A cookie the server did not issue (forged, or any well-formed value with a wrong tag) starts a new
visitor with a new secret; so does a cookie whose account was erased (/delete also sets a new cookie at once),
and an issued cookie that reaches no account once its grace period is over (a page opened and left).

State-changing requests (POST) must come from the page's own origin: browsers send `Origin` (or at least
`Referer`) on every POST, so a cross-site form or fetch is recognised and refused. A request with neither
header is not a browser acting for someone else (a cookie is only sent automatically by a browser).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import web

COOKIE = "nxz_visitor"
ISSUE_GRACE_SECONDS = 3600  # an issued cookie may reach no account for this long (the first message creates it)
_LEGACY = re.compile(r"^[A-Za-z0-9_-]{22,43}$")  # before issue #14: a raw token, stored as the external id
_COOKIE = re.compile(r"^([A-Za-z0-9_-]{32})\.([0-9a-f]{1,12})\.([A-Za-z0-9_-]{22})$")

VisitorState = Literal["live", "erased", "unknown"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the cookie check read, in one read transaction: the visitor's state, the account's id when live and,
    when the request named its message (the page's id), the turn already kept for that message (a retry)."""

    state: VisitorState
    user_id: int | None = None
    kept_turn: dict[str, Any] | None = None


StateOf = Callable[[str, str | None], Awaitable[Lookup]]  # (visitor id, the message's id if any)
Adopt = Callable[[str, str], Awaitable[bool]]  # (legacy raw token, new external id) -> whether one was renamed


@dataclass(frozen=True, slots=True)
class Visitor:
    """`id`: the keyed hash (the only name the rest of the system sees); `cookie`: a new cookie to set, if any;
    `user_id`: the account found when the cookie was checked (saves the message a second look-up);
    `turn_checked`: the message id whose kept turn the same read looked for, `kept_turn` what it found."""

    id: str
    cookie: str | None = None
    adopted: bool = False  # a legacy visitor given a new cookie: known, not new
    user_id: int | None = None
    turn_checked: str | None = None
    kept_turn: dict[str, Any] | None = None

    @property
    def fresh(self) -> bool:
        return self.cookie is not None and not self.adopted


class WebIdentity:
    def __init__(
        self,
        key: bytes,
        state_of: StateOf,
        adopt: Adopt | None = None,
        *,
        public_base_url: str = "",
        trusted_proxy: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._state_of = state_of
        self._adopt = adopt
        self._public = urlsplit(public_base_url) if public_base_url else None
        self._trusted_proxy = trusted_proxy
        self._clock = clock

    def visitor_id(self, cookie_or_secret: str) -> str:
        """The external id of a cookie (or of its secret part): HMAC-SHA256, base64url, 43 characters."""
        secret = cookie_or_secret.split(".", 1)[0]
        return _b64(hmac.new(self._key, b"visitor:" + secret.encode(), hashlib.sha256).digest())

    def issue(self, at: float | None = None) -> Visitor:
        """A new visitor and its cookie; `at`: the issue time (now, unless a test says otherwise)."""
        secret = secrets.token_urlsafe(24)
        issued = f"{int(self._clock() if at is None else at):x}"
        cookie = f"{secret}.{issued}.{self._tag(secret, issued)}"
        return Visitor(self.visitor_id(secret), cookie)

    async def of(self, request: web.Request, *, sets_cookie: bool = True, message_id: str | None = None) -> Visitor:
        """The visitor a request's cookie names; a new one (with a cookie to set) when it names none we issued.
        `sets_cookie=False`: the answer will not carry a new cookie, so a legacy account is not moved by it.
        `message_id`: the page's id for the message this request sends; the same read looks for its kept turn."""
        cookie = request.cookies.get(COOKIE, "")
        found = _COOKIE.match(cookie)
        if found is None:
            return await self._legacy(cookie) if sets_cookie and _LEGACY.match(cookie) else self.issue()
        secret, issued, tag = found.groups()
        if not hmac.compare_digest(tag, self._tag(secret, issued)):
            return self.issue()  # never issued here: a guess or a forgery reaches nothing
        visitor_id = self.visitor_id(secret)
        looked = await self._state_of(visitor_id, message_id)
        if looked.state == "live":
            return Visitor(visitor_id, user_id=looked.user_id, turn_checked=message_id, kept_turn=looked.kept_turn)
        if looked.state == "unknown" and self._clock() - int(issued, 16) <= ISSUE_GRACE_SECONDS:
            return Visitor(visitor_id)
        return self.issue()  # erased, or issued long ago and never used: start over, reaching nothing

    async def _legacy(self, token: str) -> Visitor:
        """A raw token from before issue #14: its account (if any) moves to a new secret's hash, once."""
        new = self.issue()
        if self._adopt is not None and await self._adopt(token, new.id):
            return Visitor(new.id, new.cookie, adopted=True)
        return new

    def remember(self, request: web.Request, response: web.StreamResponse, visitor: Visitor) -> None:
        if visitor.cookie is not None:
            response.set_cookie(
                COOKIE,
                visitor.cookie,
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="Lax",
                secure=self.served_over_https(request),
            )

    def served_over_https(self, request: web.Request) -> bool:
        """TLS here, or a trusted proxy saying it terminated TLS, or a public address that is https."""
        if request.secure:
            return True
        if self._trusted_proxy:
            forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            if forwarded:
                return forwarded == "https"
        return self._public is not None and self._public.scheme == "https"

    def same_origin(self, request: web.Request) -> bool:
        """Whether a state-changing request comes from our own page (see the module's docstring)."""
        claimed = request.headers.get("Origin") or request.headers.get("Referer")
        if not claimed:
            return True
        if claimed == "null":
            return False  # a sandboxed frame or a data: page: never our page
        where = urlsplit(claimed)
        ours = {request.host.lower()}
        if self._trusted_proxy and (host := request.headers.get("X-Forwarded-Host")):
            ours.add(host.split(",")[0].strip().lower())
        if self._public is not None:
            ours.add(self._public.netloc.lower())
        return where.scheme in ("http", "https") and where.netloc.lower() in ours

    def network(self, request: web.Request) -> str:
        """A keyed hash of where the request comes from, for per-network limits: the client's address (the
        proxy's first `X-Forwarded-For` hop when trusted), an IPv6 one cut to its /64 (one subscriber's)."""
        address = request.remote or ""
        if self._trusted_proxy and (forwarded := request.headers.get("X-Forwarded-For")):
            address = forwarded.split(",")[0].strip()
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            parsed = None
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
            address = str(ipaddress.ip_network(f"{parsed}/64", strict=False))
        elif isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            address = str(parsed.ipv4_mapped)
        return _b64(hmac.new(self._key, b"network:" + address.encode(), hashlib.sha256).digest())[:22]

    def _tag(self, secret: str, issued: str) -> str:
        return _b64(hmac.new(self._key, f"issued:{secret}.{issued}".encode(), hashlib.sha256).digest())[:22]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
