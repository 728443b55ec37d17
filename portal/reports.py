"""What an owner reads: earnings by local day, payment outcomes, what is stuck, payment search, timelines.

Times are stored in UTC; a "day" is a day in the configured zone. Day boundaries are computed here, in
Python, and queried as UTC ranges, so a payment at 23:59 and one at 00:01 Nairobi time land on the
days the owner lived them. Earnings count payments that are `paid` when asked (a reversal takes its
money back out), on the day they were paid, and money paid by hand to the PayBill or Till (C2B) once a
customer claimed it for Wi-Fi, on the day it was claimed: a PayBill may take money for other things
too, which is not Wi-Fi's to count.
"""

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from .clock import to_text
from .db import Database
from .mpesa import codes
from .scope import Scope

PAYMENT_STATES = ("created", "pending", "paid", "failed", "expired", "reversed")

# Failures the owner need not look at: the payer's doing (mpesa/codes.py decides which).
PAYER_CODES = codes.payer_codes()

# A paid customer normally gets online within seconds; after this long, someone should look.
STUCK_AFTER = timedelta(minutes=2)
# Older than this, the customer has long gone; the payment stays findable in the payments list.
STUCK_LOOKBACK = timedelta(days=7)
# Router tasks that failed this many times are shown as a problem (the worker keeps retrying).
TASK_ATTEMPTS_SHOWN = 3


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


# Where Wi-Fi money is: (rows, which count, when, package, router). Each source is summed on its own, so
# that each is read from its own index, and the sums are added up here.
MONEY_SOURCES = (
    ("payments m", "m.state = 'paid'", "m.paid_at", "m.package_id", "m.router_id"),
    (
        "c2b_payments m JOIN access_sessions s ON s.id = m.access_session_id",
        "m.claimed_at IS NOT NULL",
        "m.claimed_at",
        "s.package_id",
        "s.router_id",
    ),
)


@dataclass(frozen=True)
class Earned:
    name: str | None
    amount: int
    count: int


async def earnings(db: Database, scope: Scope, zone: ZoneInfo, now: datetime, days: int = 30) -> Earnings:
    starts = [to_text(start) for start in day_starts(zone, now, days)]
    ranges = json.dumps([[n, starts[n], starts[n + 1]] for n in range(days)])
    totals: dict[int, tuple[int, int]] = {}
    for rows, counted, moment, _, _ in MONEY_SOURCES:
        for row in await db.fetchall(
            "SELECT json_extract(d.value, '$[0]') AS n, sum(m.amount) AS amount, count(*) AS count"  # noqa: S608
            f" FROM json_each(?) d, {rows} WHERE {counted}"
            " AND m.tenant_id IN (SELECT value FROM json_each(?))"
            f" AND {moment} >= json_extract(d.value, '$[1]') AND {moment} < json_extract(d.value, '$[2]')"
            " GROUP BY n",
            (ranges, scope.param),
        ):
            amount, count = totals.get(row["n"], (0, 0))
            totals[row["n"]] = (amount + row["amount"], count + row["count"])
    first = now.astimezone(zone).date() - timedelta(days=days - 1)
    return Earnings([Day(first + timedelta(days=n), *totals.get(n, (0, 0))) for n in range(days)])


async def earnings_by(db: Database, scope: Scope, since: datetime, by: str) -> list[Earned]:
    """Wi-Fi money since `since`, per package or per router, largest first."""
    table = {"package": "packages", "router": "routers"}[by]
    totals: dict[int | None, tuple[int, int]] = {}
    for rows, counted, moment, package, router in MONEY_SOURCES:
        key = package if by == "package" else router
        for row in await db.fetchall(
            f"SELECT {key} AS id, sum(m.amount) AS amount, count(*) AS count FROM {rows}"  # noqa: S608
            f" WHERE {counted} AND m.tenant_id IN (SELECT value FROM json_each(?)) AND {moment} >= ?"
            " GROUP BY 1",
            (scope.param, to_text(since)),
        ):
            amount, count = totals.get(row["id"], (0, 0))
            totals[row["id"]] = (amount + row["amount"], count + row["count"])
    names = dict(
        await db.fetchall(
            f"SELECT id, name FROM {table} WHERE id IN (SELECT value FROM json_each(?))",  # noqa: S608
            (json.dumps([key for key in totals if key is not None]),),
        )
    )
    earned = [Earned(names.get(key), amount, count) for key, (amount, count) in totals.items()]
    return sorted(earned, key=lambda row: -row.amount)


@dataclass(frozen=True)
class Outcomes:
    by_state: dict[str, int]
    failures: list[sqlite3.Row]  # code, description, count

    @property
    def finished(self) -> int:
        return sum(self.by_state.get(state, 0) for state in ("paid", "reversed", "failed", "expired"))

    @property
    def success_rate(self) -> float | None:
        if not self.finished:
            return None
        return (self.by_state.get("paid", 0) + self.by_state.get("reversed", 0)) / self.finished


async def outcomes(db: Database, scope: Scope, since: datetime) -> Outcomes:
    """How the payments started since `since` ended, and why the failed ones failed."""
    params = (scope.param, to_text(since))
    states = await db.fetchall(
        "SELECT state, count(*) FROM payments"
        " WHERE tenant_id IN (SELECT value FROM json_each(?)) AND created_at >= ? GROUP BY state",
        params,
    )
    failures = await db.fetchall(
        "SELECT CASE state WHEN 'expired' THEN 'expired' ELSE coalesce(result_code, '') END AS code,"
        " max(CASE state WHEN 'expired' THEN 'No answer before the payment timed out' ELSE result_desc END)"
        " AS description, count(*) AS count"
        " FROM payments WHERE tenant_id IN (SELECT value FROM json_each(?)) AND created_at >= ?"
        " AND state IN ('failed', 'expired') GROUP BY code ORDER BY count DESC",
        params,
    )
    return Outcomes({row[0]: row[1] for row in states}, failures)


async def active_sessions(db: Database, scope: Scope, now: datetime) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM access_sessions WHERE tenant_id IN (SELECT value FROM json_each(?))"
        " AND state = 'active' AND (expires_at IS NULL OR expires_at > ?)",
        (scope.param, to_text(now)),
    )


@dataclass(frozen=True)
class Stuck:
    unconnected: list[sqlite3.Row]  # paid, and the router has not confirmed access
    routers_down: list[sqlite3.Row]
    daraja_errors: list[sqlite3.Row]  # in the last 24 hours, grouped by result code
    router_tasks: list[sqlite3.Row]  # failing tasks, grouped by router

    def __bool__(self) -> bool:
        return bool(self.unconnected or self.routers_down or self.daraja_errors or self.router_tasks)


async def stuck(db: Database, scope: Scope, now: datetime) -> Stuck:
    unconnected = await db.fetchall(
        "SELECT p.id, p.ref, p.phone, p.amount, p.paid_at, p.mac, r.name AS router, s.state AS session_state"
        " FROM payments p LEFT JOIN access_sessions s ON s.id = p.access_session_id"
        " LEFT JOIN routers r ON r.id = p.router_id"
        " WHERE p.tenant_id IN (SELECT value FROM json_each(?)) AND p.state = 'paid'"
        " AND p.paid_at >= ? AND p.paid_at < ? AND (s.id IS NULL OR s.state = 'pending')"
        " ORDER BY p.paid_at DESC LIMIT 20",
        (scope.param, to_text(now - STUCK_LOOKBACK), to_text(now - STUCK_AFTER)),
    )
    routers_down = await db.fetchall(
        "SELECT id, name, host, last_error, last_seen_at FROM routers"
        " WHERE tenant_id IN (SELECT value FROM json_each(?)) AND last_error IS NOT NULL ORDER BY name",
        (scope.param,),
    )
    marks = ", ".join("?" for _ in PAYER_CODES)
    daraja_errors = await db.fetchall(
        "SELECT coalesce(result_code, '') AS code, max(result_desc) AS description, count(*) AS count,"  # noqa: S608
        " max(updated_at) AS last_at FROM payments"
        f" WHERE tenant_id IN (SELECT value FROM json_each(?)) AND state = 'failed' AND created_at >= ?"
        f" AND coalesce(result_code, '') NOT IN ({marks}) GROUP BY code ORDER BY count DESC",
        (scope.param, to_text(now - timedelta(days=1)), *PAYER_CODES),
    )
    router_tasks = await db.fetchall(
        "SELECT r.id, r.name, count(*) AS count, max(t.last_error) AS last_error FROM router_tasks t"
        " JOIN routers r ON r.id = t.router_id"
        " WHERE r.tenant_id IN (SELECT value FROM json_each(?)) AND t.attempts >= ?"
        " AND (t.state = 'queued' OR (t.state = 'failed' AND t.created_at >= ?))"
        " GROUP BY r.id ORDER BY r.name",
        (scope.param, TASK_ATTEMPTS_SHOWN, to_text(now - timedelta(days=1))),
    )
    return Stuck(unconnected, routers_down, daraja_errors, router_tasks)


# What a filter reads in each table: payments (p), and money paid by hand (c), which has no state.
PAYMENT_FILTER_COLUMNS = {
    "tenant": "p.tenant_id", "state": "p.state", "at": "p.created_at", "phone": "p.phone",
    "receipt": "p.receipt",
}  # fmt: skip
BY_HAND_FILTER_COLUMNS = {
    "tenant": "c.tenant_id", "at": "c.received_at", "phone": "c.msisdn", "receipt": "c.receipt",
}  # fmt: skip


@dataclass(frozen=True)
class PaymentFilter:
    state: str = ""
    start: datetime | None = None  # created at or after (UTC)
    end: datetime | None = None  # created before (UTC)
    phone: str = ""  # a whole number (2547…) or its last digits
    receipt: str = ""

    def where(self, scope: Scope, columns: dict[str, str] = PAYMENT_FILTER_COLUMNS) -> tuple[str, list]:
        """SQL conditions on payments, or on another table whose `columns` are named (one without a
        state ignores the state asked for)."""
        clauses = [f"{columns['tenant']} IN (SELECT value FROM json_each(?))"]  # noqa: S608
        params: list = [scope.param]
        if self.state and "state" in columns:
            clauses.append(f"{columns['state']} = ?")
            params.append(self.state)
        if self.start:
            clauses.append(f"{columns['at']} >= ?")
            params.append(to_text(self.start))
        if self.end:
            clauses.append(f"{columns['at']} < ?")
            params.append(to_text(self.end))
        if len(self.phone) == 12:
            clauses.append(f"{columns['phone']} = ?")
            params.append(self.phone)
        elif self.phone:
            clauses.append(f"{columns['phone']} LIKE ?")
            params.append(f"%{self.phone}")
        if self.receipt:
            clauses.append(f"{columns['receipt']} = ?")
            params.append(self.receipt)
        return " AND ".join(clauses), params


PAYMENT_COLUMNS = (
    "p.*, k.name AS package, r.name AS router, t.name AS tenant, a.name AS account"
    " FROM payments p JOIN packages k ON k.id = p.package_id JOIN tenants t ON t.id = p.tenant_id"
    " JOIN mpesa_accounts a ON a.id = p.mpesa_account_id LEFT JOIN routers r ON r.id = p.router_id"
)


async def search_payments(
    db: Database, scope: Scope, found: PaymentFilter, *, limit: int | None, offset: int = 0
) -> tuple[list[sqlite3.Row], int]:
    """Payments matching the filter, newest first, and how many match in all (limit None = all)."""
    where, params = found.where(scope)
    total = await db.fetchval(f"SELECT count(*) FROM payments p WHERE {where}", params)  # noqa: S608
    # The page's ids first, sorted from the (tenant, time) index alone; then only those rows in full.
    rows = await db.fetchall(
        f"SELECT {PAYMENT_COLUMNS} WHERE p.id IN (SELECT p.id FROM payments p WHERE {where}"  # noqa: S608
        " ORDER BY p.created_at DESC, p.id DESC LIMIT ? OFFSET ?) ORDER BY p.created_at DESC, p.id DESC",
        (*params, -1 if limit is None else limit, offset),
    )
    return rows, total


async def paid_by_hand(db: Database, scope: Scope, found: PaymentFilter, limit: int) -> list[sqlite3.Row]:
    """Money sent to the PayBill or Till from the M-Pesa menu (C2B) matching the filter (it has no state),
    newest first, with the Wi-Fi session it was claimed for, if any."""
    where, params = found.where(scope, BY_HAND_FILTER_COLUMNS)
    return await db.fetchall(
        "SELECT c.*, t.name AS tenant FROM c2b_payments c JOIN tenants t ON t.id = c.tenant_id"  # noqa: S608
        f" WHERE {where} ORDER BY c.received_at DESC, c.id DESC LIMIT ?",
        (*params, limit),
    )


async def payment(db: Database, scope: Scope, payment_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        f"SELECT {PAYMENT_COLUMNS} WHERE p.id = ? AND p.tenant_id IN (SELECT value FROM json_each(?))",  # noqa: S608
        (payment_id, scope.param),
    )


@dataclass(frozen=True)
class Moment:
    at: str
    title: str
    detail: str = ""
    bad: bool = False


async def timeline(db: Database, payment: sqlite3.Row) -> list[Moment]:
    """Everything that happened to a payment and to the access it bought, in time order."""
    moments = [
        Moment(payment["created_at"], "Payment created", f"{payment['amount']} KES, {payment['package']}")
    ]
    for event in await db.fetchall(
        "SELECT * FROM payment_events WHERE payment_id = ? ORDER BY id", (payment["id"],)
    ):
        moments.append(
            Moment(
                event["at"],
                event["kind"].replace("_", " ").capitalize()
                + (f" ({event['source']})" if event["source"] else ""),
                _compact(event["detail"]),
                bad=event["kind"] in ("failed", "expired", "reversed", "error"),
            )
        )
    if payment["paid_at"]:
        moments.append(Moment(payment["paid_at"], "Paid", f"M-Pesa receipt {payment['receipt'] or '(none)'}"))
    if payment["access_session_id"]:
        moments.extend(await _session_moments(db, payment["access_session_id"]))
    return sorted(moments, key=lambda moment: moment.at)


async def _session_moments(db: Database, session_id: int) -> list[Moment]:
    session = await db.fetchone(
        "SELECT s.*, r.name AS router FROM access_sessions s JOIN routers r ON r.id = s.router_id"
        " WHERE s.id = ?",
        (session_id,),
    )
    moments = [
        Moment(session["created_at"], "Access session created", f"{session['mac']} on {session['router']}")
    ]
    if session["started_at"]:
        moments.append(
            Moment(session["started_at"], "Online", f"router {session['router']} confirmed access")
        )
    if session["ended_at"]:
        moments.append(
            Moment(session["ended_at"], f"Session {session['state']}", bad=session["state"] == "revoked")
        )
    tasks = await db.fetchall(
        "SELECT * FROM router_tasks WHERE access_session_id = ? ORDER BY id", (session_id,)
    )
    for task in tasks:
        moments.append(Moment(task["created_at"], f"Router task queued: {task['kind']}"))
        for attempt in await db.fetchall(
            "SELECT * FROM router_task_attempts WHERE task_id = ? ORDER BY id", (task["id"],)
        ):
            moments.append(
                Moment(
                    attempt["at"],
                    f"Router task {task['kind']}: {'done' if attempt['ok'] else 'failed'}",
                    attempt["error"] or "",
                    bad=not attempt["ok"],
                )
            )
    return moments


def _compact(detail: str) -> str:
    try:
        value = json.loads(detail)
    except ValueError:
        return detail[:2000]
    return "" if value in ({}, None, "") else json.dumps(value, ensure_ascii=False)[:2000]


# One row per session, however many purchases it took: what paid for it is read by `paid_by`.
SESSION_COLUMNS = (
    "s.*, r.name AS router, k.name AS package"
    " FROM access_sessions s JOIN routers r ON r.id = s.router_id JOIN packages k ON k.id = s.package_id"
)


@dataclass(frozen=True)
class Purchase:
    """Something that bought a session time: an M-Pesa payment, a voucher, money paid by hand (C2B)."""

    label: str
    href: str


async def paid_by(db: Database, sessions: list[sqlite3.Row]) -> dict[int, list[Purchase]]:
    """What bought each session's time, first purchase first (a session given by hand has none). Each
    table is read from its own index on access_session_id."""
    ids = json.dumps([row["id"] for row in sessions])
    rows = await db.fetchall(
        "SELECT access_session_id AS session_id, 'payment' AS kind, id, ref AS name, paid_at AS at"
        " FROM payments WHERE access_session_id IN (SELECT value FROM json_each(?))"
        " UNION ALL SELECT access_session_id, 'voucher', id, batch, used_at"
        " FROM vouchers WHERE access_session_id IN (SELECT value FROM json_each(?))"
        " UNION ALL SELECT access_session_id, 'by hand', id, receipt, claimed_at"
        " FROM c2b_payments WHERE access_session_id IN (SELECT value FROM json_each(?))"
        " ORDER BY at, id",
        (ids, ids, ids),
    )
    found: dict[int, list[Purchase]] = {}
    for row in rows:
        found.setdefault(row["session_id"], []).append(_purchase(row["kind"], row["id"], row["name"]))
    return found


def _purchase(kind: str, row_id: int, name: str) -> Purchase:
    if kind == "payment":
        return Purchase(name, f"/admin/payments/{row_id}")
    if kind == "voucher":
        return Purchase(f"voucher {name}", f"/admin/vouchers/{name}")
    return Purchase(f"{name} (paid by hand)", f"/admin/payments?{urlencode({'receipt': name})}#by-hand")


async def live_sessions(db: Database, scope: Scope) -> list[sqlite3.Row]:
    """Sessions online or waiting for their router, soonest to end first."""
    return await db.fetchall(
        f"SELECT {SESSION_COLUMNS} WHERE s.tenant_id IN (SELECT value FROM json_each(?))"  # noqa: S608
        " AND s.state IN ('pending', 'active')"
        " ORDER BY s.expires_at IS NULL, s.expires_at, s.id",
        (scope.param,),
    )


async def ended_sessions(db: Database, scope: Scope, since: datetime, limit: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        f"SELECT {SESSION_COLUMNS} WHERE s.tenant_id IN (SELECT value FROM json_each(?))"  # noqa: S608
        " AND s.state IN ('expired', 'revoked') AND coalesce(s.ended_at, s.updated_at) >= ?"
        " ORDER BY coalesce(s.ended_at, s.updated_at) DESC LIMIT ?",
        (scope.param, to_text(since), limit),
    )


async def session(db: Database, scope: Scope, session_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        f"SELECT {SESSION_COLUMNS} WHERE s.id = ? AND s.tenant_id IN (SELECT value FROM json_each(?))",  # noqa: S608
        (session_id, scope.param),
    )
