"""Reports for any period (billing/period_reports.py): whole local days, every source added up the one way,
what is not earned kept apart, and every money event adding up to the same totals."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.billing import c2b, owner_decisions, vouchers
from portal.billing.earnings import Earned
from portal.billing.period_reports import (
    Period,
    PeriodRefused,
    money_events,
    period_of,
    quick_periods,
    report,
)
from portal.clock import FixedClock, to_text
from portal.tenancy.scope import Scope
from tests.billing.test_c2b import by_hand
from tests.billing.test_redemption import redeem
from tests.seed import Seeded, insert_payment, seed_tenant

NAIROBI = ZoneInfo("Africa/Nairobi")  # UTC+3 all year
NOW = datetime(2026, 1, 5, 21, 30, tzinfo=UTC)  # 00:30 on 6 January in Nairobi


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@dataclass
class Boundary:
    alpha: Seeded
    beta: Seeded
    reversed_payment_id: int


async def money_across_midnight(store, clock, vault) -> Boundary:
    """Alpha's money on both sides of midnight in Nairobi, from every source, and beta's beside it.

    5 January: 50 KES paid at 23:59. 6 January: the seeded 30 KES paid at 00:30 (and a cancelled one),
    20 KES paid at 00:01, 100 KES paid at 00:05 and reversed, 50 KES paid by hand of which 30 bought an
    hour (20 left: the customer's credit), 3000 KES of rent paid by hand, a 50 KES voucher used."""
    alpha = await seed_tenant(store, clock, vault, "alpha")
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")  # 30 KES paid now
    common = {
        "tenant_id": alpha.tenant_id,
        "mpesa_account_id": alpha.account_id,
        "package_id": alpha.package_id,
        "router_id": alpha.router_id,
    }

    def prompt_payments(db) -> int:
        insert_payment(
            db, **common, phone="254711000001", amount=50, state="paid", at=to_text(at(2026, 1, 5, 20, 59))
        )
        insert_payment(
            db, **common, phone="254711000002", amount=20, state="paid", at=to_text(at(2026, 1, 5, 21, 1))
        )
        return insert_payment(
            db, **common, phone="254711000003", amount=100, state="paid", at=to_text(at(2026, 1, 5, 21, 5))
        )

    given_back = await store.write(prompt_payments)
    assert await store.write(
        owner_decisions.reverse,
        clock,
        payment_id=given_back,
        tenant_id=alpha.tenant_id,
        reason="Paid twice",
        actor=alpha.owner,
        source_ip="127.0.0.1",
    )
    where = {"account_id": alpha.account_id, "tenant_id": alpha.tenant_id}
    for receipt, bill_ref, amount in (("RWIFI00050", "WIFI", 50), ("RRENT03000", "RENT-APT4", 3000)):
        await store.write(c2b.record, clock, payment=by_hand(receipt, bill_ref, amount), **where)
    await redeem(store, clock, vault, alpha, "RWIFI00050", "AA:BB:CC:00:02:01")  # 30 of its 50
    batch = await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, 1, 50)
    [voucher] = await store.read(vouchers.batch_vouchers, vault, Scope((alpha.tenant_id,)), batch)
    await redeem(store, clock, vault, alpha, voucher.code, "AA:BB:CC:00:02:02")
    return Boundary(alpha, beta, given_back)


async def test_a_report_across_a_local_midnight_equals_the_sum_of_its_sources(store, clock, vault):
    money = await money_across_midnight(store, clock, vault)
    alpha_only = Scope((money.alpha.tenant_id,))
    two_days = Period(NAIROBI, date(2026, 1, 5), date(2026, 1, 6))
    found = await store.read(report, alpha_only, two_days)

    assert [(day.day, day.amount, day.count) for day in found.days] == [
        (date(2026, 1, 5), 50, 1),
        (date(2026, 1, 6), 30 + 20 + 30 + 50, 4),
    ]
    assert found.by_source == [Earned("prompt", 100, 3), Earned("by_hand", 30, 1), Earned("vouchers", 50, 1)]
    assert found.by_package == [Earned("Alpha hour", 180, 5)]
    assert found.by_router == [Earned("alpha-router", 180, 5)]
    assert found.earned == 180
    # The money that came, by hand, at the till, one event at a time, earns the same, source by source.
    events = await store.read(money_events, alpha_only, two_days)
    assert {
        source: sum(event.earned for event in events if event.source == source)
        for source in ("prompt", "by_hand", "vouchers")
    } == {row.name: row.amount for row in found.by_source}
    assert [event.at for event in events] == sorted(event.at for event in events)
    assert {event.tenant for event in events} == {"Alpha Wi-Fi"}  # beta's 30 KES paid now is not in it

    # The day before midnight alone, and the day after alone, split the same money.
    first, second = [
        await store.read(report, alpha_only, Period(NAIROBI, day, day))
        for day in (date(2026, 1, 5), date(2026, 1, 6))
    ]
    assert (first.earned, second.earned) == (50, 130)
    assert first.by_source[0] == Earned("prompt", 50, 1)
    # Both businesses together: beta's 30 added, nothing else.
    both = await store.read(report, Scope((money.alpha.tenant_id, money.beta.tenant_id)), two_days)
    assert both.earned == 180 + 30


async def test_what_is_not_earned_is_kept_apart_with_its_reasons(store, clock, vault):
    money = await money_across_midnight(store, clock, vault)
    alpha_only = Scope((money.alpha.tenant_id,))
    found = await store.read(report, alpha_only, Period(NAIROBI, date(2026, 1, 6), date(2026, 1, 6)))

    [given_back] = found.reversals
    assert (given_back.id, given_back.amount, given_back.reversed_reason) == (
        money.reversed_payment_id,
        100,
        "Paid twice",
    )
    assert found.reversed_amount == 100
    assert found.credit_now == 20  # of the 50 paid by hand for Wi-Fi; the rent is nobody's credit
    assert found.earned == 130  # neither the 100 given back nor the 20 of credit nor the rent

    events = await store.read(money_events, alpha_only, found.period)
    [reversed_event] = [event for event in events if event.state == "reversed"]
    assert (reversed_event.amount, reversed_event.earned, reversed_event.note) == (100, 0, "Paid twice")
    [wifi] = [event for event in events if event.reference == "RWIFI00050" and event.state == "received"]
    assert (wifi.amount, wifi.earned, wifi.spent, wifi.credit) == (50, 0, 30, 20)
    [spent] = [event for event in events if event.state == "spent"]
    assert (spent.reference, spent.amount, spent.earned, spent.package) == (
        "RWIFI00050",
        30,
        30,
        "Alpha hour",
    )
    [rent] = [event for event in events if event.state == "not_for_wifi"]
    assert (rent.amount, rent.earned, rent.spent, rent.credit, rent.note) == (
        3000,
        0,
        None,
        None,
        "account RENT-APT4",
    )


async def test_a_reversed_payment_is_finished_but_no_success(store, clock, vault):
    money = await money_across_midnight(store, clock, vault)
    found = await store.read(
        report, Scope((money.alpha.tenant_id,)), Period(NAIROBI, date(2026, 1, 5), date(2026, 1, 6))
    )
    outcomes = found.outcomes
    assert outcomes.by_state == {"paid": 3, "reversed": 1, "failed": 1}
    assert outcomes.finished == 5
    assert outcomes.success_rate == 3 / 5  # the reversed one was finished, and not a success
    assert [(failure.code, failure.count) for failure in outcomes.failures] == [("1032", 1)]
    # Payments started before the period are not its outcomes.
    later = await store.read(
        report, Scope((money.alpha.tenant_id,)), Period(NAIROBI, date(2026, 1, 7), date(2026, 1, 7))
    )
    assert later.outcomes.finished == 0 and later.outcomes.success_rate is None


def test_a_period_is_whole_local_days_its_end_included():
    period = Period(NAIROBI, date(2026, 1, 5), date(2026, 1, 6))
    assert period.days == 2
    assert period.begins_at == at(2026, 1, 4, 21)  # midnight in Nairobi
    assert period.ends_before == at(2026, 1, 6, 21)  # the midnight that ends the 6th
    london = Period(ZoneInfo("Europe/London"), date(2026, 3, 29), date(2026, 3, 29))  # clocks go forward
    assert london.ends_before - london.begins_at == timedelta(hours=23)


def test_without_dates_a_period_is_this_month_so_far():
    today = date(2026, 3, 17)
    assert period_of(NAIROBI, today, "", "") == Period(NAIROBI, date(2026, 3, 1), today)
    assert period_of(NAIROBI, today, "2026-03-10", "") == Period(NAIROBI, date(2026, 3, 10), today)
    assert period_of(NAIROBI, today, "", "2026-02-14") == Period(NAIROBI, date(2026, 2, 1), date(2026, 2, 14))
    assert period_of(NAIROBI, today, " 2025-03-17 ", "2026-03-17").days == 366


@pytest.mark.parametrize(
    ("typed_from", "typed_to", "problems"),
    [
        ("2026-03-10", "2026-03-09", {"to": "before_start"}),
        ("10/03/2026", "yesterday", {"from": "not_a_date", "to": "not_a_date"}),
        ("2026-02-30", "", {"from": "not_a_date"}),
        ("0001-01-01", "9999-12-31", {"from": "out_of_range", "to": "out_of_range"}),
        ("2025-03-16", "2026-03-17", {"to": "too_long"}),  # 367 days
    ],
)
def test_dates_that_make_no_period_are_refused_field_by_field(typed_from, typed_to, problems):
    with pytest.raises(PeriodRefused) as refused:
        period_of(NAIROBI, date(2026, 3, 17), typed_from, typed_to)
    assert refused.value.problems == problems


def test_quick_periods_are_the_days_an_owner_asks_for():
    quick = quick_periods(NAIROBI, date(2026, 3, 1))  # the first of a month: last month is February
    assert {name: (period.first_day, period.last_day) for name, period in quick.items()} == {
        "today": (date(2026, 3, 1), date(2026, 3, 1)),
        "yesterday": (date(2026, 2, 28), date(2026, 2, 28)),
        "last_7_days": (date(2026, 2, 23), date(2026, 3, 1)),
        "last_30_days": (date(2026, 1, 31), date(2026, 3, 1)),
        "this_month": (date(2026, 3, 1), date(2026, 3, 1)),
        "last_month": (date(2026, 2, 1), date(2026, 2, 28)),
    }
