"""Payments by M-Pesa STK push: the lifecycle, its SQL, and each payment's timeline.

    created ──push accepted──► pending ──► paid ──owner──► reversed
       │                          ├──► failed ──genuine success, same amount──► paid
       └──────────────────────────┴──► expired ──genuine success, same amount──► paid

The row is written before Daraja is called, and the IDs Daraja returns are stored before the payer
sees the waiting page. Every change is a compare-and-swap on the state, so duplicate callbacks, the
poller and a double-tapped Pay button can't pay twice; `paid` is never undone except by the owner's
reversal. Each arrival (the push's answer, a callback, a query's answer) and each decision is one row in
payment_events: what came, from where (a callback's address, 'query', 'reconcile'), when, and what it did.

Callbacks only make confirmation faster (DESIGN 5). The box usually sits behind NAT: without
`server.public_url`, the push names a callback URL under `.invalid`, a top-level domain that by RFC 6761
can never resolve. It has the shape Daraja checks (absolute https, no spaces, no forbidden words),
nothing can leak to a host someone else owns, and `reconcile_due` learns the outcome by STK query
instead: every few seconds while the payer is likely on the prompt, then less often, until
`mpesa.payment_timeout`, when one last query decides and a payment still unanswered expires. (Should
Daraja ever refuse it, pushes fail as `push.refused` with its "Invalid CallBackURL" in the log and the
timeline; setting server.public_url is then the cure.)

A push whose answer never came (timeout, broken reply, or a crash between the push and storing its
answer) may still ring the phone, so it is never resent. Without a CheckoutRequestID it can't be
queried; it stays `created` (holding the phone's one open slot, so a second Pay can't push again) until
its callback arrives (the callback names its CheckoutRequestID) or the window ends and it expires.
"""

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import audit, phones, sessions
from .clock import Clock, from_text, to_text
from .config import Limits
from .db import Database, Transaction
from .mpesa import codes
from .mpesa.accounts import load_account
from .mpesa.callbacks import StkResult
from .mpesa.daraja import BusyError, DarajaError, PushAccepted, UnavailableError
from .vault import Vault, fingerprint, new_token

if TYPE_CHECKING:
    from .app import Services

log = logging.getLogger(__name__)

OPEN = ("created", "pending")
DOUBLE_TAP = timedelta(seconds=30)  # a second Pay this soon is the same tap, and gets the same payment
IDEMPOTENCY_WINDOW = timedelta(hours=24)
NO_PUBLIC_URL_HOST = "no-public-url.invalid"
# When to ask Daraja (§5 of reference/daraja.md: first query after 10-20 s, then every 5-10 s; polling
# faster risks spike arrest). With a public URL the callback usually answers first, so wait longer.
FIRST_QUERY = timedelta(seconds=10)
FIRST_QUERY_WITH_CALLBACKS = timedelta(seconds=30)
QUERY_EVERY = ((timedelta(seconds=90), timedelta(seconds=5)), (timedelta(seconds=180), timedelta(seconds=15)))
QUERY_EVERY_LATER = timedelta(seconds=30)
RETRY_AFTER_ERROR = timedelta(seconds=30)
# Past the window, a query that gets no answer (Daraja or the link down) is retried this long before the
# payment expires unanswered: the payer may have paid, and only Daraja knows.
GIVE_UP_AFTER = timedelta(hours=1)


class PaymentError(ValueError):
    """The payment can't be started; the message says why."""


class IdempotencyConflict(PaymentError):
    """The same Idempotency-Key came with a different request within 24 hours."""


class TooManyPushes(PaymentError):
    """settings.limits: this phone or device had its share of prompts for the hour."""


class PhoneBusy(PaymentError):
    """The phone has an open payment for another device, package or business; M-Pesa allows one prompt
    per phone at a time."""


@dataclass(frozen=True)
class Payment:
    id: int
    tenant_id: int
    ref: str  # public and unguessable: the waiting page's address
    mpesa_account_id: int
    package_id: int
    router_id: int | None
    mac: str | None
    ip: str | None
    phone: str
    amount: int
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

    @property
    def outcome(self) -> codes.Outcome | None:
        """What to tell the payer about a final answer, in English and Swahili."""
        return codes.describe(self.result_code) if self.result_code is not None else None


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # created | push | callback | query | expired | reversed
    source: str  # a callback's address, 'portal', 'query', 'reconcile', or who reversed it
    detail: dict


def _payment(row: sqlite3.Row) -> Payment:
    values = {name: row[name] for name in Payment.__dataclass_fields__}
    for name in ("created_at", "updated_at", "paid_at"):
        values[name] = from_text(values[name]) if values[name] else None
    return Payment(**values)


async def open_payment_of_device(store: Database | Transaction, router_id: int, mac: str) -> Payment | None:
    """The device's payment still waiting for its answer: a customer whose captive-portal window closed
    while the M-Pesa prompt was up comes back to it, rather than to a second push."""
    row = await store.fetchone(
        "SELECT * FROM payments WHERE router_id = ? AND mac = ? AND state IN ('created', 'pending')"
        " ORDER BY id DESC LIMIT 1",
        (router_id, mac),
    )
    return _payment(row) if row else None


async def payment_by_ref(store: Database | Transaction, ref: str) -> Payment | None:
    row = await store.fetchone("SELECT * FROM payments WHERE ref = ?", (ref,))
    return _payment(row) if row else None


async def payment_by_callback_token(store: Database | Transaction, token: str) -> Payment | None:
    row = await store.fetchone("SELECT * FROM payments WHERE callback_token = ?", (token,))
    return _payment(row) if row else None


async def timeline(store: Database | Transaction, payment_id: int) -> list[Event]:
    rows = await store.fetchall(
        "SELECT at, kind, source, detail FROM payment_events WHERE payment_id = ? ORDER BY id", (payment_id,)
    )
    return [
        Event(from_text(row["at"]), row["kind"], row["source"], json.loads(row["detail"])) for row in rows
    ]


async def _record(
    tx: Transaction, clock: Clock, payment_id: int, kind: str, source: str, **detail: Any
) -> None:
    await tx.execute(
        "INSERT INTO payment_events (payment_id, at, kind, source, detail) VALUES (?, ?, ?, ?, ?)",
        (payment_id, to_text(clock.now()), kind, source, json.dumps(detail, sort_keys=True, default=str)),
    )


# --- starting a payment ----------------------------------------------------------------------------------


def callback_url(public_url: str, token: str) -> str:
    """Where Daraja should post the result; see the module docstring for the `.invalid` fallback."""
    return f"{public_url or 'https://' + NO_PUBLIC_URL_HOST}/hooks/stk/{token}"


async def start_payment(
    services: "Services",
    *,
    tenant_id: int,
    package_id: int,
    phone: str,
    router_id: int | None = None,
    mac: str | None = None,
    ip: str | None = None,
    idempotency_key: str | None = None,
) -> Payment:
    """Writes the payment, pushes the prompt to the phone, stores Daraja's answer; returns the payment.

    Raises phones.PhoneError for a number M-Pesa can't use and PaymentError for a request that can't
    become a payment. Daraja refusing the push is not an exception: the payment comes back `failed`, its
    `outcome` saying what to tell the payer. A second request for a phone with an open payment gets that
    payment back (the double-tapped Pay button); so does a repeated Idempotency-Key.
    """
    phone = phones.normalize(phone)
    clock, settings = services.clock, services.settings
    request_hash = fingerprint(json.dumps([router_id, package_id, phone, mac, ip]))
    async with services.db.transaction() as tx:
        if idempotency_key:
            since = to_text(clock.now() - IDEMPOTENCY_WINDOW)
            earlier = await tx.fetchone(
                "SELECT * FROM payments WHERE tenant_id = ? AND idempotency_key = ? AND created_at >= ?"
                " ORDER BY id DESC LIMIT 1",
                (tenant_id, idempotency_key, since),
            )
            if earlier is not None:
                if earlier["request_hash"] != request_hash:
                    raise IdempotencyConflict("this Idempotency-Key was used for a different request")
                return _payment(earlier)
        open_payment = await tx.fetchone(
            "SELECT * FROM payments WHERE phone = ? AND state IN ('created', 'pending')", (phone,)
        )
        if open_payment is not None:
            asked = {"tenant_id": tenant_id, "router_id": router_id, "mac": mac, "package_id": package_id}
            same = all(open_payment[key] == value for key, value in asked.items())
            if not same or from_text(open_payment["created_at"]) < clock.now() - DOUBLE_TAP:
                # Not the same Pay button tapped twice: anyone else (who could name this phone, device
                # and package) would be handed the payment's page, and with it its access code. M-Pesa
                # allows one prompt per phone at a time anyway.
                raise PhoneBusy("an M-Pesa request is already open on this phone; try again in a few minutes")
            return _payment(open_payment)
        await _check_limits(tx, clock, settings.limits, phone, mac)
        package = await tx.fetchone(
            "SELECT name, price FROM packages WHERE id = ? AND tenant_id = ?", (package_id, tenant_id)
        )
        if package is None:
            raise PaymentError(f"no package {package_id} for this business")
        account_id = await _account_for(tx, tenant_id, router_id)
        now = clock.now()
        deadline = now + timedelta(seconds=settings.mpesa.payment_timeout)
        values = {
            "tenant_id": tenant_id,
            "ref": new_token(8),
            "callback_token": new_token(),
            "mpesa_account_id": account_id,
            "package_id": package_id,
            "router_id": router_id,
            "mac": mac,
            "ip": ip,
            "phone": phone,
            "amount": package["price"],
            "state": "created",
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
            "next_query_at": to_text(deadline),  # nothing to query before the push's answer comes
            "created_at": to_text(now),
            "updated_at": to_text(now),
        }
        cursor = await tx.execute(
            f"INSERT INTO payments ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",  # noqa: S608
            tuple(values.values()),
        )
        payment_id = cursor.lastrowid
        await _record(
            tx, clock, payment_id, "created", "portal", amount=package["price"], package=package["name"]
        )
        row = await tx.fetchone("SELECT * FROM payments WHERE id = ?", (payment_id,))
    # Daraja is called outside any transaction: a slow answer must not hold up other writers.
    return await _push(services, row, package["name"])


async def _check_limits(tx: Transaction, clock: Clock, limits: Limits, phone: str, mac: str | None) -> None:
    """Pushes per phone and per device in the last hour, from the payments themselves (a restart forgets
    nothing). Prompts still open count too: one device asking for prompts on many phones at once is
    exactly what the limit is for (the same Pay button tapped twice never gets here)."""
    since = to_text(clock.now() - timedelta(hours=1))
    for column, value, limit in (
        ("phone", phone, limits.pushes_per_phone_per_hour),
        ("mac", mac, limits.pushes_per_mac_per_hour),
    ):
        if value is None:
            continue
        pushes = await tx.fetchval(
            f"SELECT count(*) FROM payments WHERE {column} = ? AND created_at >= ?",  # noqa: S608
            (value, since),
        )
        if pushes >= limit:
            raise TooManyPushes(f"{pushes} M-Pesa prompts in the last hour for this {column}; wait a while")


async def _account_for(tx: Transaction, tenant_id: int, router_id: int | None) -> int:
    """The router's M-Pesa account if it names one, else the business's first."""
    if router_id is not None:
        router = await tx.fetchone(
            "SELECT mpesa_account_id FROM routers WHERE id = ? AND tenant_id = ?", (router_id, tenant_id)
        )
        if router is None:
            raise PaymentError(f"no router {router_id} for this business")
        if router["mpesa_account_id"] is not None:
            return router["mpesa_account_id"]
    account_id = await tx.fetchval(
        "SELECT id FROM mpesa_accounts WHERE tenant_id = ? ORDER BY id LIMIT 1", (tenant_id,)
    )
    if account_id is None:
        raise PaymentError("this business has no M-Pesa account set up")
    return account_id


async def _push(services: "Services", row: sqlite3.Row, package_name: str) -> Payment:
    clock = services.clock
    account = await load_account(services.db, services.vault, row["mpesa_account_id"])
    started = clock.now()
    try:
        with services.metrics.stk_push_seconds.time():  # real time, whatever the clock: Daraja's speed
            accepted = await services.daraja.stk_push(
                account,
                phone=row["phone"],
                amount=row["amount"],
                reference="WiFi" + row["ref"][:8],  # on the payer's statement: support can find it
                description=package_name,
                callback_url=callback_url(services.settings.server.public_url, row["callback_token"]),
            )
    except DarajaError as error:
        if isinstance(error, UnavailableError) and error.maybe_sent:
            # It may ring on the phone all the same: left `created`, never resent (module docstring).
            log.warning("STK push outcome unknown", extra={"fields": {"payment": row["ref"], "error": error}})
            async with services.db.transaction() as tx:
                await _record(
                    tx,
                    clock,
                    row["id"],
                    "push",
                    "portal",
                    effect="outcome unknown",
                    error=error.message,
                    elapsed_ms=_ms(clock.now() - started),
                )
        else:
            await _push_failed(services, row, error, started)
    else:
        await _push_accepted(services, row, accepted, started)
    return await payment_by_ref(services.db, row["ref"])


async def _push_accepted(
    services: "Services", row: sqlite3.Row, accepted: PushAccepted, started: datetime
) -> None:
    clock = services.clock
    first_query = FIRST_QUERY_WITH_CALLBACKS if services.settings.server.public_url else FIRST_QUERY
    async with services.db.transaction() as tx:
        # Unless a callback, faster than us, has already settled it (storing these same IDs).
        moved = await tx.execute(
            "UPDATE payments SET state = 'pending', merchant_request_id = ?, checkout_request_id = ?,"
            " next_query_at = ?, updated_at = ? WHERE id = ? AND state = 'created'",
            (
                accepted.merchant_request_id,
                accepted.checkout_request_id,
                to_text(clock.now() + first_query),
                to_text(clock.now()),
                row["id"],
            ),
        )
        await _record(
            tx,
            clock,
            row["id"],
            "push",
            "portal",
            effect="pending" if moved.rowcount else "none",
            checkout_request_id=accepted.checkout_request_id,
            merchant_request_id=accepted.merchant_request_id,
            elapsed_ms=_ms(clock.now() - started),
        )


async def _push_failed(services: "Services", row: sqlite3.Row, error: DarajaError, started: datetime) -> None:
    """Daraja surely did not act on the push: the payment fails, with the portal's own code for why."""
    clock = services.clock
    if isinstance(error, UnavailableError):
        code = codes.PUSH_UNREACHABLE
    elif isinstance(error, BusyError):
        code = codes.PUSH_BUSY if error.rate_limited else codes.PUSH_LOCKED
    else:
        code = codes.PUSH_REFUSED
        log.warning(
            "Daraja refused an STK push: check the M-Pesa account",
            extra={"fields": {"payment": row["ref"], "account": row["mpesa_account_id"], "error": error}},
        )
    async with services.db.transaction() as tx:
        failed = await mark_failed(tx, clock, row["id"], code=code, desc=error.message)
        await _record(
            tx,
            clock,
            row["id"],
            "push",
            "portal",
            effect="failed" if failed else "none",
            code=code,
            error=error.message,
            daraja_code=error.code,
            elapsed_ms=_ms(clock.now() - started),
        )


def _paid(services: "Services", path: str) -> None:
    """After the transaction that made a payment paid: count how we learnt it, and switch the device on."""
    services.metrics.confirmations.labels(path=path).inc()
    services.sessions.wake()


def _ms(elapsed: timedelta) -> int:
    return round(elapsed.total_seconds() * 1000)


# --- transitions ----------------------------------------------------------------------------------------


async def _transition(
    tx: Transaction,
    clock: Clock,
    payment_id: int,
    from_states: tuple[str, ...],
    to_state: str,
    **columns: Any,
) -> bool:
    """The compare-and-swap every change goes through; True if this call made it."""
    columns["updated_at"] = to_text(clock.now())
    assignments = ", ".join(f"{name} = ?" for name in columns)
    placeholders = ", ".join("?" for _ in from_states)
    cursor = await tx.execute(
        f"UPDATE payments SET state = ?, {assignments} WHERE id = ? AND state IN ({placeholders})",  # noqa: S608
        (to_state, *columns.values(), payment_id, *from_states),
    )
    return cursor.rowcount == 1


async def mark_paid(
    tx: Transaction, clock: Clock, vault: Vault, payment_id: int, *, receipt: str | None, desc: str = ""
) -> bool:
    """Open, failed or expired → paid. The caller has made sure the success is genuine: a callback with
    this payment's CheckoutRequestID and amount, or Daraja's own answer to our query. `receipt` is None
    when only the query has spoken (it never carries one).

    This is the one way into `paid`, so the access it buys is opened here, in this same transaction
    (DESIGN 6): the device's session and its router task. Wake `services.sessions` once `tx` commits.
    """
    paid = await _transition(
        tx,
        clock,
        payment_id,
        (*OPEN, "failed", "expired"),
        "paid",
        result_code="0",
        result_desc=desc,
        receipt=receipt,
        paid_at=to_text(clock.now()),
        next_query_at=None,
    )
    if paid:
        await _open_access(tx, clock, vault, payment_id)
    return paid


async def _open_access(tx: Transaction, clock: Clock, vault: Vault, payment_id: int) -> None:
    row = await tx.fetchone(
        "SELECT p.tenant_id, p.router_id, p.package_id, p.mac, p.ip, k.duration_seconds"
        " FROM payments p JOIN packages k ON k.id = p.package_id WHERE p.id = ?",
        (payment_id,),
    )
    if row["router_id"] is None or row["mac"] is None:
        return  # paid through the API for no device: nothing to switch on
    try:
        session_id = await sessions.open_session(
            tx,
            clock,
            vault,
            tenant_id=row["tenant_id"],
            router_id=row["router_id"],
            package_id=row["package_id"],
            mac=row["mac"],
            ip=row["ip"],
            seconds=row["duration_seconds"],
        )
    except sessions.SessionError as error:
        # The money is in: the payment must stay paid. The admin sees it as paid but not online.
        await _record(tx, clock, payment_id, "error", "portal", error=f"no access session: {error}")
        log.error(
            "paid, but no access session", extra={"fields": {"payment": payment_id, "error": str(error)}}
        )
        return
    await tx.execute("UPDATE payments SET access_session_id = ? WHERE id = ?", (session_id, payment_id))


async def mark_failed(tx: Transaction, clock: Clock, payment_id: int, *, code: str, desc: str) -> bool:
    """Open → failed. A payment already paid stays paid, whatever arrives later."""
    return await _transition(
        tx, clock, payment_id, OPEN, "failed", result_code=code, result_desc=desc, next_query_at=None
    )


async def mark_expired(tx: Transaction, clock: Clock, payment_id: int) -> bool:
    """Open → expired: no final answer within the window."""
    desc = "no final answer from M-Pesa in time"
    return await _transition(
        tx,
        clock,
        payment_id,
        OPEN,
        "expired",
        result_code=codes.EXPIRED,
        result_desc=desc,
        next_query_at=None,
    )


# --- confirmation by callback -----------------------------------------------------------------------------


async def record_callback(
    services: "Services", token: str, result: StkResult, *, source: str, refuse: str = ""
) -> str | None:
    """Applies one STK callback to the payment its URL token names; returns what it did, or None for an
    unknown token. Duplicates and late arrivals are recorded and change nothing. `refuse` (say, a source
    outside the allow-list) records the callback without acting on it."""
    clock = services.clock
    async with services.db.transaction() as tx:
        row = await tx.fetchone("SELECT * FROM payments WHERE callback_token = ?", (token,))
        if row is None:
            return None
        effect = (
            f"refused: {refuse}" if refuse else await _apply_callback(tx, clock, services.vault, row, result)
        )
        await _record(
            tx,
            clock,
            row["id"],
            "callback",
            source,
            effect=effect,
            result_code=result.result_code,
            result_desc=result.result_desc,
            checkout_request_id=result.checkout_request_id,
            merchant_request_id=result.merchant_request_id,
            amount=None if result.amount is None else str(result.amount),
            receipt=result.receipt,
        )
    if effect == "paid":
        _paid(services, "callback")
    if effect.startswith("suspicious"):
        log.warning(
            "suspicious STK callback",
            extra={"fields": {"payment": row["ref"], "source": source, "effect": effect}},
        )
    return effect


async def _apply_callback(
    tx: Transaction, clock: Clock, vault: Vault, row: sqlite3.Row, result: StkResult
) -> str:
    if row["checkout_request_id"] is None:
        # The push's own answer never reached us (or isn't stored yet): the callback names the push.
        try:
            await tx.execute(
                "UPDATE payments SET checkout_request_id = ?, merchant_request_id = ?"
                " WHERE id = ? AND checkout_request_id IS NULL",
                (result.checkout_request_id, result.merchant_request_id, row["id"]),
            )
        except sqlite3.IntegrityError:
            return "suspicious: CheckoutRequestID belongs to another payment"
    elif result.checkout_request_id != row["checkout_request_id"]:
        return "suspicious: CheckoutRequestID does not match this payment"
    if not result.paid:
        failed = await mark_failed(tx, clock, row["id"], code=result.result_code, desc=result.result_desc)
        return "failed" if failed else f"ignored: payment is {row['state']}"
    if result.amount != Decimal(row["amount"]):
        return f"suspicious: amount {result.amount} is not {row['amount']}"
    other = await tx.fetchval(
        "SELECT ref FROM payments WHERE receipt = ? AND id <> ?", (result.receipt, row["id"])
    )
    if other is not None:
        return "suspicious: receipt already used by another payment"
    if await mark_paid(tx, clock, vault, row["id"], receipt=result.receipt, desc=result.result_desc):
        return "paid"
    if row["state"] == "paid" and row["receipt"] is None:
        # Paid on the query's word; the callback brings the receipt only it carries.
        await tx.execute(
            "UPDATE payments SET receipt = ? WHERE id = ? AND receipt IS NULL", (result.receipt, row["id"])
        )
        return "receipt stored"
    return f"ignored: payment is {row['state']}"


# --- confirmation by query --------------------------------------------------------------------------------


async def reconcile_due(services: "Services") -> int:
    """Asks Daraja about open payments whose next query is due, by the injected clock; returns how many
    it looked at. The scheduler runs it every few seconds; tests call it after advancing the clock."""
    now = services.clock.now()
    rows = await services.db.fetchall(
        "SELECT * FROM payments WHERE state IN ('created', 'pending') AND next_query_at <= ?"
        " ORDER BY next_query_at LIMIT 100",
        (to_text(now),),
    )
    slowed: set[int] = set()  # accounts Daraja asked to slow down: no more queries this round
    for row in rows:
        if row["mpesa_account_id"] not in slowed and not await _reconcile(services, row):
            slowed.add(row["mpesa_account_id"])
    return len(rows)


async def _reconcile(services: "Services", row: sqlite3.Row) -> bool:
    """One payment's query and its consequence; False if Daraja said to slow down."""
    clock = services.clock
    now = clock.now()
    deadline = from_text(row["created_at"]) + timedelta(seconds=services.settings.mpesa.payment_timeout)
    if row["checkout_request_id"] is None:
        # The push's fate is unknown and can't be queried; a callback may still name it.
        async with services.db.transaction() as tx:
            if now < deadline:
                await _schedule(tx, row, deadline)
            elif await mark_expired(tx, clock, row["id"]):
                await _record(
                    tx, clock, row["id"], "expired", "reconcile", reason="the push's answer never came"
                )
        return True
    account = await load_account(services.db, services.vault, row["mpesa_account_id"])
    try:
        answer = await services.daraja.stk_query(account, row["checkout_request_id"])
    except DarajaError as error:
        async with services.db.transaction() as tx:
            await _record(
                tx,
                clock,
                row["id"],
                "query",
                "query",
                effect="error",
                error=error.message,
                daraja_code=error.code,
            )
            if now >= deadline + GIVE_UP_AFTER:
                if await mark_expired(tx, clock, row["id"]):
                    await _record(
                        tx, clock, row["id"], "expired", "reconcile", reason="Daraja never answered"
                    )
            else:
                later = now + RETRY_AFTER_ERROR
                await _schedule(tx, row, later if now >= deadline else min(later, deadline))
        return not (isinstance(error, BusyError) and error.rate_limited)
    async with services.db.transaction() as tx:
        effect = await _apply_query(
            tx, clock, services.vault, row, answer.result_code, answer.result_desc, now >= deadline
        )
        if effect == "pending":
            await _schedule(tx, row, _next_query(from_text(row["created_at"]), now, deadline))
        await _record(
            tx,
            clock,
            row["id"],
            "query",
            "query",
            effect=effect,
            result_code=answer.result_code,
            result_desc=answer.result_desc,
        )
    if effect == "paid":
        _paid(services, "query")
    return True


async def _apply_query(
    tx: Transaction, clock: Clock, vault: Vault, row: sqlite3.Row, code: str | None, desc: str, last: bool
) -> str:
    state = await tx.fetchval("SELECT state FROM payments WHERE id = ?", (row["id"],))
    if code == "0":
        paid = await mark_paid(tx, clock, vault, row["id"], receipt=None, desc=desc)
        return "paid" if paid else f"ignored: payment is {state}"
    if state not in OPEN:
        return f"ignored: payment is {state}"  # a callback settled it meanwhile; never downgrade
    # An unknown code from a query is asked again before it is believed (§6), until the last query.
    if code is None or (not codes.is_known(code) and not last):
        return "expired" if last and await mark_expired(tx, clock, row["id"]) else "pending"
    return "failed" if await mark_failed(tx, clock, row["id"], code=code, desc=desc) else "none"


async def _schedule(tx: Transaction, row: sqlite3.Row, at: datetime) -> None:
    await tx.execute(
        "UPDATE payments SET next_query_at = ?, query_count = query_count + 1"
        " WHERE id = ? AND state IN ('created', 'pending')",
        (to_text(at), row["id"]),
    )


def _next_query(created: datetime, now: datetime, deadline: datetime) -> datetime:
    """Often while the payer is likely on the prompt, then backing off; never past the deadline, where
    the last query decides."""
    age = now - created
    every = next((interval for until, interval in QUERY_EVERY if age < until), QUERY_EVERY_LATER)
    return min(now + every, deadline)


REVERSAL_REASON_MAX = 300


async def reverse_payment(
    tx: Transaction, clock: Clock, *, payment_id: int, tenant_id: int, reason: str, actor: str, source_ip: str
) -> bool:
    """The owner gave the money back (in the M-Pesa portal): the payment stops counting as earned.

    Only a `paid` payment can be reversed; False when it is not (any more). The access it bought is
    left alone: taking it away is a separate, deliberate act."""
    reason = " ".join(reason.split())
    if not reason:
        raise PaymentError("Say why the payment was reversed.")
    if len(reason) > REVERSAL_REASON_MAX:
        raise PaymentError(f"Keep the reason under {REVERSAL_REASON_MAX} characters.")
    ref = await tx.fetchval(
        "SELECT ref FROM payments WHERE id = ? AND tenant_id = ?", (payment_id, tenant_id)
    )
    if ref is None or not await _transition(
        tx, clock, payment_id, ("paid",), "reversed", reversed_reason=reason
    ):
        return False
    await _record(tx, clock, payment_id, "reversed", "admin", reason=reason, by=actor)
    await audit.record(
        tx,
        clock,
        tenant_id=tenant_id,
        actor=actor,
        action="payment_reversed",
        target=f"payment:{ref}",
        detail={"reason": reason},
        source_ip=source_ip,
    )
    return True
