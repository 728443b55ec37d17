"""The payments and payment_events tables: M-Pesa STK payments, their compare-and-swap transitions, and
each payment's timeline.

    created ──push accepted──► pending ──► paid ──owner──► reversed
       │                          ├──► failed ──genuine success, same amount──► paid
       │                          ├──payer cancels on the page──► failed (page.cancelled), still asked about
       ├──────────────────────────┴──► expired ──genuine success, same amount──► paid
       └──push's answer lost──► unknown ──callback, M-Pesa's word on a receipt, the owner──► paid | failed

Every change is a compare-and-swap on the state (`transition`), so duplicate callbacks, the poller and
a double-tapped Pay button can't pay twice; a payment its payer cancels on the page frees the phone's
slot at once, yet its prompt may still be paid: it is asked about like an open one until M-Pesa's answer
is final, and a success still pays it. `paid` is never undone except by the owner's reversal
(owner_decisions.py). An `unknown` payment may have rung the phone: it is never expired, never queried
(it has no CheckoutRequestID) and holds no phone's one open slot; the receipt its payer types is kept
beside it (`typed_receipt`), never believed alone.

Each arrival (the push's answer, a callback, a query's answer) and each decision is one row in
payment_events: what came, from where (a callback's address, 'query', 'reconcile'), when, and what it
did. Starting a payment is checkout.py's job; learning its outcome, confirmation.py's.
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from .. import i18n
from ..clock import Clock, from_text, to_text
from ..i18n.formats import masked_phone
from ..mpesa import result_codes
from ..store import Connection, Record, columns, marks, where_given
from ..tenancy import webhooks
from ..tenancy.scope import Scope

OPEN = ("created", "pending")
# Payments whose outcome is still asked of M-Pesa: the open ones, and those cancelled on the page.
ASKED_ABOUT = (
    "(state IN ('created', 'pending')"
    f" OR (state = 'failed' AND result_code = '{result_codes.PAGE_CANCELLED}'))"
)
STATES = ("created", "pending", "unknown", "paid", "failed", "expired", "reversed")
# The states an API client's webhooks are told of (`payment.paid` …).
TOLD = ("paid", "failed", "expired")


class Payment(Record, frozen=True):
    id: int
    tenant_id: int
    ref: str  # public and unguessable: the waiting page's address
    mpesa_account_id: int
    package_id: int | None  # None: asked for by an API client, for none of the business's packages
    api_client_id: int | None
    router_id: int | None
    mac: str | None
    ip: str | None
    phone: str
    amount: int
    reference: str | None  # the prompt's account reference and description (None before they were kept)
    description: str | None
    state: str
    merchant_request_id: str | None
    checkout_request_id: str | None
    result_code: str | None
    result_desc: str | None
    receipt: str | None
    access_session_id: int | None
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    reversed_reason: str | None
    typed_receipt: str | None  # what the payer of an `unknown` payment typed from their SMS: unchecked

    @property
    def api_charge(self) -> str | None:
        """What an API client's charge is for, as the owner reads it; None for a package's payment."""
        return None if self.package_id is not None else f"API: {self.description} ({self.reference})"

    @property
    def cancelled_on_page(self) -> bool:
        return self.state == "failed" and self.result_code == result_codes.PAGE_CANCELLED

    @property
    def outcome(self) -> result_codes.Outcome | None:
        """What to tell the payer about a final answer."""
        return result_codes.describe(self.result_code) if self.result_code is not None else None


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # created | push | callback | query | unknown | receipt | owner | expired | reversed | error
    # | cancelled
    source: str  # a callback's address, 'portal', 'query', 'reconcile', or who reversed it
    detail: dict


COLUMNS = columns(Payment)


class Failure(msgspec.Struct, frozen=True):
    """Why a payment failed or expired: for a program (`category`) and for the payer (`reason`, what the
    splash says)."""

    code: Annotated[str, Meta(description="M-Pesa's result code, or portal's own for a push refused")]
    category: Annotated[str, Meta(description="what kind of failure, for a program to branch on")]
    reason: Annotated[str, Meta(description="what to tell the payer, in plain words")]


class ApiPayment(msgspec.Struct, frozen=True):
    """A payment as the API and its webhooks show it: the phone masked, the receipt once paid."""

    id: int
    state: Annotated[str, Meta(description=f"one of {', '.join(STATES)}")]
    amount: Annotated[int, Meta(description="whole Kenyan shillings")]
    currency: Annotated[str, Meta(description="always KES")]
    phone: Annotated[str, Meta(description="the payer's number, masked", examples=["0712 ••• 678"])]
    reference: str | None
    description: str | None
    receipt: Annotated[str | None, Meta(description="M-Pesa's receipt, once paid and known")]
    failure: Annotated[Failure | None, Meta(description="why, once failed or expired")]
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None


def api_view(payment: Payment) -> ApiPayment:
    outcome = payment.outcome if payment.state in ("failed", "expired") else None
    return ApiPayment(
        id=payment.id,
        state=payment.state,
        amount=payment.amount,
        currency="KES",
        phone=masked_phone(payment.phone),
        reference=payment.reference,
        description=payment.description,
        receipt=payment.receipt,
        failure=Failure(outcome.code, outcome.category, i18n.say("en", outcome.message)) if outcome else None,
        created_at=payment.created_at,
        updated_at=payment.updated_at,
        paid_at=payment.paid_at,
    )


def _one(db: Connection, where: str, params: tuple) -> Payment | None:
    return db.record(Payment, f"SELECT {COLUMNS} FROM payments WHERE {where}", params)


def get(db: Connection, payment_id: int, scope: Scope | None = None) -> Payment | None:
    where, params = scope.where("tenant_id") if scope else ("1 = 1", [])
    return _one(db, f"id = ? AND {where}", (payment_id, *params))


def by_ref(db: Connection, ref: str) -> Payment | None:
    return _one(db, "ref = ?", (ref,))


def by_callback_token(db: Connection, token: str) -> Payment | None:
    return _one(db, "callback_token = ?", (token,))


def open_of_device(db: Connection, router_id: int, mac: str) -> Payment | None:
    """The device's payment still waiting for its answer: a customer whose captive-portal window closed
    while the M-Pesa prompt was up comes back to it, rather than to a second push."""
    return _one(
        db,
        "router_id = ? AND mac = ? AND state IN ('created', 'pending') ORDER BY id DESC LIMIT 1",
        (router_id, mac),
    )


def latest_with_access_of_device(db: Connection, router_id: int, mac: str) -> Payment | None:
    """The device's newest payment that bought access (the access may have moved to another device)."""
    return _one(
        db,
        "router_id = ? AND mac = ? AND access_session_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        (router_id, mac),
    )


def open_of_phone(db: Connection, phone: str) -> Payment | None:
    """Daraja locks a subscriber with a prompt open: one open payment per phone number, whoever asks."""
    return _one(db, "phone = ? AND state IN ('created', 'pending')", (phone,))


def by_idempotency_key(db: Connection, tenant_id: int, key: str) -> tuple[Payment, str] | None:
    """The payment an Idempotency-Key made, and the fingerprint of the request that made it."""
    payment = _one(db, "tenant_id = ? AND idempotency_key = ?", (tenant_id, key))
    if payment is None:
        return None
    return payment, db.value("SELECT request_hash FROM payments WHERE id = ?", (payment.id,))


def release_idempotency_key(db: Connection, payment_id: int) -> None:
    """The key's window is over: it may make another payment (the database holds one per business)."""
    db.execute("UPDATE payments SET idempotency_key = NULL WHERE id = ?", (payment_id,))


LIMITED_BY = ("phone", "mac", "client_address")


def unpaid_since(db: Connection, since: datetime, **equal: str) -> list[datetime]:
    """When each payment started after `since` with these values (of LIMITED_BY: a phone, a device, an
    asking address) that is not paid (open, failed, expired or unknown) began, oldest first."""
    if not equal or not set(equal) <= set(LIMITED_BY):
        raise ValueError(sorted(equal))
    where = " AND ".join(f"{column} = ?" for column in equal)
    started = db.all(
        f"SELECT created_at FROM payments WHERE {where} AND created_at > ?"
        " AND state NOT IN ('paid', 'reversed') ORDER BY created_at",
        (*equal.values(), to_text(since)),
    )
    return [from_text(row[0]) for row in started]


def insert(db: Connection, values: dict[str, Any]) -> int:
    return db.value(
        f"INSERT INTO payments ({', '.join(values)}) VALUES ({marks(values)}) RETURNING id",
        tuple(values.values()),
    )


def callback_token(db: Connection, payment_id: int) -> str:
    return db.value("SELECT callback_token FROM payments WHERE id = ?", (payment_id,))


def record(db: Connection, clock: Clock, payment_id: int, kind: str, source: str, **detail: Any) -> None:
    """One line of the payment's timeline."""
    db.execute(
        "INSERT INTO payment_events (payment_id, at, kind, source, detail) VALUES (?, ?, ?, ?, ?)",
        (payment_id, to_text(clock.now()), kind, source, json.dumps(detail, sort_keys=True, default=str)),
    )


def timeline(db: Connection, payment_id: int) -> list[Event]:
    rows = db.all(
        "SELECT at, kind, source, detail FROM payment_events WHERE payment_id = ? ORDER BY id", (payment_id,)
    )
    return [
        Event(from_text(row["at"]), row["kind"], row["source"], json.loads(row["detail"])) for row in rows
    ]


# -- transitions --


def transition(
    db: Connection, clock: Clock, payment_id: int, from_states: tuple[str, ...], to_state: str, **columns: Any
) -> bool:
    """The compare-and-swap every change of state goes through; True if this call made it. An API
    client's payment that became paid, failed or expired queues its webhooks here, in the same
    transaction, whichever path changed it."""
    columns["updated_at"] = to_text(clock.now())
    assignments = ", ".join(f"{name} = ?" for name in columns)
    changed = db.execute(
        f"UPDATE payments SET state = ?, {assignments} WHERE id = ? AND state IN ({marks(from_states)})",
        (to_state, *columns.values(), payment_id, *from_states),
    )
    if changed and to_state in TOLD:
        payment = get(db, payment_id)
        if payment.api_client_id is not None:
            subject = f"payment:{payment.id}"
            data = msgspec.to_builtins(api_view(payment))
            webhooks.queue(db, clock, payment.api_client_id, f"payment.{to_state}", subject, data)
    return bool(changed)


def to_paid(db: Connection, clock: Clock, payment_id: int, *, receipt: str | None, desc: str) -> bool:
    """Open, unknown, failed or expired → paid. Only confirmation.mark_paid calls it: it opens the
    access too."""
    return transition(
        db,
        clock,
        payment_id,
        (*OPEN, "unknown", "failed", "expired"),
        "paid",
        result_code="0",
        result_desc=desc,
        receipt=receipt,
        paid_at=to_text(clock.now()),
        next_query_at=None,
    )


def mark_failed(db: Connection, clock: Clock, payment_id: int, *, code: str, desc: str) -> bool:
    """Open or unknown → failed. A payment already paid stays paid, whatever arrives later."""
    return transition(
        db,
        clock,
        payment_id,
        (*OPEN, "unknown"),
        "failed",
        result_code=code,
        result_desc=desc,
        next_query_at=None,
    )


def cancel(db: Connection, clock: Clock, payment_id: int) -> bool:
    """Pending → failed, by its payer on the page: the phone may pay again at once. Still asked about
    (its next query stays), since the prompt may be paid all the same."""
    return transition(
        db,
        clock,
        payment_id,
        ("pending",),
        "failed",
        result_code=result_codes.PAGE_CANCELLED,
        result_desc="cancelled by the payer on the waiting page",
    )


def stop_asking(db: Connection, payment_id: int) -> None:
    """No more queries: M-Pesa's answer about a payment no longer open is final, or long overdue."""
    db.execute("UPDATE payments SET next_query_at = NULL WHERE id = ?", (payment_id,))


def mark_unknown(db: Connection, clock: Clock, payment_id: int, *, why: str) -> bool:
    """Created → unknown: the push may have gone out, and its answer never came."""
    return transition(db, clock, payment_id, ("created",), "unknown", result_desc=why, next_query_at=None)


def mark_expired(db: Connection, clock: Clock, payment_id: int) -> bool:
    """Open → expired: no final answer within the window."""
    return transition(
        db,
        clock,
        payment_id,
        OPEN,
        "expired",
        result_code=result_codes.EXPIRED,
        result_desc="no final answer from M-Pesa in time",
        next_query_at=None,
    )


def push_accepted(
    db: Connection, clock: Clock, payment_id: int, *, merchant: str, checkout: str, first_query: datetime
) -> bool:
    """Created → pending with the IDs Daraja gave, unless a callback faster than us settled it already.
    An answer that comes after the payment was given up as unknown still counts. Raises store.Conflict
    when the phone has another payment open meanwhile (an unknown one holds no slot)."""
    return transition(
        db,
        clock,
        payment_id,
        ("created", "unknown"),
        "pending",
        merchant_request_id=merchant,
        checkout_request_id=checkout,
        next_query_at=to_text(first_query),
    )


def name_push(db: Connection, payment_id: int, *, checkout: str, merchant: str) -> None:
    """The push's own answer never reached us: its callback names the push. Raises store.Conflict when
    that CheckoutRequestID is another payment's."""
    db.execute(
        "UPDATE payments SET checkout_request_id = ?, merchant_request_id = ?"
        " WHERE id = ? AND checkout_request_id IS NULL",
        (checkout, merchant, payment_id),
    )


def receipt_of_another(db: Connection, receipt: str, payment_id: int) -> bool:
    return bool(db.value("SELECT 1 FROM payments WHERE receipt = ? AND id <> ?", (receipt, payment_id)))


def add_receipt(db: Connection, payment_id: int, receipt: str) -> bool:
    """Paid on the query's word; the callback brings the receipt only it carries."""
    return bool(
        db.execute("UPDATE payments SET receipt = ? WHERE id = ? AND receipt IS NULL", (receipt, payment_id))
    )


def link_session(db: Connection, payment_id: int, session_id: int) -> None:
    db.execute("UPDATE payments SET access_session_id = ? WHERE id = ?", (session_id, payment_id))


def due_queries(db: Connection, now: datetime, limit: int, leave_out: Collection[int]) -> list[Payment]:
    """Payments asked about (open, or cancelled on the page) whose next query is due, but those in
    `leave_out` (being asked about already)."""
    # Only with some to leave out: `NOT IN (NULL)`, what marks() gives for none, would match no row.
    left_out = f" AND id NOT IN ({marks(leave_out)})" if leave_out else ""
    return db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE next_query_at <= ? AND {ASKED_ABOUT}"
        f"{left_out} ORDER BY next_query_at LIMIT ?",
        (to_text(now), *leave_out, limit),
    )


def schedule_query(db: Connection, payment_id: int, at: datetime) -> None:
    db.execute(
        "UPDATE payments SET next_query_at = ?, query_count = query_count + 1"
        f" WHERE id = ? AND {ASKED_ABOUT}",
        (to_text(at), payment_id),
    )


# -- finding payments (receipts typed by customers, the owner's lists) --


def by_receipt(db: Connection, tenant_id: int, receipt: str) -> Payment | None:
    return _one(db, "tenant_id = ? AND receipt = ?", (tenant_id, receipt))


def of_account_between(
    db: Connection, tenant_id: int, account_id: int, start: datetime, end: datetime
) -> list[Payment]:
    """The business's payments to one M-Pesa account started between `start` and `end`, in every
    state: what an M-Pesa statement of that account is checked against (mpesa_statement.py)."""
    return db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE tenant_id = ? AND created_at >= ? AND created_at < ?"
        " AND mpesa_account_id = ? ORDER BY created_at, id",
        (tenant_id, to_text(start), to_text(end), account_id),
    )


def type_receipt(db: Connection, payment_id: int, receipt: str) -> bool:
    """Keeps what the payer of an unknown payment typed; False if the payment is not unknown (any more)."""
    sql = "UPDATE payments SET typed_receipt = ? WHERE id = ? AND state = 'unknown'"
    return bool(db.execute(sql, (receipt, payment_id)))


def unknown_with_typed_receipt(db: Connection, tenant_id: int, receipt: str) -> Payment | None:
    return _one(db, "tenant_id = ? AND typed_receipt = ? AND state = 'unknown'", (tenant_id, receipt))


def unknown_of_device(db: Connection, router_id: int, mac: str, since: datetime) -> Payment | None:
    """The device's newest payment since `since` whose outcome is unknown."""
    where = "router_id = ? AND mac = ? AND state = 'unknown' AND created_at >= ?"
    return _one(db, f"{where} ORDER BY id DESC LIMIT 1", (router_id, mac, to_text(since)))


def unknown_in(db: Connection, scope: Scope, limit: int) -> list[Payment]:
    """Payments whose outcome is unknown, newest first: each waits for the owner (or M-Pesa's word)."""
    where, params = scope.where("tenant_id")
    sql = (
        f"SELECT {COLUMNS} FROM payments WHERE {where} AND state = 'unknown' ORDER BY created_at DESC LIMIT ?"
    )
    return db.records(Payment, sql, (*params, limit))


def for_sessions(db: Connection, session_ids: list[int]) -> list[Payment]:
    return db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE access_session_id IN ({marks(session_ids)})",
        session_ids,
    )


# -- customers: a phone number's payments (each read from the index on business and phone) --


def phones_seen_last(db: Connection, scope: Scope, limit: int, window: int) -> list[str]:
    """The numbers that started the newest `window` payments, the latest first, at most `limit`."""
    where, params = scope.where("tenant_id")
    rows = db.all(
        "SELECT phone, max(created_at) AS last_at FROM (SELECT phone, created_at FROM payments"
        f" WHERE {where} ORDER BY created_at DESC LIMIT ?) AS newest GROUP BY phone ORDER BY last_at DESC"
        " LIMIT ?",
        (*params, window, limit),
    )
    return [row["phone"] for row in rows]


@dataclass(frozen=True)
class PhoneTotals:
    phone: str
    first_id: int  # its first payment's id, which names the customer in the admin's links
    payments: int
    spent: int  # what its paid payments came to (not those given back since)
    last_at: datetime  # when it last started a payment


def totals_of_phones(db: Connection, scope: Scope, phones: Collection[str]) -> list[PhoneTotals]:
    where, params = scope.where("tenant_id")
    rows = db.all(
        "SELECT phone, min(id) AS first_id, count(*) AS payments,"
        " sum(CASE WHEN state = 'paid' THEN amount ELSE 0 END) AS spent, max(created_at) AS last_at"
        f" FROM payments WHERE {where} AND phone IN ({marks(phones)}) GROUP BY phone",
        (*params, *phones),
    )
    return [
        PhoneTotals(row["phone"], row["first_id"], row["payments"], row["spent"], from_text(row["last_at"]))
        for row in rows
    ]


def of_phone(db: Connection, scope: Scope, phone: str, limit: int) -> list[Payment]:
    """The number's payments, newest first."""
    where, params = scope.where("tenant_id")
    return db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE {where} AND phone = ? ORDER BY created_at DESC, id DESC"
        " LIMIT ?",
        (*params, phone, limit),
    )


def devices_of_phone(db: Connection, scope: Scope, phone: str) -> list[tuple[int, str, datetime]]:
    """(router id, MAC, when it last started a payment) of each device the number paid from."""
    where, params = scope.where("tenant_id")
    rows = db.all(
        "SELECT router_id, mac, max(created_at) AS last_at FROM payments"
        f" WHERE {where} AND phone = ? AND mac IS NOT NULL GROUP BY router_id, mac",
        (*params, phone),
    )
    return [(row["router_id"], row["mac"], from_text(row["last_at"])) for row in rows]


def sessions_of_phone(db: Connection, scope: Scope, phone: str, limit: int) -> list[int]:
    """The access sessions the number's payments bought, the last bought first."""
    where, params = scope.where("tenant_id")
    rows = db.all(
        f"SELECT access_session_id FROM payments WHERE {where} AND phone = ?"
        " AND access_session_id IS NOT NULL GROUP BY access_session_id ORDER BY max(created_at) DESC LIMIT ?",
        (*params, phone, limit),
    )
    return [row["access_session_id"] for row in rows]


# -- an API client's payments (its whole business's, never another's) --


def of_api(db: Connection, tenant_id: int, payment_id: int) -> Payment | None:
    return _one(db, "id = ? AND tenant_id = ? AND api_client_id IS NOT NULL", (payment_id, tenant_id))


def api_page(
    db: Connection,
    tenant_id: int,
    *,
    state: str,
    since: datetime | None,
    reference: str,
    before_id: int | None,
    limit: int,
) -> list[Payment]:
    """The business's API payments, newest first, from before `before_id` (the cursor) on; an empty
    `state` or `reference` and a None `since` filter nothing."""
    where, params = where_given(
        ("state = ?", state or None),
        ("created_at >= ?", to_text(since) if since else None),
        ("reference = ?", reference or None),
        ("id < ?", before_id),
    )
    return db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE tenant_id = ? AND api_client_id IS NOT NULL AND {where}"
        " ORDER BY id DESC LIMIT ?",
        (tenant_id, *params, limit),
    )


@dataclass(frozen=True)
class PaymentFilter:
    state: str = ""
    start: datetime | None = None  # at or after (UTC)
    end: datetime | None = None  # before (UTC)
    phone: str = ""  # a whole number (2547…) or its last digits
    receipt: str = ""

    def where(self, scope: Scope, columns: dict[str, str]) -> tuple[str, list]:
        """SQL conditions on the table whose `columns` are named (one without a state ignores the state
        asked for)."""
        tenant, params = scope.where(columns["tenant"])
        clauses = [tenant]
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


FILTER_COLUMNS = {
    "tenant": "tenant_id",
    "state": "state",
    "at": "created_at",
    "phone": "phone",
    "receipt": "receipt",
}


COUNTED_PAST_PAGE = 1_000  # a filtered count of a million payments takes seconds; "1,050+" says enough


def search(
    db: Connection, scope: Scope, found: PaymentFilter, *, limit: int, offset: int = 0
) -> tuple[list[Payment], int, bool]:
    """A page of the payments matching the filter, newest first; how many match, counted no further
    than COUNTED_PAST_PAGE past this page; and whether more than that match."""
    where, params = found.where(scope, FILTER_COLUMNS)
    counted_to = offset + limit + COUNTED_PAST_PAGE
    total = db.value(
        f"SELECT count(*) FROM (SELECT 1 FROM payments WHERE {where} LIMIT ?)", (*params, counted_to + 1)
    )
    # The page's ids first, sorted from the (tenant, time) index alone; then only those rows in full.
    rows = db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE id IN (SELECT id FROM payments WHERE {where}"
        " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?) ORDER BY created_at DESC, id DESC",
        (*params, limit, offset),
    )
    return rows, min(total, counted_to), total > counted_to


def search_after(
    db: Connection, scope: Scope, found: PaymentFilter, after: Payment | None, limit: int
) -> list[Payment]:
    """The next `limit` payments matching the filter, newest first, after `after` (the last of the
    batch before; None: from the newest). Each batch starts where the index has its place, so the
    thousandth batch costs what the first did (an OFFSET would read every row before it again)."""
    where, params = found.where(scope, FILTER_COLUMNS)
    if after is not None:
        where, params = (
            f"{where} AND (created_at, id) < (?, ?)",
            [*params, to_text(after.created_at), after.id],
        )
    return db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )


def paid_unconnected(
    db: Connection, scope: Scope, since: datetime, before: datetime, waiting: Collection[int], limit: int
) -> list[Payment]:
    """Paid for a package between `since` and `before` and not online: no session was opened, or its
    session is among `waiting` (those the router has not confirmed yet). Newest first. An API client's
    charge buys nothing to be online with."""
    where, params = scope.where("tenant_id")
    return db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE {where} AND state = 'paid' AND paid_at >= ? AND paid_at < ?"
        " AND package_id IS NOT NULL"
        f" AND (access_session_id IS NULL OR access_session_id IN ({marks(waiting)}))"
        " ORDER BY paid_at DESC LIMIT ?",
        (*params, to_text(since), to_text(before), *waiting, limit),
    )


def counts_by_state(
    db: Connection, scope: Scope | None = None, since: datetime | None = None, before: datetime | None = None
) -> list[tuple]:
    """(tenant id, state, count) of payments started since `since` and before `before` (None: no bound)."""
    where, params = scope.where("tenant_id") if scope else ("1 = 1", [])
    # Every state named: each is then a range of the (tenant, state, time) index, read from the index
    # alone; else the business's whole history in that index is read to find the week asked for.
    where, params = f"{where} AND state IN ({marks(STATES)})", [*params, *STATES]
    if since is not None:
        where, params = f"{where} AND created_at >= ?", [*params, to_text(since)]
    if before is not None:
        where, params = f"{where} AND created_at < ?", [*params, to_text(before)]
    rows = db.all(
        f"SELECT tenant_id, state, count(*) AS count FROM payments WHERE {where} GROUP BY tenant_id, state",
        params,
    )
    return [(row["tenant_id"], row["state"], row["count"]) for row in rows]


@dataclass(frozen=True)
class Failures:
    code: str  # the result code, or 'expired'
    description: str
    count: int
    last_at: datetime | None


def failures(
    db: Connection,
    scope: Scope,
    since: datetime,
    *,
    expired_too: bool,
    leave_out: tuple[str, ...] = (),
    before: datetime | None = None,
) -> list[Failures]:
    """Failed (and, with `expired_too`, expired) payments started since `since` (and before `before`), by
    result code, most frequent first; `leave_out` codes are not counted."""
    where, params = scope.where("tenant_id")
    if before is not None:
        where, params = f"{where} AND created_at < ?", [*params, to_text(before)]
    states = ("failed", "expired") if expired_too else ("failed",)
    # Only with codes to leave out: `NOT IN (NULL)`, what marks() gives for none, would match no row.
    left_out = f" AND coalesce(result_code, '') NOT IN ({marks(leave_out)})" if leave_out else ""
    rows = db.all(
        "SELECT CASE state WHEN 'expired' THEN 'expired' ELSE coalesce(result_code, '') END AS code,"
        " max(CASE state WHEN 'expired' THEN 'No answer before the payment timed out' ELSE result_desc END)"
        " AS description, count(*) AS count, max(updated_at) AS last_at FROM payments"
        f" WHERE {where} AND created_at >= ? AND state IN ({marks(states)}){left_out}"
        " GROUP BY 1 ORDER BY count DESC",
        (*params, to_text(since), *states, *leave_out),
    )
    return [
        Failures(
            row["code"],
            row["description"] or "",
            row["count"],
            from_text(row["last_at"]) if row["last_at"] else None,
        )
        for row in rows
    ]


def paid_between(
    db: Connection, scope: Scope, start: datetime, end: datetime, states: tuple[str, ...]
) -> list[Payment]:
    """Payments for Wi-Fi paid at or after `start` and before `end` that are in one of `states` now
    ('paid', and 'reversed' for those given back since), oldest first."""
    where, params = scope.where("tenant_id")
    return db.records(
        Payment,
        f"SELECT {COLUMNS} FROM payments WHERE {where} AND state IN ({marks(states)})"
        " AND paid_at >= ? AND paid_at < ? AND package_id IS NOT NULL ORDER BY paid_at, id",
        (*params, *states, to_text(start), to_text(end)),
    )


NAMED_BY = ("router_id", "package_id", "mpesa_account_id")  # what a payment names, that can be removed


def count_naming(db: Connection, column: str, row_id: int) -> int:
    """How many payments name this router, package or M-Pesa account (`column`, one of NAMED_BY)."""
    if column not in NAMED_BY:
        raise ValueError(f"payments name no {column}")
    return db.value(f"SELECT count(*) FROM payments WHERE {column} = ?", (row_id,))
