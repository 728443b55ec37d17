"""What the owner earned, by local day, package and router; and how payments ended.

Times are stored in UTC; a "day" is a day in the configured zone. Day boundaries are computed here, in
Python, and queried as UTC ranges, so a payment at 23:59 and one at 00:01 Nairobi time land on the
days the owner lived them. Earnings count three sources: payments through the prompt that are `paid`
when asked (a reversal takes its money back out), on the day they were paid; money paid by hand to the
PayBill or Till (C2B) for Wi-Fi, on the day a customer spent it on time (a PayBill may take money for
other things too, which is not Wi-Fi's to count, and what is not spent yet is the customer's credit);
and vouchers, on the day they sold (billing/vouchers.py). Each source is summed from its own table;
the sums are added up here.
"""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..access import routers, sessions
from ..catalog import packages
from ..store import Connection
from ..tenancy.scope import Scope
from . import c2b, payments, vouchers

SOURCES = ("prompt", "by_hand", "vouchers")


def local_midnight(zone: ZoneInfo, day: date) -> datetime:
    """When `day` begins in `zone`, as a UTC instant."""
    return datetime.combine(day, time(), zone).astimezone(UTC)


def day_bounds(zone: ZoneInfo, first: date, last: date) -> list[datetime]:
    """The start of each local day from `first` to `last` (both included), then the midnight that ends
    `last`. Computed day by day, so a daylight-saving change falls where it should."""
    return [local_midnight(zone, first + timedelta(days=n)) for n in range((last - first).days + 2)]


def day_starts(zone: ZoneInfo, now: datetime, days: int) -> list[datetime]:
    """The start of each of the last `days` local days (today last), then the midnight that ends today."""
    today = now.astimezone(zone).date()
    return day_bounds(zone, today - timedelta(days=days - 1), today)


@dataclass(frozen=True)
class Day:
    day: date
    amount: int
    count: int


@dataclass(frozen=True)
class Earnings:
    days: list[Day]  # oldest first, today last

    def last(self, days: int) -> int:
        return sum(day.amount for day in self.days[-days:])


@dataclass(frozen=True)
class Earned:
    name: str | None
    amount: int
    count: int


def _sums(
    db: Connection, scope: Scope, bounds: list[datetime], by: str | None
) -> dict[tuple, tuple[int, int]]:
    """(range number, package or router id, source or None) → (amount, count), every source added up."""
    totals: dict[tuple, tuple[int, int]] = {}

    def add(n: int, keys: dict, amount: int, count: int) -> None:
        key = (n, keys.get(by))
        before = totals.get(key, (0, 0))
        totals[key] = (before[0] + amount, before[1] + count)

    column = by if by in ("package", "router") else None
    for n, key, amount, count in payments.paid_sums(db, scope, bounds, column):
        add(n, {column: key, "source": "prompt"}, amount, count)
    spent = c2b.spends(db, scope, bounds[0], bounds[-1])
    sold = vouchers.sales(db, scope, bounds[0], bounds[-1])
    bought = bought_with(db, spent, sold)

    def range_of(moment: datetime) -> int:
        return bisect_right(bounds, moment) - 1

    for spend in spent:
        session = bought[spend.access_session_id]
        keys = {"package": session.package_id, "router": session.router_id, "source": "by_hand"}
        add(range_of(spend.spent_at), keys, spend.amount, 1)
    for sale in sold:
        # A voucher sold unused has bought nothing yet, on no router.
        router_id = bought[sale.access_session_id].router_id if sale.access_session_id else None
        keys = {"package": sale.package_id, "router": router_id, "source": "vouchers"}
        add(range_of(sale.sold_at), keys, sale.price, 1)
    return totals


def bought_with(
    db: Connection, spent: list[c2b.Spend], sold: list[vouchers.Sale]
) -> dict[int, sessions.Session]:
    """The accesses that money by hand and vouchers bought: their package and router are the sale's."""
    ids = {spend.access_session_id for spend in spent} | {sale.access_session_id for sale in sold}
    return sessions.by_ids(db, ids - {None})


def daily(db: Connection, scope: Scope, zone: ZoneInfo, first: date, last: date) -> list[Day]:
    """Wi-Fi money of each local day from `first` to `last` (both included), days with nothing too."""
    totals = _sums(db, scope, day_bounds(zone, first, last), None)
    return [
        Day(first + timedelta(days=n), *totals.get((n, None), (0, 0))) for n in range((last - first).days + 1)
    ]


def earnings(db: Connection, scope: Scope, zone: ZoneInfo, now: datetime, days: int = 30) -> Earnings:
    today = now.astimezone(zone).date()
    return Earnings(daily(db, scope, zone, today - timedelta(days=days - 1), today))


def earnings_by(db: Connection, scope: Scope, start: datetime, end: datetime, by: str) -> list[Earned]:
    """Wi-Fi money at or after `start` and before `end`, per package, router or source (named by
    SOURCES), largest first."""
    totals = _sums(db, scope, [start, end], by)
    keys = [key for _, key in totals if key is not None]
    if by == "source":
        names = {key: key for key in keys}
    else:
        names = packages.names(db, keys) if by == "package" else routers.names(db, keys)
    earned = [Earned(names.get(key), amount, count) for (_, key), (amount, count) in totals.items()]
    return sorted(earned, key=lambda row: -row.amount)


@dataclass(frozen=True)
class Outcomes:
    """How payments ended. A reversed payment is finished but no success: its money went back, so it is
    not earned and does not count as paid; an `unknown` one is not finished (nobody knows yet)."""

    by_state: dict[str, int]
    failures: list[payments.Failures]

    @property
    def finished(self) -> int:
        return sum(self.by_state.get(state, 0) for state in ("paid", "reversed", "failed", "expired"))

    @property
    def success_rate(self) -> float | None:
        if not self.finished:
            return None
        return self.by_state.get("paid", 0) / self.finished


def outcomes(db: Connection, scope: Scope, since: datetime, before: datetime | None = None) -> Outcomes:
    """How the payments started since `since` (and before `before`) ended, and why the failed ones
    failed."""
    by_state: dict[str, int] = {}
    for _, state, count in payments.counts_by_state(db, scope, since, before):
        by_state[state] = by_state.get(state, 0) + count
    return Outcomes(by_state, payments.failures(db, scope, since, expired_too=True, before=before))
