"""C2B: payments made by hand to the PayBill reach the portal from the simulator, once, and are Wi-Fi's
only when paid to the business's words for Wi-Fi."""

import pytest

from portal.billing import c2b
from portal.billing.payments import PaymentFilter
from portal.mpesa import accounts
from portal.mpesa.callbacks import C2BPayment
from portal.mpesa.daraja import C2B_REGISTER, OAUTH
from portal.tenancy import tenants
from portal.tenancy.scope import Scope
from tests.billing.conftest import add_shop
from tests.conftest import execute, rows, running_portal
from tests.seed import seed_tenant

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


async def test_a_receipt_is_found_only_by_its_business(portal, shop, daraja, http, clock, vault):
    await register(portal, shop.account_id)
    receipt = await pay_by_hand(http, daraja)
    other = await add_shop(portal, daraja, vault, clock, slug="other")
    store = portal.services.store
    assert await store.read(c2b.by_receipt, other.tenant_id, receipt) is None
    found = await store.read(c2b.by_receipt, shop.tenant_id, f" {receipt.lower()} ")
    assert (found.receipt, found.amount, found.credit, found.claimed_at) == (receipt, 50, 50, None)


@pytest.mark.parametrize("bill_ref", ["WIFI", "wi fi", "WiFi", "wifi-", " Wi-Fi "])
async def test_money_paid_to_the_wifi_account_however_it_was_typed_is_for_wifi(
    portal, shop, daraja, http, bill_ref
):
    await register(portal, shop.account_id)
    receipt = await pay_by_hand(http, daraja, amount=30, bill_ref=bill_ref)
    found = await portal.services.store.read(c2b.by_receipt, shop.tenant_id, receipt)
    assert found.for_wifi and found.credit == 30


@pytest.mark.parametrize("bill_ref", ["RENT-APT4", "", "WIFI42", "WIFII"])
async def test_money_paid_to_another_account_is_not_for_wifi_and_holds_no_credit(
    portal, shop, daraja, http, bill_ref
):
    await register(portal, shop.account_id)
    receipt = await pay_by_hand(http, daraja, amount=3000, bill_ref=bill_ref)
    found = await portal.services.store.read(c2b.by_receipt, shop.tenant_id, receipt)
    assert not found.for_wifi and found.credit == 0
    assert await portal.services.store.read(c2b.credit_outstanding, Scope((shop.tenant_id,))) == 0


async def test_money_paid_to_a_till_is_for_wifi_whatever_its_account(store, clock, vault):
    alpha = await seed_tenant(store, clock, vault, "alpha")
    await execute(
        store,
        "UPDATE mpesa_accounts SET kind = 'till', till_number = '123456' WHERE id = ?",
        (alpha.account_id,),
    )
    await store.write(
        c2b.record,
        clock,
        account_id=alpha.account_id,
        tenant_id=alpha.tenant_id,
        payment=by_hand("RTILL00001", ""),
    )
    assert (await store.read(c2b.by_receipt, alpha.tenant_id, "RTILL00001")).for_wifi


def by_hand(receipt: str, bill_ref: str, amount: int = 30) -> C2BPayment:
    """Money sent from the M-Pesa menu, as Daraja's C2B confirmation says it."""
    return C2BPayment(
        trans_id=receipt,
        trans_time="20260105120000",
        amount=amount,
        shortcode="174379",
        bill_ref=bill_ref,
        msisdn="2547 ***** 149",
        payer_name="",
        transaction_type="Pay Bill",
        third_party_trans_id="",
    )


async def test_the_owners_words_change_what_counts_as_wifi_and_money_not_spent_follows_them(
    store, clock, vault
):
    alpha = await seed_tenant(store, clock, vault, "alpha")
    where = {"account_id": alpha.account_id, "tenant_id": alpha.tenant_id}
    for receipt, bill_ref in (("RNET000001", "net"), ("RWIFI00001", "WIFI"), ("RWIFI00002", "wifi")):
        await store.write(c2b.record, clock, payment=by_hand(receipt, bill_ref), **where)
    await execute(store, "UPDATE c2b_payments SET spent = 30 WHERE receipt = 'RWIFI00002'")  # spent before

    async def for_wifi() -> dict[str, bool]:
        found = await store.read(c2b.search, Scope((alpha.tenant_id,)), PaymentFilter(), 10)
        return {each.receipt: each.for_wifi for each in found}

    assert await for_wifi() == {"RNET000001": False, "RWIFI00001": True, "RWIFI00002": True}
    words = c2b.read_words(" Internet,  NET ,, in-ter-net ")
    assert words == "Internet, NET"  # the same word once; the first is what customers are told
    assert await store.write(c2b.set_words, alpha.tenant_id, words) == 2
    assert (await store.read(tenants.get, alpha.tenant_id)).wifi_words == "Internet, NET"
    # What was spent keeps its word's meaning: it bought time.
    assert await for_wifi() == {"RNET000001": True, "RWIFI00001": False, "RWIFI00002": True}
    await store.write(c2b.record, clock, payment=by_hand("RNET000002", "N-E-T"), **where)
    await store.write(c2b.record, clock, payment=by_hand("RWIFI00003", "WIFI"), **where)
    assert (await for_wifi())["RNET000002"] and not (await for_wifi())["RWIFI00003"]


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        (" , ", "no_words"),
        ("A" * 21, "word_too_long"),
        ("WIFI; NET", "word_characters"),
        ("-WIFI", "word_characters"),
        (",".join(f"W{n}" for n in range(11)), "too_many_words"),
    ],
)
def test_account_words_an_owner_could_not_mean_are_refused(typed, reason):
    with pytest.raises(c2b.WordsRefused) as refused:
        c2b.read_words(typed)
    assert refused.value.reason == reason


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


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"TransID": "X1", "TransAmount": 1e30}', "TransAmount 1e+30 is out of range"),
        (b'{"TransID": "X1", "TransAmount": "50", "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "nested"),
        (b'{"TransID": {"id": "X1"}, "TransAmount": "50"}', "TransID is not text"),
    ],
)
async def test_hostile_confirmations_are_a_400_with_the_reason_logged(
    portal, shop, http, caplog, body, reason
):
    confirmation, validation = await register(portal, shop.account_id)
    response = await http.post(confirmation, content=body)
    assert response.status_code == 400 and reason in response.json()["ResultDesc"]
    [record] = [r for r in caplog.records if r.getMessage() == "unreadable C2B confirmation"]
    assert reason in record.fields["reason"]
    refused = await http.post(validation, content=body)
    assert refused.status_code == 200 and refused.json()["ResultCode"] == "C2B00016"
    assert await received(portal) == []
