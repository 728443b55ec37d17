"""Earnings by local day, package and router, and how payments ended (billing/earnings.py)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from portal.billing.earnings import Earned, day_starts, earnings, earnings_by, outcomes
from portal.clock import FixedClock, to_text
from portal.tenancy.scope import Scope
from tests.seed import insert, insert_payment, seed_tenant

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


async def test_money_paid_by_hand_counts_once_claimed_for_wifi_on_the_day_it_was_claimed(store, vault):
    clock = FixedClock(at(2026, 1, 5, 21, 30))  # 00:30 on 6 January in Nairobi
    alpha = await seed_tenant(store, clock, vault, "alpha")  # 30 KES paid through the prompt now

    def add_paid_by_hand(db) -> None:
        for receipt, amount, claimed in [
            ("SGR0000001", 200, at(2026, 1, 5, 20, 59)),  # claimed 23:59 on 5 January
            ("SGR0000002", 500, None),  # paid to the PayBill for something else: not Wi-Fi's
        ]:
            insert(
                db,
                "c2b_payments",
                tenant_id=alpha.tenant_id,
                mpesa_account_id=alpha.account_id,
                receipt=receipt,
                amount=amount,
                received_at=to_text(at(2026, 1, 5, 20, 0)),
                claimed_at=to_text(claimed) if claimed else None,
                access_session_id=alpha.session_id if claimed else None,
            )

    await store.write(add_paid_by_hand)
    alpha_only = Scope((alpha.tenant_id,))
    earned = await store.read(earnings, alpha_only, NAIROBI, clock.now())
    assert [earned.days[-2].amount, earned.days[-1].amount] == [200, 30]
    by_package = await store.read(earnings_by, alpha_only, at(2026, 1, 1), clock.now(), "package")
    assert by_package == [Earned("Alpha hour", 230, 2)]
    by_router = await store.read(earnings_by, alpha_only, at(2026, 1, 1), clock.now(), "router")
    assert by_router == [Earned("alpha-router", 230, 2)]


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
