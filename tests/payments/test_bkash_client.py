"""The bKash client against the emulator: tokens granted once and reused, an id_token bKash no longer
accepts is replaced, an expired one is refreshed with the refresh token, wrong credentials and bKash's
error codes become typed errors, and an HTML page from a proxy is "unavailable", never a success."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.payments.bkash import BkashClient, BkashError, BkashUnavailable, Credentials
from tests.emulators import bkash_api
from tests.emulators.bkash_api import BkashEmulator

GOOD = Credentials(bkash_api.APP_KEY, bkash_api.APP_SECRET, bkash_api.USERNAME, bkash_api.PASSWORD)


@pytest.fixture
async def client(bkash: BkashEmulator) -> AsyncIterator[BkashClient]:
    client = BkashClient(bkash.base_url, GOOD, timeout_s=2)
    yield client
    await client.aclose()


async def _create(client: BkashClient, amount: int = 120) -> dict[str, object]:
    return await client.create(amount=amount, invoice="NXZ1", payer_reference="nxz1", callback_url="https://x.test/cb")


async def test_one_token_serves_many_calls_and_a_refused_one_is_replaced(
    client: BkashClient, bkash: BkashEmulator
) -> None:
    created = await _create(client)
    await client.query(str(created["paymentID"]))
    assert len(bkash.calls_to("token/grant")) == 1
    bkash.expire_tokens()  # bKash stopped accepting it before its expires_in
    status = await client.query(str(created["paymentID"]))
    assert status["transactionStatus"] == "Initiated"
    assert [c.status for c in bkash.calls if c.path == "payment/status"] == [200, 401, 200]


async def test_an_expired_token_is_refreshed(client: BkashClient, bkash: BkashEmulator) -> None:
    await _create(client)
    client._expires_at = 0.0  # noqa: SLF001 (time passing, without waiting an hour)
    await _create(client)
    assert len(bkash.calls_to("token/grant")) == 1 and len(bkash.calls_to("token/refresh")) == 1


async def test_wrong_credentials_and_bkash_codes_are_typed_errors(bkash: BkashEmulator, client: BkashClient) -> None:
    wrong = BkashClient(bkash.base_url, Credentials(bkash_api.APP_KEY, "nope", bkash_api.USERNAME, bkash_api.PASSWORD))
    try:
        with pytest.raises(BkashError) as refused:
            await _create(wrong)
        assert refused.value.code == "2001"
    finally:
        await wrong.aclose()
    with pytest.raises(BkashError) as bad_amount:
        await _create(client, amount=0)
    assert bad_amount.value.code == "2006"
    with pytest.raises(BkashError) as unknown:
        await client.execute("TR0011NOPE")
    assert unknown.value.code == "2002"


async def test_a_proxy_error_page_is_unavailable_not_success(client: BkashClient, bkash: BkashEmulator) -> None:
    created = await _create(client)
    bkash.faults.html_errors["payment/status"] = 1
    with pytest.raises(BkashUnavailable):
        await client.query(str(created["paymentID"]))
    assert (await client.query(str(created["paymentID"])))["statusCode"] == "0000"
