"""The payments table itself (billing/payments.py): compare-and-swap transitions, the timeline, and the
owner's reversal."""

import pytest

from portal.billing import payments
from portal.billing.payments import ReversalRefused
from portal.clock import to_text
from tests.billing.conftest import answer, current, start, timeline
from tests.conftest import rows
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


async def test_owner_reverses_a_paid_payment_with_a_reason(portal, shop, daraja, http, clock):
    payment = await start(portal, shop)
    store = portal.services.store

    async def reverse(reason: str, tenant_id: int = shop.tenant_id) -> bool:
        return await store.write(
            lambda db: payments.reverse(
                db,
                clock,
                payment_id=payment.id,
                tenant_id=tenant_id,
                reason=reason,
                actor="owner@cafe",
                source_ip="127.0.0.1",
            )
        )

    with pytest.raises(ReversalRefused) as no_reason:
        await reverse(" ")
    assert no_reason.value.reason == "no_reason"
    with pytest.raises(ReversalRefused) as too_long:
        await reverse("x" * (payments.REVERSAL_REASON_MAX + 1))
    assert too_long.value.reason == "reason_too_long"
    assert not await reverse("refunded")  # not paid yet
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    assert not await reverse("refunded", tenant_id=shop.tenant_id + 1)
    assert await reverse("refunded:   no signal")
    assert not await reverse("refunded twice")
    # A late word of success (a duplicate callback) does not make it earned again.
    assert not await store.write(payments.to_paid, clock, payment.id, receipt=None, desc="late")
    reversed_ = await current(portal, payment)
    assert reversed_.state == "reversed" and reversed_.reversed_reason == "refunded: no signal"
    [event] = [event for event in await timeline(portal, payment) if event.kind == "reversed"]
    assert event.source == "admin" and event.detail == {"reason": "refunded: no signal", "by": "owner@cafe"}
    [audited] = await rows(store, "SELECT target, actor FROM audit_events WHERE action = 'payment_reversed'")
    assert (audited["target"], audited["actor"]) == (f"payment:{payment.ref}", "owner@cafe")
