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


def day_starts(zone: ZoneInfo, now: datetime, days: int) -> list[datetime]:
    """The start of each of the last `days` local days (today last), then the midnight that ends today.
    Computed day by day, so a daylight-saving change falls where it should."""
    today = now.astimezone(zone).date()
    return [local_midnight(zone, today - timedelta(days=back)) for back in range(days - 1, -2, -1)]


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
    spent = c2b.spent_sums(db, scope, bounds)
    sold = vouchers.sales(db, scope, bounds)
    bought = sessions.by_ids(db, {row[1] for row in spent} | {row[2] for row in sold if row[2]})
    for n, session_id, amount in spent:
        session = bought[session_id]
        add(n, {"package": session.package_id, "router": session.router_id, "source": "by_hand"}, amount, 1)
    for n, package_id, session_id, price in sold:
        router_id = bought[session_id].router_id if session_id else None  # a voucher sold unused: none yet
        add(n, {"package": package_id, "router": router_id, "source": "vouchers"}, price, 1)
    return totals


def earnings(db: Connection, scope: Scope, zone: ZoneInfo, now: datetime, days: int = 30) -> Earnings:
    totals = _sums(db, scope, day_starts(zone, now, days), None)
    first = now.astimezone(zone).date() - timedelta(days=days - 1)
    return Earnings([Day(first + timedelta(days=n), *totals.get((n, None), (0, 0))) for n in range(days)])


def earnings_by(db: Connection, scope: Scope, since: datetime, now: datetime, by: str) -> list[Earned]:
    """Wi-Fi money since `since`, per package, router or source (named by SOURCES), largest first."""
    totals = _sums(db, scope, [since, now + timedelta(days=1)], by)
    keys = [key for _, key in totals if key is not None]
    if by == "source":
        names = {key: key for key in keys}
    else:
        names = packages.names(db, keys) if by == "package" else routers.names(db, keys)
    earned = [Earned(names.get(key), amount, count) for (_, key), (amount, count) in totals.items()]
    return sorted(earned, key=lambda row: -row.amount)


@dataclass(frozen=True)
class Outcomes:
    by_state: dict[str, int]
    failures: list[payments.Failures]

    @property
    def finished(self) -> int:
        return sum(self.by_state.get(state, 0) for state in ("paid", "reversed", "failed", "expired"))

    @property
    def success_rate(self) -> float | None:
        if not self.finished:
            return None
        return (self.by_state.get("paid", 0) + self.by_state.get("reversed", 0)) / self.finished


def outcomes(db: Connection, scope: Scope, since: datetime) -> Outcomes:
    """How the payments started since `since` ended, and why the failed ones failed."""
    by_state: dict[str, int] = {}
    for _, state, count in payments.counts_by_state(db, scope, since):
        by_state[state] = by_state.get(state, 0) + count
    return Outcomes(by_state, payments.failures(db, scope, since, expired_too=True))
