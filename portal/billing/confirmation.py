"""Learning a payment's outcome: Daraja's callback, or our own STK query; either ends in the same
transitions (payments.py), and a paid payment opens its access in the same transaction (DESIGN 6).

Callbacks only make confirmation faster (DESIGN 5). Queries run on a schedule (`reconcile_due`, every
few seconds from jobs.py): often while the payer is likely on the prompt, then less often, until
`mpesa.payment_timeout`, when one last query decides and a payment still unanswered expires. A push
whose own answer never came (no CheckoutRequestID: nothing to ask about) becomes `unknown` instead,
for its callback, M-Pesa's word on a receipt or the owner to settle (receipt_checks.py,
owner_decisions.py).

The queries of a round go out together, at most QUERIES_AT_ONCE per M-Pesa account, each bounded by
the client's query timeout: ten payers who approved together are confirmed together, and a slow or
hung Daraja account holds up only its own payments. Rounds may overlap (a slow query spans several);
a payment is never asked about twice at once. The schedule counts from when a query was sent, so a
slow Daraja is asked as often as a fast one.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .. import phones
from ..access import sessions
from ..catalog import packages
from ..clock import Clock
from ..mpesa import accounts, result_codes
from ..mpesa.callbacks import StkResult
from ..mpesa.daraja import BusyError, DarajaClient, DarajaError
from ..store import Conflict, Connection, Store
from ..vault import Vault
from . import earnings, payments
from .payments import OPEN, Payment

log = logging.getLogger(__name__)

# When to ask Daraja again (§5 of reference/daraja.md: every 5-10 s; polling faster risks spike arrest).
QUERY_EVERY = ((timedelta(seconds=90), timedelta(seconds=5)), (timedelta(seconds=180), timedelta(seconds=15)))
QUERY_EVERY_LATER = timedelta(seconds=30)
RETRY_AFTER_ERROR = timedelta(seconds=30)
# Past the window, a query that gets no answer (Daraja or the link down) is retried this long before the
# payment expires unanswered: the payer may have paid, and only Daraja knows.
GIVE_UP_AFTER = timedelta(hours=1)
QUERIES_PER_ROUND = 100
# Queries in flight per M-Pesa account: what ten payers paying together need, and no larger burst.
QUERIES_AT_ONCE = 10
# After spike arrest (or its gateway turning a query away), that account's queries wait this long.
SLOW_DOWN = timedelta(seconds=10)
ASK_NOW_GAP = timedelta(seconds=5)  # Daraja wants a payment's queries at least this far apart
ASKED_NOW_KEPT = 10_000  # payments ask_now remembers; past this, those asked long enough ago go


def mark_paid(
    db: Connection, clock: Clock, vault: Vault, payment_id: int, *, receipt: str | None, desc: str = ""
) -> bool:
    """Open, unknown, failed or expired → paid. The caller has made sure the success is genuine: a
    callback with this payment's CheckoutRequestID and amount, Daraja's own answer to our query, M-Pesa's
    answer about the receipt (Transaction Status), or the owner's word. `receipt` is None when only the
    query has spoken (it never carries one), or the owner had none.

    This is the one way into `paid`, so the access it buys is opened here, in this same transaction: the
    device's session and its router task. Wake the worker once it has committed."""
    paid = payments.to_paid(db, clock, payment_id, receipt=receipt, desc=desc)
    if paid:
        payment = payments.get(db, payment_id)
        earnings.count_paid(db, payment)
        _open_access(db, clock, vault, payment)
    return paid


def _open_access(db: Connection, clock: Clock, vault: Vault, payment: Payment) -> None:
    if payment.package_id is None or payment.router_id is None or payment.mac is None:
        return  # an API client's charge, or a package paid for no device: nothing to switch on
    package = packages.get(db, payment.package_id)
    try:
        session_id = sessions.open_session(
            db,
            clock,
            vault,
            tenant_id=payment.tenant_id,
            router_id=payment.router_id,
            package_id=payment.package_id,
            mac=payment.mac,
            ip=payment.ip,
            seconds=package.duration_seconds,
        )
    except sessions.SessionError as error:
        # The money is in: the payment must stay paid. The admin sees it as paid but not online.
        payments.record(db, clock, payment.id, "error", "portal", error=f"no access session: {error}")
        log.error(
            "paid, but no access session", extra={"fields": {"payment": payment.id, "error": str(error)}}
        )
        return
    payments.link_session(db, payment.id, session_id)


def _same_phone(reported: str, phone: str) -> bool:
    try:
        return phones.normalize(reported) == phone
    except phones.PhoneError:
        return False


class Confirmation:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        vault: Vault,
        daraja: DarajaClient,
        *,
        payment_timeout: int,
        paid: Callable[[str], None],
        settled: Callable[[], None],
    ):
        """`paid(path)` is called after a payment became paid and committed, with how we learnt it
        ('callback', 'query', 'status' or 'owner'): count it, and wake the worker that lets the device
        in. `settled()` is called after one failed or expired: its webhooks are queued."""
        self.store = store
        self.clock = clock
        self.vault = vault
        self.daraja = daraja
        self.payment_timeout = timedelta(seconds=payment_timeout)
        self.paid = paid
        self.settled = settled
        self._asking: set[int] = set()  # payments with a query in flight
        self._in_flight: dict[int, int] = {}  # M-Pesa account: its queries in flight
        self._slowed_until: dict[int, datetime] = {}  # M-Pesa account: no queries before then
        self._asked_now: dict[int, datetime] = {}  # payment: when ask_now last asked about it

    # -- by callback --

    async def record_callback(
        self, token: str, result: StkResult, *, source: str, refuse: str = ""
    ) -> str | None:
        """Applies one STK callback to the payment its URL token names; returns what it did, or None for
        an unknown token. Duplicates and late arrivals are recorded and change nothing. `refuse` (say, a
        source outside the allow-list) records the callback without acting on it."""
        outcome = await self.store.write(self._callback, token, result, source, refuse)
        if outcome is None:
            return None
        ref, effect = outcome
        if effect == "paid":
            self.paid("callback")
        elif effect == "failed":
            self.settled()
        if effect.startswith("suspicious"):
            log.warning(
                "suspicious STK callback",
                extra={"fields": {"payment": ref, "source": source, "effect": effect}},
            )
        return effect

    def _callback(
        self, db: Connection, token: str, result: StkResult, source: str, refuse: str
    ) -> tuple[str, str] | None:
        payment = payments.by_callback_token(db, token)
        if payment is None:
            return None
        effect = f"refused: {refuse}" if refuse else self._apply_callback(db, payment, result)
        payments.record(
            db,
            self.clock,
            payment.id,
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
        if result.phone and not _same_phone(result.phone, payment.phone):
            # Not a reason to doubt the money (the amount and the CheckoutRequestID decide that), but
            # worth the owner's eye: someone else paid, or the callback isn't about this payment.
            payments.record(db, self.clock, payment.id, "phone_differs", source, phone=result.phone)
        return payment.ref, effect

    def _apply_callback(self, db: Connection, payment: Payment, result: StkResult) -> str:
        if payment.checkout_request_id is None:
            # The push's own answer never reached us (or isn't stored yet): the callback names the push.
            try:
                payments.name_push(
                    db, payment.id, checkout=result.checkout_request_id, merchant=result.merchant_request_id
                )
            except Conflict:
                return "suspicious: CheckoutRequestID belongs to another payment"
        elif result.checkout_request_id != payment.checkout_request_id:
            return "suspicious: CheckoutRequestID does not match this payment"
        if not result.paid:
            failed = payments.mark_failed(
                db, self.clock, payment.id, code=result.result_code, desc=result.result_desc
            )
            return "failed" if failed else f"ignored: payment is {payment.state}"
        if result.amount != Decimal(payment.amount):
            return f"suspicious: amount {result.amount} is not {payment.amount}"
        if payments.receipt_of_another(db, result.receipt, payment.id):
            return "suspicious: receipt already used by another payment"
        if mark_paid(db, self.clock, self.vault, payment.id, receipt=result.receipt, desc=result.result_desc):
            return "paid"
        if (
            payment.state == "paid"
            and payment.receipt is None
            and payments.add_receipt(db, payment.id, result.receipt)
        ):
            return "receipt stored"
        return f"ignored: payment is {payment.state}"

    # -- by query --

    async def reconcile_due(self) -> int:
        """Asks Daraja about open payments whose next query is due, by the injected clock, all at once
        (within each account's bound); returns how many were due, once their queries are answered. The
        scheduler runs it every few seconds; tests call it after moving the clock."""
        now = self.clock.now()
        due = await self.store.read(payments.due_queries, now, QUERIES_PER_ROUND, sorted(self._asking))
        asked = []
        for payment in due:
            if not self._may_ask(payment.mpesa_account_id, now):
                continue  # still due: a later round asks
            asked.append(self._claimed(payment))
        for failure in await asyncio.gather(*asked, return_exceptions=True):
            if isinstance(failure, Exception):
                log.error("reconciling a payment failed", exc_info=failure)
        return len(due)

    async def ask_now(self, payment: Payment) -> None:
        """Asks Daraja about one payment at once, as its turn in `reconcile_due` would: someone is waiting
        on the phone it holds (checkout.py), or an API client asks for a refresh. Nothing is asked when
        there is nothing to ask (its outcome is final, its push has no answer to ask about yet), a query
        about it is in flight, its account has as many as it may, or it was asked about less than
        ASK_NOW_GAP ago: nobody can turn it into a flood of queries."""
        now = self.clock.now()
        if now - self._asked_now.get(payment.id, now - ASK_NOW_GAP) < ASK_NOW_GAP:
            return
        if (
            (payment.state in OPEN or payment.cancelled_on_page)
            and payment.checkout_request_id is not None
            and payment.id not in self._asking
            and self._may_ask(payment.mpesa_account_id, now)
        ):
            if len(self._asked_now) > ASKED_NOW_KEPT:
                self._asked_now = {key: at for key, at in self._asked_now.items() if now - at < ASK_NOW_GAP}
            self._asked_now[payment.id] = now
            await self._claimed(payment)

    def _may_ask(self, account: int, now: datetime) -> bool:
        """Not slowed down, and fewer than QUERIES_AT_ONCE of the account's queries in flight."""
        return (
            self._slowed_until.get(account, now) <= now and self._in_flight.get(account, 0) < QUERIES_AT_ONCE
        )

    def _claimed(self, payment: Payment) -> Coroutine[Any, Any, None]:
        """The payment's query, counted in flight from now, before it is awaited."""
        account = payment.mpesa_account_id
        self._in_flight[account] = self._in_flight.get(account, 0) + 1
        self._asking.add(payment.id)
        return self._ask(payment)

    async def _ask(self, payment: Payment) -> None:
        account = payment.mpesa_account_id
        try:
            if not await self._reconcile(payment):
                self._slowed_until[account] = self.clock.now() + SLOW_DOWN
        finally:
            self._asking.discard(payment.id)
            self._in_flight[account] -= 1

    async def _reconcile(self, payment: Payment) -> bool:
        """One payment's query and its consequence; False if Daraja said to slow down."""
        sent = self.clock.now()
        deadline = payment.created_at + self.payment_timeout
        if payment.checkout_request_id is None:
            # The push's own answer never came (checkout.ANSWER_GRACE is over): it may have rung all
            # the same, and it can't be asked about. A callback may still name it.
            await self.store.write(self._unanswered, payment)
            return True
        account = await self.store.read(accounts.load, self.vault, payment.mpesa_account_id)
        try:
            answer = await self.daraja.stk_query(account, payment.checkout_request_id)
        except DarajaError as error:
            if await self.store.write(self._query_failed, payment, self.clock.now(), deadline, error):
                self.settled()
            return not (isinstance(error, BusyError) and error.rate_limited)
        effect = await self.store.write(
            self._query_answered, payment, sent, deadline, answer.result_code, answer.result_desc
        )
        if effect == "paid":
            self.paid("query")
        elif effect in ("failed", "expired"):
            self.settled()
        return True

    def _unanswered(self, db: Connection, payment: Payment) -> None:
        if payments.mark_unknown(db, self.clock, payment.id, why="the push's answer never came"):
            payments.record(
                db, self.clock, payment.id, "unknown", "reconcile", reason="the push's answer never came"
            )

    def _query_failed(
        self, db: Connection, payment: Payment, now: datetime, deadline: datetime, error: DarajaError
    ) -> bool:
        """True if the payment expired."""
        payments.record(
            db,
            self.clock,
            payment.id,
            "query",
            "query",
            effect="error",
            error=error.message,
            daraja_code=error.code,
        )
        if now >= deadline + GIVE_UP_AFTER:
            expired = payments.mark_expired(db, self.clock, payment.id)
            if expired:
                payments.record(
                    db, self.clock, payment.id, "expired", "reconcile", reason="Daraja never answered"
                )
            payments.stop_asking(db, payment.id)  # one cancelled on the page stays cancelled
            return expired
        later = now + RETRY_AFTER_ERROR
        payments.schedule_query(db, payment.id, later if now >= deadline else min(later, deadline))
        return False

    def _query_answered(
        self,
        db: Connection,
        payment: Payment,
        sent: datetime,
        deadline: datetime,
        code: str | None,
        desc: str,
    ) -> str:
        effect = self._apply_query(db, payment.id, code, desc, last=sent >= deadline)
        if effect == "pending":
            # From when it was sent: a query that took long is followed by the next one at once.
            payments.schedule_query(db, payment.id, _next_query(payment.created_at, sent, deadline))
        else:
            payments.stop_asking(db, payment.id)
        payments.record(
            db, self.clock, payment.id, "query", "query", effect=effect, result_code=code, result_desc=desc
        )
        return effect

    def _apply_query(
        self, db: Connection, payment_id: int, code: str | None, desc: str, *, last: bool
    ) -> str:
        payment = payments.get(db, payment_id)
        if code == "0":
            paid = mark_paid(db, self.clock, self.vault, payment_id, receipt=None, desc=desc)
            return "paid" if paid else f"ignored: payment is {payment.state}"
        if payment.state not in OPEN and not payment.cancelled_on_page:
            return f"ignored: payment is {payment.state}"  # a callback settled it meanwhile; never downgrade
        # An unknown code from a query is asked again before it is believed (§6), until the last query.
        if code is None or (not result_codes.is_known(code) and not last):
            if not last:
                return "pending"
            return "expired" if payments.mark_expired(db, self.clock, payment_id) else "not paid"
        if payment.cancelled_on_page:
            return "not paid"  # the prompt ended unpaid: cancelled it stays
        return "failed" if payments.mark_failed(db, self.clock, payment_id, code=code, desc=desc) else "none"


def _next_query(created: datetime, now: datetime, deadline: datetime) -> datetime:
    """Often while the payer is likely on the prompt, then backing off; never past the deadline, where
    the last query decides."""
    age = now - created
    every = next((interval for until, interval in QUERY_EVERY if age < until), QUERY_EVERY_LATER)
    return min(now + every, deadline)
