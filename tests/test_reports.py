"""Earnings by local day, payment outcomes, and what the dashboard flags as stuck."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from portal import reports
from portal.clock import FixedClock, to_text
from portal.scope import Scope
from tests.seed import insert, insert_payment, seed_tenant

NAIROBI = ZoneInfo("Africa/Nairobi")  # UTC+3 all year


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_local_day_starts_at_local_midnight():
    starts = reports.day_starts(NAIROBI, at(2026, 1, 5, 21, 30), days=2)  # 00:30 on 6 January in Nairobi
    assert starts == [at(2026, 1, 4, 21), at(2026, 1, 5, 21), at(2026, 1, 6, 21)]


def test_a_day_with_a_daylight_saving_change_is_23_hours_long():
    london = ZoneInfo("Europe/London")  # clocks go forward on 29 March 2026
    starts = reports.day_starts(london, at(2026, 3, 30, 12), days=2)
    assert starts[1] - starts[0] == timedelta(hours=23)
    assert starts[2] - starts[1] == timedelta(hours=24)


async def test_earnings_are_summed_by_local_day_across_the_utc_boundary(db, vault):
    clock = FixedClock(at(2026, 1, 5, 21, 30))  # 00:30 on 6 January in Nairobi
    alpha = await seed_tenant(db, clock, vault, "alpha")  # its 30 KES paid now: today
    beta = await seed_tenant(db, clock, vault, "beta", phone="254722000000")
    common = {"mpesa_account_id": alpha.account_id, "package_id": alpha.package_id, "phone": "254711000000"}
    async with db.transaction() as tx:
        for paid_at, amount, state in [
            (at(2026, 1, 5, 20, 59), 50, "paid"),  # 23:59 on 5 January in Nairobi (6 January in no zone)
            (at(2026, 1, 5, 21, 1), 20, "paid"),  # 00:01 on 6 January
            (at(2026, 1, 5, 21, 5), 100, "reversed"),  # money given back: not earned
            (at(2026, 1, 4, 21, 0), 7, "paid"),  # 00:00 on 5 January
            (at(2026, 1, 4, 20, 59), 3, "paid"),  # 23:59 on 4 January
            (at(2025, 12, 7, 21, 0), 11, "paid"),  # 00:00 on 8 December: the first of 30 days
            (at(2025, 12, 7, 20, 59), 13, "paid"),  # 23:59 on 7 December: 31 days ago
        ]:
            await insert_payment(
                tx, tenant_id=alpha.tenant_id, **common, amount=amount, state=state, at=to_text(paid_at)
            )
    earnings = await reports.earnings(db, Scope((alpha.tenant_id,)), NAIROBI, clock.now())
    assert [day.day for day in earnings.days[-2:]] == [date(2026, 1, 5), date(2026, 1, 6)]
    assert earnings.days[-1].amount == 30 + 20
    assert earnings.days[-1].count == 2
    assert earnings.days[-2].amount == 50 + 7
    assert earnings.days[-3].amount == 3
    assert earnings.days[0].amount == 11
    assert earnings.last(1) == 50
    assert earnings.last(7) == 50 + 57 + 3
    assert earnings.last(30) == 50 + 57 + 3 + 11
    # The other tenant's money (30 KES paid now) is in neither's sums but its own.
    both = await reports.earnings(db, Scope((alpha.tenant_id, beta.tenant_id)), NAIROBI, clock.now())
    assert both.last(1) == 50 + 30


async def test_money_paid_by_hand_counts_once_claimed_for_wifi_on_the_day_it_was_claimed(db, vault):
    clock = FixedClock(at(2026, 1, 5, 21, 30))  # 00:30 on 6 January in Nairobi
    alpha = await seed_tenant(db, clock, vault, "alpha")  # 30 KES paid through the prompt now
    async with db.transaction() as tx:
        for receipt, amount, claimed in [
            ("SGR0000001", 200, at(2026, 1, 5, 20, 59)),  # claimed 23:59 on 5 January
            ("SGR0000002", 500, None),  # paid to the PayBill for something else: not Wi-Fi's
        ]:
            await insert(
                tx,
                "c2b_payments",
                tenant_id=alpha.tenant_id,
                mpesa_account_id=alpha.account_id,
                receipt=receipt,
                amount=amount,
                received_at=to_text(at(2026, 1, 5, 20, 0)),
                claimed_at=to_text(claimed) if claimed else None,
                access_session_id=alpha.session_id if claimed else None,
            )
    alpha_only = Scope((alpha.tenant_id,))
    earnings = await reports.earnings(db, alpha_only, NAIROBI, clock.now())
    assert [earnings.days[-2].amount, earnings.days[-1].amount] == [200, 30]
    by_package = await reports.earnings_by(db, alpha_only, at(2026, 1, 1), "package")
    assert by_package == [reports.Earned("Alpha hour", 230, 2)]


async def test_outcomes_give_the_success_rate_and_why_payments_failed(db, clock, vault):
    alpha = await seed_tenant(db, clock, vault, "alpha")  # one paid, one cancelled (1032)
    common = {
        "tenant_id": alpha.tenant_id,
        "mpesa_account_id": alpha.account_id,
        "package_id": alpha.package_id,
        "amount": 10,
    }
    now = to_text(clock.now())
    async with db.transaction() as tx:
        await insert_payment(tx, **common, phone="254711000001", state="expired", at=now)
        await insert_payment(
            tx,
            **common,
            phone="254711000002",
            state="failed",
            at=now,
            result_code="1032",
            result_desc="Cancelled",
        )
        await insert_payment(tx, **common, phone="254711000003", state="pending", at=now)
        await insert_payment(
            tx,
            **common,
            phone="254711000004",
            state="failed",
            at=to_text(clock.now() - timedelta(days=8)),  # before the window
            result_code="2001",
        )
    outcomes = await reports.outcomes(db, Scope((alpha.tenant_id,)), clock.now() - timedelta(days=7))
    assert outcomes.finished == 4
    assert outcomes.success_rate == 0.25
    assert [(row["code"], row["count"]) for row in outcomes.failures] == [("1032", 2), ("expired", 1)]


async def test_stuck_shows_paid_customers_not_online_routers_down_and_daraja_errors(db, clock, vault):
    alpha = await seed_tenant(db, clock, vault, "alpha")  # paid with an active session: not stuck
    common = {
        "tenant_id": alpha.tenant_id,
        "mpesa_account_id": alpha.account_id,
        "package_id": alpha.package_id,
        "amount": 10,
    }
    async with db.transaction() as tx:
        waiting = await insert_payment(
            tx, **common, phone="254711000001", state="paid", at=to_text(clock.now() - timedelta(minutes=3))
        )
        await insert_payment(
            tx, **common, phone="254711000002", state="paid", at=to_text(clock.now() - timedelta(seconds=30))
        )
        for phone, code in (("254711000003", "2028"), ("254711000004", "1032"), ("254711000005", "2028")):
            await insert_payment(
                tx,
                **common,
                phone=phone,
                state="failed",
                at=to_text(clock.now()),
                result_code=code,
                result_desc="The request is not permitted according to product assignment.",
            )
        await tx.execute(
            "UPDATE routers SET last_error = 'connection refused' WHERE id = ?", (alpha.router_id,)
        )
    stuck = await reports.stuck(db, Scope((alpha.tenant_id,)), clock.now())
    assert [row["id"] for row in stuck.unconnected] == [waiting]
    assert [row["name"] for row in stuck.routers_down] == ["alpha-router"]
    assert [(row["code"], row["count"]) for row in stuck.daraja_errors] == [("2028", 2)]
    assert stuck
    assert not await reports.stuck(db, Scope((999,)), clock.now())
