"""bKash Tokenized Checkout over httpx: grant/refresh token, create, execute, query (payment status), refund.

Read beside the maintained clients on PyPI (`bkash-pgw-tokenized`, `pybkash`): the same endpoints under
`BKASH_BASE_URL` (sandbox `https://tokenized.sandbox.bka.sh/v1.2.0-beta`, live
`https://tokenized.pay.bka.sh/v1.2.0-beta`), the token headers (username, password), the payment headers
(Authorization: id_token, X-APP-Key). httpx directly keeps one connection pool and lets the errors be ours:

- `BkashError`: bKash answered and said no (`statusCode` other than 0000, or the older `errorCode`), with
  its code (2056 invalid payment state, 2062/2117 already completed, 2023 insufficient balance...).
- `BkashUnavailable`: no usable answer (timeout, connection refused, 5xx, an HTML page from a proxy). After
  an execute, that means "unknown": the caller queries the payment before deciding anything.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

ALREADY_COMPLETED = frozenset({"2062", "2068", "2116", "2117"})
TOKEN_MARGIN_S = 60.0


class BkashError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"bKash {code}: {message}")
        self.code = code
        self.message = message


class BkashUnavailable(Exception):
    """No answer that can be trusted either way."""


@dataclass(frozen=True, slots=True)
class Credentials:
    app_key: str
    app_secret: str
    username: str
    password: str


class BkashClient:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._credentials = credentials
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self._id_token: str | None = None
        self._refresh_token: str | None = None
        self._expires_at = 0.0

    async def aclose(self) -> None:
        await self._http.aclose()

    # Payments -------------------------------------------------------------------------------------

    async def create(self, *, amount: int, invoice: str, payer_reference: str, callback_url: str) -> dict[str, Any]:
        body = {
            "mode": "0011",
            "payerReference": payer_reference,
            "callbackURL": callback_url,
            "amount": f"{amount}.00",
            "currency": "BDT",
            "intent": "sale",
            "merchantInvoiceNumber": invoice,
        }
        return await self._call("tokenized/checkout/create", body)

    async def execute(self, payment_id: str) -> dict[str, Any]:
        return await self._call("tokenized/checkout/execute", {"paymentID": payment_id})

    async def query(self, payment_id: str) -> dict[str, Any]:
        return await self._call("tokenized/checkout/payment/status", {"paymentID": payment_id})

    async def refund(self, *, payment_id: str, trx_id: str, amount: int, sku: str, reason: str) -> dict[str, Any]:
        body = {"paymentID": payment_id, "trxID": trx_id, "amount": f"{amount}.00", "sku": sku, "reason": reason}
        return await self._call("tokenized/checkout/payment/refund", body)

    # Plumbing -------------------------------------------------------------------------------------

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            token = await self._token()
            headers = {"Authorization": token, "X-APP-Key": self._credentials.app_key, "Accept": "application/json"}
            response = await self._post(path, body, headers)
            if response.status_code == 401 and attempt == 1:  # the id_token expired early: grant a new one
                self._id_token = None
                continue
            return _answer(response)
        raise AssertionError("unreachable")

    async def _token(self) -> str:
        if self._id_token and time.monotonic() < self._expires_at:
            return self._id_token
        creds = self._credentials
        headers = {"username": creds.username, "password": creds.password, "Accept": "application/json"}
        body: dict[str, Any] = {"app_key": creds.app_key, "app_secret": creds.app_secret}
        path = "tokenized/checkout/token/grant"
        if self._refresh_token:
            path, body = "tokenized/checkout/token/refresh", {**body, "refresh_token": self._refresh_token}
        try:
            answer = _answer(await self._post(path, body, headers))
        except BkashError:
            if not self._refresh_token:
                raise
            self._refresh_token = None  # the refresh token expired too: grant afresh
            return await self._token()
        self._id_token = str(answer["id_token"])
        self._refresh_token = str(answer.get("refresh_token") or "") or None
        self._expires_at = time.monotonic() + float(answer.get("expires_in", 3600)) - TOKEN_MARGIN_S
        return self._id_token

    async def _post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        try:
            response = await self._http.post(f"{self._base}/{path}", json=body, headers=headers)
        except httpx.TimeoutException as error:
            raise BkashUnavailable(f"{path}: timed out") from error
        except httpx.HTTPError as error:
            raise BkashUnavailable(f"{path}: {type(error).__name__}") from error
        if response.status_code >= 500:
            raise BkashUnavailable(f"{path}: HTTP {response.status_code}")
        return response


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise BkashUnavailable(f"HTTP {response.status_code}, not JSON") from None
    if not isinstance(data, dict):
        raise BkashUnavailable(f"HTTP {response.status_code}, not a JSON object")
    code = str(data.get("statusCode") or data.get("errorCode") or ("0000" if response.is_success else ""))
    if code != "0000":
        message = str(data.get("statusMessage") or data.get("errorMessage") or f"HTTP {response.status_code}")
        raise BkashError(code or str(response.status_code), message)
    return data
