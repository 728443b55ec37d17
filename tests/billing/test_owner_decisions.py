"""What the owner decides about a payment (billing/owner_decisions.py), each audited: a reversal, and
for a payment whose outcome is unknown, confirmed paid or not paid."""

import pytest

from portal.billing import owner_decisions, payments
from portal.billing.owner_decisions import DecisionRefused
from portal.mpesa import result_codes
from tests.billing.conftest import answer, current, start, timeline
from tests.billing.test_receipt_checks import unknown
from tests.conftest import rows


def decide(portal, decision, payment, **values):
    """The owner's decision about `payment`, as the admin page makes it."""
    services = portal.services
    secrets = (services.vault,) if decision is owner_decisions.confirm_paid else ()
    return services.store.write(
        lambda db: decision(
            db,
            services.clock,
            *secrets,
            payment_id=payment.id,
            tenant_id=values.pop("tenant_id", payment.tenant_id),
            actor="owner@cafe",
            source_ip="127.0.0.1",
            **values,
        )
    )


async def test_owner_reverses_a_paid_payment_with_a_reason(portal, shop, daraja, http, clock):
    payment = await start(portal, shop)
    store = portal.services.store

    async def reverse(reason: str, tenant_id: int = shop.tenant_id) -> bool:
        return await decide(portal, owner_decisions.reverse, payment, reason=reason, tenant_id=tenant_id)

    with pytest.raises(DecisionRefused) as no_reason:
        await reverse(" ")
    assert no_reason.value.reason == "no_reason"
    with pytest.raises(DecisionRefused) as too_long:
        await reverse("x" * (owner_decisions.REVERSAL_REASON_MAX + 1))
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


async def test_confirm_paid_pays_an_unknown_payment_once_with_the_receipt_the_owner_read(
    portal, shop, daraja, http
):
    payment, receipt = await unknown(portal, shop, daraja, http)
    with pytest.raises(DecisionRefused, match="not_a_receipt"):
        await decide(portal, owner_decisions.confirm_paid, payment, receipt="12 34")
    assert not await decide(
        portal, owner_decisions.confirm_paid, payment, receipt="", tenant_id=shop.tenant_id + 1
    )  # another business's owner: as if there were no such payment
    assert await decide(portal, owner_decisions.confirm_paid, payment, receipt=receipt.lower())
    assert not await decide(portal, owner_decisions.confirm_paid, payment, receipt="")
    paid = await current(portal, payment)
    assert (paid.state, paid.receipt, paid.result_desc) == ("paid", receipt, "confirmed by the owner")
    [event] = [event for event in await timeline(portal, payment) if event.kind == "owner"]
    assert event.source == "owner@cafe" and event.detail == {"effect": "paid", "receipt": receipt}
    [audited] = await rows(portal.services.store, "SELECT detail FROM audit_events")
    assert audited["detail"] == f'{{"receipt": "{receipt}"}}'


async def test_a_receipt_that_is_another_payments_is_refused_and_only_unknown_payments_are_decided(
    portal, shop, daraja, http
):
    first, receipt = await unknown(portal, shop, daraja, http)
    assert await decide(portal, owner_decisions.confirm_paid, first, receipt=receipt)
    second, _ = await unknown(portal, shop, daraja, http, phone="0708374150")
    with pytest.raises(DecisionRefused, match="receipt_used"):
        await decide(portal, owner_decisions.confirm_paid, second, receipt=receipt)
    assert (await current(portal, second)).state == "unknown"
    pending = await start(portal, shop, phone="0708374151")
    assert not await decide(portal, owner_decisions.confirm_paid, pending, receipt="")
    assert not await decide(portal, owner_decisions.not_paid, pending)
    assert (await current(portal, pending)).state == "pending"


async def test_not_paid_fails_an_unknown_payment_with_words_for_the_payer(portal, shop, daraja, http):
    payment, _ = await unknown(portal, shop, daraja, http)
    assert await decide(portal, owner_decisions.not_paid, payment)
    assert not await decide(portal, owner_decisions.not_paid, payment)
    failed = await current(portal, payment)
    assert failed.state == "failed" and failed.result_code == result_codes.NOT_PAID
    assert failed.outcome.retry and failed.outcome.message == "result.not_paid"
    assert await rows(
        portal.services.store, "SELECT id FROM audit_events WHERE action = 'payment_marked_not_paid'"
    )
