"""A payment's timeline reads one line per event in plain words, with what arrived kept aside; real
payments on the Daraja simulator, confirmed by callback or by query."""

from portal.billing import checkout, payments, timeline
from tests.billing.conftest import answer, current, reconcile, start


async def moments_of(portal, payment) -> list[timeline.Moment]:
    payment = await current(portal, payment)
    return await portal.services.store.read(timeline.timeline, payment)


async def test_a_paid_payment_reads_one_line_per_event_and_starts_once(portal, shop, daraja, http):
    payment = await start(portal, shop)
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    moments = await moments_of(portal, payment)
    events = await portal.services.store.read(payments.timeline, payment.id)
    receipt = (await current(portal, payment)).receipt
    titles = [moment.title for moment in moments]
    assert titles[:3] == [
        "Payment started: KES 20 for 3 hours",
        "M-Pesa prompt sent to the customer's phone",
        f"M-Pesa confirmed the payment: receipt {receipt}",
    ]
    assert sum(title.startswith("Payment started") for title in titles) == 1
    assert len([m for m in moments if m.detail]) >= len(events)  # each event's raw answer, kept aside
    assert not any("{" in title or "_" in title for title in titles)  # no JSON, no field names


async def test_a_failure_says_why_in_the_owners_words(behind_nat, nat_shop, daraja, http, clock):
    payment = await start(behind_nat, nat_shop)
    await answer(daraja, http, payment, "no_funds")
    clock.advance(checkout.FIRST_QUERY.total_seconds())
    await reconcile(behind_nat)
    moments = await moments_of(behind_nat, payment)
    [failed] = [moment for moment in moments if moment.bad]
    assert failed.title == "Asked M-Pesa: Not enough money on the customer's M-Pesa"
    assert '"result_code": "1"' in failed.detail
