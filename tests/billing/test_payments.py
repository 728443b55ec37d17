"""The payments table itself (billing/payments.py): compare-and-swap transitions and the timeline."""

from datetime import timedelta

from portal.billing import earnings, payments, timeline
from portal.clock import to_text
from portal.tenancy import api_clients
from portal.tenancy.scope import of_tenant
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


async def test_an_api_clients_paid_charge_is_no_wifi_money_but_is_in_the_owners_list(store, clock, vault):
    shop = await seed_tenant(store, clock, vault, "alpha")  # one Wi-Fi payment paid, with its session
    client, _ = await store.write(api_clients.create, clock, shop.tenant_id, "Till", ["payments:write"])
    charge = await store.write(
        insert_payment,
        tenant_id=shop.tenant_id,
        mpesa_account_id=shop.account_id,
        api_client_id=client.id,
        phone="254711000001",
        amount=500,
        reference="ORDER1",
        description="Laundry",
        state="paid",
        at=to_text(clock.now() - timedelta(minutes=5)),
    )
    scope = of_tenant(shop.tenant_id)
    day = [clock.now() - timedelta(days=1), clock.now() + timedelta(seconds=1)]
    # Not "paid but not online" (it buys nothing to be online with), not earned from Wi-Fi.
    assert await store.read(payments.paid_unconnected, scope, day[0], day[1], [], 10) == []
    quarters = [earnings.quarter_of(day[0]), earnings.quarter_of(day[1]) + timedelta(minutes=15)]
    assert await store.read(earnings.prompt_sums, scope, quarters, None) == [(0, None, 30, 1)]
    assert [p.id for p in await store.read(payments.paid_between, scope, *day, ("paid",))] == [
        shop.paid_payment_id
    ]
    found, total, more = await store.read(payments.search, scope, payments.PaymentFilter(), limit=10)
    [listed] = [p for p in found if p.id == charge]
    assert (total, more) == (3, False) and listed.api_charge == "API: Laundry (ORDER1)"
    story = await store.read(timeline.timeline, listed)
    assert story[0].title == "Payment started: KES 500 for API: Laundry (ORDER1)"


async def test_batches_after_the_last_one_read_list_every_payment_once_even_at_the_same_moment(
    store, clock, vault
):
    shop = await seed_tenant(store, clock, vault, "alpha")
    moment = to_text(clock.now() - timedelta(hours=1))  # one instant for all: only the id orders them

    def same_moment(db) -> list[int]:
        return [
            insert_payment(
                db, tenant_id=shop.tenant_id, mpesa_account_id=shop.account_id, package_id=shop.package_id,
                phone=f"25471100{n:04d}", amount=10, state="failed", at=moment,
            )
            for n in range(5)
        ]  # fmt: skip

    ids = await store.write(same_moment)
    scope, failed = of_tenant(shop.tenant_id), payments.PaymentFilter(state="failed")
    listed, last = [], None
    while batch := await store.read(payments.search_after, scope, failed, last, 2):
        listed += [payment.id for payment in batch]
        last = batch[-1]
    assert listed == [shop.failed_payment_id, *sorted(ids, reverse=True)]  # the seeded one is newer


async def test_a_long_list_is_counted_only_so_far_past_the_page(store, clock, vault):
    shop = await seed_tenant(store, clock, vault, "alpha")
    past = payments.COUNTED_PAST_PAGE

    def failed_payments(db, count: int) -> None:
        for n in range(count):
            insert_payment(
                db, tenant_id=shop.tenant_id, mpesa_account_id=shop.account_id, package_id=shop.package_id,
                phone=f"2547110{n:05d}", amount=10, state="failed",
                at=to_text(clock.now() - timedelta(minutes=n + 1)),
            )  # fmt: skip

    scope, failed = of_tenant(shop.tenant_id), payments.PaymentFilter(state="failed")
    await store.write(failed_payments, past + 9)  # with the seeded one: exactly what is counted
    rows, total, more = await store.read(payments.search, scope, failed, limit=10)
    assert (len(rows), total, more) == (10, past + 10, False)
    await store.write(failed_payments, 1)
    assert (await store.read(payments.search, scope, failed, limit=10))[1:] == (past + 10, True)
    assert (await store.read(payments.search, scope, failed, limit=10, offset=10))[1:] == (past + 11, False)
