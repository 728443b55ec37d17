"""The payments table itself (billing/payments.py): compare-and-swap transitions and the timeline."""

from portal.billing import payments
from portal.clock import to_text
from tests.seed import insert_payment, seed_tenant


async def test_transitions_happen_once_and_never_take_paid_back(store, clock, vault):
    shop = await seed_tenant(store, clock, vault, "alpha")  # one paid payment, one failed (1032)
    pending = await store.write(
        insert_payment,
        tenant_id=shop.tenant_id,
        mpesa_account_id=shop.account_id,
        package_id=shop.package_id,
        phone="254711000001",
        amount=30,
        state="pending",
        at=to_text(clock.now()),
    )

    async def write(fn, *args, **kwargs) -> bool:
        return await store.write(fn, clock, *args, **kwargs)

    # paid stays paid, whatever arrives later
    assert not await write(payments.mark_failed, shop.paid_payment_id, code="1032", desc="Cancelled")
    assert not await write(payments.mark_expired, shop.paid_payment_id)
    assert not await write(payments.to_paid, shop.paid_payment_id, receipt="OTHER00001", desc="again")
    paid = await store.read(payments.get, shop.paid_payment_id)
    assert (paid.state, paid.receipt) == ("paid", "RALPHA0001")
    # an open payment moves once: the second of two racing changes finds it moved already
    assert await write(payments.mark_failed, pending, code="1032", desc="Cancelled")
    assert not await write(payments.mark_failed, pending, code="2001", desc="Wrong PIN")
    assert not await write(payments.mark_expired, pending)
    failed = await store.read(payments.get, pending)
    assert (failed.state, failed.result_code) == ("failed", "1032")
    # a failed one is paid by a genuine success (the caller checked it), once
    assert await write(payments.to_paid, pending, receipt="TJ3MX6CLYC", desc="ok")
    assert not await write(payments.to_paid, pending, receipt="TJ3MX6CLYD", desc="ok")
    settled = await store.read(payments.get, pending)
    assert (settled.state, settled.result_code, settled.receipt) == ("paid", "0", "TJ3MX6CLYC")
    assert settled.paid_at == clock.now()
