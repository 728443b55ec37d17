"""The receipt_checks table, and the receipts payers type for payments whose outcome is unknown.

The payer of an `unknown` payment (its push's answer never came) may have been charged: the receipt
code in their M-Pesa SMS says so. Typed on the payment's page, or on "Enter your code" from the same
device, it is kept beside the payment (`typed_receipt`) and never believed alone: only M-Pesa's word or
the owner's (owner_decisions.py) pays the payment. With a public URL and an account that can ask (its
initiator, the initiator's password and Safaricom's certificate), portal asks M-Pesa about the receipt
(Transaction Status, reference/daraja.md §8), as the owner's "Ask M-Pesa" does: one row here per
question, found again by the token in its result URL. M-Pesa saying the receipt is Completed, for
this payment's amount, to this account, and used by no other payment, pays the payment as a callback
would (confirmation.mark_paid: its access opens once).
"""

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from ..clock import Clock, to_text
from ..mpesa import accounts
from ..mpesa.callbacks import StatusResult
from ..mpesa.daraja import KENYA, DarajaClient, DarajaError, UnavailableError
from ..store import Connection, Record, Store, columns
from ..vault import Vault, new_token
from . import c2b, payments
from .confirmation import mark_paid
from .payments import Payment

log = logging.getLogger(__name__)

RECEIPT = re.compile(r"^[A-Z0-9]{10}$")  # MpesaReceiptNumber: 10 capitals and digits (§4.1)
CHECKS_PER_PAYMENT = 5  # questions to M-Pesa about one payment, whoever asks: typing is cheap, asking is not
DEVICE_LOOKBACK = timedelta(days=1)  # a code typed on "Enter your code" may be for the device's payment


class ReceiptRefused(ValueError):
    """`reason`: not_a_receipt | not_unknown | too_many_checks | cannot_ask."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ReceiptCheck(Record, frozen=True):
    id: int
    tenant_id: int
    mpesa_account_id: int
    payment_id: int | None
    receipt: str
    token: str  # the secret path segment of its result and time-out URLs
    conversation_id: str | None
    state: str  # asked | answered | refused (Daraja refused the question, or M-Pesa's queue gave up)
    result_code: str | None
    result_desc: str | None
    amount: int | None
    completed_at: datetime | None
    asked_by: str  # 'customer', or the admin's email
    created_at: datetime
    answered_at: datetime | None


COLUMNS = columns(ReceiptCheck)


def receipt_code(typed: str) -> str | None:
    """The receipt a person typed, as M-Pesa writes it; None if it can't be one."""
    code = "".join(typed.split()).upper()
    return code if RECEIPT.match(code) and not code.isdigit() else None


def by_token(db: Connection, token: str) -> ReceiptCheck | None:
    return db.record(ReceiptCheck, f"SELECT {COLUMNS} FROM receipt_checks WHERE token = ?", (token,))


def of_payment(db: Connection, payment_id: int) -> list[ReceiptCheck]:
    """The payment's questions to M-Pesa, newest first."""
    sql = f"SELECT {COLUMNS} FROM receipt_checks WHERE payment_id = ? ORDER BY id DESC"
    return db.records(ReceiptCheck, sql, (payment_id,))


def _insert(db: Connection, clock: Clock, payment: Payment, receipt: str, asked_by: str) -> ReceiptCheck:
    check_id = db.value(
        "INSERT INTO receipt_checks (tenant_id, mpesa_account_id, payment_id, receipt, token, asked_by,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            payment.tenant_id,
            payment.mpesa_account_id,
            payment.id,
            receipt,
            new_token(),
            asked_by,
            to_text(clock.now()),
        ),
    )
    return db.record(ReceiptCheck, f"SELECT {COLUMNS} FROM receipt_checks WHERE id = ?", (check_id,))


def _taken(db: Connection, check_id: int, conversation_id: str) -> None:
    db.execute("UPDATE receipt_checks SET conversation_id = ? WHERE id = ?", (conversation_id, check_id))


def _refused(db: Connection, clock: Clock, check_id: int, why: str) -> None:
    db.execute(
        "UPDATE receipt_checks SET state = 'refused', result_desc = ?, answered_at = ? WHERE id = ?",
        (why[:500], to_text(clock.now()), check_id),
    )


def _answered(db: Connection, clock: Clock, check: ReceiptCheck, result: StatusResult) -> bool:
    """Stores M-Pesa's answer; False if the question was answered before (Daraja may say it twice)."""
    amount = int(result.amount) if result.amount is not None and result.amount == int(result.amount) else None
    return bool(
        db.execute(
            "UPDATE receipt_checks SET state = 'answered', result_code = ?, result_desc = ?, amount = ?,"
            " completed_at = ?, answered_at = ? WHERE id = ? AND state <> 'answered'",
            (
                result.result_code,
                result.result_desc[:500],
                amount,
                _utc(result.finalised),
                to_text(clock.now()),
                check.id,
            ),
        )
    )


def _utc(kenya_time: str) -> str | None:
    """FinalisedTime is YYYYMMDDHHmmss in Kenya time; stored, like every time, as UTC text."""
    try:
        return to_text(datetime.strptime(kenya_time, "%Y%m%d%H%M%S").replace(tzinfo=KENYA))
    except ValueError:
        return None


# -- receipts typed by payers --


def type_receipt(db: Connection, clock: Clock, ref: str, typed: str) -> tuple[Payment, str]:
    """The receipt the payer of an unknown payment typed on its page, kept beside it (replacing one
    typed before); returns the payment and the receipt. Raises ReceiptRefused."""
    payment = payments.by_ref(db, ref)
    receipt = receipt_code(typed)
    if receipt is None:
        raise ReceiptRefused("not_a_receipt")
    if payment is None or not payments.type_receipt(db, payment.id, receipt):
        raise ReceiptRefused("not_unknown")
    payments.record(db, clock, payment.id, "receipt", "customer", typed=receipt)
    return payments.get(db, payment.id), receipt


def receipt_for_device(
    db: Connection, clock: Clock, *, tenant_id: int, router_id: int, mac: str, typed: str
) -> tuple[Payment | None, bool]:
    """A code typed on "Enter your code" that bought nothing may be the receipt of a payment whose
    outcome is unknown: one typed for it before, or, typed here first, the receipt of this device's
    unknown payment (which takes it only if it has none: a MAC in a request proves nothing, so nobody
    can replace another's). Returns that payment, if any, and whether the receipt is new to it."""
    receipt = receipt_code(typed)
    if receipt is None:
        return None, False
    payment = payments.unknown_with_typed_receipt(db, tenant_id, receipt)
    if payment is not None:
        return payment, False
    payment = payments.unknown_of_device(db, router_id, mac, clock.now() - DEVICE_LOOKBACK)
    if payment is None or payment.tenant_id != tenant_id or payment.typed_receipt is not None:
        return None, False
    payments.type_receipt(db, payment.id, receipt)
    payments.record(db, clock, payment.id, "receipt", "reconnect", typed=receipt)
    return payments.get(db, payment.id), True


# -- asking M-Pesa --


class ReceiptChecks:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        vault: Vault,
        daraja: DarajaClient,
        *,
        public_url: str,
        paid: Callable[[str], None],
    ):
        """`paid(path)` as for confirmation.Confirmation: called once M-Pesa's answer paid a payment."""
        self.store = store
        self.clock = clock
        self.vault = vault
        self.daraja = daraja
        self.public_url = public_url
        self.paid = paid

    async def can_ask(self, payment: Payment) -> bool:
        """Can M-Pesa be asked about this payment's receipts? Its account must be set up for Transaction
        Status, and M-Pesa must be able to reach this box with the answer."""
        account = await self.store.read(accounts.get, payment.mpesa_account_id)
        return bool(self.public_url) and account.checks_receipts

    async def ask(self, payment: Payment, receipt: str, asked_by: str) -> ReceiptCheck:
        """Asks M-Pesa about `receipt` for this unknown payment; the answer comes to the hooks later.
        Raises ReceiptRefused: not_a_receipt, not_unknown, too_many_checks, cannot_ask."""
        code = receipt_code(receipt)
        if code is None:
            raise ReceiptRefused("not_a_receipt")
        account = await self.store.read(accounts.load, self.vault, payment.mpesa_account_id)
        if not (self.public_url and account.checks_receipts):
            raise ReceiptRefused("cannot_ask")
        check = await self.store.write(self._new_check, payment.id, code, asked_by)
        base = f"{self.public_url}/hooks/status/{check.token}"
        try:
            asked = await self.daraja.transaction_status(
                account, receipt=code, result_url=f"{base}/result", timeout_url=f"{base}/timeout"
            )
        except DarajaError as error:
            log.warning(
                "Transaction Status not asked", extra={"fields": {"payment": payment.ref, "error": error}}
            )
            if not (isinstance(error, UnavailableError) and error.maybe_sent):  # else its answer may come
                await self.store.write(_refused, self.clock, check.id, error.message)
        else:
            await self.store.write(_taken, check.id, asked.conversation_id)
        return await self.store.read(by_token, check.token)

    def _new_check(self, db: Connection, payment_id: int, receipt: str, asked_by: str) -> ReceiptCheck:
        payment = payments.get(db, payment_id)
        if payment.state != "unknown":
            raise ReceiptRefused("not_unknown")
        if len(of_payment(db, payment_id)) >= CHECKS_PER_PAYMENT:
            raise ReceiptRefused("too_many_checks")
        payments.record(db, self.clock, payment_id, "receipt", asked_by, asked_mpesa=receipt)
        return _insert(db, self.clock, payment, receipt, asked_by)

    async def record_result(self, token: str, result: StatusResult, *, source: str) -> str | None:
        """Applies M-Pesa's answer to the question its URL token names; returns what it did, or None for
        an unknown token."""
        effect = await self.store.write(self._result, token, result, source)
        if effect == "paid":
            self.paid("status")
        return effect

    def _result(self, db: Connection, token: str, result: StatusResult, source: str) -> str | None:
        check = by_token(db, token)
        if check is None:
            return None
        if not _answered(db, self.clock, check, result):
            return "ignored: answered before"
        payment = payments.get(db, check.payment_id) if check.payment_id else None
        if payment is None:
            return "answered"
        why_not = self._why_not_paid(db, check, payment, result)
        if why_not:
            effect = f"not paid: {why_not}"
        elif mark_paid(
            db, self.clock, self.vault, payment.id, receipt=check.receipt, desc=result.result_desc
        ):
            effect = "paid"
        else:
            effect = f"ignored: payment is {payment.state}"
        payments.record(
            db,
            self.clock,
            payment.id,
            "receipt",
            source,
            effect=effect,
            receipt=check.receipt,
            result_code=result.result_code,
            result_desc=result.result_desc,
            amount=None if result.amount is None else str(result.amount),
            credit_party=result.credit_party,
        )
        return effect

    @staticmethod
    def _why_not_paid(db: Connection, check: ReceiptCheck, payment: Payment, result: StatusResult) -> str:
        """'' if M-Pesa's answer proves this payment was paid; else why it does not."""
        if not result.completed:
            return result.result_desc or f"result {result.result_code}"
        if result.receipt != check.receipt:
            return f"the answer is about {result.receipt}"
        if result.amount != payment.amount:
            return f"amount {result.amount} is not {payment.amount}"
        account = accounts.get(db, payment.mpesa_account_id)
        paid_to = result.credit_party.split(" - ")[0].strip()
        if paid_to not in (account.shortcode, account.till_number):
            return f"paid to {paid_to or 'someone not named'}, not {account.shortcode}"
        if payments.receipt_of_another(db, check.receipt, payment.id) or c2b.by_receipt(
            db, payment.tenant_id, check.receipt
        ):
            return "the receipt is another payment's"
        return ""

    async def record_timeout(self, token: str, *, source: str) -> bool:
        """M-Pesa's queue gave up on the question (its QueueTimeOutURL): it may be asked again."""
        return await self.store.write(self._timed_out, token, source)

    def _timed_out(self, db: Connection, token: str, source: str) -> bool:
        check = by_token(db, token)
        if check is None:
            return False
        if check.state == "asked":
            _refused(db, self.clock, check.id, "M-Pesa's queue timed out before answering")
            if check.payment_id:
                payments.record(db, self.clock, check.payment_id, "receipt", source, effect="timed out")
        return True


def count_through_account(db: Connection, account_id: int) -> int:
    """How many receipts M-Pesa was asked about through this account."""
    return db.value("SELECT count(*) FROM receipt_checks WHERE mpesa_account_id = ?", (account_id,))
