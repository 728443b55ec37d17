"""Earnings by local day, package and router, and how payments ended (billing/earnings.py)."""

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from portal.access import sessions
from portal.billing import c2b, owner_decisions, vouchers
from portal.billing.confirmation import mark_paid
from portal.billing.earnings import Earned, day_starts, earnings, earnings_by, outcomes, prompt_sums
from portal.clock import FixedClock, to_text
from portal.tenancy.scope import Scope
from tests.billing.test_c2b import by_hand
from tests.billing.test_redemption import redeem
from tests.seed import insert_payment, seed_tenant

NAIROBI = ZoneInfo("Africa/Nairobi")  # UTC+3 all year


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_local_day_starts_at_local_midnight():
    starts = day_starts(NAIROBI, at(2026, 1, 5, 21, 30), days=2)  # 00:30 on 6 January in Nairobi
    assert starts == [at(2026, 1, 4, 21), at(2026, 1, 5, 21), at(2026, 1, 6, 21)]


def test_a_day_with_a_daylight_saving_change_is_23_hours_long():
    london = ZoneInfo("Europe/London")  # clocks go forward on 29 March 2026
    starts = day_starts(london, at(2026, 3, 30, 12), days=2)
    assert starts[1] - starts[0] == timedelta(hours=23)
    assert starts[2] - starts[1] == timedelta(hours=24)


async def test_earnings_are_summed_by_local_day_across_the_utc_boundary(store, vault):
    clock = FixedClock(at(2026, 1, 5, 21, 30))  # 00:30 on 6 January in Nairobi
    alpha = await seed_tenant(store, clock, vault, "alpha")  # its 30 KES paid now: today
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    common = {
        "tenant_id": alpha.tenant_id,
        "mpesa_account_id": alpha.account_id,
        "package_id": alpha.package_id,
        "phone": "254711000000",
    }

    def add_payments(db) -> None:
        for paid_at, amount, state in [
            (at(2026, 1, 5, 20, 59), 50, "paid"),  # 23:59 on 5 January in Nairobi (6 January in no zone)
            (at(2026, 1, 5, 21, 1), 20, "paid"),  # 00:01 on 6 January
            (at(2026, 1, 5, 21, 5), 100, "reversed"),  # money given back: not earned
            (at(2026, 1, 4, 21, 0), 7, "paid"),  # 00:00 on 5 January
            (at(2026, 1, 4, 20, 59), 3, "paid"),  # 23:59 on 4 January
            (at(2025, 12, 7, 21, 0), 11, "paid"),  # 00:00 on 8 December: the first of 30 days
            (at(2025, 12, 7, 20, 59), 13, "paid"),  # 23:59 on 7 December: 31 days ago
        ]:
            insert_payment(db, **common, amount=amount, state=state, at=to_text(paid_at))

    await store.write(add_payments)
    earned = await store.read(earnings, Scope((alpha.tenant_id,)), NAIROBI, clock.now())
    assert len(earned.days) == 30
    assert [day.day for day in earned.days[-2:]] == [date(2026, 1, 5), date(2026, 1, 6)]
    assert earned.days[-1].amount == 30 + 20
    assert earned.days[-1].count == 2
    assert earned.days[-2].amount == 50 + 7
    assert earned.days[-3].amount == 3
    assert earned.days[0].amount == 11
    assert earned.last(1) == 50
    assert earned.last(7) == 50 + 57 + 3
    assert earned.last(30) == 50 + 57 + 3 + 11
    # The other tenant's money (30 KES paid now) is in neither's sums but its own.
    both = await store.read(earnings, Scope((alpha.tenant_id, beta.tenant_id)), NAIROBI, clock.now())
    assert both.last(1) == 50 + 30


async def test_money_by_hand_counts_on_the_day_each_part_was_spent_and_rent_never(store, vault):
    clock = FixedClock(at(2026, 1, 5, 20, 59))  # 23:59 on 5 January in Nairobi
    alpha = await seed_tenant(store, clock, vault, "alpha")  # its 30 KES hour paid through the prompt now
    where = {"account_id": alpha.account_id, "tenant_id": alpha.tenant_id}
    for receipt, bill_ref, amount in (("RWIFI00050", "WIFI", 50), ("RRENT03000", "RENT-APT4", 3000)):
        await store.write(c2b.record, clock, payment=by_hand(receipt, bill_ref, amount), **where)
    first = await redeem(store, clock, vault, alpha, "RWIFI00050", "AA:BB:CC:00:02:01")  # spends 30 of 50
    clock.advance(minutes=31)  # 00:30 on 6 January
    await store.write(sessions.end_session, clock, first)
    await store.write(c2b.record, clock, payment=by_hand("RWIFI00010", "wifi", 10), **where)
    await redeem(store, clock, vault, alpha, "RWIFI00050 RWIFI00010", "AA:BB:CC:00:02:01")  # 20 + 10

    alpha_only = Scope((alpha.tenant_id,))
    earned = await store.read(earnings, alpha_only, NAIROBI, clock.now())
    assert [earned.days[-2].amount, earned.days[-1].amount] == [30 + 30, 20 + 10]
    by_source = await store.read(earnings_by, alpha_only, at(2026, 1, 1), at(2026, 2, 1), "source")
    assert by_source == [Earned("by_hand", 60, 3), Earned("prompt", 30, 1)]
    by_package = await store.read(earnings_by, alpha_only, at(2026, 1, 1), at(2026, 2, 1), "package")
    assert by_package == [Earned("Alpha hour", 90, 4)]
    by_router = await store.read(earnings_by, alpha_only, at(2026, 1, 1), at(2026, 2, 1), "router")
    assert by_router == [Earned("alpha-router", 90, 4)]
    assert await store.read(c2b.credit_outstanding, alpha_only) == 0  # the rent is no customer's credit


async def test_a_voucher_sale_counts_once_when_used_or_when_its_batch_was_marked_sold(store, vault):
    clock = FixedClock(at(2026, 1, 5, 9))  # noon on 5 January in Nairobi
    alpha = await seed_tenant(store, clock, vault, "alpha")  # its 30 KES hour paid through the prompt now
    alpha_only = Scope((alpha.tenant_id,))
    sold = await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, 3, 50)
    free = await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, 1, 0)
    first, second, third = await store.read(vouchers.batch_vouchers, vault, alpha_only, sold)
    [given] = await store.read(vouchers.batch_vouchers, vault, alpha_only, free)
    await redeem(store, clock, vault, alpha, first.code, "AA:BB:CC:00:02:01")  # sold as it is used
    clock.advance(days=1)
    assert await store.write(vouchers.mark_sold, clock, alpha.tenant_id, sold) == 2  # to a reseller
    assert await store.write(vouchers.mark_sold, clock, alpha.tenant_id, sold) == 0
    clock.advance(days=1)
    await redeem(store, clock, vault, alpha, second.code, "AA:BB:CC:00:02:02")  # sold already: not again
    await redeem(store, clock, vault, alpha, given.code, "AA:BB:CC:00:02:03")  # given away: no sale
    assert await store.write(vouchers.void_unused, alpha.tenant_id, sold) == 1  # its sale stands

    earned = await store.read(earnings, alpha_only, NAIROBI, clock.now())
    assert [day.amount for day in earned.days[-3:]] == [30 + 50, 100, 0]
    assert [day.count for day in earned.days[-3:]] == [2, 2, 0]
    by_source = await store.read(earnings_by, alpha_only, at(2026, 1, 1), at(2026, 2, 1), "source")
    assert by_source == [Earned("vouchers", 150, 3), Earned("prompt", 30, 1)]
    by_router = await store.read(earnings_by, alpha_only, at(2026, 1, 1), at(2026, 2, 1), "router")
    assert by_router == [Earned("alpha-router", 130, 3), Earned(None, 50, 1)]  # the third was never used
    [batch] = [each for each in await store.read(vouchers.batches, alpha_only) if each.batch == sold]
    assert (batch.price, batch.unused, batch.unsold, batch.void) == (50, 0, 0, 1)
    assert third.code not in {first.code, second.code}


async def test_outcomes_give_the_success_rate_and_why_payments_failed(store, clock, vault):
    alpha = await seed_tenant(store, clock, vault, "alpha")  # one paid, one cancelled (1032)
    common = {
        "tenant_id": alpha.tenant_id,
        "mpesa_account_id": alpha.account_id,
        "package_id": alpha.package_id,
        "amount": 10,
    }
    now = to_text(clock.now())

    def add_payments(db) -> None:
        insert_payment(db, **common, phone="254711000001", state="expired", at=now)
        insert_payment(
            db,
            **common,
            phone="254711000002",
            state="failed",
            at=now,
            result_code="1032",
            result_desc="Cancelled",
        )
        insert_payment(db, **common, phone="254711000003", state="pending", at=now)
        insert_payment(
            db,
            **common,
            phone="254711000004",
            state="failed",
            at=to_text(clock.now() - timedelta(days=8)),  # before the window
            result_code="2001",
        )

    await store.write(add_payments)
    ended = await store.read(outcomes, Scope((alpha.tenant_id,)), clock.now() - timedelta(days=7))
    assert ended.finished == 4
    assert ended.success_rate == 0.25
    assert [(failure.code, failure.count) for failure in ended.failures] == [("1032", 2), ("expired", 1)]
    assert (await store.read(outcomes, Scope((999,)), clock.now() - timedelta(days=7))).success_rate is None


async def test_the_earnings_kept_by_quarter_hour_equal_the_payments_summed_after_every_way_to_pay(
    store, vault
):
    clock = FixedClock(at(2026, 1, 5, 20, 50))  # 23:50 on 5 January in Nairobi
    alpha = await seed_tenant(store, clock, vault, "alpha")  # its 30 KES paid now
    where = {"account_id": alpha.account_id, "tenant_id": alpha.tenant_id}
    common = {
        "tenant_id": alpha.tenant_id,
        "mpesa_account_id": alpha.account_id,
        "package_id": alpha.package_id,
        "router_id": alpha.router_id,
    }

    async def started(state: str, amount: int, phone: str) -> int:
        at_now = to_text(clock.now())
        return await store.write(insert_payment, **common, phone=phone, amount=amount, state=state, at=at_now)

    callback, failed_first, to_reverse = (
        await started("pending", 20, "254711000001"),
        await started("failed", 50, "254711000002"),
        await started("pending", 100, "254711000003"),
    )
    unknown = await started("unknown", 10, "254711000004")
    await store.write(mark_paid, clock, vault, callback, receipt="TJ3MX6CLY1", desc="callback")
    clock.advance(minutes=9, seconds=59)  # 23:59:59
    await store.write(mark_paid, clock, vault, failed_first, receipt="TJ3MX6CLY2", desc="query")
    await store.write(mark_paid, clock, vault, to_reverse, receipt="TJ3MX6CLY3", desc="callback")
    clock.advance(seconds=2)  # 00:00:01 on 6 January
    decided = {"tenant_id": alpha.tenant_id, "actor": "owner@alpha.example", "source_ip": "127.0.0.1"}
    await store.write(owner_decisions.confirm_paid, clock, vault, payment_id=unknown, receipt="", **decided)
    assert await store.write(
        owner_decisions.reverse, clock, payment_id=to_reverse, reason="refund", **decided
    )
    await store.write(c2b.record, clock, payment=by_hand("RWIFI00030", "WIFI", 30), **where)
    await redeem(store, clock, vault, alpha, "RWIFI00030", "AA:BB:CC:00:02:01")

    alpha_only = Scope((alpha.tenant_id,))
    bounds = day_starts(NAIROBI, clock.now(), 2)

    def summed_from_payments(db) -> list[tuple]:
        return [
            tuple(db.one(
                "SELECT coalesce(sum(amount), 0) AS amount, count(*) AS count FROM payments"
                " WHERE state = 'paid' AND package_id IS NOT NULL AND paid_at >= ? AND paid_at < ?",
                (to_text(start), to_text(end)),
            ))
            for start, end in pairwise(bounds)
        ]  # fmt: skip

    assert await store.read(summed_from_payments) == [(30 + 20 + 50, 3), (10, 1)]
    kept = await store.read(prompt_sums, alpha_only, bounds, None)
    assert sorted(kept) == [(0, None, 100, 3), (1, None, 10, 1)]
    earned = await store.read(earnings, alpha_only, NAIROBI, clock.now())
    assert [earned.days[-2].amount, earned.days[-1].amount] == [100, 10 + 30]  # and the 30 paid by hand
