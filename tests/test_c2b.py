"""C2B: payments made by hand to the PayBill reach the portal from the simulator, once, claimable once."""

import pytest

from portal import c2b
from portal.clock import to_text
from portal.mpesa.daraja import C2B_REGISTER, OAUTH
from tests.conftest import running_portal, seed_shop

MSISDN = 254708374149


async def pay_by_hand(http, daraja, amount=50, bill_ref="WIFI"):
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


async def received(portal):
    return [dict(row) for row in await portal.services.db.fetchall("SELECT * FROM c2b_payments ORDER BY id")]


async def test_a_payment_by_hand_is_recorded_from_darajas_confirmation(portal, shop, daraja, http, clock):
    confirmation, validation = await c2b.register_urls(portal.services, shop.account_id)
    assert confirmation.startswith(portal.base_url + "/hooks/c2b/") and confirmation.endswith("/confirmation")
    assert validation.endswith("/validation")
    receipt = await pay_by_hand(http, daraja, bill_ref="wifi 42")
    [row] = await received(portal)
    assert row["receipt"] == receipt and row["amount"] == 50 and row["bill_ref"] == "wifi 42"
    assert row["tenant_id"] == shop.tenant_id and row["msisdn"] == "2547 ***** 149"
    assert row["transaction_time"] == "2026-01-05T09:00:00.000000+00:00"  # 12:00 in Nairobi
    assert row["claimed_at"] is None
    assert daraja.sim.deliveries[-1].status == 200


async def test_validation_accepts_payments_when_daraja_asks(portal, shop, daraja, http):
    daraja.sim.options.c2b_validation = True
    await c2b.register_urls(portal.services, shop.account_id)
    await pay_by_hand(http, daraja)
    validation, confirmation = daraja.sim.deliveries
    assert (validation.kind, validation.status) == ("c2b_validation", 200)
    assert (confirmation.kind, confirmation.status) == ("c2b_confirmation", 200)
    assert len(await received(portal)) == 1


async def test_a_confirmation_said_twice_counts_once(portal, shop, daraja, http, vault):
    confirmation, _ = await c2b.register_urls(portal.services, shop.account_id)
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
    await c2b.register_urls(portal.services, shop.account_id)
    receipt = await pay_by_hand(http, daraja)
    other = await seed_shop(portal.services.db, vault, clock, daraja.base_url, slug="other")
    async with portal.services.db.transaction() as tx:
        assert await c2b.claim_c2b(tx, clock, tenant_id=other.tenant_id, receipt=receipt) is None
        claimed = await c2b.claim_c2b(tx, clock, tenant_id=shop.tenant_id, receipt=f" {receipt.lower()} ")
        assert claimed.receipt == receipt and claimed.amount == 50
        assert await c2b.claim_c2b(tx, clock, tenant_id=shop.tenant_id, receipt=receipt) is None


async def test_unknown_tokens_and_unreadable_bodies(portal, shop, daraja, http, caplog):
    confirmation, validation = await c2b.register_urls(portal.services, shop.account_id)
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
        shop = await seed_shop(portal.services.db, vault, clock, daraja.base_url)
        with pytest.raises(c2b.C2BError, match="public_url"):
            await c2b.register_urls(portal.services, shop.account_id)


async def test_accounts_get_their_c2b_urls_registered_once_without_anyone_asking(portal, shop, daraja):
    assert await portal.services.db.fetchval("SELECT c2b_registered_at FROM mpesa_accounts") is None
    await c2b.register_due(portal.services)
    await c2b.register_due(portal.services)
    registered = await portal.services.db.fetchval("SELECT c2b_registered_at FROM mpesa_accounts")
    assert registered == to_text(portal.services.clock.now())
    assert daraja.sim.requests[C2B_REGISTER] == 1


async def test_without_a_public_address_no_c2b_urls_are_registered(settings, daraja, vault, clock):
    async with running_portal(settings, clock, vault, callbacks=False) as behind_nat:
        await seed_shop(behind_nat.services.db, vault, clock, daraja.base_url)
        await c2b.register_due(behind_nat.services)
        assert await behind_nat.services.db.fetchval("SELECT c2b_registered_at FROM mpesa_accounts") is None
