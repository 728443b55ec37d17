"""What "Enter your code" refuses (billing/redemption.py). The codes that work (the access code, an STK
receipt, a voucher, a receipt paid by hand) are proven end to end on the router in
tests/web/test_splash.py; here, the refusals and what a refusal leaves untouched."""

import pytest

from portal.access import sessions
from portal.billing import c2b, redemption, vouchers
from portal.billing.redemption import CodeRefused
from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.mpesa.callbacks import C2BPayment
from portal.tenancy.scope import Scope
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


async def paid_by_hand(store, clock, shop, receipt: str, amount: int) -> None:
    """Money sent from the M-Pesa menu, as Daraja's C2B confirmation records it."""
    payment = C2BPayment(
        trans_id=receipt,
        trans_time="20260105120000",
        amount=amount,
        shortcode="174379",
        bill_ref="",
        msisdn="2547 ***** 149",
        payer_name="",
        transaction_type="Pay Bill",
        third_party_trans_id="",
    )
    where = {"account_id": shop.account_id, "tenant_id": shop.tenant_id}
    assert await store.write(c2b.record, clock, payment=payment, **where)


async def test_an_empty_code_is_asked_for(store, clock, vault, alpha):
    assert await refused(store, clock, vault, alpha, " - ") == "code_empty"


async def test_a_receipt_paid_by_hand_below_every_price_buys_nothing_and_stays_claimable(
    store, clock, vault, alpha
):
    await paid_by_hand(store, clock, alpha, "TJ3MX6CLYC", amount=25)
    assert await refused(store, clock, vault, alpha, "TJ3MX6CLYC") == "amount_too_small"
    received = await store.read(c2b.by_receipt, alpha.tenant_id, "TJ3MX6CLYC")
    assert received.claimed_at is None and received.access_session_id is None
    # The owner adds cheaper packages: the same receipt now buys the dearest one it covers.
    for name, price, minutes in (("10 minutes", 10, 10), ("20 minutes", 20, 25)):
        spec = PackageSpec(name, price, minutes * 60, "", None)
        await store.write(packages.create, clock, alpha.tenant_id, spec)
    session_id = await redeem(store, clock, vault, alpha, "tj3mx6clyc")
    session = await store.read(sessions.get, session_id)
    assert (session.mac, session.paid_seconds) == (DEVICE, 25 * 60)
    received = await store.read(c2b.by_receipt, alpha.tenant_id, "TJ3MX6CLYC")
    assert received.claimed_at == clock.now() and received.access_session_id == session_id


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
