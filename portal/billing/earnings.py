"""What the owner earned, by local day, package and router; and how payments ended.

Times are stored in UTC; a "day" is a day in the configured zone. Day boundaries are computed here, in
Python, and queried as UTC ranges, so a payment at 23:59 and one at 00:01 Nairobi time land on the
days the owner lived them. Earnings count three sources: payments through the prompt that are `paid`
when asked (a reversal takes its money back out), on the day they were paid; money paid by hand to the
PayBill or Till (C2B) for Wi-Fi, on the day a customer spent it on time (a PayBill may take money for
other things too, which is not Wi-Fi's to count, and what is not spent yet is the customer's credit);
and vouchers, on the day they sold (billing/vouchers.py). Each source is summed from its own table;
the sums are added up here.

Prompts are summed from `prompt_earnings`, which this module owns: money per quarter hour, package and
router, added to in the transaction that makes a payment paid and taken out in the one that reverses
it. A month is then a few thousand rows however many payments it had; and quarter hours in UTC serve
every zone, since every zone's midnight falls on one.
"""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..access import routers, sessions
from ..catalog import packages
from ..clock import to_text
from ..store import Connection
from ..tenancy.scope import Scope
from . import c2b, payments, vouchers

SOURCES = ("prompt", "by_hand", "vouchers")
NO_ROUTER = 0  # prompt_earnings.router_key of a package paid for no router


def quarter_of(moment: datetime) -> datetime:
    """The start of the quarter hour `moment` falls in, in UTC."""
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def count_paid(db: Connection, payment: payments.Payment) -> None:
    """Counts a payment that has just become paid; in the transaction that made it so."""
    _add(db, payment, 1)


def uncount_reversed(db: Connection, payment: payments.Payment) -> None:
    """Takes back a paid payment that has just been reversed; in the transaction that reversed it."""
    _add(db, payment, -1)


def _add(db: Connection, payment: payments.Payment, sign: int) -> None:
    if payment.package_id is None or payment.paid_at is None:
        return  # an API client's charge: the business's other sales, not Wi-Fi money
    db.execute(
        "INSERT INTO prompt_earnings (tenant_id, quarter, package_id, router_key, amount, count)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, quarter, package_id, router_key)"
        " DO UPDATE SET amount = amount + excluded.amount, count = count + excluded.count",
        (
            payment.tenant_id,
            to_text(quarter_of(payment.paid_at)),
            payment.package_id,
            payment.router_id or NO_ROUTER,
            sign * payment.amount,
            sign,
        ),
    )


def prompt_sums(db: Connection, scope: Scope, bounds: list[datetime], by: str | None) -> list[tuple]:
    """Money paid through prompts for Wi-Fi between consecutive `bounds` (one range per pair; each on a
    quarter hour, as local midnights are), as (range number, key, amount, count) where key is the
    package or router id (`by`) or None."""
    if any(bound != quarter_of(bound) for bound in bounds):
        raise ValueError("prompt earnings are summed by quarter hour: a range can't start within one")
    where, params = scope.where("tenant_id")
    ranges = " ".join(f"WHEN quarter < ? THEN {n - 1}" for n in range(1, len(bounds)))
    key = {"package": "package_id", "router": f"NULLIF(router_key, {NO_ROUTER})", None: "NULL"}[by]
    rows = db.all(
        f"SELECT CASE {ranges} END AS n, {key} AS key, sum(amount) AS amount, sum(count) AS count"
        f" FROM prompt_earnings WHERE {where} AND quarter >= ? AND quarter < ?"
        " GROUP BY 1, 2 HAVING sum(count) > 0",
        (*[to_text(bound) for bound in bounds[1:]], *params, to_text(bounds[0]), to_text(bounds[-1])),
    )
    return [(row["n"], row["key"], row["amount"], row["count"]) for row in rows]


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
    for n, key, amount, count in prompt_sums(db, scope, bounds, column):
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
