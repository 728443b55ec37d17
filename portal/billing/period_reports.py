"""Reports for any period: what was earned from each source, by package, router and local day; what was
given back and what customers still hold, apart from it; how the payments started in it ended; and every
money event of it, one by one, for a spreadsheet.

A period is whole local days in the configured zone, `first_day` to `last_day`, both included. As
instants it runs from `begins_at` (the local midnight that starts `first_day`) to just before
`ends_before` (the one that ends `last_day`). Every figure comes from earnings.py, which counts money
the one way the dashboard does: a reversed payment is not earned, money paid by hand counts when it
is spent on time, a voucher when it is sold. The events add up to the same totals: each says what of
its amount was earned.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..access import routers
from ..catalog import packages
from ..store import Connection
from ..tenancy import tenants
from ..tenancy.scope import Scope
from . import c2b, earnings, payments, vouchers
from .earnings import SOURCES, Day, Earned, Outcomes
from .payments import Payment, PaymentFilter

FIRST_YEAR, LAST_YEAR = 2000, 2100  # dates outside are typing mistakes (and year 9999 has no next day)
MAX_DAYS = 366  # a year, a leap day included; more is one query too many for a page


class PeriodRefused(ValueError):
    """What is wrong with the dates typed, by field ('from' or 'to'): not_a_date, out_of_range,
    before_start, too_long."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(", ".join(f"{field}: {reason}" for field, reason in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Period:
    zone: ZoneInfo
    first_day: date
    last_day: date  # included

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def begins_at(self) -> datetime:
        return earnings.local_midnight(self.zone, self.first_day)

    @property
    def ends_before(self) -> datetime:
        return earnings.local_midnight(self.zone, self.last_day + timedelta(days=1))


def typed_days(typed_from: str, typed_to: str) -> tuple[date | None, date | None, dict[str, str]]:
    """The days typed as YYYY-MM-DD (None for nothing typed), and what is wrong with them by field."""
    days: dict[str, date | None] = {}
    problems: dict[str, str] = {}
    for field, text in (("from", typed_from.strip()), ("to", typed_to.strip())):
        try:
            days[field] = date.fromisoformat(text) if text else None
        except ValueError:
            days[field], problems[field] = None, "not_a_date"
            continue
        if days[field] and not FIRST_YEAR <= days[field].year <= LAST_YEAR:
            days[field], problems[field] = None, "out_of_range"
    first, last = days["from"], days["to"]
    if first and last and first > last:
        problems["to"] = "before_start"
    return first, last, problems


def period_of(zone: ZoneInfo, today: date, typed_from: str, typed_to: str) -> Period:
    """The period typed: without an end, up to today; without a start, from the first of the end's month;
    with neither, this month so far. Raises PeriodRefused."""
    first, last, problems = typed_days(typed_from, typed_to)
    if problems:
        raise PeriodRefused(problems)
    last = last or max(first or today, today)
    first = first or last.replace(day=1)
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodRefused({"to": "too_long"})
    return Period(zone, first, last)


def quick_periods(zone: ZoneInfo, today: date) -> dict[str, Period]:
    """The periods an owner asks for most, by name."""
    this_month = today.replace(day=1)
    last_month_ends = this_month - timedelta(days=1)
    yesterday = today - timedelta(days=1)
    return {
        name: Period(zone, first, last)
        for name, first, last in [
            ("today", today, today),
            ("yesterday", yesterday, yesterday),
            ("last_7_days", today - timedelta(days=6), today),
            ("last_30_days", today - timedelta(days=29), today),
            ("this_month", this_month, today),
            ("last_month", last_month_ends.replace(day=1), last_month_ends),
        ]
    }


@dataclass(frozen=True)
class Report:
    period: Period
    days: list[Day]  # every local day of the period, oldest first, days with nothing too
    by_source: list[Earned]  # every source, in SOURCES order
    by_package: list[Earned]
    by_router: list[Earned]
    reversals: list[Payment]  # paid in the period and given back since: not earned
    credit_now: int  # Wi-Fi money paid by hand that has bought nothing yet: the customers', not earned
    outcomes: Outcomes  # of the payments started in the period

    @property
    def earned(self) -> int:
        return sum(day.amount for day in self.days)

    @property
    def reversed_amount(self) -> int:
        return sum(payment.amount for payment in self.reversals)


def report(db: Connection, scope: Scope, period: Period) -> Report:
    start, end = period.begins_at, period.ends_before
    by_source = {row.name: row for row in earnings.earnings_by(db, scope, start, end, "source")}
    return Report(
        period=period,
        days=earnings.daily(db, scope, period.zone, period.first_day, period.last_day),
        by_source=[by_source.get(source, Earned(source, 0, 0)) for source in SOURCES],
        by_package=earnings.earnings_by(db, scope, start, end, "package"),
        by_router=earnings.earnings_by(db, scope, start, end, "router"),
        reversals=payments.paid_between(db, scope, start, end, ("reversed",)),
        credit_now=c2b.credit_outstanding(db, scope),
        outcomes=earnings.outcomes(db, scope, start, end),
    )


@dataclass(frozen=True)
class MoneyEvent:
    """Money that moved in the period, and what of it was earned."""

    at: datetime
    source: str  # one of SOURCES
    state: str  # paid | reversed (prompt); received | not_for_wifi | spent (by hand); sold (vouchers)
    reference: str  # the M-Pesa receipt, or the payment's reference, or the voucher batch
    phone: str  # as M-Pesa gave it (money by hand: hashed or masked)
    package: str
    router: str
    amount: int
    earned: int  # what of `amount` counts in the report's totals
    tenant: str
    note: str = ""  # why it was reversed; the account typed for money by hand; how a voucher sold
    spent: int | None = None  # money received by hand: what of it bought time so far
    credit: int | None = None  # and what it can still buy


def money_events(db: Connection, scope: Scope, period: Period) -> list[MoneyEvent]:
    """Every prompt payment paid in the period (reversed ones too, earning nothing), every payment by hand
    received and every part of one spent on time, every voucher sold; oldest first."""
    start, end = period.begins_at, period.ends_before
    prompt = payments.paid_between(db, scope, start, end, ("paid", "reversed"))
    received = c2b.search(db, scope, PaymentFilter(start=start, end=end), limit=None)
    spent = c2b.spends(db, scope, start, end)
    sold = vouchers.sales(db, scope, start, end)
    bought = earnings.bought_with(db, spent, sold)
    package_names = packages.names(
        db,
        {p.package_id for p in prompt}
        | {session.package_id for session in bought.values()}
        | {sale.package_id for sale in sold},
    )
    router_names = routers.names(
        db, {p.router_id for p in prompt if p.router_id} | {session.router_id for session in bought.values()}
    )
    tenant_names = tenants.names(db, scope.tenant_ids)
    events = [
        MoneyEvent(
            at=p.paid_at,
            source="prompt",
            state=p.state,
            reference=p.receipt or p.ref,
            phone=p.phone,
            package=package_names[p.package_id],
            router=router_names.get(p.router_id, ""),
            amount=p.amount,
            earned=p.amount if p.state == "paid" else 0,
            tenant=tenant_names[p.tenant_id],
            note=p.reversed_reason or "",
        )
        for p in prompt
    ]
    events += [
        MoneyEvent(
            at=paid.received_at,
            source="by_hand",
            state="received" if paid.for_wifi else "not_for_wifi",
            reference=paid.receipt,
            phone=paid.msisdn,
            package="",
            router="",
            amount=paid.amount,
            earned=0,  # it counts when it buys time (below), if it is Wi-Fi's at all
            tenant=tenant_names[paid.tenant_id],
            note=f"account {paid.bill_ref}" if paid.bill_ref else "",
            spent=paid.spent if paid.for_wifi else None,
            credit=paid.credit if paid.for_wifi else None,
        )
        for paid in received
    ]
    events += [
        MoneyEvent(
            at=spend.spent_at,
            source="by_hand",
            state="spent",
            reference=spend.receipt,
            phone=spend.msisdn,
            package=package_names[bought[spend.access_session_id].package_id],
            router=router_names.get(bought[spend.access_session_id].router_id, ""),
            amount=spend.amount,
            earned=spend.amount,
            tenant=tenant_names[spend.tenant_id],
        )
        for spend in spent
    ]
    events += [
        MoneyEvent(
            at=sale.sold_at,
            source="vouchers",
            state="sold",
            reference=f"batch {sale.batch}",
            phone="",
            package=package_names[sale.package_id],
            router=router_names.get(bought[sale.access_session_id].router_id, "")
            if sale.access_session_id
            else "",
            amount=sale.price,
            earned=sale.price,
            tenant=tenant_names[sale.tenant_id],
            note="batch marked sold" if sale.marked_sold else "sold as it was used",
        )
        for sale in sold
    ]
    return sorted(events, key=lambda event: event.at)
