"""What "Enter your code" refuses (billing/redemption.py). The codes that work (the access code, an STK
receipt, a voucher, a receipt paid by hand) are proven end to end on the router in
tests/web/test_splash.py; here, the refusals and what a refusal leaves untouched."""

import pytest

from portal.access import sessions
from portal.billing import c2b, redemption, vouchers
from portal.billing.redemption import CodeRefused
from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.tenancy.scope import Scope
from tests.billing.test_c2b import by_hand
from tests.conftest import rows
from tests.seed import insert_session, seed_tenant

DEVICE = "AA:BB:CC:00:01:01"


@pytest.fixture
async def alpha(store, clock, vault):
    """A business whose one package costs 30 KES; its paid payment (receipt RALPHA0001) bought the
    session of device AA:BB:CC:00:00:01."""
    return await seed_tenant(store, clock, vault, "alpha")


async def redeem(store, clock, vault, shop, typed: str, mac: str = DEVICE) -> int:
    return await store.write(
        lambda db: redemption.redeem_code(
            db,
            clock,
            vault,
            tenant_id=shop.tenant_id,
            router_id=shop.router_id,
            mac=mac,
            ip="10.5.50.9",
            typed=typed,
        )
    )


async def refused(store, clock, vault, shop, typed: str, mac: str = DEVICE) -> str:
    with pytest.raises(CodeRefused) as refusal:
        await redeem(store, clock, vault, shop, typed, mac)
    return refusal.value.reason


async def paid_by_hand(store, clock, shop, receipt: str, amount: int, bill_ref: str = "WIFI") -> None:
    """Money sent from the M-Pesa menu, as Daraja's C2B confirmation records it."""
    where = {"account_id": shop.account_id, "tenant_id": shop.tenant_id}
    assert await store.write(c2b.record, clock, payment=by_hand(receipt, bill_ref, amount), **where)


async def test_an_empty_code_is_asked_for(store, clock, vault, alpha):
    assert await refused(store, clock, vault, alpha, " - ") == "code_empty"


async def test_a_receipt_paid_by_hand_below_every_price_buys_nothing_and_stays_claimable(
    store, clock, vault, alpha
):
    await paid_by_hand(store, clock, alpha, "TJ3MX6CLYC", amount=25)
    assert await refused(store, clock, vault, alpha, "TJ3MX6CLYC") == "amount_too_small"
    received = await store.read(c2b.by_receipt, alpha.tenant_id, "TJ3MX6CLYC")
    assert received.claimed_at is None and received.access_session_id is None and received.credit == 25
    # The owner adds cheaper packages: the same receipt now buys the dearest one it covers.
    for name, price, minutes in (("10 minutes", 10, 10), ("20 minutes", 20, 25)):
        spec = PackageSpec(name, price, minutes * 60, "", None)
        await store.write(packages.create, clock, alpha.tenant_id, spec)
    session_id = await redeem(store, clock, vault, alpha, "tj3mx6clyc")
    session = await store.read(sessions.get, session_id)
    assert (session.mac, session.paid_seconds) == (DEVICE, 25 * 60)
    received = await store.read(c2b.by_receipt, alpha.tenant_id, "TJ3MX6CLYC")
    assert received.claimed_at == clock.now() and received.access_session_id == session_id
    assert (received.spent, received.credit) == (20, 5)  # the 5 it did not need stays the customer's


async def test_another_businesss_codes_are_unknown_here(store, clock, vault, alpha):
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    batch = await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, 1)
    [voucher] = await store.read(vouchers.batch_vouchers, vault, Scope((alpha.tenant_id,)), batch)
    await paid_by_hand(store, clock, alpha, "TJ3MX6CLYC", amount=30)
    for code in ("RALPHA0001", voucher.code, "TJ3MX6CLYC"):
        assert await refused(store, clock, vault, beta, code) == "code_unknown", code
    # and each is still alpha's to use
    assert (await store.read(c2b.by_receipt, alpha.tenant_id, "TJ3MX6CLYC")).claimed_at is None
    assert await redeem(store, clock, vault, alpha, voucher.code)


async def test_a_voided_voucher_is_used_up(store, clock, vault, alpha):
    batch = await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, 1)
    [voucher] = await store.read(vouchers.batch_vouchers, vault, Scope((alpha.tenant_id,)), batch)
    assert await store.write(vouchers.void_unused, alpha.tenant_id, batch) == 1
    assert await refused(store, clock, vault, alpha, voucher.code) == "code_used_up"


async def test_time_is_not_moved_onto_a_device_that_has_time_of_its_own(store, clock, vault, alpha):
    own = await store.write(
        insert_session, clock, vault, alpha.tenant_id, alpha.router_id, alpha.package_id, DEVICE
    )
    assert await refused(store, clock, vault, alpha, "RALPHA0001") == "device_has_time"
    bought = await store.read(sessions.get, alpha.session_id)
    assert bought.mac == f"AA:BB:CC:00:00:{alpha.tenant_id:02X}" and bought.state == "active"
    assert (await store.read(sessions.get, own)).mac == DEVICE


async def test_a_code_whose_time_is_over_is_used_up(store, clock, vault, alpha):
    await store.write(sessions.end_session, clock, alpha.session_id)
    assert await refused(store, clock, vault, alpha, "ralpha0001") == "code_used_up"


async def refusal(store, clock, vault, shop, typed: str) -> CodeRefused:
    with pytest.raises(CodeRefused) as refused:
        await redeem(store, clock, vault, shop, typed)
    return refused.value


async def spent_and_credit(store, shop, receipt: str) -> tuple[int, int]:
    found = await store.read(c2b.by_receipt, shop.tenant_id, receipt)
    return found.spent, found.credit


async def test_rent_paid_to_the_paybill_is_never_claimable_as_wifi(store, clock, vault, alpha):
    await paid_by_hand(store, clock, alpha, "RENT000001", amount=3000, bill_ref="RENT-APT4")
    for _ in range(2):
        assert await refused(store, clock, vault, alpha, "rent000001") == "not_for_wifi"
    # Not even typed together with Wi-Fi money, whose credit it would otherwise top up.
    await paid_by_hand(store, clock, alpha, "WIFI000001", amount=10)
    assert await refused(store, clock, vault, alpha, "WIFI000001 RENT000001") == "not_for_wifi"
    assert await spent_and_credit(store, alpha, "RENT000001") == (0, 0)
    assert await spent_and_credit(store, alpha, "WIFI000001") == (0, 10)
    assert await store.read(sessions.live_on_device, alpha.router_id, DEVICE) is None


async def test_an_underpayment_keeps_its_credit_and_says_how_much_more_the_cheapest_package_needs(
    store, clock, vault, alpha
):
    await paid_by_hand(store, clock, alpha, "TJ3MX6CLY5", amount=5)
    refused_for = await refusal(store, clock, vault, alpha, "TJ3MX6CLY5")
    assert (refused_for.reason, refused_for.values) == (
        "amount_too_small",
        {"credit": 5, "price": 30, "more": 25},
    )
    assert await spent_and_credit(store, alpha, "TJ3MX6CLY5") == (0, 5)


async def test_an_overpayment_buys_the_dearest_package_it_covers_and_keeps_the_rest(
    store, clock, vault, alpha
):
    await paid_by_hand(store, clock, alpha, "TJ3MX6CL50", amount=50)
    session_id = await redeem(store, clock, vault, alpha, "TJ3MX6CL50")
    assert (await store.read(sessions.get, session_id)).paid_seconds == 3600  # the 30 KES hour
    assert await spent_and_credit(store, alpha, "TJ3MX6CL50") == (30, 20)
    assert await store.read(c2b.credit_of_session, session_id) == 20
    assert await store.read(c2b.credit_outstanding, Scope((alpha.tenant_id,))) == 20


async def test_credit_is_spent_later_with_the_same_receipt_and_topped_up_with_a_second_one(
    store, clock, vault, alpha
):
    await paid_by_hand(store, clock, alpha, "RFIRST0050", amount=50)
    first = await redeem(store, clock, vault, alpha, "RFIRST0050")
    # While its time lasts, the receipt moves that time, as the access code does: it buys nothing more.
    assert await redeem(store, clock, vault, alpha, "RFIRST0050", mac="AA:BB:CC:00:01:02") == first
    assert await spent_and_credit(store, alpha, "RFIRST0050") == (30, 20)
    await store.write(sessions.end_session, clock, first)
    # Its time is over: the receipt's 20 KES credit is less than the 30 KES hour.
    assert (await refusal(store, clock, vault, alpha, "RFIRST0050")).values == {
        "credit": 20,
        "price": 30,
        "more": 10,
    }
    await paid_by_hand(store, clock, alpha, "RSECOND010", amount=10)  # the difference, paid by hand
    clock.advance(days=1)
    second = await redeem(store, clock, vault, alpha, "rfirst0050, rsecond010")
    assert second != first and (await store.read(sessions.get, second)).paid_seconds == 3600
    assert await spent_and_credit(store, alpha, "RFIRST0050") == (50, 0)
    assert await spent_and_credit(store, alpha, "RSECOND010") == (10, 0)
    spends = await rows(
        store, "SELECT c2b_payment_id, access_session_id, amount, spent_at FROM c2b_spends ORDER BY id"
    )
    assert [(row["access_session_id"], row["amount"]) for row in spends] == [
        (first, 30),
        (second, 20),
        (second, 10),
    ]
    assert spends[0]["spent_at"] != spends[1]["spent_at"]  # each part on the day it bought time
    # Both used up now: nothing is left to buy with, together or alone.
    await store.write(sessions.end_session, clock, second)
    assert await refused(store, clock, vault, alpha, "RFIRST0050 RSECOND010") == "code_used_up"
    assert await refused(store, clock, vault, alpha, "RSECOND010") == "code_used_up"


async def test_receipts_typed_together_must_all_be_the_businesss_receipts(store, clock, vault, alpha):
    await paid_by_hand(store, clock, alpha, "RHALF00015", amount=15)
    assert await refused(store, clock, vault, alpha, "RHALF00015 RHALF00015") == "amount_too_small"
    assert await refused(store, clock, vault, alpha, "RHALF00015 NOTARECEIPT") == "code_unknown"
    assert await spent_and_credit(store, alpha, "RHALF00015") == (0, 15)
