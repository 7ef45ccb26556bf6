"""bKash Tokenized Checkout on loopback for tests, speaking the documented API (v1.2.0-beta paths).

Token grant/refresh (username and password headers, app key and secret in the body), create (mode 0011,
BDT, intent sale), the payer's page at `bkashURL` (a test "pays" there; bKash then redirects the browser to
`callbackURL?paymentID=...&status=success|failure|cancel&signature=...`), execute, payment status (query),
refund. Errors come the way bKash sends them: HTTP 200 with a `statusCode` other than 0000 (2002 invalid
payment id, 2056 invalid payment state, 2117 already executed, 2026 refund above the amount, 2034 already
refunded...), 401 for a bad or expired token. Faults a test can inject: a slow execute that completes the
payment but answers after the client gave up, an HTML 502 from a proxy, an amount bKash reports differently.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

VERSION = "v1.2.0-beta"
APP_KEY = "emu-app-key-0vWQuCRGiUX7EPVjQDr0EUAYtc"
APP_SECRET = "emu-app-secret-jcUNPBgbcqEDedNKdvE4G1cAK7D3"
USERNAME = "01770618567"
PASSWORD = "D7DaC<*E*eG"  # noqa: S105 (the public sandbox's well-known test password shape)
MESSAGES = {
    "0000": "Successful",
    "2001": "Invalid App Key",
    "2002": "Invalid Payment ID",
    "2006": "Invalid amount",
    "2007": "Invalid currency",
    "2008": "Invalid intent",
    "2026": "The reversal amount cannot be greater than the original transaction amount",
    "2031": "Invalid merchant invoice number",
    "2034": "The transaction cannot be reversed because the original transaction has been reversed",
    "2048": "Invalid Payer Reference",
    "2049": "Invalid Merchant Callback URL",
    "2056": "Invalid Payment State",
    "2063": "Mode is not valid as per request data",
    "2117": "The payment execution has already been completed",
}


@dataclass
class EmuPayment:
    payment_id: str
    amount: Decimal
    invoice: str
    callback_url: str
    status: str = "Initiated"  # -> Authorized (payer approved on bKash's page) -> Completed | Failed | Cancelled
    trx_id: str | None = None
    refunded: Decimal = Decimal(0)
    refund_trx: str | None = None


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    status: int
    answer: Any


@dataclass
class Faults:
    slow_execute_s: float = 0.0  # execute completes the payment, then answers this late
    html_errors: dict[str, int] = field(default_factory=dict)  # path suffix -> times to answer a 502 HTML page
    reported_amount: str | None = None  # execute and query report this amount instead


class BkashEmulator:
    def __init__(self) -> None:
        self.payments: dict[str, EmuPayment] = {}
        self.calls: list[Call] = []
        self.faults = Faults()
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(f"/{VERSION}/tokenized/checkout/{{path:.+}}", self._api)
        app.router.add_get("/checkout/{payment_id}", self._payer_page)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/{VERSION}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def calls_to(self, suffix: str) -> list[Call]:
        return [c for c in self.calls if c.path == suffix]

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # The payer on bKash's page ----------------------------------------------------------------------

    async def _payer_page(self, request: web.Request) -> web.Response:
        """`?action=success|failure|cancel`: what the payer did; then the redirect to the merchant."""
        payment = self.payments.get(request.match_info["payment_id"])
        if payment is None:
            return web.Response(
                status=404, text="<html><body>Payment not found</body></html>", content_type="text/html"
            )
        action = request.query.get("action", "success")
        if payment.status == "Initiated":
            payment.status = {"success": "Authorized", "failure": "Failed", "cancel": "Cancelled"}[action]
        query = {"paymentID": payment.payment_id, "status": action, "signature": secrets.token_hex(8)}
        query["apiVersion"] = VERSION.removeprefix("v")
        raise web.HTTPFound(f"{payment.callback_url}?{urlencode(query)}")

    # The API ------------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._record(path, {}, 400, {"statusCode": "2025", "statusMessage": "Invalid request body"})
        for suffix, times in self.faults.html_errors.items():
            if path.endswith(suffix) and times > 0:
                self.faults.html_errors[suffix] = times - 1
                self.calls.append(Call(path, body, 502, None))
                return web.Response(
                    status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
                )
        if path in ("token/grant", "token/refresh"):
            return self._token(path, body, request)
        if request.headers.get("Authorization") not in self.tokens:
            return self._record(path, body, 401, {"message": "The incoming token has expired"})
        if request.headers.get("X-APP-Key") != APP_KEY:
            return self._record(path, body, 200, _error("2001"))
        handler = {
            "create": self._create,
            "execute": self._execute,
            "payment/status": self._status,
            "payment/refund": self._refund,
        }.get(path)
        if handler is None:
            return self._record(path, body, 404, {"message": "Not Found"})
        if path == "execute" and self.faults.slow_execute_s:
            answer = handler(body)
            await asyncio.sleep(self.faults.slow_execute_s)
            return self._record(path, body, 200, answer)
        return self._record(path, body, 200, handler(body))

    def _token(self, path: str, body: dict[str, Any], request: web.Request) -> web.Response:
        headers = request.headers
        if headers.get("username") != USERNAME or headers.get("password") != PASSWORD:
            return self._record(path, body, 401, {"message": "Unauthorized"})
        if body.get("app_key") != APP_KEY or body.get("app_secret") != APP_SECRET:
            return self._record(path, body, 200, _error("2001"))
        if path == "token/refresh" and body.get("refresh_token") not in self.refresh_tokens:
            return self._record(path, body, 200, {"statusCode": "2079", "statusMessage": "Invalid refresh token"})
        token, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.tokens.add(token)
        self.refresh_tokens.add(refresh)
        answer = {
            "statusCode": "0000",
            "statusMessage": "Successful",
            "id_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": refresh,
        }
        return self._record(path, body, 200, answer)

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        amount = _decimal(body.get("amount"))
        if body.get("mode") != "0011":
            return _error("2063")
        if amount is None or amount <= 0:
            return _error("2006")
        if body.get("currency") != "BDT":
            return _error("2007")
        if body.get("intent") != "sale":
            return _error("2008")
        if not str(body.get("callbackURL", "")).startswith(("http://", "https://")):
            return _error("2049")
        if not body.get("merchantInvoiceNumber"):
            return _error("2031")
        if not body.get("payerReference"):
            return _error("2048")
        payment_id = f"TR0011{next(self._ids):06d}{secrets.token_hex(4).upper()}"
        payment = EmuPayment(payment_id, amount, str(body["merchantInvoiceNumber"]), str(body["callbackURL"]))
        self.payments[payment_id] = payment
        return {
            **self._describe(payment),
            "bkashURL": f"{self.url}/checkout/{payment_id}",
            "callbackURL": payment.callback_url,
            "successCallbackURL": f"{payment.callback_url}?paymentID={payment_id}&status=success",
            "failureCallbackURL": f"{payment.callback_url}?paymentID={payment_id}&status=failure",
            "cancelledCallbackURL": f"{payment.callback_url}?paymentID={payment_id}&status=cancel",
            "paymentCreateTime": "2026-11-26T14:00:00:000 GMT+0600",
        }

    def _execute(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self.payments.get(str(body.get("paymentID")))
        if payment is None:
            return _error("2002")
        if payment.status == "Completed":
            return _error("2117")
        if payment.status != "Authorized":
            return _error("2056")
        payment.status = "Completed"
        payment.trx_id = f"BK{next(self._ids):04d}{secrets.token_hex(3).upper()}"
        return {**self._describe(payment), "customerMsisdn": "01929918378", "paymentExecuteTime": "now"}

    def _status(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self.payments.get(str(body.get("paymentID")))
        if payment is None:
            return _error("2002")
        answer = self._describe(payment)
        if payment.status == "Authorized":  # bKash shows an approved but not executed payment as Initiated
            answer["transactionStatus"] = "Initiated"
        return answer

    def _refund(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self.payments.get(str(body.get("paymentID")))
        amount = _decimal(body.get("amount"))
        if payment is None or payment.trx_id != body.get("trxID") or payment.status != "Completed":
            return _error("2002")
        if not body.get("sku") or not body.get("reason"):
            return {"statusCode": "2065", "statusMessage": "Mendatory field missing"}
        if payment.refund_trx is not None:
            return _error("2034")
        if amount is None or amount <= 0 or amount > payment.amount:
            return _error("2026")
        payment.refunded, payment.refund_trx = amount, f"RF{next(self._ids):04d}{secrets.token_hex(3).upper()}"
        return {
            "statusCode": "0000",
            "statusMessage": "Successful",
            "originalTrxID": payment.trx_id,
            "refundTrxID": payment.refund_trx,
            "transactionStatus": "Completed",
            "amount": f"{amount:.2f}",
            "currency": "BDT",
            "charge": "0.00",
            "completedTime": "now",
        }

    def _describe(self, payment: EmuPayment) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "statusCode": "0000",
            "statusMessage": "Successful",
            "paymentID": payment.payment_id,
            "transactionStatus": payment.status,
            "amount": self.faults.reported_amount or f"{payment.amount:.2f}",
            "currency": "BDT",
            "intent": "sale",
            "merchantInvoiceNumber": payment.invoice,
        }
        if payment.trx_id:
            answer["trxID"] = payment.trx_id
        return answer

    def _record(self, path: str, body: dict[str, Any], status: int, answer: Any) -> web.Response:
        self.calls.append(Call(path, body, status, answer))
        return web.json_response(answer, status=status)


def _error(code: str) -> dict[str, str]:
    return {"statusCode": code, "statusMessage": MESSAGES[code]}


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
