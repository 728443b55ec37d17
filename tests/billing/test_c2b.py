"""C2B: payments made by hand to the PayBill reach the portal from the simulator, once, claimable once."""

import pytest

from portal.billing import c2b
from portal.mpesa import accounts
from portal.mpesa.daraja import C2B_REGISTER, OAUTH
from tests.billing.conftest import add_shop
from tests.conftest import rows, running_portal

MSISDN = 254708374149


async def pay_by_hand(http, daraja, amount=50, bill_ref="WIFI"):
    """Money sent from the M-Pesa menu to PayBill 174379 on the simulator; returns its receipt (TransID)."""
    token = await http.get(
        daraja.base_url + OAUTH,
        params={"grant_type": "client_credentials"},
        auth=("sim-consumer-key", "sim-consumer-secret"),
    )
    response = await http.post(
        daraja.base_url + "/mpesa/c2b/v2/simulate",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        json={
            "ShortCode": 174379,
            "CommandID": "CustomerPayBillOnline",
            "Amount": amount,
            "Msisdn": MSISDN,
            "BillRefNumber": bill_ref,
        },
    )
    assert response.status_code == 200
    await daraja.sim.settle()
    return daraja.sim.deliveries[-1].ref


async def register(portal, account_id: int) -> tuple[str, str]:
    services = portal.services
    return await c2b.register_urls(
        services.store,
        services.clock,
        services.vault,
        services.daraja,
        services.settings.server.public_url,
        account_id,
    )


async def received(portal) -> list[dict]:
    """The c2b_payments rows, as stored."""
    return [dict(row) for row in await rows(portal.services.store, "SELECT * FROM c2b_payments ORDER BY id")]


async def registered_at(portal, account_id: int):
    return (await portal.services.store.read(accounts.get, account_id)).c2b_registered_at


async def test_a_payment_by_hand_is_recorded_from_darajas_confirmation(portal, shop, daraja, http, clock):
    confirmation, validation = await register(portal, shop.account_id)
    assert confirmation.startswith(portal.base_url + "/hooks/c2b/") and confirmation.endswith("/confirmation")
    assert validation.endswith("/validation")
    receipt = await pay_by_hand(http, daraja, bill_ref="wifi 42")
    [row] = await received(portal)
    assert row["receipt"] == receipt and row["amount"] == 50 and row["bill_ref"] == "wifi 42"
    assert row["tenant_id"] == shop.tenant_id and row["msisdn"] == "2547 ***** 149"
    assert row["transaction_time"] == "2026-01-05T09:00:00.000000+00:00"  # 12:00 in Nairobi
    assert row["claimed_at"] is None
    assert daraja.sim.deliveries[-1].status == 200
    by_receipt = await portal.services.store.read(c2b.by_receipt, shop.tenant_id, receipt)
    assert by_receipt.amount == 50 and by_receipt.received_at == clock.now() and by_receipt.claimed_at is None


async def test_validation_accepts_payments_when_daraja_asks(portal, shop, daraja, http):
    daraja.sim.options.c2b_validation = True
    await register(portal, shop.account_id)
    await pay_by_hand(http, daraja)
    validation, confirmation = daraja.sim.deliveries
    assert (validation.kind, validation.status) == ("c2b_validation", 200)
    assert (confirmation.kind, confirmation.status) == ("c2b_confirmation", 200)
    assert len(await received(portal)) == 1


async def test_a_confirmation_said_twice_counts_once(portal, shop, http):
    confirmation, _ = await register(portal, shop.account_id)
    body = {
        "TransactionType": "Pay Bill",
        "TransID": "TJ3MX6CLYC",
        "TransTime": "20260105120000",
        "TransAmount": "50.00",
        "BusinessShortCode": "174379",
        "BillRefNumber": "",
        "MSISDN": "2547 ***** 149",
    }
    for _ in range(2):
        response = await http.post(confirmation, json=body)
        assert response.json() == {"ResultCode": 0, "ResultDesc": "Success"}
    assert len(await received(portal)) == 1


async def test_a_receipt_is_claimed_once_and_only_by_its_business(portal, shop, daraja, http, clock, vault):
    await register(portal, shop.account_id)
    receipt = await pay_by_hand(http, daraja)
    other = await add_shop(portal, daraja, vault, clock, slug="other")

    def claims(db):
        return (
            c2b.claim(db, clock, tenant_id=other.tenant_id, receipt=receipt),
            c2b.claim(db, clock, tenant_id=shop.tenant_id, receipt=f" {receipt.lower()} "),
            c2b.claim(db, clock, tenant_id=shop.tenant_id, receipt=receipt),
        )

    by_other, claimed, again = await portal.services.store.write(claims)
    assert by_other is None and again is None
    assert claimed.receipt == receipt and claimed.amount == 50 and claimed.claimed_at == clock.now()


async def test_unknown_tokens_and_unreadable_bodies(portal, shop, http, caplog):
    confirmation, validation = await register(portal, shop.account_id)
    unknown = f"{portal.base_url}/hooks/c2b/{'0' * 32}/confirmation"
    assert (await http.post(unknown, json={})).status_code == 404
    bad = await http.post(confirmation, content=b'{"TransID": "X1", "TransAmount": "12.50"}')
    assert bad.status_code == 400 and "whole number" in bad.json()["ResultDesc"]
    assert "unreadable C2B confirmation" in caplog.messages
    refused = await http.post(validation, content=b"{")
    assert refused.status_code == 200 and refused.json()["ResultCode"] == "C2B00016"
    assert await received(portal) == []


async def test_registering_needs_a_public_url(settings, clock, vault, daraja):
    async with running_portal(settings, clock, vault, callbacks=False) as portal:
        shop = await add_shop(portal, daraja, vault, clock)
        with pytest.raises(c2b.C2BError, match="public_url"):
            await register(portal, shop.account_id)


async def test_accounts_get_their_c2b_urls_registered_once_without_anyone_asking(portal, shop, daraja):
    assert await registered_at(portal, shop.account_id) is None
    await portal.services.jobs.register_c2b_urls()
    await portal.services.jobs.register_c2b_urls()
    assert await registered_at(portal, shop.account_id) == portal.services.clock.now()
    assert daraja.sim.requests[C2B_REGISTER] == 1


async def test_without_a_public_address_no_c2b_urls_are_registered(settings, daraja, vault, clock):
    async with running_portal(settings, clock, vault, callbacks=False) as behind_nat:
        shop = await add_shop(behind_nat, daraja, vault, clock)
        await behind_nat.services.jobs.register_c2b_urls()
        assert await registered_at(behind_nat, shop.account_id) is None
    assert C2B_REGISTER not in daraja.sim.requests
